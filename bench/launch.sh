#!/bin/sh
# The launch benchmark: one master, one agent, a C scheduler launching N
# short command tasks as fast as offers allow. Prints tasks per second,
# ACCEPT-to-RUNNING and ACCEPT-to-FINISHED percentiles, the resident memory
# of master and agent (idle and peak), and, measured in the same run, the
# machine's raw process-spawn rate and the same N trivial jobs on Slurm, with
# tepui's rate as a ratio to both. Then the control plane alone: tasks as work
# items of one custom executor that runs them on a thread pool
# (frameworks/examples/thread_executor), so no process starts per task.
#
#   bench/launch.sh [N] [WINDOW]     (defaults: 2000 tasks, 32 in flight)
#
# TEPUI_BENCH_SLURM=0 skips Slurm (it needs root to install and start it).
set -eu
cd "$(dirname "$0")/.."
N=${1:-2000}
WINDOW=${2:-32}
SLURM_N=${SLURM_N:-500}
CP_N=${CP_N:-50000}
CP_WINDOW=${CP_WINDOW:-1000}

make -s -j"$(nproc)" bench
bin=build/bin
dir=$(mktemp -d /tmp/tepui-bench-XXXXXX)
pids=""
cleanup() {
    for p in $pids; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT INT TERM

rss() { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/status"; }
wait_file() {
    i=0
    until [ -s "$1" ]; do
        i=$((i + 1)); [ $i -gt 200 ] && { echo "bench: $1 never appeared" >&2; exit 1; }
        sleep 0.05
    done
}

echo "== machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo), $(uname -r)"
spawn=$(build/bench/spawn_rate 2000)
echo "$spawn"
spawn_rate=$(echo "$spawn" | awk '{print $2}')

"$bin/tepui-master" --port=0 --port_file="$dir/master.port" --work_dir="$dir/master" \
    --logging_level=WARNING 2>"$dir/master.log" &
master=$!
pids="$pids $master"
wait_file "$dir/master.port"
mport=$(cat "$dir/master.port")
"$bin/tepui-agent" --master="127.0.0.1:$mport" --port=0 --port_file="$dir/agent.port" \
    --work_dir="$dir/agent" --resources='cpus:64;mem:65536;disk:65536' \
    --logging_level=WARNING 2>"$dir/agent.log" &
agent=$!
pids="$pids $agent"
wait_file "$dir/agent.port"
sleep 1
echo "idle RSS: master $(rss $master VmRSS) KiB, agent $(rss $agent VmRSS) KiB"

echo "== tepui, $N tasks, at most $WINDOW in flight"
out=$(build/bench/launch --master="127.0.0.1:$mport" --tasks="$N" --window="$WINDOW")
echo "$out"
tepui_rate=$(echo "$out" | awk '/^throughput/ {print $2}')
echo "== tepui, 300 tasks one at a time (latency without queueing)"
build/bench/launch --master="127.0.0.1:$mport" --tasks=300 --window=1 | grep -v '^tasks'
echo "== tepui control plane: $CP_N tasks as work items of one thread-pool executor, $CP_WINDOW in flight"
cp_out=$(build/bench/launch --master="127.0.0.1:$mport" --tasks="$CP_N" --window="$CP_WINDOW" \
    --executor="$(pwd)/build/examples/thread_executor" --cpus=0.001 --mem=0.01)
echo "$cp_out" | grep -v 'RUNNING'
cp_rate=$(echo "$cp_out" | awk '/^throughput/ {print $2}')
echo "== the same, one task at a time"
build/bench/launch --master="127.0.0.1:$mport" --tasks=2000 --window=1 \
    --executor="$(pwd)/build/examples/thread_executor" --cpus=0.001 --mem=0.01 | grep -v 'RUNNING\|^tasks'
echo "peak RSS: master $(rss $master VmHWM) KiB, agent $(rss $agent VmHWM) KiB"
kill "$agent" "$master"
wait "$agent" "$master" 2>/dev/null || true
pids=""

slurm_rate=""
if [ "${TEPUI_BENCH_SLURM:-1}" != 0 ] && [ "$(id -u)" = 0 ]; then
    echo "== Slurm (one node on loopback), $SLURM_N trivial jobs"
    if bench/slurm/setup.sh >"$dir/slurm-setup.log" 2>&1; then
        slurm_out=$(bench/slurm/jobs.sh "$SLURM_N")
        echo "$slurm_out"
        slurm_rate=$(echo "$slurm_out" | awk '/array/ {print $3}')
        bench/slurm/stop.sh
    else
        echo "Slurm could not be set up:"; tail -5 "$dir/slurm-setup.log"
    fi
fi

echo "== summary"
echo "tepui control plane (no process per task): $cp_rate tasks/s"
echo "tepui: $tepui_rate tasks/s; raw spawn: $spawn_rate processes/s; ratio $(echo "$tepui_rate / $spawn_rate" | bc -l | xargs printf '%.2f')"
if [ -n "$slurm_rate" ]; then
    echo "Slurm array: $slurm_rate jobs/s; tepui / Slurm = $(echo "$tepui_rate / $slurm_rate" | bc -l | xargs printf '%.1f')x"
fi
