#!/bin/sh
# build.sh VERSION ARCH BINDIR OUTDIR: build OUTDIR/gracevisor_<debversion>_<ARCH>.deb
# from the gracevisord and gracevisorctl in BINDIR (built for ARCH) and the
# files beside this script. `make deb` calls it; it needs dpkg-deb only.
# Prints the path of the package it built.
set -eu

version=$1 arch=$2 bindir=$3 outdir=$4
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
maintainer=${DEB_MAINTAINER:-gracevisor developers <gracevisor@example.org>}
compress=${DEB_COMPRESS:-xz} # dpkg-deb -Z: xz is smallest, gzip several times faster

# debversion: what dpkg accepts, sorting like the builds. A release
# (v1.2.3, 1.2.3-rc1, 1.2.3-4-gabcdef0) keeps its number: 1.2.3, 1.2.3~rc1,
# 1.2.3+4.gabcdef0; a bare commit (4e0317d, 4e0317d-dirty) becomes
# 0.0~git<commit time, UTC>.4e0317d(+dirty), which sorts below any release.
debversion() {
	v=${1#v}
	v=$(printf '%s' "$v" | sed -e 's/-dirty$/+dirty/' -e 's/-\([0-9][0-9]*\)-g\([0-9a-f][0-9a-f]*\)/+\1.g\2/' \
		-e 's/-/~/g' -e 's/[^A-Za-z0-9.+~]/./g')
	case $v in
	[0-9]*) printf '%s\n' "$v" ;;
	*)
		when=$(TZ=UTC git -C "$root" log -1 --format=%cd --date=format-local:%Y%m%d%H%M%S 2>/dev/null || true)
		printf '0.0~git%s.%s\n' "${when:-0}" "$v" ;;
	esac
}
debver=$(debversion "$version")
dpkg --validate-version "$debver" || { echo "build.sh: $version maps to $debver, not a Debian version" >&2; exit 1; }

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
pkg=$stage/gracevisor
doc=$pkg/usr/share/doc/gracevisor
install -d "$pkg/DEBIAN" "$pkg/usr/bin" "$pkg/lib/systemd/system" "$pkg/etc/init.d" \
	"$pkg/etc/gracevisor/conf.d" "$pkg/var/log/gracevisor" "$doc" \
	"$pkg/usr/share/man/man1" "$pkg/usr/share/man/man8" "$pkg/usr/share/lintian/overrides"

install -m 0755 "$bindir/gracevisord" "$bindir/gracevisorctl" "$pkg/usr/bin/"
sed 's|/usr/local/bin|/usr/bin|g' "$root/scripts/systemd/gracevisord.service" > "$pkg/lib/systemd/system/gracevisord.service"
sed 's|/usr/local/bin|/usr/bin|g' "$root/scripts/init.d/gracevisord" > "$pkg/etc/init.d/gracevisord"
chmod 0644 "$pkg/lib/systemd/system/gracevisord.service"
chmod 0755 "$pkg/etc/init.d/gracevisord"

# The default config is the example with the token the postinst makes.
conf=$pkg/etc/gracevisor/gracevisor.yaml
sed -e 's|^rpc: {host: localhost, port: 9001}$|# The token (made at install, root only) keeps local users other than root off the API.\nrpc: {host: localhost, port: 9001, token_file: /etc/gracevisor/token}|' \
	"$root/scripts/gracevisor.example.yaml" > "$conf"
grep -q '^rpc: {.*token_file: /etc/gracevisor/token}$' "$conf" ||
	{ echo "build.sh: scripts/gracevisor.example.yaml has no plain rpc line to add the token to" >&2; exit 1; }
chmod 0644 "$conf"

install -m 0644 "$here/copyright" "$doc/copyright"
install -m 0644 "$here/lintian-overrides" "$pkg/usr/share/lintian/overrides/gracevisor"
gzip -9n < "$here/gracevisorctl.1" > "$pkg/usr/share/man/man1/gracevisorctl.1.gz"
gzip -9n < "$here/gracevisord.8" > "$pkg/usr/share/man/man8/gracevisord.8.gz"
chmod 0644 "$pkg"/usr/share/man/man*/*.gz
date=$(date -R -u -d "@${SOURCE_DATE_EPOCH:-$(date +%s)}")
printf 'gracevisor (%s) unstable; urgency=medium\n\n  * Built from gracevisor %s. The changes are in the git history.\n\n -- %s  %s\n' \
	"$debver" "$version" "$maintainer" "$date" | gzip -9n > "$doc/changelog.gz"
chmod 0644 "$doc/changelog.gz"

install -m 0755 "$here/postinst" "$here/prerm" "$here/postrm" "$pkg/DEBIAN/"
printf '/etc/gracevisor/gracevisor.yaml\n/etc/init.d/gracevisord\n' > "$pkg/DEBIAN/conffiles"
(cd "$pkg" && find usr lib -type f -exec md5sum {} + | sort -k2) > "$pkg/DEBIAN/md5sums"
size=$(du -sk --exclude=DEBIAN "$pkg" | cut -f1)
cat > "$pkg/DEBIAN/control" <<CONTROL
Package: gracevisor
Version: $debver
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $size
Section: admin
Priority: optional
Homepage: https://github.com/gracevisor/gracevisor
Description: process supervisor with an L4 proxy and hitless reloads
 gracevisord supervises apps (like supervisord) and puts a TCP proxy in
 front of each one, so that a reload starts a new instance, switches new
 connections to it once it is ready and lets the old one drain: no
 connection is refused or dropped. It proxies any TCP protocol.
 .
 gracevisorctl is its command line client. Upgrading this package
 replaces the running daemon the same way (gracevisorctl upgrade).
CONTROL
chmod 0644 "$pkg/DEBIAN/control" "$pkg/DEBIAN/conffiles" "$pkg/DEBIAN/md5sums"

mkdir -p "$outdir"
out=$outdir/gracevisor_${debver}_$arch.deb
dpkg-deb --root-owner-group -Z"$compress" --build "$pkg" "$out" >/dev/null
echo "$out"
