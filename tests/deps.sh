#!/usr/bin/env bash
# Installs the Debian packages the test suite needs. Idempotent; needs root.
set -euo pipefail

packages=(
  util-linux   # unshare (user and mount namespaces), setpriv, prlimit
  coreutils    # dd for I/O pressure
  mandoc       # man page lint
  strace       # system call counts
)

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$package")
done
if ((${#missing[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y --no-install-recommends "${missing[@]}"
fi
