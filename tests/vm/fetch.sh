#!/usr/bin/env bash
# Fetches the kernels and BusyBox of the kernel matrix from Debian's archive, through a
# private apt configuration (the system's sources are never touched), into a cache
# keyed by package version. Prints one line per VM on stdout:
#   NAME ARCH KERNEL_IMAGE BUSYBOX KERNEL_PACKAGE_VERSION
# A second run reuses the cache and makes no download while its package lists are
# younger than a day (PSI_SYSLOGD_VM_REFRESH=1 forces an update).
set -euo pipefail

cache=${PSI_SYSLOGD_VM_CACHE:-/var/cache/psi-syslogd-tests/vm}
mkdir -p "$cache"

# The mirror the machine already uses (deb822 or one-line sources), else Debian's own.
mirror() {
  local uri
  uri=$(sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\).*/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null \
    | grep -v -- -security | head -n 1 || true)
  if [ -z "$uri" ]; then
    uri=$(sed -n 's/^deb[[:space:]]\+\(\[[^]]*\][[:space:]]\+\)\?\([^[:space:]]*\).*/\2/p' \
      /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | grep -v -- -security | head -n 1 || true)
  fi
  echo "${uri:-http://deb.debian.org/debian}"
}

# apt-get/apt-cache with the private configuration of SUITE.
suite_apt() {
  local suite=$1 tool=$2
  shift 2
  local dir="$cache/apt/$suite"
  "$tool" -o Dir::Etc::sourcelist="$dir/sources.list" -o Dir::Etc::sourceparts=- \
    -o Dir::State::Lists="$dir/lists" -o Dir::Cache="$dir/cache" \
    -o Dir::Etc::preferencesparts="$dir/preferences.d" -o Dir::Etc::preferences="$dir/preferences" \
    -o Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false \
    -o Acquire::IndexTargets::deb::DEP-11-icons::DefaultEnabled=false \
    -o Acquire::IndexTargets::deb::DEP-11-icons-hidpi::DefaultEnabled=false \
    -o APT::Architectures::=amd64 -o APT::Architectures::=arm64 \
    -o Acquire::Languages=none -o APT::Sandbox::User=root -o Debug::NoLocking=1 "$@"
}

update_suite() {
  local suite=$1 dir="$cache/apt/$1"
  mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial" "$dir/preferences.d"
  echo "deb [arch=amd64,arm64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $(mirror) $suite main" \
    >"$dir/sources.list"
  local stamp="$dir/updated"
  if [ "${PSI_SYSLOGD_VM_REFRESH:-0}" = 1 ] || [ -z "$(find "$stamp" -mmin -1440 2>/dev/null)" ]; then
    echo "fetch.sh: apt-get update for $suite" >&2
    suite_apt "$suite" apt-get -q update >&2
    touch "$stamp"
  fi
}

# The version apt would install of PACKAGE (arch-qualified) in SUITE.
candidate() {
  suite_apt "$1" apt-cache policy "$2" | sed -n 's/^ *Candidate: //p'
}

# Unpacks the members matching PATTERN of PACKAGE=VERSION from SUITE into DIR, once:
# the unpacked directory is the cache (the .deb goes once it is unpacked).
fetch() {
  local suite=$1 package=$2 version=$3 dir=$4 pattern=$5
  [ -e "$dir/.done" ] && return 0
  local download
  download=$(mktemp -d "$cache/download.XXXXXX")
  echo "fetch.sh: downloading $package $version ($suite)" >&2
  (cd "$download" && suite_apt "$suite" apt-get -q download "$package=$version" >&2)
  rm -rf "$dir"
  mkdir -p "$dir"
  dpkg-deb --fsys-tarfile "$download"/*.deb | tar -x -C "$dir" --wildcards "$pattern"
  du -k "$download"/*.deb | sed 's/^/fetch.sh: downloaded (KiB) /' >&2
  rm -rf "$download"
  touch "$dir/.done"
}

# The kernel a suite's metapackage points at, for ARCH: prints its image's path.
kernel() {
  local suite=$1 arch=$2
  local meta
  meta=$(suite_apt "$suite" apt-cache depends "linux-image-$arch:$arch" \
    | sed -n 's/^ *Depends: \(linux-image-[^ ]*\).*/\1/p' | head -n 1)
  meta=${meta%%:*}
  [ -n "$meta" ] || { echo "fetch.sh: linux-image-$arch in $suite depends on no kernel" >&2; exit 1; }
  local version
  version=$(candidate "$suite" "$meta:$arch")
  local dir="$cache/kernels/${meta}_${version}"
  fetch "$suite" "$meta:$arch" "$version" "$dir" './boot/*'
  local image
  image=$(find "$dir/boot" -name 'vmlinuz-*' | head -n 1)
  echo "$image $meta=$version"
}

busybox() {
  local arch=$1 version
  version=$(candidate bookworm "busybox-static:$arch")
  local dir="$cache/busybox/${arch}_${version}"
  fetch bookworm "busybox-static:$arch" "$version" "$dir" './bin/busybox'
  echo "$dir/bin/busybox"
}

for suite in bullseye bookworm trixie; do
  update_suite "$suite"
done

# shellcheck disable=SC2034 # read through ${!bb} below
busybox_amd64=$(busybox amd64)
# shellcheck disable=SC2034
busybox_arm64=$(busybox arm64)
for entry in bullseye:amd64:x86_64 bookworm:amd64:x86_64 trixie:amd64:x86_64 bookworm:arm64:aarch64; do
  IFS=: read -r suite arch machine <<<"$entry"
  read -r image package < <(kernel "$suite" "$arch")
  bb=busybox_$arch
  echo "$suite-$arch $machine $image ${!bb} $package"
done
