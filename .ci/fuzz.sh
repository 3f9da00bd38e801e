#!/usr/bin/env bash
# Run every native Go fuzz target in the module for a bounded time.
# Targets are found with grep (func FuzzXxx(f *testing.F) in *_test.go), so new ones are
# picked up automatically. `go test -fuzz` takes one package and one target per run.
# Env: FUZZTIME (default 30s), GO (default go).
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-30s}

mapfile -t hits < <(grep -rEo --include='*_test.go' --exclude-dir=node_modules --exclude-dir=.git \
  '^func Fuzz[A-Za-z0-9_]*\(' . | sort -u)
if [ ${#hits[@]} -eq 0 ]; then
  echo "fuzz: no Fuzz targets found"
  exit 0
fi

failed=0
for hit in "${hits[@]}"; do
  file=${hit%%:*}
  name=${hit#*:func }
  name=${name%(}
  pkg=./$(dirname "${file#./}")
  echo "== fuzz $pkg $name ($FUZZTIME)"
  start=$(date +%s)
  if ! "$GO" test -run='^$' -fuzz="^${name}\$" -fuzztime="$FUZZTIME" "$pkg"; then
    echo "FAIL fuzz $pkg $name (a crashing input, if one was found, is saved under $pkg/testdata/fuzz/$name/)"
    failed=1
  fi
  echo "   ${name}: $(( $(date +%s) - start ))s"
done
exit $failed
