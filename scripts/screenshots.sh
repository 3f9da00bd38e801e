#!/usr/bin/env bash
# Screenshots of the desktop app for the README: docs/setup.png (first-run setup with a
# detected server), docs/dashboard.png (online, after serving jobs), docs/tray.png (the
# tray menu, read over D-Bus and drawn by app/internal/traytool), docs/tray-paused.png
# (the tray after "Pause until tomorrow") and
# docs/dashboard-service.png (the app attached to a running background service: a real
# `pin-clientd service run --user` process, which the app shows and drives) and
# docs/activity.png (the Activity view of a ledger seeded with a week of jobs by
# scripts/seedledger) and docs/demo.png (`pin-client --demo --builtin` after serving jobs).
#
# Runs the real app under Xvfb, in a throwaway HOME, against the local PIN gateway
# (`pin-clientd gateway`) and a stub Ollama server (python3) on loopback ports. The
# API secret reaches the app through PIN_API_SECRET; no keyring is touched.
#
# Needs (Debian): xvfb dbus-x11 haskell-status-notifier-item-utils imagemagick xdotool
# python3 curl, plus the Fyne build packages (see README.md, "The desktop app").
# Env: OUT (default docs) is where the PNGs go; DISPLAY_NUM (default 97); KEEP_TRAY, when
# set, is where the tray menu of the attached app is copied (for review, not the README).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=lib/gateway.sh
. scripts/lib/gateway.sh
OUT=${OUT:-docs}
DISPLAY_NUM=${DISPLAY_NUM:-97}

need() {
  command -v "$1" >/dev/null 2>&1 || { echo "screenshots: $1 not found; apt-get install $2" >&2; exit 1; }
}
need Xvfb xvfb
need dbus-run-session dbus-x11
need status-notifier-watcher haskell-status-notifier-item-utils
need import imagemagick
need xdotool xdotool
need python3 python3
need curl curl

WORK=$(mktemp -d)
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
log() { echo "screenshots: $*" >&2; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

log "building pin-client, pin-clientd, traytool and seedledger"
go build -o "$WORK/pin-client" .
CGO_ENABLED=0 go build -o "$WORK/pin-clientd" ./cmd/pin-clientd
go build -o "$WORK/traytool" ./app/internal/traytool
go build -o "$WORK/seedledger" ./scripts/seedledger

# ---- a stub Ollama: enough of /api for detection, the engine and a streamed answer.
OLLAMA_PORT=$(free_port)
cat > "$WORK/ollama_stub.py" <<'PY'
import json, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
MODELS = ["llama3.1:8b", "qwen3:4b"]
ANSWERS = {"capital of France": "Paris", "symbol for gold": "Au", "17 + 25": "42",
           "9 times 8": "72", "exactly the word OK": "OK", "last word of this sentence": "fox"}
class H(BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def send_json(self, obj, code=200):
        b = json.dumps(obj).encode()
        self.send_response(code); self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(b))); self.end_headers(); self.wfile.write(b)
    def do_GET(self):
        if self.path == "/api/version": return self.send_json({"version": "0.12.6"})
        if self.path == "/api/tags": return self.send_json({"models": [{"name": m, "model": m} for m in MODELS]})
        if self.path == "/api/ps": return self.send_json({"models": []})
        self.send_json({"error": "not found"}, 404)
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        if self.path == "/api/show": return self.send_json({"capabilities": ["completion", "tools"], "model_info": {}})
        if self.path != "/api/chat": return self.send_json({"error": "not found"}, 404)
        model, words = body.get("model", MODELS[0]), ["Hello", " from", " a", " PIN", " node."]
        last = (body.get("messages") or [{}])[-1].get("content", "")
        interview = False
        for q, a in ANSWERS.items():  # the interview of `pin-clientd gateway --interview`
            if q in last: words, interview = [a], True
        final = {"model": model, "message": {"role": "assistant", "content": ""}, "done": True,
                 "done_reason": "stop", "prompt_eval_count": 240, "eval_count": 760}
        if interview:  # a plausible GPU pace: 2 tokens in 50 ms
            final["prompt_eval_count"], final["eval_count"] = 20, 2
            time.sleep(0.05)
        if not body.get("stream", True):
            final["message"]["content"] = "".join(words)
            return self.send_json(final)
        self.send_response(200); self.send_header("Content-Type", "application/x-ndjson"); self.end_headers()
        for w in words:
            self.wfile.write((json.dumps({"model": model, "message": {"role": "assistant", "content": w}, "done": False}) + "\n").encode())
            self.wfile.flush()
        self.wfile.write((json.dumps(final) + "\n").encode())
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
python3 "$WORK/ollama_stub.py" "$OLLAMA_PORT" &
PIDS+=($!)
OLLAMA_URL=http://127.0.0.1:$OLLAMA_PORT

