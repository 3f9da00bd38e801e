#!/usr/bin/env bash
# Real Secret Service round trip for internal/secret (set, get, delete, not-found).
# Needs gnome-keyring and dbus-x11 (apt-get install gnome-keyring dbus-x11; .ci/run does).
# Installs nothing. Runs in a private D-Bus session with a throwaway keyring: HOME is a
# temp folder, so the real user's keyring is never touched.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH

for cmd in dbus-run-session gnome-keyring-daemon go; do
  if ! command -v "$cmd" >/dev/null; then
    echo "keyring-test: $cmd not found; install it: apt-get install -y gnome-keyring dbus-x11" >&2
    exit 1
  fi
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Build first, with the caller's HOME (module and build caches live under it), and
# outside the D-Bus session so the session only lives as long as the test.
go test -race -c -o "$tmp/secret.test" ./internal/secret

mkdir -p "$tmp/run" && chmod 700 "$tmp/run"
export HOME=$tmp XDG_DATA_HOME=$tmp/share XDG_CONFIG_HOME=$tmp/config XDG_RUNTIME_DIR=$tmp/run

dbus-run-session -- bash -euo pipefail -c '
  # Starts gnome-keyring on this session bus and creates/unlocks a login keyring with
  # a throwaway password. It exits with the session.
  echo -n pw | gnome-keyring-daemon --unlock --components=secrets >/dev/null
  PIN_KEYRING_INTEGRATION=1 "$1" -test.run "^TestKeyringIntegration\$" -test.count=1 -test.v
' _ "$tmp/secret.test" | tee "$tmp/out"

# A skip would mean the real keyring was not exercised: fail instead.
grep -q -- "--- PASS: TestKeyringIntegration" "$tmp/out" || { echo "keyring-test: the integration test did not pass" >&2; exit 1; }
