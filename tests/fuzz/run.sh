#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 30), after installing cargo-fuzz
# (pinned) if it is missing, and building the targets with the nightly toolchain.
# Prints per target: executions, libFuzzer's coverage (cov: edges, ft: features),
# corpus size; then a libtest-style summary line, one "test" per target, which
# tests/run.sh counts. Exits non-zero if a target found a crash, a leak, a timeout or
# did not run.
#
# The checked-in seeds (tests/fuzz/seeds/TARGET) are read, never written; what a run
# finds goes to tests/fuzz/corpus/TARGET (not checked in: a fresh clone starts from the
# seeds), and a crash to tests/fuzz/artifacts/TARGET/. Reproduce one with
#   cargo +nightly fuzz run --fuzz-dir tests/fuzz TARGET tests/fuzz/artifacts/TARGET/crash-...
set -euo pipefail
cd "$(dirname "$0")"
fuzz_dir=$(pwd)
seconds=${1:-30}
if ! [[ $seconds =~ ^[0-9]+$ ]] || [ "$seconds" -eq 0 ]; then
  echo "tests/fuzz/run.sh: SECONDS must be a positive integer, not '$seconds'" >&2
  exit 64
fi

# Pinned: cargo-fuzz's flags and output are what this script reads.
cargo_fuzz_version=0.13.2
if [ "$(cargo fuzz --version 2>/dev/null || true)" != "cargo-fuzz $cargo_fuzz_version" ]; then
  echo "== installing cargo-fuzz $cargo_fuzz_version (about 2.5 minutes on 2 cores)"
  cargo install cargo-fuzz --version "$cargo_fuzz_version" --locked
fi
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  echo "tests/fuzz/run.sh: the nightly toolchain is missing (cargo-fuzz needs it): rustup toolchain install nightly" >&2
  exit 69
fi

targets=(spec pattern config_file command_line duration logfmt journal pressure cgroup)
dictionary() {
  case $1 in
    config_file | command_line) echo config ;;
    logfmt | journal) echo "" ;; # structured inputs (arbitrary): a dictionary would not help
    *) echo "$1" ;;
  esac
}

echo "== building ${#targets[@]} fuzz targets (nightly, release with debug assertions, AddressSanitizer)"
cargo +nightly fuzz build --fuzz-dir "$fuzz_dir"

# The configuration targets write their files in TMPDIR: one of our own, removed after.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

rows=()
passed=0
failed=0
for target in "${targets[@]}"; do
  corpus=$fuzz_dir/corpus/$target
  seeds=$fuzz_dir/seeds/$target
  mkdir -p "$corpus" "$fuzz_dir/artifacts/$target"
  options=(-max_total_time="$seconds" -timeout=10 -print_final_stats=1)
  dict=$(dictionary "$target")
  if [ -n "$dict" ]; then
    options+=(-dict="$fuzz_dir/dict/$dict.dict")
  fi
  log=$scratch/$target.log
  echo "== fuzzing $target for ${seconds}s"
  status=0
  TMPDIR=$scratch cargo +nightly fuzz run --fuzz-dir "$fuzz_dir" "$target" "$corpus" "$seeds" \
    -- "${options[@]}" >"$log" 2>&1 || status=$?
  done_line=$(grep -a -E '^#[0-9]+[[:space:]]+DONE ' "$log" | tail -n 1 || true)
  executions=$(grep -a '^stat::number_of_executed_units:' "$log" | awk '{ print $2 }' | tail -n 1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\) .*/\1/p' <<<"$done_line")
  ft=$(sed -n 's/.* ft: \([0-9]*\) .*/\1/p' <<<"$done_line")
  files=$(find "$corpus" -type f | wc -l)
  if [ "$status" -eq 0 ] && [ -n "$done_line" ]; then
    verdict=PASS
    passed=$((passed + 1))
    tail -n 3 "$log" | sed 's/^/  /'
  else
    verdict=FAIL
    failed=$((failed + 1))
    # The panic, the input and how to reproduce it.
    grep -a -A 12 -E 'panicked at|ERROR: libFuzzer|ERROR: AddressSanitizer|SUMMARY:|Reproduce with' "$log" | head -n 60 || tail -n 40 "$log"
  fi
  rows+=("$(printf '%-4s  %-13s %12s %8s %8s %8s' "$verdict" "$target" \
    "${executions:--}" "${cov:--}" "${ft:--}" "$files")")
done

echo
echo "== fuzzing: ${seconds}s per target"
printf '%-4s  %-13s %12s %8s %8s %8s\n' "" target executions cov ft corpus
printf '%s\n' "${rows[@]}"
echo "(cov: code edges covered, ft: libFuzzer's features; corpus: files in tests/fuzz/corpus/TARGET)"
if [ "$failed" -eq 0 ]; then
  echo "test result: ok. $passed passed; 0 failed; 0 ignored; 0 measured; 0 filtered out"
else
  echo "test result: FAILED. $passed passed; $failed failed; 0 ignored; 0 measured; 0 filtered out"
  echo "a fuzz target failed: its input is in tests/fuzz/artifacts/TARGET/; add it as a regression test with the fix" >&2
  exit 1
fi
