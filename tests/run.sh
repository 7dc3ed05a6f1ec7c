#!/usr/bin/env bash
# The whole test suite: what README.md calls the test command, and what .ci/run calls.
# Installs the Debian packages it needs (tests/deps.sh), then runs every step below,
# each to its end even when an earlier one failed, and prints one line per step
# (passed and failed counts, seconds) and a total. Exits non-zero if anything failed.
# Nothing is skipped: a missing tool fails the test that needs it.
#
# A step is one line at the bottom: `step NAME COMMAND...`. Its counts are read from
# the libtest summaries it prints ("test result: ok. N passed; M failed; ..."), so a
# script that prints such lines reports its own counts; a command that prints none
# counts as one test, passed if it exits 0. A step fails if it exits non-zero,
# whatever its counts say.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "tests/run.sh: the tests arm PSI triggers, make namespaces and install packages: run as root" >&2
  exit 1
fi
bash tests/deps.sh

log_dir=$(mktemp -d)
trap 'rm -rf "$log_dir"' EXIT
summary=()
failed_steps=0
total_passed=0
total_failed=0
suite_started=$EPOCHREALTIME

# step NAME COMMAND...: runs COMMAND with its output shown as it comes and kept.
step() {
  local name=$1
  shift
  local log
  log="$log_dir/step-${#summary[@]}.log"
  echo "== $name"
  local started=$EPOCHREALTIME
  local status=0
  "$@" </dev/null 2>&1 | tee "$log" || status=$?
  local seconds
  seconds=$(awk -v a="$started" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
  local passed failed
  read -r passed failed < <(awk '
    /^test result: / {
      for (i = 1; i <= NF; i++) {
        if ($(i + 1) ~ /^passed;?$/) p += $i
        if ($(i + 1) ~ /^failed;?$/) f += $i
      }
      seen = 1
    }
    END { if (seen) print p + 0, f + 0; else print "-", "-" }' "$log")
  if [ "$passed" = "-" ]; then
    if [ "$status" -eq 0 ]; then passed=1 failed=0; else passed=0 failed=1; fi
  fi
  local verdict=PASS
  if [ "$status" -ne 0 ] || [ "$failed" -ne 0 ]; then
    verdict=FAIL
    failed_steps=$((failed_steps + 1))
    # A test binary that died before its summary failed at least one test.
    if [ "$failed" -eq 0 ]; then failed=1; fi
  fi
  total_passed=$((total_passed + passed))
  total_failed=$((total_failed + failed))
  summary+=("$(printf '%-4s  %-34s %5s passed %4s failed %8s s' \
    "$verdict" "$name" "$passed" "$failed" "$seconds")")
}

# Every cargo test target (the library's and binary's unit tests, each tests/*.rs), one
# step each, so one failing binary hides nothing behind it.
cargo_targets() {
  cargo metadata --no-deps --format-version 1 | python3 -c '
import json, sys
for package in json.load(sys.stdin)["packages"]:
    for target in package["targets"]:
        kinds = target["kind"]
        if "lib" in kinds:
            print("--lib unit tests (lib)")
        elif "bin" in kinds:
            print("--bin=%s unit tests (bin %s)" % (target["name"], target["name"]))
        elif "test" in kinds:
            print("--test=%s tests/%s" % (target["name"], target["name"]))
'
}

step "man page lint" mandoc -T lint -W warning man/psi-syslogd.8 man/psi-syslogd.conf.5
step "build the tests" cargo test --all-targets --release --no-run
while read -r selector name; do
  step "$name" cargo test --release "$selector"
done < <(cargo_targets)
# Every fuzz target for a bounded time, and the fuzz crate's own tests (its strict
# logfmt reader and the reference implementations the targets compare against).
step "fuzz crate unit tests" cargo +nightly test --manifest-path tests/fuzz/Cargo.toml --lib
step "fuzzing (9 targets, 30 s each)" tests/fuzz/run.sh 30

echo
echo "== summary"
printf '%s\n' "${summary[@]}"
total_seconds=$(awk -v a="$suite_started" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
printf 'total: %d steps, %d failed; %d tests passed, %d failed; %s s\n' \
  "${#summary[@]}" "$failed_steps" "$total_passed" "$total_failed" "$total_seconds"
[ "$failed_steps" -eq 0 ]
