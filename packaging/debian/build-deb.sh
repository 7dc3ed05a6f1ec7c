#!/bin/sh
# Builds the Debian package with Debian's own tools (dpkg-deb, dpkg-shlibdeps), without
# network access, and prints its path. The binary is the ordinary release build
# (dynamically linked against glibc, as Debian expects); build-static.sh makes the
# appliance binary.
# Usage: packaging/debian/build-deb.sh [OUTPUT_DIRECTORY]   (default target/debian)
set -eu
cd "$(dirname "$0")/../.."
top=$(pwd)
output=${1:-$top/target/debian}

cargo build --release --locked >&2
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
arch=$(dpkg --print-architecture)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# dpkg-shlibdeps wants the files where debhelper would stage them.
root=$work/source/debian/psi-syslogd
doc=$root/usr/share/doc/psi-syslogd

install -D -m 0755 "${CARGO_TARGET_DIR:-target}/release/psi-syslogd" "$root/usr/sbin/psi-syslogd"
install -D -m 0644 packaging/psi-syslogd.conf "$root/etc/psi-syslogd.conf"
install -D -m 0644 packaging/rsyslog/psi-syslogd.conf "$root/etc/rsyslog.d/psi-syslogd.conf"
install -D -m 0644 packaging/systemd/psi-syslogd.service "$root/lib/systemd/system/psi-syslogd.service"
install -d "$root/usr/share/man/man8"
gzip -9n <man/psi-syslogd.8 >"$root/usr/share/man/man8/psi-syslogd.8.gz"
install -D -m 0644 packaging/debian/copyright "$doc/copyright"
gzip -9n <packaging/debian/changelog >"$doc/changelog.gz"
for example in rsyslog/alert.conf rsyslog/page.conf rsyslog/forward.conf rsyslog/central.conf \
    syslog-ng/psi-syslogd.conf syslog-ng/alert.conf \
    journald/psi-syslogd-follow journald/psi-syslogd-alert.service journald/psi-syslogd-page.service \
    busybox/psi-syslogd-logread openrc/psi-syslogd sysvinit/psi-syslogd inittab; do
    # Examples are documentation: not executable (copy them where they are used).
    install -D -m 0644 "packaging/$example" "$doc/examples/$example"
done

# The shared libraries the binary needs, as Debian's tool computes them (it finds the
# package root by its DEBIAN directory).
install -d -m 0755 "$root/DEBIAN"
printf 'Source: psi-syslogd\n\nPackage: psi-syslogd\nArchitecture: any\n' \
    >"$work/source/debian/control"
depends=$(cd "$work/source" && dpkg-shlibdeps -O debian/psi-syslogd/usr/sbin/psi-syslogd |
    sed -n 's/^shlibs:Depends=//p')
installed_size=$(du -sk --apparent-size "$root" | cut -f 1)

sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" \
    -e "s/@DEPENDS@/$depends/" -e "s/@INSTALLED_SIZE@/$installed_size/" \
    packaging/debian/control.in >"$root/DEBIAN/control"
printf '/etc/psi-syslogd.conf\n/etc/rsyslog.d/psi-syslogd.conf\n' >"$root/DEBIAN/conffiles"
(cd "$root" && find . -path ./DEBIAN -prune -o -path ./etc -prune -o -type f -print |
    sed 's|^\./||' | LC_ALL=C sort | xargs md5sum) >"$root/DEBIAN/md5sums"

mkdir -p "$output"
package="$output/psi-syslogd_${version}_$arch.deb"
dpkg-deb --root-owner-group -Zxz --build "$root" "$package" >&2
echo "$package"
