#!/bin/sh
# Builds the Debian package for one architecture with Debian's own tools (dpkg-deb,
# dpkg-shlibdeps), without network access but for what build-static.sh fetches, and
# prints its path.
#
# The binary: for this machine's architecture, the ordinary release build (dynamically
# linked against glibc, as Debian expects; dpkg-shlibdeps computes Depends). For another
# architecture, the static-pie musl binary of packaging/build-static.sh: dpkg-shlibdeps
# could only compute Depends with that architecture's libc6 installed (a foreign dpkg
# architecture on the build machine), and a static binary needs none.
#
# Usage: packaging/debian/build-deb.sh [--arch amd64|arm64|armhf] [OUTPUT_DIRECTORY]
#   (default: this machine's architecture, target/debian)
set -eu
cd "$(dirname "$0")/../.."
top=$(pwd)
native=$(dpkg --print-architecture)
arch=$native
if [ "${1:-}" = --arch ]; then
    [ $# -ge 2 ] || {
        echo "usage: packaging/debian/build-deb.sh [--arch amd64|arm64|armhf] [OUTPUT_DIRECTORY]" >&2
        exit 64
    }
    arch=$2
    shift 2
fi
output=${1:-$top/target/debian}
case $arch in
    amd64) static_arch=x86_64 ;;
    arm64) static_arch=aarch64 ;;
    armhf) static_arch=armv7 ;;
    *)
        echo "build-deb.sh: unknown architecture '$arch': amd64, arm64 or armhf" >&2
        exit 64
        ;;
esac

if [ "$arch" = "$native" ]; then
    cargo build --release --locked >&2
    binary=${CARGO_TARGET_DIR:-target}/release/psi-syslogd
else
    # Its last line: PATH SIZE bytes (musl static-pie)
    built=$(packaging/build-static.sh --arch "$static_arch")
    binary=$(echo "$built" | tail -n 1 | cut -d ' ' -f 1)
fi
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# dpkg-shlibdeps wants the files where debhelper would stage them.
root=$work/source/debian/psi-syslogd
doc=$root/usr/share/doc/psi-syslogd

install -D -m 0755 "$binary" "$root/usr/sbin/psi-syslogd"
install -D -m 0644 packaging/psi-syslogd.conf "$root/etc/psi-syslogd.conf"
install -D -m 0644 packaging/rsyslog/psi-syslogd.conf "$root/etc/rsyslog.d/psi-syslogd.conf"
install -D -m 0644 packaging/systemd/psi-syslogd.service "$root/lib/systemd/system/psi-syslogd.service"
install -d "$root/usr/share/man/man8" "$root/usr/share/man/man5"
gzip -9n <man/psi-syslogd.8 >"$root/usr/share/man/man8/psi-syslogd.8.gz"
gzip -9n <man/psi-syslogd.conf.5 >"$root/usr/share/man/man5/psi-syslogd.conf.5.gz"
install -D -m 0644 packaging/debian/copyright "$doc/copyright"
if [ "$arch" != "$native" ]; then
    install -D -m 0644 packaging/debian/static.lintian-overrides \
        "$root/usr/share/lintian/overrides/psi-syslogd"
fi
gzip -9n <packaging/debian/changelog >"$doc/changelog.gz"
# The user's documentation (install, examples, privilege, where the alert rules are);
# Debian compresses documentation over 4 kB.
gzip -9n <README.md >"$doc/README.md.gz"
for example in rsyslog/alert.conf rsyslog/page.conf rsyslog/forward.conf rsyslog/central.conf \
    syslog-ng/psi-syslogd.conf syslog-ng/alert.conf \
    journald/psi-syslogd-follow journald/psi-syslogd-alert.service journald/psi-syslogd-page.service \
    systemd/psi-syslogd.service.d/dac-override.conf systemd/psi-syslogd.service.d/cap-sys-resource.conf \
    busybox/psi-syslogd-logread openrc/psi-syslogd sysvinit/psi-syslogd inittab; do
    # Examples are documentation: not executable (copy them where they are used).
    install -D -m 0644 "packaging/$example" "$doc/examples/$example"
done

# The shared libraries the binary needs, as Debian's tool computes them (it finds the
# package root by its DEBIAN directory); none for the static binary.
install -d -m 0755 "$root/DEBIAN"
depends=
if [ "$arch" = "$native" ]; then
    printf 'Source: psi-syslogd\n\nPackage: psi-syslogd\nArchitecture: any\n' \
        >"$work/source/debian/control"
    depends=$(cd "$work/source" && dpkg-shlibdeps -O debian/psi-syslogd/usr/sbin/psi-syslogd |
        sed -n 's/^shlibs:Depends=//p')
fi
installed_size=$(du -sk --apparent-size "$root" | cut -f 1)

# An empty Depends: field is not allowed: the line goes when there is nothing to depend on.
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" \
    -e "s/@DEPENDS@/$depends/" -e "s/@INSTALLED_SIZE@/$installed_size/" -e '/^Depends: $/d' \
    packaging/debian/control.in >"$root/DEBIAN/control"
printf '/etc/psi-syslogd.conf\n/etc/rsyslog.d/psi-syslogd.conf\n' >"$root/DEBIAN/conffiles"
(cd "$root" && find . -path ./DEBIAN -prune -o -path ./etc -prune -o -type f -print |
    sed 's|^\./||' | LC_ALL=C sort | xargs md5sum) >"$root/DEBIAN/md5sums"

mkdir -p "$output"
package="$output/psi-syslogd_${version}_$arch.deb"
dpkg-deb --root-owner-group -Zxz --build "$root" "$package" >&2
echo "$package"