# ---- the local gateway; it prints serverUrl=, clientId=, apiSecret=, consumerUrl=.
GW_PORT=$(free_port)
"$WORK/pin-clientd" gateway --interview --addr "127.0.0.1:$GW_PORT" > "$WORK/gateway.out" 2> "$WORK/gateway.err" &
PIDS+=($!)
for _ in $(seq 150); do
  gateway_creds "$WORK/gateway.out" && break
  sleep 0.1
done
if [ -z "$GW_CONSUMER" ]; then
  log "pin-clientd gateway did not print its addresses within 15 s:"; tail -5 "$WORK/gateway.err" >&2; exit 1
fi

# ---- X display and a session bus with a tray watcher.
Xvfb ":$DISPLAY_NUM" -screen 0 1280x900x24 -nolisten tcp > "$WORK/xvfb.log" 2>&1 &
PIDS+=($!)
export DISPLAY=:$DISPLAY_NUM
for _ in $(seq 50); do xdotool getdisplaygeometry >/dev/null 2>&1 && break; sleep 0.1; done

mkdir -p "$OUT"
export KEEP_TRAY=${KEEP_TRAY:-}
export WORK OUT OLLAMA_URL OLLAMA_PORT GW_SERVER GW_CLIENT GW_SECRET GW_CONSUMER GW_KEY
dbus-run-session -- bash -euo pipefail -c '
log() { echo "screenshots: $*" >&2; }
status-notifier-watcher > "$WORK/snw.log" 2>&1 &
SNW=$!
export HOME=$WORK/home XDG_CONFIG_HOME=$WORK/home/.config LANG=en_US.UTF-8
# The engines lock and serve their control socket here, never in the real user dirs.
export XDG_STATE_HOME=$WORK/home/.local/state XDG_RUNTIME_DIR=$WORK/run
unset PIN_CONTROL_SOCKET
mkdir -p "$XDG_CONFIG_HOME" "$XDG_STATE_HOME"
mkdir -m 0700 -p "$XDG_RUNTIME_DIR"
# Detection scans the default ports plus OLLAMA_HOST'\''s.
export OLLAMA_HOST=127.0.0.1:$OLLAMA_PORT

shoot() { # shoot FILE: the app window
  local id; id=$(xdotool search --sync --limit 1 --name "^PIN Client")
  import -window "$id" "$1"
}

# 1. First run: setup, with the stub found by detection and the client ID typed in.
"$WORK/pin-client" > "$WORK/app1.log" 2>&1 &
APP=$!
"$WORK/traytool" wait "Open setup"
id=$(xdotool search --sync --limit 1 --name "^PIN Client")
sleep 3 # detection: the probes have 8 s at most, a local stub answers at once
xdotool mousemove --window "$id" 450 266 click 1 # the Client ID entry, under the demo offer
xdotool type --delay 20 "$GW_CLIENT"
sleep 0.5
shoot "$OUT/setup.png"
kill $APP; wait $APP || true

# 2. Configured: config.json as Save writes it, the secret from the environment.
mkdir -p "$XDG_CONFIG_HOME/pin-client"
cat > "$XDG_CONFIG_HOME/pin-client/config.json" <<EOF
{"clientId": "$GW_CLIENT", "serverUrl": "$GW_SERVER",
 "nodes": [{"alias": "workstation", "inferenceUri": "$OLLAMA_URL", "apiMode": "ollama",
            "region": "eu-west", "capacity": 2, "pricePerThousandTokens": 0.002,
            "interviewModel": "llama3.1:8b"}]}
EOF
PIN_API_SECRET=$GW_SECRET "$WORK/pin-client" > "$WORK/app2.log" 2>&1 &
APP=$!
started=$(date +%s)
"$WORK/traytool" click "Go online"
"$WORK/traytool" wait "Go offline"
auth=(); [ -n "$GW_KEY" ] && auth=(-H "Authorization: Bearer $GW_KEY")
for _ in $(seq 100); do
  curl -fsS "${auth[@]}" "$GW_CONSUMER/models" 2>/dev/null | grep -q "llama3.1:8b" && break
  sleep 0.2
done
for i in 1 2 3; do
  curl -fsS "${auth[@]}" -H "Content-Type: application/json" "$GW_CONSUMER/chat/completions" \
    -d "{\"model\":\"llama3.1:8b\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hello $i\"}]}" > /dev/null
  # the throughput line measures from the first sample the dashboard saw, after 10 s:
  # the last job ends after that, so the shot shows a rate, not "Measuring"
  if [ "$i" = 2 ]; then while [ $(($(date +%s) - started)) -lt 11 ]; do sleep 0.5; done; fi
