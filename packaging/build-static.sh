#!/bin/sh
# Builds a stripped, statically linked psi-syslogd for appliances and prints one line:
#   PATH SIZE_IN_BYTES bytes (LIBC static)
# musl through rustup when the target can be had (about 455 KB); otherwise glibc with
# +crt-static (about 1.2 MB: glibc links much more of itself statically). The release
# profile in Cargo.toml already strips, uses LTO and aborts on panic.
# Usage: packaging/build-static.sh [--glibc]
set -eu
cd "$(dirname "$0")/.."

arch=$(uname -m)
musl="$arch-unknown-linux-musl"
glibc="$arch-unknown-linux-gnu"

use_musl() {
    [ "${1:-}" != "--glibc" ] || return 1
    command -v rustup >/dev/null 2>&1 || return 1
    rustup target list --installed | grep -qx "$musl" && return 0
    echo "build-static.sh: adding the $musl target with rustup" >&2
    rustup target add "$musl" >&2
}

if use_musl "${1:-}"; then
    target=$musl
    libc=musl
    cargo build --release --locked --target "$target" >&2
else
    echo "build-static.sh: building with glibc and +crt-static" >&2
    target=$glibc
    libc=glibc
    # With --target, RUSTFLAGS reach only the target crates, not build scripts.
    RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" \
        cargo build --release --locked --target "$target" >&2
fi

binary="${CARGO_TARGET_DIR:-$(pwd)/target}/$target/release/psi-syslogd"
# A dynamic executable names its loader in a PT_INTERP program header; a static one
# has none (static-pie included).
if command -v readelf >/dev/null 2>&1 && readelf -lW "$binary" | grep -q 'Requesting program interpreter'; then
    echo "build-static.sh: $binary is not static" >&2
    exit 1
fi
size=$(wc -c <"$binary")
echo "$binary $size bytes ($libc static)"
