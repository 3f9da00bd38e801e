#!/usr/bin/env bash
# The .deb round trip (make deb-test; CI): install the package with dpkg on this machine,
# check what it installed, remove it, and check that its files are gone.
#   1. dpkg -i PACKAGE (fails if pin-client is already installed: remove it first)
#   2. /usr/bin/pin-clientd -V prints the package's version
#   3. desktop-file-validate on the installed .desktop file (and on the app's XDG
#      autostart entry, app/autostart/testdata/pin-client.desktop)
#   4. systemd-analyze verify on the installed system unit
#   5. dpkg -r pin-client; every file the package listed is gone; then dpkg --purge
#      (the package has no conffiles, but its maintainer scripts keep it "config-files")
# Needs root (or sudo), dpkg, desktop-file-validate (apt: desktop-file-utils) and
# systemd-analyze (apt: systemd). The package's libraries (libgl1, libx11-6...) must be
# installed: `make test`'s apt packages bring them. On failure the package is removed.
set -euo pipefail
cd "$(dirname "$0")/.."

die() { echo "deb-roundtrip: $*" >&2; exit 1; }

[ $# -eq 1 ] || die "usage: .ci/deb-roundtrip.sh dist/pin-client_VERSION_ARCH.deb (make deb-test builds and passes it)"
deb=$1
[ -f "$deb" ] || die "$deb: no such package; build it with: make deb"
sudo=
if [ "$(id -u)" -ne 0 ]; then sudo=sudo; fi
for tool in dpkg desktop-file-validate systemd-analyze; do
  command -v $tool >/dev/null || die "$tool is missing; install it: apt-get install desktop-file-utils systemd"
done
if dpkg-query -W -f='${Status}' pin-client 2>/dev/null | grep -q 'install ok installed'; then
  die "pin-client is already installed on this machine; remove it first (dpkg -r pin-client) so the test does not replace your copy"
fi

version=$(dpkg-deb -f "$deb" Version)
echo "== dpkg -i $deb (version $version)"
installed=0
cleanup() { if [ $installed = 1 ]; then echo "== removing pin-client after a failure"; $sudo dpkg --purge pin-client >/dev/null || true; fi; }
trap cleanup EXIT
$sudo dpkg -i "$deb"
installed=1
# The regular files the package installed (dpkg -L lists folders too, some shared).
files=$(dpkg-query -L pin-client | while IFS= read -r f; do if [ -f "$f" ] && [ ! -L "$f" ]; then echo "$f"; fi; done)
[ -n "$files" ] || die "dpkg lists no files for pin-client"

echo "== pin-clientd -V"
out=$(/usr/bin/pin-clientd -V)
echo "$out"
base=${version%%+*}
case "$out" in
  *"$base"*) ;;
  *) die "pin-clientd -V printed \"$out\", which lacks the package version $base" ;;
esac
[ -x /usr/bin/pin-client ] || die "/usr/bin/pin-client (the desktop app) is not installed or not executable"

desktop=/usr/share/applications/net.aiassist.pinclient.desktop
icon=/usr/share/icons/hicolor/512x512/apps/net.aiassist.pinclient.png
unit=/lib/systemd/system/pin-clientd.service
for f in "$desktop" "$icon" "$unit"; do
  [ -f "$f" ] || die "$f was not installed"
done
echo "== desktop-file-validate $desktop"
desktop-file-validate "$desktop"
desktop-file-validate app/autostart/testdata/pin-client.desktop
grep -qx 'Exec=pin-client' "$desktop" || die "$desktop does not run pin-client"

echo "== systemd-analyze verify $unit"
# verify loads the unit's dependencies too; the output lists problems, and only lines
# naming our unit count (a container's own units may be noisy).
verify=$(systemd-analyze verify "$unit" 2>&1) || { echo "$verify"; die "systemd-analyze verify failed on $unit"; }
if grep -i 'pin-clientd' <<<"$verify"; then die "systemd-analyze verify reports problems in $unit"; fi

echo "== dpkg -r pin-client"
$sudo dpkg -r pin-client
installed=0
left=0
while IFS= read -r f; do
  if [ -e "$f" ]; then echo "left behind: $f"; left=1; fi
done <<<"$files"
[ $left = 0 ] || die "files of the package remain after dpkg -r"
$sudo dpkg --purge pin-client >/dev/null
if dpkg-query -W pin-client >/dev/null 2>&1; then die "dpkg still knows pin-client after --purge"; fi
n=$(grep -c . <<<"$files")
echo "deb-roundtrip: ok ($n files installed, checked, removed)"