done
sleep 1.5 # the dashboard applies the last snapshot
shoot "$OUT/dashboard.png"
"$WORK/traytool" render "$OUT/tray.png"
# The owner takes the machine back: the tray says paused until when, and offers Resume.
"$WORK/traytool" click "Pause until tomorrow"
"$WORK/traytool" wait "Resume"
"$WORK/traytool" render "$OUT/tray-paused.png"
"$WORK/traytool" click "Quit"
wait $APP || true

# 3. The background service runs (what the installed user unit runs); the app attaches.
PIN_API_SECRET=$GW_SECRET "$WORK/pin-clientd" service run --user -c "$XDG_CONFIG_HOME/pin-client/config.json" -n 2 \
  > "$WORK/service.log" 2>&1 &
SVC=$!
for _ in $(seq 100); do
  "$WORK/pin-clientd" status 2>/dev/null | grep -q "link *online" && break
  sleep 0.2
done
for i in 1 2; do
  curl -fsS "${auth[@]}" -H "Content-Type: application/json" "$GW_CONSUMER/chat/completions" \
    -d "{\"model\":\"llama3.1:8b\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi $i\"}]}" > /dev/null
done
"$WORK/pin-client" > "$WORK/app3.log" 2>&1 &
APP=$!
"$WORK/traytool" wait "Remove background service…"
sleep 1.5 # the dashboard applies the service'\''s snapshot
shoot "$OUT/dashboard-service.png"
"$WORK/traytool" render "$WORK/tray-service.png"
"$WORK/traytool" click "Quit"
wait $APP || true
kill -0 $SVC || { log "the service stopped when the app quit:"; tail -5 "$WORK/service.log" >&2; exit 1; }
kill $SVC; wait $SVC || true
[ -n "${KEEP_TRAY:-}" ] && cp "$WORK/tray-service.png" "$KEEP_TRAY"

# 4. The Activity view with a week of jobs: the ledger of the engine the app runs, seeded by
# scripts/seedledger (it replaces the few jobs of steps 2 and 3: the stub answers at
# once, so their tokens/s would flatten the speed chart); 8 days, so that the first day
# the 7-day window touches has its earnings. PIN_CLIENT_OPEN_TAB=activity opens the
# window on the Activity tab, last 7 days.
rm -f "$XDG_STATE_HOME/pin-client/ledger.db" "$XDG_STATE_HOME/pin-client/ledger.db-wal" "$XDG_STATE_HOME/pin-client/ledger.db-shm"
"$WORK/seedledger" -days 8 -client-id "$GW_CLIENT" "$XDG_STATE_HOME/pin-client/ledger.db" >&2
PIN_CLIENT_OPEN_TAB=activity PIN_API_SECRET=$GW_SECRET "$WORK/pin-client" > "$WORK/app4.log" 2>&1 &
APP=$!
"$WORK/traytool" wait "Quit"
sleep 4 # the view reads the ledger (again 2 s on when the engine had not opened it yet) and draws
shoot "$OUT/activity.png"
"$WORK/traytool" click "Quit"
wait $APP || true

# 5. The demo (docs/demo.md): no account, the built-in backend, the in-process gateway
# sending sample requests; shot once a dozen jobs were served.
"$WORK/pin-client" --demo --builtin -l debug > "$WORK/demo.log" 2>&1 &
APP=$!
"$WORK/traytool" wait "Go offline" # the demo engine goes online by itself
# Shot while a round streams (a first token came, that stream has not ended), so
# the dashboard shows jobs in flight as well as served.
for _ in $(seq 600); do
  if [ "$(grep -c "consumer request answered" "$WORK/demo.log")" -ge 12 ] &&
     [ "$(grep -c "first delta" "$WORK/demo.log")" -gt "$(grep -c "stream ended" "$WORK/demo.log")" ]; then break; fi
  sleep 0.1
done
grep -q "consumer request answered" "$WORK/demo.log" || { log "the demo served no job:"; tail -5 "$WORK/demo.log" >&2; exit 1; }
sleep 0.3 # the dashboard applies the snapshot
shoot "$OUT/demo.png"
"$WORK/traytool" click "Quit"
wait $APP || true
kill $SNW 2>/dev/null || true
'
log "wrote $OUT/setup.png $OUT/dashboard.png $OUT/tray.png $OUT/tray-paused.png $OUT/dashboard-service.png $OUT/activity.png $OUT/demo.png"
