#!/usr/bin/env bash
# The whole test suite: Swift tests (release build: the kernels are SIMD code, which a debug
# build runs a hundred times slower), the checkpoint converter's tests, and an end-to-end run
# of the CLI on a converted checkpoint.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== swift build and test (release)"
swift build -c release
swift test -c release --disable-swift-testing 2>&1 | tee .build/swift-test.log | grep -vE "^Test (Case|Suite) '.*' (started|passed)" || true
grep -qE "Executed [0-9]+ tests?, with 0 failures" .build/swift-test.log
if grep -qE "with [1-9][0-9]* failures?|error:|Fatal error|Program crashed" .build/swift-test.log; then
  echo "swift test failed"; exit 1
fi

# The system python3 with numpy (the converter needs nothing else).
python=python3
for candidate in /usr/bin/python3 python3; do
  if "$candidate" -c "import numpy" 2>/dev/null; then python=$candidate; break; fi
done

echo "== converter tests ($python)"
"$python" -m unittest discover -s scripts/tests

echo "== CLI end to end: convert a PyTorch checkpoint, inspect it, run it"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
dydit=.build/release/dydit
"$python" scripts/convert_checkpoint.py scripts/tests/fixtures/dit_tiny_p2_ls.pt --num-heads 4 -o "$tmp/dit.safetensors"
"$dydit" inspect "$tmp/dit.safetensors"
"$dydit" forward --weights "$tmp/dit.safetensors" --inputs Tests/Fixtures/reference/dit_tiny_p2_ls.io.safetensors \
  --out "$tmp/out.safetensors" --threads 2
"$python" - "$tmp/out.safetensors" Tests/Fixtures/reference/dit_tiny_p2_ls.io.safetensors <<'PY'
import json, struct, sys
import numpy as np
def read(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    header.pop("__metadata__", None)
    out = {}
    for name, e in header.items():
        a, b = e["data_offsets"]
        dtype = {"F32": np.float32, "I64": np.int64, "F64": np.float64}[e["dtype"]]
        out[name] = np.frombuffer(raw[8 + n + a:8 + n + b], dtype=dtype).reshape(e["shape"])
    return out
got, ref = read(sys.argv[1]), read(sys.argv[2])
for key in ("out", "cfg/out"):
    err = np.abs(got[key] - ref[key]).max() / np.abs(ref[key]).max()
    print(f"dydit forward {key}: max|a-b|/max|b| = {err:.2e}")
    assert err <= 1e-5, key
PY
echo "== experiment specs"
"$dydit" validate Experiments/*.json Notebooks/*.json

# A short pass of every libFuzzer target (docs/FUZZING.md): it replays the seed corpus (every
# hostile input of issue 13 §3) and fuzzes 10 s each, under AddressSanitizer.
if [ "${DYDIT_SKIP_FUZZ:-0}" != 1 ]; then
  echo "== fuzz (short pass; DYDIT_SKIP_FUZZ=1 skips it)"
  scripts/fuzz.sh all 10s
fi

echo "== notebooks (headless, nbclient)"
scripts/run_notebooks.sh

echo "== all tests passed"
