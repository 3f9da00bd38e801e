# shellcheck shell=bash
# Sourced by e2e/run.sh and scripts/screenshots.sh.
#
# gateway_creds FILE reads the key=value lines `pin-clientd gateway` prints on stdout into
# GW_SERVER, GW_CLIENT, GW_SECRET, GW_CONSUMER and GW_KEY (empty when absent). It
# succeeds once the four the daemon and a consumer need are all there.
gateway_creds() {
  GW_SERVER= GW_CLIENT= GW_SECRET= GW_CONSUMER= GW_KEY=
  [ -s "$1" ] || return 1
  local line
  while IFS= read -r line; do
    case $line in
      serverUrl=*) GW_SERVER=${line#*=} ;;
      clientId=*) GW_CLIENT=${line#*=} ;;
      apiSecret=*) GW_SECRET=${line#*=} ;;
      consumerUrl=*) GW_CONSUMER=${line#*=} ;;
      consumerKey=*) GW_KEY=${line#*=} ;;
    esac
  done < "$1"
  [ -n "$GW_SERVER" ] && [ -n "$GW_CLIENT" ] && [ -n "$GW_SECRET" ] && [ -n "$GW_CONSUMER" ]
}
