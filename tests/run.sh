#!/usr/bin/env bash
# The whole test suite: what README.md calls the test command, and what .ci/run calls.
# Installs the Debian packages it needs (tests/deps.sh), then runs every test. Nothing
# is skipped: a missing tool fails the test that needs it.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "tests/run.sh: the tests arm PSI triggers, make namespaces and install packages: run as root" >&2
  exit 1
fi
bash tests/deps.sh

echo "== man page lint (mandoc -T lint, warnings and errors)"
mandoc -T lint -W warning man/psi-syslogd.8

echo "== unit and integration tests"
cargo test --all-targets --release 2>&1
