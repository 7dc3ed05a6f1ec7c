#!/usr/bin/env bash
# The kernel matrix: boots Debian's own kernels under qemu (TCG), each with an
# initramfs of BusyBox, the static psi-syslogd of its architecture, vmtool and the
# steps in tests/vm/steps, and keeps each VM's console log.
# Usage: tests/vm/run-matrix.sh OUTPUT_DIR [NAME]...   (NAME: bullseye-amd64, ...)
# Writes OUTPUT_DIR/NAME.console and OUTPUT_DIR/NAME.status (qemu's exit status) for
# each VM; tests/kernels.rs reads them. Environment:
#   PSI_SYSLOGD_VM_CACHE  downloads (default /var/cache/psi-syslogd-tests/vm)
#   PSI_SYSLOGD_VM_BUILD  builds and initramfs images (default target/vm)
#   PSI_SYSLOGD_VM_JOBS   VMs at a time (default 2: each takes two host threads)
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:?usage: run-matrix.sh OUTPUT_DIR [NAME]...}
shift
mkdir -p "$out"
out=$(cd "$out" && pwd)
build=${PSI_SYSLOGD_VM_BUILD:-$top/target/vm}
mkdir -p "$build"
jobs=${PSI_SYSLOGD_VM_JOBS:-2}

log() { echo "run-matrix.sh: $*" >&2; }

# The static psi-syslogd for MACHINE (x86_64, aarch64): prints its path.
build_daemon() {
  local machine=$1 line
  if [ "$machine" = "$(uname -m)" ]; then
    line=$(CARGO_TARGET_DIR="$build/cargo" "$top/packaging/build-static.sh" | tail -n 1)
  elif grep -q -- '--arch' "$top/packaging/build-static.sh"; then
    line=$(CARGO_TARGET_DIR="$build/cargo" "$top/packaging/build-static.sh" --arch "$machine" | tail -n 1)
  else
    # Until packaging/build-static.sh builds other architectures: musl through rustup,
    # linked by rust-lld (no cross toolchain needed).
    local target="$machine-unknown-linux-musl"
    rustup target list --installed | grep -qx "$target" || rustup target add "$target" >&2
    local linker_variable
    linker_variable="CARGO_TARGET_$(echo "$target" | tr 'a-z-' 'A-Z_')_LINKER"
    env "$linker_variable=rust-lld" CARGO_TARGET_DIR="$build/cargo" \
      cargo build --manifest-path "$top/Cargo.toml" --release --locked --target "$target" >&2
    line="$build/cargo/$target/release/psi-syslogd"
  fi
  echo "${line%% *}"
}

# vmtool for MACHINE, built by plain rustc (no crates): prints its path.
build_vmtool() {
  local machine=$1 target="$1-unknown-linux-musl" binary="$build/vmtool-$1"
  if [ ! -x "$binary" ] || [ "$top/tests/vm/vmtool.rs" -nt "$binary" ]; then
    rustup target list --installed | grep -qx "$target" || rustup target add "$target" >&2
    local linker=()
    [ "$machine" = "$(uname -m)" ] || linker=(-C linker=rust-lld)
    rustc --edition 2024 -C opt-level=s -C panic=abort -C strip=symbols "${linker[@]}" \
      --target "$target" -o "$binary" "$top/tests/vm/vmtool.rs" >&2
  fi
  echo "$binary"
}

# The initramfs for MACHINE with BUSYBOX: prints its path.
build_initramfs() {
  local machine=$1 busybox=$2 daemon vmtool
  daemon=$(build_daemon "$machine")
  vmtool=$(build_vmtool "$machine")
  local root="$build/root-$machine" image="$build/initramfs-$machine.cpio.gz"
  rm -rf "$root"
  mkdir -p "$root"/{bin,usr/sbin,lib,etc/init.d,steps,proc,sys,dev,tmp,run,var/log,root}
  cp "$busybox" "$root/bin/busybox"
  cp "$daemon" "$root/usr/sbin/psi-syslogd"
  cp "$vmtool" "$root/bin/vmtool"
  cp "$top/tests/vm/init" "$root/init"
  cp "$top/tests/vm/vm.sh" "$root/lib/vm.sh"
  cp "$top/tests/vm/steps/"*.sh "$root/steps/"
  cp "$top/packaging/psi-syslogd.conf" "$root/etc/psi-syslogd.conf"
  cp "$top/packaging/sysvinit/psi-syslogd" "$root/etc/init.d/psi-syslogd"
  cp "$top/packaging/openrc/psi-syslogd" "$root/etc/init.d/psi-syslogd-openrc"
  chmod 755 "$root/init" "$root/etc/init.d/psi-syslogd"
  printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' 'psi:x:1000:1000:psi:/tmp:/bin/sh' \
    'nobody:x:65534:65534:nobody:/nonexistent:/bin/false' >"$root/etc/passwd"
  printf '%s\n' 'root:x:0:' 'psi:x:1000:' 'nogroup:x:65534:' >"$root/etc/group"
  mknod -m 600 "$root/dev/console" c 5 1
  (cd "$root" && find . | sort | cpio --quiet -o -H newc -R 0:0 | gzip -1 >"$image")
  rm -rf "$root"
  echo "$image"
}

# Boots one VM; its console goes to OUTPUT_DIR/NAME.console.
boot() {
  local name=$1 machine=$2 kernel=$3 initramfs=$4
  local qemu console
  # shellcheck disable=SC2054 # the commas belong to qemu's option values
  case "$machine" in
  x86_64)
    qemu=(qemu-system-x86_64 -accel tcg,thread=multi -cpu max)
    console=ttyS0
    ;;
  aarch64)
    qemu=(qemu-system-aarch64 -M virt -accel tcg,thread=multi -cpu max,pauth-impdef=on)
    console=ttyAMA0
    ;;
  esac
  local started=$SECONDS status=0
  # A VM that hangs is cut after 8 minutes; its console shows how far it got.
  timeout 480 "${qemu[@]}" -smp 2 -m 256 -nographic -no-reboot -nodefaults \
    -serial stdio -net none -kernel "$kernel" -initrd "$initramfs" \
    -append "console=$console panic=-1 quiet loglevel=1 rdinit=/init" \
    </dev/null >"$out/$name.console" 2>&1 || status=$?
  echo "$status" >"$out/$name.status"
  echo "$((SECONDS - started))" >"$out/$name.seconds"
  log "$name: qemu exited $status after $((SECONDS - started)) s"
}

started=$SECONDS
vms=$(bash "$top/tests/vm/fetch.sh")
log "downloads ready after $((SECONDS - started)) s"
declare -A initramfs
while read -r name machine kernel busybox package; do
  if [ $# -gt 0 ] && ! printf '%s\n' "$@" | grep -qx "$name"; then continue; fi
  [ -n "${initramfs[$machine]:-}" ] || initramfs[$machine]=$(build_initramfs "$machine" "$busybox")
  echo "$package" >"$out/$name.package"
done <<<"$vms"
log "binaries and initramfs images ready after $((SECONDS - started)) s"

running=0
while read -r name machine kernel busybox package; do
  if [ $# -gt 0 ] && ! printf '%s\n' "$@" | grep -qx "$name"; then continue; fi
  rm -f "$out/$name.console" "$out/$name.status"
  boot "$name" "$machine" "$kernel" "${initramfs[$machine]}" &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then
    wait -n || true
    running=$((running - 1))
  fi
done <<<"$vms"
wait
log "matrix done after $((SECONDS - started)) s"
