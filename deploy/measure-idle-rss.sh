#!/bin/sh
# Idle resident memory of the image's three commands, measured outside a container (docs/deploy.md).
# Usage: deploy/measure-idle-rss.sh POSTGRES_URL   (run from the repository root, after `make test`)
# Starts `plugwork run` (greeter, HTTP only), `plugwork worker` (greeter) and `plugwork hub` on the given
# PostgreSQL, waits until they are idle, prints VmRSS of each from /proc, and stops them with SIGTERM.
set -eu
url=${1:?usage: $0 POSTGRES_URL}
bin=$(pwd)/.venv/bin
settle=${SETTLE_SECONDS:-20}
cd examples/greeter
PLUGWORK_QUEUE_URL=$url PLUGWORK_WORKER=false HTTP_PORT=18431 "$bin/plugwork" run app:app --config plugwork.yaml \
    >/dev/null 2>&1 &
run=$!
PLUGWORK_QUEUE_URL=$url "$bin/plugwork" worker app:app --config plugwork.yaml >/dev/null 2>&1 &
worker=$!
PLUGWORK_HUB_STORE=$url "$bin/plugwork" hub --port 18432 >/dev/null 2>&1 &
hub=$!
trap 'kill -TERM $run $worker $hub 2>/dev/null || true' EXIT
sleep "$settle"
rss() { printf '%-7s %s\n' "$1" "$(grep VmRSS "/proc/$2/status")"; }
rss run "$run"
rss worker "$worker"
rss hub "$hub"
