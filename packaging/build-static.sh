#!/bin/sh
# Builds a stripped, static, position-independent (static-pie) psi-syslogd against musl
# for an appliance, checks it (readelf: no loader, the right machine), and prints, as its
# last line:
#   PATH SIZE_IN_BYTES bytes (musl static-pie)
#
# Usage: packaging/build-static.sh [--arch x86_64|aarch64|armv7] [--tiny]
#   --arch   the machine to build for (default: this one)
#   --tiny   the standard library built from source, optimised for size, with the
#            immediate-abort panic strategy: a panic aborts without a message (nightly)
#
# The builds (README.md, "A static binary for appliances"):
#   x86_64, aarch64   stable Rust and rustup's musl target
#   armv7             armv7-unknown-linux-musleabihf, which rustup has no standard library
#                     for: the standard library is built from source (nightly -Z build-std)
#                     against Debian's musl for armhf, in Thumb-2 code
#   --tiny            nightly -Z build-std for every architecture
# All link with rust-lld through packaging/static-pie-ld, which makes them static-pie.
#
# What it needs it adds: rustup targets, the nightly toolchain and its rust-src, and (as
# root) Debian packages: binutils (readelf); for armv7 gcc-arm-linux-gnueabihf (crtbegin,
# crtend, the unwinder) and musl-dev:armhf, which is downloaded and unpacked into the
# target directory with a private apt state (the machine's dpkg architectures and apt
# sources stay as they are).
#
# Environment: CARGO_TARGET_DIR as for cargo; RUSTFLAGS are passed on.
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)

usage() {
    echo "usage: packaging/build-static.sh [--arch x86_64|aarch64|armv7] [--tiny]" >&2
    exit 64
}
say() { echo "build-static.sh: $*" >&2; }

case $(uname -m) in
    aarch64 | arm64) arch=aarch64 ;;
    armv7*) arch=armv7 ;;
    *) arch=$(uname -m) ;;
esac
tiny=
while [ $# -gt 0 ]; do
    case $1 in
        --arch)
            [ $# -ge 2 ] || usage
            arch=$2
            shift 2
            ;;
        --tiny)
            tiny=1
            shift
            ;;
        *) usage ;;
    esac
done

case $arch in
    x86_64) target=x86_64-unknown-linux-musl machine="Advanced Micro Devices X86-64" ;;
    aarch64) target=aarch64-unknown-linux-musl machine=AArch64 ;;
    armv7) target=armv7-unknown-linux-musleabihf machine=ARM ;;
    *)
        say "unknown architecture '$arch': x86_64, aarch64 or armv7"
        exit 64
        ;;
