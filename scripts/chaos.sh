#!/usr/bin/env bash
# The chaos harness (issue 16; service/tests/chaos/): API + workers on a private redis-server, a
# shared SQLite store and s3s-fs, all on 127.0.0.1, under a steady flow of small jobs while workers
# and the API are SIGKILLed, Redis restarts empty and the scratch disk fills (a tmpfs: root only).
# Checks the invariants at the end, prints the figures, exits non-zero when one broke.
#
#   scripts/chaos.sh [--seed N] [--faults N] [--workers N] [--max-seconds N] [--drain-seconds N]
#                    [--no-chunks] [--keep] [--release]
#
# --seed replays a round's fault schedule and job flow; --keep keeps the cluster's folder (logs);
# --release builds the service and test in release mode (a separate build).
# Needs redis-server (scripts/install-deps.sh), s3s-fs (scripts/install-test-servers.sh), ffmpeg.
set -euo pipefail
cd "$(dirname "$0")/.."
profile=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seed) export CHAOS_SEED="$2"; shift 2 ;;
    --faults) export CHAOS_FAULTS="$2"; shift 2 ;;
    --workers) export CHAOS_WORKERS="$2"; shift 2 ;;
    --max-seconds) export CHAOS_MAX_SECONDS="$2"; shift 2 ;;
    --drain-seconds) export CHAOS_DRAIN_SECONDS="$2"; shift 2 ;;
    --no-chunks) export CHAOS_CHUNKED=0; shift ;;
    --keep) export CHAOS_KEEP=1; shift ;;
    --release) profile=(--release); shift ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "chaos.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
exec cargo test "${profile[@]}" --locked -p vrender-service --test service chaos:: -- --nocapture --test-threads=1
