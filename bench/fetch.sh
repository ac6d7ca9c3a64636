#!/bin/sh
# The fetch benchmark (bench/fetch.c): tepui-fetcher alone, then command
# tasks fetching one URI each through a fresh master and agent, with and
# without the fetcher cache. Files come from a loopback HTTP server inside
# the benchmark, so the figures are the fetcher's and the agent's, not a
# network's.
#
#   bench/fetch.sh [TASKS] [WINDOW] [SIZE] [TASK_SIZE]
#
# SIZE is the large file of the fetcher-alone cases (default 64MB); TASK_SIZE
# the large file the tasks fetch (default 8MB: 32 tasks write 256 MB into
# sandboxes, which stays in the page cache; with more, the figures are the
# disk's writeback rate rather than the fetcher's).
#
# BUILD=dir uses another build (default: build, without sanitizers).
set -eu
cd "$(dirname "$0")/.."
TASKS=${1:-200}
WINDOW=${2:-16}
SIZE=${3:-64MB}
TASK_SIZE=${4:-8MB}
BUILD=${BUILD:-build}

make -s -j"$(nproc)" BUILD="$BUILD" all "$BUILD/bench/fetch"
bin=$BUILD/bin
dir=$(mktemp -d /tmp/tepui-fetch-bench-XXXXXX)
pids=""
cleanup() {
    for p in $pids; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT INT TERM

wait_file() {
    i=0
    until [ -s "$1" ]; do
        i=$((i + 1)); [ $i -gt 200 ] && { echo "bench: $1 never appeared" >&2; exit 1; }
        sleep 0.05
    done
}

echo "== machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo), $(uname -r)"
"$BUILD/bench/fetch" --mode=fetcher --fetcher="$bin/tepui-fetcher" --size="$SIZE"

"$bin/tepui-master" --port=0 --port_file="$dir/master.port" --work_dir="$dir/master" \
    --logging_level=WARNING 2>"$dir/master.log" &
pids="$pids $!"
wait_file "$dir/master.port"
mport=$(cat "$dir/master.port")
"$bin/tepui-agent" --master="127.0.0.1:$mport" --port=0 --port_file="$dir/agent.port" \
    --work_dir="$dir/agent" --resources='cpus:64;mem:65536;disk:262144' \
    --logging_level=WARNING 2>"$dir/agent.log" &
pids="$pids $!"
wait_file "$dir/agent.port"
sleep 1
"$BUILD/bench/fetch" --mode=agent --master="127.0.0.1:$mport" --tasks="$TASKS" \
    --window="$WINDOW" --size="$TASK_SIZE"
echo "sandboxes: $(du -sh "$dir/agent/slaves" | cut -f1), cache: $(du -sh "$dir/agent/fetch" | cut -f1)"
