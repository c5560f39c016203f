#!/usr/bin/env bash
# Builds and runs the libFuzzer targets of Fuzz/ (docs/FUZZING.md):
#   spec         the spec decoder (bytes → expanded, typed runs; what `dydit validate` does)
#   safetensors  the safetensors reader, every tensor's values, a weights file's config
#   idx          the IDX reader (plain and gzip)
#   png          the PNG reader
#
#   scripts/fuzz.sh [target|all] [budget] [libFuzzer flags…]
#     budget: a number of inputs (1000000, the default), or seconds as 30s
#
# The library is built with coverage instrumentation and AddressSanitizer by SwiftPM in
# .build-fuzz; each harness is compiled and linked against it with `swiftc -sanitize=fuzzer`.
# New inputs the fuzzer finds go to .build-fuzz/corpus/<target> (the committed seeds in
# Fuzz/corpus stay as they are); a crash writes its input to .build-fuzz/artifacts and exits
# non-zero. Set DYDIT_FUZZ_CONFIG=debug for a quicker build (CI's short pass).
set -euo pipefail
cd "$(dirname "$0")/.."

which=${1:-all}
budget=${2:-1000000}
shift $(( $# > 2 ? 2 : $# ))
config=${DYDIT_FUZZ_CONFIG:-release}
scratch=.build-fuzz
all=(spec safetensors idx png)
case "$which" in
  all) targets=("${all[@]}") ;;
  spec|safetensors|idx|png) targets=("$which") ;;
  *) echo "fuzz.sh: unknown target '$which'; valid: ${all[*]} or all" >&2; exit 1 ;;
esac
case "$budget" in
  *s) limit=(-max_total_time="${budget%s}") ;;
  *[!0-9]*|"") echo "fuzz.sh: budget '$budget' is not a number of inputs or of seconds (30s)" >&2; exit 1 ;;
  *) limit=(-runs="$budget") ;;
esac

echo "== fuzz: building the library ($config, coverage + AddressSanitizer) in $scratch"
# One combined flag: swiftc keeps only the last of several -sanitize= flags, so SwiftPM's
# `--sanitize fuzzer --sanitize address` would build without coverage.
swift build -c "$config" -Xswiftc -sanitize=fuzzer,address --scratch-path "$scratch" --target DyDiTPlayground 2>&1 \
  | grep -vE "^\[[0-9]+/[0-9]+\] (Compiling|Emitting|Write|Building)" || true
bin=$(swift build -c "$config" --scratch-path "$scratch" --show-bin-path)
[ -f "$bin/Modules/DyDiTPlayground.swiftmodule" ] || { echo "fuzz.sh: the library build failed" >&2; exit 1; }

# Every object of the library's targets (not the CLI, the tests or argument-parser).
modules=(CSupport DyDiTIO DyDiTKernelABI DyDiTKernelsPortable DyDiTKernelsAVX2 DyDiTKernelsAVX512 DyDiTKernelsVNNI DyDiTKernelsBF16
         DyDiTKernels DyDiTModels DyDiTDiffusion DyDiTTraining DyDiTEvaluation DyDiTPlayground)
objects=()
for m in "${modules[@]}"; do
  while IFS= read -r o; do objects+=("$o"); done < <(find "$bin/$m.build" -name '*.o' | sort)
done
clang_modules=()
for m in CPNG CJSONC CZlib; do clang_modules+=(-Xcc "-fmodule-map-file=Sources/$m/module.modulemap"); done
csupport_map=$(find "$bin/CSupport.build" -name module.modulemap | head -1)
[ -n "$csupport_map" ] && clang_modules+=(-Xcc "-fmodule-map-file=$csupport_map")
clang_modules+=(-Xcc -ISources/CSupport/include)
# shellcheck disable=SC2046
libs=($(pkg-config --libs libpng json-c zlib))

declare -A harness=([spec]=FuzzSpec [safetensors]=FuzzSafeTensors [idx]=FuzzIDX [png]=FuzzPNG)
# Seconds after which one input counts as a hang. A spec may sweep up to 10⁴ runs, each
# decoded and serialised: 1.3 s in a plain release build, 10–40 s under AddressSanitizer and
# coverage on a loaded 2-core machine; that is bounded work, not a hang. The spec target also
# keeps inputs to 8 KB: longer ones only repeat sweep values.
declare -A timeout=([spec]=60 [safetensors]=10 [idx]=10 [png]=10)
declare -A maxlen=([spec]=8192 [safetensors]=65536 [idx]=65536 [png]=65536)
optimize=-O
[ "$config" = debug ] && optimize=-Onone
# One-time initialisers of Swift globals look like leaks to LSan (see the file).
export LSAN_OPTIONS="suppressions=$PWD/Fuzz/lsan-suppressions.txt:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
status=0
for t in "${targets[@]}"; do
  exe="$scratch/fuzz-$t"
  echo "== fuzz $t: linking $exe"
  swiftc "$optimize" -g -use-ld=lld -sanitize=fuzzer,address -parse-as-library -module-name "${harness[$t]}" \
    -I "$bin/Modules" "${clang_modules[@]}" "Fuzz/${harness[$t]}.swift" "${objects[@]}" "${libs[@]}" -o "$exe"
  mkdir -p "$scratch/corpus/$t" "$scratch/artifacts"
  echo "== fuzz $t: ${limit[*]}"
  start=$(date +%s)
  # -rss_limit_mb: an input may use 2 GB (the readers' own caps are below that);
  # -timeout: an input slower than that is a hang (see above).
  if ! "$exe" "$scratch/corpus/$t" "Fuzz/corpus/$t" "${limit[@]}" -rss_limit_mb=2048 -timeout="${timeout[$t]}" -max_len="${maxlen[$t]}" \
       -print_final_stats=1 -artifact_prefix="$scratch/artifacts/$t-" "$@" 2> "$scratch/fuzz-$t.log"; then
    status=1
    tail -n 60 "$scratch/fuzz-$t.log" >&2
    echo "== fuzz $t: FAILED (input in $scratch/artifacts/, log in $scratch/fuzz-$t.log)" >&2
    continue
  fi
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$scratch/fuzz-$t.log" | grep -o '[0-9]*$' || echo "?")
  echo "== fuzz $t: $runs inputs in $(( $(date +%s) - start )) s, no crash"
done
exit $status
