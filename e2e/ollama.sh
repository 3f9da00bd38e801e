#!/usr/bin/env bash
# Build a real Ollama from the Go module proxy (CPU only, cgo) and serve two tiny
# generated models on 127.0.0.1:$PORT, with no model download:
#   tiny        always answers " hello hello ..." (8 tokens)
#   tiny-tools  always calls get_time({"tz":"UTC"}) when tools are offered
# Needs go, gcc/g++ and, on Debian bookworm, the apt packages nlohmann-json3-dev and
# libstb-dev (installed here if missing and we can).
#
# Env: WORK (default /tmp/ollama-e2e: build, models, logs; keep it between runs and the
# build is skipped), PORT (default 11534, not the usual 11434, so that a real local
# Ollama is left alone), OLLAMA_VERSION (default v0.17.4).
# Idempotent: a server this script started earlier (pid in $WORK/ollama.pid) that still
# answers on $PORT is reused; the models are re-created (a second). Leaves the server
# running; stop it with: kill "$(cat "$WORK/ollama.pid")"
set -euo pipefail
OLLAMA_VERSION=${OLLAMA_VERSION:-v0.17.4}
WORK=${WORK:-/tmp/ollama-e2e}
PORT=${PORT:-11534}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BASE=http://127.0.0.1:$PORT
mkdir -p "$WORK/cstubs/miniaudio" "$WORK/bin" "$WORK/models" "$WORK/home"
say() { echo "ollama.sh: $*"; }

# 1. C headers the module zip lacks: Go module zips drop llama/llama.cpp/vendor/.
if ! dpkg -s nlohmann-json3-dev libstb-dev >/dev/null 2>&1; then
  sudo=; [ "$(id -u)" -ne 0 ] && sudo=sudo
  say "installing nlohmann-json3-dev libstb-dev"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    nlohmann-json3-dev libstb-dev >/dev/null
fi
# miniaudio is not packaged in bookworm; Ollama uses it only to decode audio input for
# multimodal models, so a stub whose decoder always fails is enough here.
cat > "$WORK/cstubs/miniaudio/miniaudio.h" <<'EOF'
#ifndef MINIAUDIO_STUB_H
#define MINIAUDIO_STUB_H
#include <stddef.h>
#include <stdint.h>
typedef int ma_result; typedef uint64_t ma_uint64; typedef uint32_t ma_uint32;
#define MA_SUCCESS 0
#define MA_ERROR (-1)
typedef enum { ma_format_unknown = 0, ma_format_f32 = 5 } ma_format;
typedef enum { ma_encoding_format_wav = 1 } ma_encoding_format;
typedef struct { ma_format format; ma_uint32 channels; ma_uint32 sampleRate; } ma_decoder_config;
typedef struct { int unused; } ma_decoder;
static inline ma_decoder_config ma_decoder_config_init(ma_format f, ma_uint32 c, ma_uint32 r) { ma_decoder_config x; x.format = f; x.channels = c; x.sampleRate = r; return x; }
static inline ma_result ma_decoder_init_memory(const void *d, size_t n, const ma_decoder_config *c, ma_decoder *o) { (void)d; (void)n; (void)c; (void)o; return MA_ERROR; }
static inline ma_result ma_decoder_get_length_in_pcm_frames(ma_decoder *d, ma_uint64 *n) { (void)d; *n = 0; return MA_ERROR; }
static inline ma_result ma_decoder_read_pcm_frames(ma_decoder *d, void *o, ma_uint64 n, ma_uint64 *r) { (void)d; (void)o; (void)n; *r = 0; return MA_ERROR; }
static inline ma_result ma_decoder_uninit(ma_decoder *d) { (void)d; return MA_SUCCESS; }
#endif
EOF

# 2. Build Ollama (the ggml CPU backend is compiled by cgo). ~6 min cold on 2 cores;
# niced so a developer's machine stays usable.
if [ ! -x "$WORK/bin/ollama" ] || [ "$(cat "$WORK/bin/ollama.version" 2>/dev/null)" != "$OLLAMA_VERSION" ]; then
  say "building ollama $OLLAMA_VERSION into $WORK/bin (several minutes when cold)"
  t0=$(date +%s)
  rm -f "$WORK/bin/ollama"
  GOBIN="$WORK/bin" CGO_ENABLED=1 CGO_CPPFLAGS="-I$WORK/cstubs" GOFLAGS=-buildvcs=false \
    nice -n 10 go install -ldflags "-s -w -X=github.com/ollama/ollama/version.Version=${OLLAMA_VERSION#v}" \
    "github.com/ollama/ollama@${OLLAMA_VERSION}"
  echo "$OLLAMA_VERSION" > "$WORK/bin/ollama.version"
  say "built in $(( $(date +%s) - t0 ))s"
