#!/usr/bin/env bash
# Installs the Debian packages the test suite needs. Idempotent; needs root.
#
# rsyslog and syslog-ng-core conflict as Debian packages (both provide
# system-log-daemon), and the receiver tests run both. syslog-ng-core is installed;
# rsyslog is downloaded and unpacked with dpkg -x into $RSYSLOG_ROOT (its libraries
# are installed as packages), where tests/receivers.rs looks for it.
set -euo pipefail

RSYSLOG_ROOT=${PSI_SYSLOGD_RSYSLOG_ROOT:-/opt/psi-syslogd-tests/rsyslog}

packages=(
  util-linux     # unshare (user and mount namespaces), setpriv, prlimit
  bsdutils       # logger
  coreutils      # dd for I/O pressure
  mandoc         # man page lint
  man-db         # man(1): systemd-analyze verify follows the unit's Documentation=
  strace         # system call counts
  syslog-ng-core # a receiver: syslog-ng
  busybox        # a receiver: BusyBox syslogd and logread
  systemd        # a receiver: systemd-journald; journalctl; systemd-analyze
  libestr0 libfastjson4 liblognorm5 # rsyslog's libraries (rsyslog itself is unpacked)
  dpkg-dev       # dpkg-shlibdeps for the package's Depends
  binutils       # readelf: is the appliance binary static?
  qemu-user-static # the aarch64 and armv7 binaries run against this kernel
  gcc-arm-linux-gnueabihf # armv7 build: crtbegin/crtend and the unwinder (build-static.sh)
  lintian        # the package lint
  rpm rpmlint    # the RPM: rpmbuild, rpm (installs into a private root), rpm2cpio; its lint
  shellcheck     # the shell script lint
  qemu-system-x86 qemu-system-arm # the kernel matrix (tests/kernels.rs): x86_64 and aarch64 VMs
  cpio           # the kernel matrix's initramfs images
  debian-archive-keyring # the kernel matrix's private apt sources (Debian's signing keys)
  systemd-container debootstrap # the unit under a real systemd (systemd-nspawn --boot)
  g++ python3    # g++: the fuzz step (libfuzzer-sys builds libFuzzer, C++); python3: tests/run.sh lists the test targets with it
  procps         # /bin/kill for the unit's ExecReload=, and ps
)

export DEBIAN_FRONTEND=noninteractive
# Other package installs may run at the same time (CI steps, other test runs): wait
# for the dpkg lock instead of failing at once.
apt=(apt-get -o DPkg::Lock::Timeout=600)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$package")
done
if ((${#missing[@]})); then
  "${apt[@]}" update
  "${apt[@]}" install -y --no-install-recommends "${missing[@]}"
fi

if [ ! -x "$RSYSLOG_ROOT/usr/sbin/rsyslogd" ]; then
  download=$(mktemp -d)
  trap 'rm -rf "$download"' EXIT
  (cd "$download" && "${apt[@]}" download -o APT::Sandbox::User=root rsyslog) || {
    "${apt[@]}" update
    (cd "$download" && "${apt[@]}" download -o APT::Sandbox::User=root rsyslog)
  }
  rm -rf "$RSYSLOG_ROOT"
  mkdir -p "$RSYSLOG_ROOT"
  dpkg -x "$download"/rsyslog_*.deb "$RSYSLOG_ROOT"
fi
echo "rsyslog for the tests: $("$RSYSLOG_ROOT/usr/sbin/rsyslogd" -v | sed -n 1p) in $RSYSLOG_ROOT"
