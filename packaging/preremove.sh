#!/bin/sh
# Before removal (deb: "remove"; rpm: $1 = 0; not on upgrade): stop and disable the
# packaged service if the operator enabled it. A service written by `pin-clientd service
# install` (/etc/systemd/system/pin-clientd.service) is the operator's: left alone.
case "$1" in
  remove|0) ;;
  *) exit 0 ;;
esac
if [ -d /run/systemd/system ] && [ ! -e /etc/systemd/system/pin-clientd.service ]; then
  systemctl --no-reload disable --now pin-clientd.service >/dev/null 2>&1 || true
fi
exit 0