fi

# 3. Generate the models (pure Go) and their Modelfiles.
(cd "$ROOT" && CGO_ENABLED=0 go build -o "$WORK/bin/tinymodel" ./e2e/tinymodel)
"$WORK/bin/tinymodel" -o "$WORK/tiny.gguf" >/dev/null
"$WORK/bin/tinymodel" -o "$WORK/tiny-tools.gguf" \
  -word '<tool_call>{"name":"get_time","arguments":{"tz":"UTC"}}</tool_call>' >/dev/null
cat > "$WORK/Modelfile.tiny" <<EOF
FROM $WORK/tiny.gguf
TEMPLATE """{{- range .Messages }}<|{{ .Role }}|>
{{ .Content }}
{{ end }}<|assistant|>
"""
PARAMETER num_predict 8
PARAMETER num_ctx 512
EOF
# The tools template must render .Tools and .ToolCalls: Ollama learns the tool-call
# syntax (<tool_call>...</tool_call>) from it and then parses the model's output into
# message.tool_calls. One token is the whole call. Ollama v0.17.4's parser swallows the
# first call of the reply (measured: num_predict 1 gives none, 2 gives one, 3 gives two),
# so num_predict 2 yields exactly one tool call, in /api/chat and /v1 alike.
cat > "$WORK/Modelfile.tiny-tools" <<EOF
FROM $WORK/tiny-tools.gguf
TEMPLATE """{{- if .Tools }}<|system|>
{{ range .Tools }}{{ .Function.Name }}: {{ .Function.Description }}
{{ end }}{{ end }}
{{- range .Messages }}<|{{ .Role }}|>
{{- if .Content }}
{{ .Content }}{{ end }}
{{- if .ToolCalls }}
{{ range .ToolCalls }}<tool_call>{"name":"{{ .Function.Name }}","arguments":{{ .Function.Arguments }}}</tool_call>{{ end }}{{ end }}
{{ end }}<|assistant|>
"""
PARAMETER num_predict 2
PARAMETER num_ctx 512
EOF

# 4. Serve on loopback (reusing our own server if it is still up).
export OLLAMA_HOST=127.0.0.1:$PORT OLLAMA_MODELS="$WORK/models" HOME="$WORK/home"
export OLLAMA_KEEP_ALIVE=${OLLAMA_KEEP_ALIVE:-30m} OLLAMA_NUM_PARALLEL=${OLLAMA_NUM_PARALLEL:-2}
pid=$(cat "$WORK/ollama.pid" 2>/dev/null || true)
if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && curl -sf "$BASE/api/version" >/dev/null; then
  say "reusing running server pid $pid on $BASE"
else
  if curl -sf --max-time 2 "$BASE/api/version" >/dev/null; then
    say "error: another server already answers on $BASE; stop it or set PORT to a free port" >&2
    exit 1
  fi
  "$WORK/bin/ollama" serve > "$WORK/serve.log" 2>&1 &
  echo $! > "$WORK/ollama.pid"
  ok=
  for _ in $(seq 1 120); do
    curl -sf "$BASE/api/version" >/dev/null && { ok=1; break; }
    kill -0 "$(cat "$WORK/ollama.pid")" 2>/dev/null || break
    sleep 0.25
  done
  if [ -z "$ok" ]; then
    say "error: ollama serve did not come up on $BASE; last lines of $WORK/serve.log:" >&2
    tail -20 "$WORK/serve.log" >&2
    exit 1
  fi
  say "serving on $BASE, pid $(cat "$WORK/ollama.pid")"
fi

# 5. Register the models and check the server really generates.
"$WORK/bin/ollama" create tiny -f "$WORK/Modelfile.tiny" >/dev/null 2>&1
"$WORK/bin/ollama" create tiny-tools -f "$WORK/Modelfile.tiny-tools" >/dev/null 2>&1
reply=$(curl -sf --max-time 60 "$BASE/api/chat" \
  -d '{"model":"tiny","stream":false,"messages":[{"role":"user","content":"hi"}]}')
case $reply in
  *hello*) say "tiny answers: $(printf '%s' "$reply" | grep -o '"content":"[^"]*"' | head -1)" ;;
  *) say "error: tiny did not answer hello: $reply" >&2; exit 1 ;;
esac
