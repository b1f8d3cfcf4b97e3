#!/usr/bin/env bash
# Runs schemathesis against the HTTP API of the `stird serve` demo on loopback:
# it reads /openapi.json, sends the document's examples and generated requests
# to every operation, and fails on any 5xx response.
#
# Usage: scripts/schemathesis-api.sh [STIRD]
#
# STIRD is the stird binary (default target/debug/stird, as `cargo test`
# builds it). The run is bounded: MAX_EXAMPLES generated requests per
# operation and phase (default 50), and RUN_SECONDS for the whole schemathesis
# run (default 150), after which it is stopped and the script fails.
# schemathesis comes from PyPI: `pip install schemathesis`.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
stird=${1:-"${CARGO_TARGET_DIR:-$top/target}/debug/stird"}
max_examples=${MAX_EXAMPLES:-50}
run_seconds=${RUN_SECONDS:-150}

work=$(mktemp -d)
stird_pid=
stop() {
  if [ -n "$stird_pid" ]; then
    kill "$stird_pid" 2>/dev/null || true
    wait "$stird_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap stop EXIT

"$stird" serve --sip 127.0.0.1:0 --http 127.0.0.1:0 --repository 127.0.0.1:0 \
  --data-dir "$work/data" >"$work/stdout" 2>"$work/stderr" &
stird_pid=$!

# The readiness line names the bound addresses, among them "http ADDRESS".
http=
for _ in $(seq 600); do
  http=$(sed -n 's/^stird ready: .*http \([0-9.]*:[0-9]*\).*/\1/p' "$work/stdout")
  [ -n "$http" ] && break
  kill -0 "$stird_pid" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$http" ]; then
  echo "stird serve printed no readiness line within 60 s; its log:" >&2
  cat "$work/stderr" >&2
  exit 1
fi
echo "stird serve ready, HTTP API on $http"

# schemathesis keeps a cache in the working directory: run it in the
# temporary one.
status=0
(cd "$work" && timeout "$run_seconds" schemathesis run "http://$http/openapi.json" \
  --checks not_a_server_error \
  --phases examples,coverage,fuzzing \
  --max-examples "$max_examples" \
  --seed 1 \
  --workers 1 \
  --request-timeout 10 \
  --suppress-health-check all \
  --no-color) || status=$?

if [ "$status" -ne 0 ]; then
  if [ "$status" -eq 124 ]; then
    echo "schemathesis did not finish within $run_seconds s" >&2
  fi
  echo "stird's log (last 40 lines):" >&2
  tail -n 40 "$work/stderr" >&2
  exit "$status"
fi
# A server error the run did not see as a response, such as a panic in a
# handler, still shows in the log.
if grep -q "panicked" "$work/stderr"; then
  echo "stird logged a panic:" >&2
  grep -A5 "panicked" "$work/stderr" >&2
  exit 1
fi
echo "schemathesis: no server error"
