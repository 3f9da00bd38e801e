#!/usr/bin/env bash
# Checks the system packages a target needs and installs the missing ones on
# Debian/Ubuntu (apt-get, with sudo when not root), so `make run` and `make test` work on
# a fresh machine. Elsewhere it names what is missing and goes on (the build then says
# what failed).
#
# Usage: scripts/sysdeps.sh gui|test
#   gui   the desktop app's cgo build (Fyne: OpenGL and X11 headers, a C compiler)
#   test  gui, plus what `make test` needs beyond it (nothing today; kept for growth)
# Env: SYSDEPS=skip skips the check (CI installs everything itself in .ci/run).
set -euo pipefail

[ "${SYSDEPS:-}" = skip ] && exit 0

gui=(gcc pkg-config libgl1-mesa-dev libx11-dev libxcursor-dev libxrandr-dev libxinerama-dev libxi-dev libxxf86vm-dev)
case "${1:-}" in
  gui | test) want=("${gui[@]}") ;;
  *) echo "usage: $0 gui|test" >&2; exit 2 ;;
esac

if ! command -v dpkg-query >/dev/null 2>&1; then
  echo "sysdeps: not a Debian/Ubuntu system; make sure these (or your system's equivalents) are installed: ${want[*]}" >&2
  exit 0
fi

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "sysdeps: missing ${missing[*]}; install them as root: apt-get install ${missing[*]}" >&2
    exit 1
  fi
  sudo=sudo
fi
echo "sysdeps: installing ${missing[*]} (apt-get${sudo:+, with sudo})"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
