#!/usr/bin/env bash
# wrk against GET /api/v1/render/jobs/{id} while one render runs.
# Usage: service/bench/wrk-job-status.sh [path/to/vrender] [seconds]
set -euo pipefail
BIN=${1:-${CARGO_TARGET_DIR:-target}/release/vrender}
SECS=${2:-20}
DATA=$(mktemp -d)
trap 'kill $SERVER 2>/dev/null || true; rm -rf "$DATA"' EXIT
PORT=0 HOST=127.0.0.1 DATA_DIR="$DATA" MAX_CONCURRENT_RENDERS=1 RUST_LOG=info \
  "$BIN" serve >"$DATA/stdout" 2>"$DATA/server.log" &
SERVER=$!
for _ in $(seq 100); do grep -q '^listening on' "$DATA/stdout" 2>/dev/null && break; sleep 0.2; done
BASE=$(sed -n 's/^listening on //p' "$DATA/stdout")
# A 640x360, 30 fps, 5-minute project: still rendering while wrk runs.
PROJECT=$(curl -sf -H 'content-type: application/json' "$BASE/api/v1/render/projects" -d '{
  "userId": "bench", "width": 640, "height": 360, "frameRate": 30, "quality": "low",
  "frames": [{"duration": 300, "background": "#102030", "layers": [
    {"type": "shape", "shape": "ellipse", "x": 20, "y": 20, "width": 200, "height": 200, "fill": "#ff6600",
     "animations": [{"property": "x", "from": 0, "to": 400, "start": 0, "end": 300}]},
    {"type": "text", "text": "benchmark", "size": 48, "color": "#ffffff", "x": 40, "y": 280}]}]}' |
  sed -n 's/.*"projectId":"\([^"]*\)".*/\1/p')
JOB=$(curl -sf -H 'content-type: application/json' "$BASE/api/v1/render/jobs" -d "{\"projectId\": \"$PROJECT\"}" |
  sed -n 's/.*"jobId":"\([^"]*\)".*/\1/p')
sleep 2
echo "job before: $(curl -sf "$BASE/api/v1/render/jobs/$JOB")"
wrk -t2 -c"${CONNS:-32}" -d"${SECS}s" --latency "$BASE/api/v1/render/jobs/$JOB"
echo "job after: $(curl -sf "$BASE/api/v1/render/jobs/$JOB")"
