#!/usr/bin/env bash
# Throughput of the distributed mode on this machine: one API-only `vrender serve` and 1, then 2,
# `vrender worker` processes (one render each) on a private redis-server and one shared SQLite file;
# JOBS small jobs per round; prints jobs/minute per round as a table. Then one long job
# (LONG_SECONDS) rendered in one piece by one worker, and split into chunks on 1 and 2 workers:
# wall time and efficiency (speed-up over the one-piece render / workers).
#
#   cargo build --release -p vrender-service && scripts/bench-workers.sh [path/to/vrender]
#
# Settings (environment): JOBS (8), SECONDS_PER_JOB (20, video length), WIDTH (160), HEIGHT (90),
# FPS (30), ROUNDS ("1 2": worker counts), LONG_SECONDS (120; 0 skips the long job), CHUNK_SECONDS
# (20). Needs redis-server, curl, jq.
set -euo pipefail
bin=${1:-${CARGO_TARGET_DIR:-target}/release/vrender}
jobs=${JOBS:-8}
secs=${SECONDS_PER_JOB:-20}
width=${WIDTH:-160}
height=${HEIGHT:-90}
fps=${FPS:-30}
rounds=${ROUNDS:-"1 2"}
long=${LONG_SECONDS:-120}
chunk=${CHUNK_SECONDS:-20}
for tool in redis-server curl jq "$bin"; do
  command -v "$tool" >/dev/null || { echo "missing: $tool" >&2; exit 1; }
done

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Waits for "listening on http://ADDR" in a process's stdout file; prints ADDR.
wait_listening() {
  for _ in $(seq 600); do
    if addr=$(grep -m1 -o 'listening on http://[0-9.:]*' "$1" 2>/dev/null); then
      echo "${addr#listening on http://}"
      return
    fi
    sleep 0.1
  done
  echo "no 'listening on' in $1" >&2
  exit 1
}

rport=$(free_port)
redis-server --bind 127.0.0.1 --port "$rport" --save "" --appendonly no --dir "$work" \
  --logfile "$work/redis.log" >/dev/null &
pids+=($!)
for _ in $(seq 100); do
  [ "$(redis-cli -p "$rport" ping 2>/dev/null || true)" = PONG ] && break
  sleep 0.1
done

export REDIS_URL="redis://127.0.0.1:$rport" DATA_DIR="$work/data" SQLITE_PATH="$work/data/vrender.db" \
  URL_SIGNING_SECRET=bench HOST=127.0.0.1 RUST_LOG=warn
mkdir -p "$DATA_DIR/assets"
PORT=0 MAX_CONCURRENT_RENDERS=0 "$bin" serve >"$work/api.out" 2>"$work/api.err" &
pids+=($!)
api=$(wait_listening "$work/api.out")

project=$(jq -n --argjson w "$width" --argjson h "$height" --argjson fps "$fps" --argjson s "$secs" '{
  userId: "bench", title: "bench", width: $w, height: $h, frameRate: $fps, quality: "low",
  frames: [{duration: $s, background: "#203040", layers: [
    {type: "shape", shape: "rect", x: 4, y: 4, width: 40, height: 30, fill: "#ff3300",
     animations: [{property: "x", from: 0, to: ($w - 44), start: 0, end: $s}]},
    {type: "text", text: "bench", size: 16, color: "#ffffff", x: 8, y: 50}]}]}')
pid_project=$(curl -fsS -H 'content-type: application/json' -d "$project" "http://$api/api/v1/render/projects" | jq -r .projectId)

# Starts $1 workers (extra environment in the remaining arguments); their pids in `wpids`.
start_workers() {
  local n=$1 i
  shift
  wpids=()
  for i in $(seq "$n"); do
    env "$@" PORT=0 WORKER_PORT=0 MAX_CONCURRENT_RENDERS=1 "$bin" worker >"$work/w-$n-$i.out" 2>"$work/w-$n-$i.err" &
    wpids+=($!)
    pids+=($!)
    wait_listening "$work/w-$n-$i.out" >/dev/null
  done
}

stop_workers() {
  for p in "${wpids[@]}"; do kill "$p"; done
  wait "${wpids[@]}" 2>/dev/null || true
}

submit() {
  curl -fsS -H 'content-type: application/json' -d "{\"projectId\":\"$1\",\"priority\":5}" \
    "http://$api/api/v1/render/jobs" | jq -r .jobId
}

wait_done() {
  local id st
  for id in "$@"; do
    while :; do
      st=$(curl -fsS "http://$api/api/v1/render/jobs/$id" | jq -r .status)
      case $st in
        completed) break ;;
        failed | cancelled) echo "job $id $st" >&2; exit 1 ;;
      esac
      sleep 0.05
    done
  done
}

printf '| worker processes | jobs | frames each | wall time (s) | jobs/minute |\n|---|---|---|---|---|\n'
for n in $rounds; do
  # Short jobs stay in one piece.
  start_workers "$n" CHUNK_THRESHOLD_SECONDS=0
  start=$(date +%s.%N)
  ids=()
  for j in $(seq "$jobs"); do
    ids+=("$(submit "$pid_project")")
  done
  wait_done "${ids[@]}"
  end=$(date +%s.%N)
  python3 -c "import sys; n,j,f,s,e=sys.argv[1:]; w=float(e)-float(s); print(f'| {n} | {j} | {f} | {w:.1f} | {int(j)*60/w:.1f} |')" \
    "$n" "$jobs" "$((secs * fps))" "$start" "$end"
  stop_workers
done

[ "$long" = 0 ] && exit 0
long_project=$(echo "$project" | jq --argjson s "$long" '.frames[0].duration = $s | .frames[0].layers[0].animations[0].end = $s')
pid_long=$(curl -fsS -H 'content-type: application/json' -d "$long_project" "http://$api/api/v1/render/projects" | jq -r .projectId)
chunks=$(python3 -c "import math,sys; print(math.ceil(float(sys.argv[1])/float(sys.argv[2])))" "$long" "$chunk")
printf '\n| one %s s job (%s frames) | worker processes | wall time (s) | efficiency |\n|---|---|---|---|\n' "$long" "$((long * fps))"
one_piece=""
for round in "one piece:1:0" "$chunks chunks:1:1" "$chunks chunks:2:1"; do
  IFS=: read -r label n chunked <<<"$round"
  if [ "$chunked" = 1 ]; then
    start_workers "$n" CHUNK_THRESHOLD_SECONDS=1 CHUNK_SECONDS="$chunk"
  else
    start_workers "$n" CHUNK_THRESHOLD_SECONDS=0
  fi
  start=$(date +%s.%N)
  wait_done "$(submit "$pid_long")"
  end=$(date +%s.%N)
  wall=$(python3 -c "import sys; print(f'{float(sys.argv[2])-float(sys.argv[1]):.2f}')" "$start" "$end")
  [ -z "$one_piece" ] && one_piece=$wall
  python3 -c "import sys; l,n,w,o=sys.argv[1:]; print(f'| {l} | {n} | {float(w):.1f} | {float(o)/float(w)/int(n):.2f} |')" \
    "$label" "$n" "$wall" "$one_piece"
  stop_workers
done