esac
target_dir=${CARGO_TARGET_DIR:-$top/target}
case $target_dir in /*) ;; *) target_dir=$top/$target_dir ;; esac
# The tiny flavour in a directory of its own, so neither build overwrites the other.
[ -z "$tiny" ] || target_dir=$target_dir/tiny

# Debian packages, installed when missing (as root) or named.
need_packages() {
    missing=
    for package; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" ||
            missing="$missing $package"
    done
    [ -n "$missing" ] || return 0
    if [ "$(id -u)" -ne 0 ]; then
        say "needs the Debian packages$missing: apt-get install$missing (as root)"
        exit 69
    fi
    say "installing$missing"
    # shellcheck disable=SC2086 # one word per package
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        -o DPkg::Lock::Timeout=600 $missing >&2 || {
        apt-get update -o DPkg::Lock::Timeout=600 >&2
        # shellcheck disable=SC2086
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
            -o DPkg::Lock::Timeout=600 $missing >&2
    }
}

if ! command -v rustup >/dev/null 2>&1; then
    say "needs rustup (https://rustup.rs) for the musl targets and the nightly toolchain"
    exit 69
fi
command -v readelf >/dev/null 2>&1 || need_packages binutils

# The standard library is built from source (-Z build-std) for --tiny and for armv7.
from_source=$tiny
[ "$arch" != armv7 ] || from_source=1

# Targets are added to the default toolchain: their musl start files and C library
# serve the --tiny builds too (nightly's cannot be downloaded for aarch64).
add_target() {
    rustup target list --installed | grep -qx "$1" && return 0
    say "adding the $1 target with rustup"
    rustup target add "$1" >&2
}
cargo=cargo
flags=
if [ -n "$from_source" ]; then
    if ! rustup toolchain list | grep -q '^nightly'; then
        say "installing the nightly toolchain"
        rustup toolchain install nightly --profile minimal --component rust-src >&2
    fi
    if ! rustup +nightly component list --installed | grep -q '^rust-src'; then
        say "adding rust-src to the nightly toolchain"
        rustup component add rust-src --toolchain nightly >&2
    fi
    cargo="cargo +nightly"
    # Std optimised for size: the release profile's opt-level "z" applies to it too (it
    # is built as part of the build) and optimize_for_size picks its smaller algorithms.
    # Naming the features replaces cargo's default set (backtrace, panic-unwind): std's
    # backtrace symboliser (gimli, addr2line, rustc-demangle, miniz_oxide), which has no
    # symbols to read in a stripped binary, stays out; panic messages stay in.
    build_std="-Z build-std=std,panic_abort -Z build-std-features=optimize_for_size"
    # --tiny: a panic stops the process at once, and so nothing ever unwinds: the unwind
    # tables (.eh_frame; 31 KB of a 199 KB x86_64 build) go too.
    [ -z "$tiny" ] || flags="-Zunstable-options -Cpanic=immediate-abort -Cforce-unwind-tables=no"
else
    build_std=
fi

# Every target links with rust-lld through static-pie-ld (rustc itself makes static-pie
# only on x86_64), which folds identical code (--icf=all) and, where musl applies them
# (1.2.4 and later: not Debian's 1.2.3 for armhf), packs relative relocations (RELR).
# Measured on x86_64: 512,584 bytes with cc and GNU ld, 488,200 with these.
flags="$flags -Clinker=$top/packaging/static-pie-ld -Clinker-flavor=ld.lld"
flags="$flags -Clink-self-contained=no -Clink-arg=--icf=all"
# Nothing unwinds (panic = "abort"): the unwind tables are left out at link time
# (packaging/no-unwind-tables.ld). Measured on x86_64: 545,480 bytes with them, 492,248
# without.
flags="$flags -Clink-arg=-T$top/packaging/no-unwind-tables.ld -Clink-arg=--no-eh-frame-hdr"
case $arch in
    x86_64 | aarch64)
        add_target "$target"
        PSI_START_FILES=$(rustc --print sysroot)/lib/rustlib/$target/lib/self-contained
        flags="$flags -Clink-arg=-zpack-relative-relocs"
        ;;
    armv7)
        need_packages gcc-arm-linux-gnueabihf
        start=$target_dir/armv7-start-files
        if [ ! -f "$start/libunwind.a" ]; then
            say "downloading Debian's musl-dev for armhf into $target_dir"
            apt_dir=$target_dir/armv7-apt
            rm -rf "$apt_dir" "$start"
            mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" \
                "$apt_dir/debs" "$apt_dir/root" "$start"
            : >"$apt_dir/status"
            set -- -o APT::Architecture=armhf -o APT::Architectures::=armhf \
                -o Dir::State::Lists="$apt_dir/lists" -o Dir::Cache="$apt_dir/cache" \
                -o Dir::State::status="$apt_dir/status" -o Acquire::Languages=none \
                -o Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false \
                -o APT::Sandbox::User="$(id -un)"
            # An index that fails (a mirror syncing) is not fatal while musl-dev resolves.
            apt-get "$@" update >&2 || say "apt-get update reported errors; trying the download"
            (cd "$apt_dir/debs" && apt-get "$@" download musl-dev:armhf >&2)
            dpkg-deb -x "$apt_dir"/debs/musl-dev_*_armhf.deb "$apt_dir/root"
            musl=$apt_dir/root/usr/lib/arm-linux-musleabihf
            cp "$musl/rcrt1.o" "$musl/crti.o" "$musl/crtn.o" "$musl/libc.a" "$start/"
            # GCC's crtbeginS/crtendS; its ARM EHABI unwinder (libgcc_eh, which needs
            # only malloc, memcpy and abort from the C library) stands in for libunwind.
            for file in crtbeginS.o crtendS.o; do
                cp "$(arm-linux-gnueabihf-gcc -print-file-name=$file)" "$start/"
            done
            cp "$(arm-linux-gnueabihf-gcc -print-file-name=libgcc_eh.a)" "$start/libunwind.a"
            rm -rf "$apt_dir"
        fi
        PSI_START_FILES=$start
        # Thumb-2, which every ARMv7-A core has and Debian's armhf is built in: a third
        # smaller than ARM code.
        flags="$flags -Ctarget-feature=+thumb-mode"
        # 64-bit time_t, as musl has had since 1.2.0 (the libc crate's opt-in, which its
        # deprecation warning on time_t points to; std is built with it too): without it
        # time() and localtime_r() are musl's 32-bit compatibility symbols, and the
        # syslog timestamps wrap in January 2038.
        flags="$flags --cfg libc_unstable_musl_v1_2"
        # 32-bit ARM Linux has 4 KB pages only; lld's default of 64 KB can leave up to
        # 64 KB of padding in the file between segments (seen: 65,536 bytes of a 205 KB
        # tiny build).
        flags="$flags -Clink-arg=-zmax-page-size=4096"
        ;;
esac
export PSI_START_FILES

# With --target, RUSTFLAGS reach only the target crates, not build scripts or macros.
# shellcheck disable=SC2086 # cargo, build_std: words
RUSTFLAGS="${RUSTFLAGS:-} $flags" CARGO_TARGET_DIR=$target_dir \
    $cargo build --release --locked --target "$target" $build_std >&2

binary=$target_dir/$target/release/psi-syslogd
# A dynamic executable names its loader in a PT_INTERP program header; a static one
# has none. static-pie is an ELF of type DYN.
headers=$(readelf -hlW "$binary")
if echo "$headers" | grep -q 'Requesting program interpreter'; then
    say "$binary is not static"
    exit 1
fi
if ! echo "$headers" | grep -q "Machine: *$machine\$"; then
    say "$binary is not for $machine: $(echo "$headers" | grep Machine:)"
    exit 1
fi
if ! echo "$headers" | grep -q 'Type: *DYN'; then
    say "$binary is not position-independent: $(echo "$headers" | grep Type:)"
    exit 1
fi
size=$(wc -c <"$binary")
echo "$binary $size bytes (musl static-pie)"
