#!/usr/bin/env bash
# The whole test suite: Swift tests (release build: the kernels are SIMD code, which a debug
# build runs a hundred times slower), the checkpoint converter's tests, and an end-to-end run
# of the CLI on a converted checkpoint.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== ISA template links"
scripts/check_isa_templates.sh

echo "== swift build and test (release)"
swift build -c release --build-tests
# Decided by swift test's own exit status (PIPESTATUS), not by reading the log; the
# "Executed N tests" line is printed for information. Passed and started lines are dropped
# from the console only (the whole log stays in .build/swift-test.log).
set +e
swift test -c release --skip-build --disable-swift-testing 2>&1 | tee .build/swift-test.log \
  | grep -vE "^Test (Case|Suite) '.*' (started|passed)"
statuses=("${PIPESTATUS[@]}")
set -e
summary=$(grep -oE "Executed [0-9]+ tests?, with ([0-9]+ tests? skipped and )?[0-9]+ failures?" .build/swift-test.log | tail -n 1 || true)
echo "swift test: ${summary:-no summary line}; exit status ${statuses[0]}"
if [ "${statuses[0]}" -ne 0 ] || [ "${statuses[1]}" -ne 0 ]; then
  echo "swift test failed (swift test exit ${statuses[0]}, log written with exit ${statuses[1]})"
  exit 1
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
# Compares the `dydit forward` outputs in $1 with the reference io file $2: every output the
# reference also holds (out_fast against out), within 1e-5 of max |reference|.
compare_forward() {
  "$python" - "$1" "$2" <<'PY'
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
keys = [(k, "out" if k == "out_fast" else k) for k in ("out", "cfg/out", "out_fast", "complete_out") if k in got]
assert keys and all(r in ref for _, r in keys), f"outputs {sorted(got)}, reference {sorted(ref)}"
for key, ref_key in keys:
    want = ref[ref_key].astype(np.float64)
    err = np.abs(got[key] - want).max() / np.abs(want).max()
    print(f"  dydit forward {key}: max|a-b|/max|b| = {err:.2e}")
    assert np.isfinite(err) and err <= 1e-5, key
PY
}
# The converter's fixture was made from the committed reference weights: it runs against them.
fixtures=Tests/Fixtures/reference
"$python" scripts/convert_checkpoint.py scripts/tests/fixtures/dit_tiny_p2_ls.pt --num-heads 4 -o "$tmp/dit.safetensors"
"$dydit" inspect "$tmp/dit.safetensors"
"$dydit" forward --weights "$tmp/dit.safetensors" --inputs "$fixtures/dit_tiny_p2_ls.io.safetensors" \
  --out "$tmp/out.safetensors" --threads 2
compare_forward "$tmp/out.safetensors" "$fixtures/dit_tiny_p2_ls.io.safetensors"

# Every weights/io pair of the reference folder, whatever the names and sizes.
reference=${DYDIT_REFERENCE_DIR:-Tests/Fixtures/reference}
echo "== CLI on every reference pair in $reference"
pairs=0
for weights in "$reference"/*.weights.safetensors; do
  [ -e "$weights" ] || continue
  name=$(basename "$weights" .weights.safetensors)
  io="$reference/$name.io.safetensors"
  [ -e "$io" ] || { echo "$name: $weights has no $io"; exit 1; }
  echo "$name"
  "$dydit" inspect "$weights" >/dev/null
  "$dydit" forward --weights "$weights" --inputs "$io" --out "$tmp/$name.out.safetensors" --threads 2
  compare_forward "$tmp/$name.out.safetensors" "$io"
  pairs=$((pairs + 1))
done
if [ "$pairs" -eq 0 ]; then echo "no *.weights.safetensors in $reference"; exit 1; fi
echo "$pairs reference pair(s) run through the CLI"
echo "== quality metrics: the shipped classifier, and dydit's metrics against numpy/scipy on its features"
export DYDIT_CACHE_DIR="$tmp/cache"
classifier=Experiments/checkpoints/fashion-mnist-classifier.safetensors
accuracy=$("$dydit" metrics fashion-mnist:test --metrics class-accuracy --json --threads 2)
echo "  classifier on the test split: $accuracy"
"$python" -c "import json,sys; a=json.loads(sys.argv[1])['class_accuracy']; assert a >= 0.92, a" "$accuracy"
"$dydit" features fashion-mnist:test:300 --out "$tmp/f300.safetensors" --threads 2 >/dev/null
"$python" scripts/metrics/classifier_numpy.py "$classifier" "$tmp/f300.safetensors"
"$dydit" features fashion-mnist:train:1000 --out "$tmp/train1k.safetensors" --threads 2 >/dev/null
"$dydit" features fashion-mnist:test:1000 --out "$tmp/test1k.safetensors" --threads 2 >/dev/null
"$dydit" metrics fashion-mnist:train:1000 --reference fashion-mnist:test:1000 --kid-subsets 1 --kid-subset-size 1000 \
  --json --threads 2 > "$tmp/ours.json"
"$python" scripts/metrics/metrics_reference.py "$tmp/train1k.safetensors" "$tmp/test1k.safetensors" --kid-full > "$tmp/scipy.json"
"$python" - "$tmp/ours.json" "$tmp/scipy.json" <<'PY'
import json, math, sys
ours, ref = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
for key in ("fd", "kid"):
    err = abs(ours[key] - ref[key]) / abs(ref[key])
    print(f"  {key}: dydit {ours[key]:.10g}, numpy/scipy {ref[key]:.10g}, relative difference {err:.1e}")
    assert math.isfinite(err) and err <= 1e-6, key
for key in ("precision", "recall", "class_accuracy", "n"):
    print(f"  {key}: dydit {ours[key]}, numpy {ref[key]}")
    assert ours[key] == ref[key], key
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
