#!/bin/sh
# Builds the RPM (packaging/rpm/psi-syslogd.spec) for one architecture with rpmbuild,
# on Debian as on RHEL or Fedora, and prints its path. The binary is the static-pie
# musl build of packaging/build-static.sh for every architecture: the spec says why.
# rpmbuild works in a temporary directory; nothing is written to ~/rpmbuild.
#
# Usage: packaging/rpm/build-rpm.sh [--arch x86_64|aarch64] [OUTPUT_DIRECTORY]
#   (default: this machine's architecture, target/rpm)
#
# Environment: CARGO_TARGET_DIR as for cargo (build-static.sh builds there).
set -eu
cd "$(dirname "$0")/../.."
top=$(pwd)
usage() {
    echo "usage: packaging/rpm/build-rpm.sh [--arch x86_64|aarch64] [OUTPUT_DIRECTORY]" >&2
    exit 64
}
case $(uname -m) in
    aarch64 | arm64) arch=aarch64 ;;
    *) arch=$(uname -m) ;;
esac
if [ "${1:-}" = --arch ]; then
    [ $# -ge 2 ] || usage
    arch=$2
    shift 2
fi
[ $# -le 1 ] || usage
case $arch in
    x86_64 | aarch64) ;;
    *)
        echo "build-rpm.sh: unknown architecture '$arch': x86_64 or aarch64" >&2
        exit 64
        ;;
esac
output=${1:-$top/target/rpm}
case $output in /*) ;; *) output=$(pwd)/$output ;; esac

if ! command -v rpmbuild >/dev/null 2>&1; then
    echo "build-rpm.sh: needs rpmbuild: apt-get install rpm (Debian), dnf install rpm-build" >&2
    exit 69
fi

# The spec's Version and its %changelog are written by hand: they must follow Cargo.toml.
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
spec=packaging/rpm/psi-syslogd.spec
spec_version=$(sed -n 's/^Version: *//p' "$spec")
if [ "$spec_version" != "$version" ]; then
    echo "build-rpm.sh: $spec has Version: $spec_version but Cargo.toml has $version:" \
        "update its Version: and add a %changelog entry" >&2
    exit 65
fi

# Its last line: PATH SIZE bytes (musl static-pie)
built=$(packaging/build-static.sh --arch "$arch")
binary=$(echo "$built" | tail -n 1 | cut -d ' ' -f 1)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$output"
rpmbuild -bb --quiet --target "$arch" \
    --define "_topdir $work" \
    --define "_rpmdir $output" \
    --define "_build_name_fmt %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm" \
    --define "psi_top $top" \
    --define "psi_binary $binary" \
    "$spec" >&2
release=$(sed -n 's/^Release: *//p' "$spec")
echo "$output/psi-syslogd-$version-$release.$arch.rpm"
