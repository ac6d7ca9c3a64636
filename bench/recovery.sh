#!/bin/sh
# Agent checkpointing and recovery benchmark, against a fresh master and
# agent:
#  1. what checkpointing costs: build/bench/launch with and without
#     --checkpoint (the agent then writes every task, status update and
#     acknowledgement to its SQLite checkpoint before acting on it), for the
#     control plane (tasks as work items of one thread-pool executor, no
#     process per task) and for command tasks; runs alternate, off then on;
#  2. how long a restarted agent takes to recover N running tasks (each its
#     own command executor): the agent is killed (-9) and started again on
#     its port and work dir; measured from its start to its re-registration
#     with the master, every executor re-subscribed.
#
#   bench/recovery.sh [RUNS] [N_RECOVER]     (defaults: 3 runs each, 100 tasks)
#
# CP_N / CP_WINDOW (50000 / 1000) and N / WINDOW (2000 / 32) size the launch
# runs as in bench/launch.sh. BUILD=dir uses another build (default: build).
set -eu
cd "$(dirname "$0")/.."
RUNS=${1:-3}
NREC=${2:-100}
CP_N=${CP_N:-50000}
CP_WINDOW=${CP_WINDOW:-1000}
N=${N:-2000}
WINDOW=${WINDOW:-32}
BUILD=${BUILD:-build}

make -s -j"$(nproc)" BUILD="$BUILD" all "$BUILD/bench/launch"
bin=$BUILD/bin
dir=$(mktemp -d /tmp/tepui-recovery-bench-XXXXXX)
pids=""
cleanup() {
    for p in $pids; do kill -9 "$p" 2>/dev/null || true; done
    # Executors of the checkpointing framework outlive their agent.
    for p in $(grep -l "MESOS_DIRECTORY=$dir/" /proc/[0-9]*/environ 2>/dev/null |
               cut -d/ -f3); do
        kill -9 "$p" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT INT TERM

wait_file() {
    i=0
    until [ -s "$1" ]; do
        i=$((i + 1)); [ $i -gt 400 ] && { echo "bench: $1 never appeared" >&2; exit 1; }
        sleep 0.05
    done
}
metric() {
    curl -s "http://127.0.0.1:$1/metrics/snapshot" |
        python3 -c "import json,sys; print(json.load(sys.stdin).get('$2', -1))" 2>/dev/null ||
        echo -1
}
now() { date +%s.%N; }

echo "== machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo), $(uname -r)"

"$bin/tepui-master" --port=0 --port_file="$dir/master.port" --work_dir="$dir/master" \
    --logging_level=WARNING 2>"$dir/master.log" &
master=$!
pids="$pids $master"
wait_file "$dir/master.port"
mport=$(cat "$dir/master.port")
start_agent() {
    "$bin/tepui-agent" --master="127.0.0.1:$mport" --port="$1" --port_file="$dir/agent.port" \
        --work_dir="$dir/agent" --resources='cpus:64;mem:65536;disk:65536' \
        --logging_level="${2:-WARNING}" \
        2>>"$dir/agent.log" &
    agent=$!
    pids="$pids $agent"
}
start_agent 0
wait_file "$dir/agent.port"
aport=$(cat "$dir/agent.port")
until [ "$(metric "$aport" slave/registered)" = "1.0" ]; do sleep 0.05; done

rate() { awk '/^throughput/ {print $2}'; }
cp_off=""; cp_on=""; cmd_off=""; cmd_on=""
for run in $(seq "$RUNS"); do
    for mode in off on; do
        flag=""; [ "$mode" = on ] && flag="--checkpoint"
        r=$("$BUILD/bench/launch" --master="127.0.0.1:$mport" --tasks="$CP_N" --window="$CP_WINDOW" \
            --executor="$(pwd)/$BUILD/examples/thread_executor" --cpus=0.001 --mem=0.01 $flag | rate)
        echo "run $run, control plane, checkpoint $mode: $r tasks/s"
        if [ "$mode" = on ]; then cp_on="$cp_on $r"; else cp_off="$cp_off $r"; fi
        r=$("$BUILD/bench/launch" --master="127.0.0.1:$mport" --tasks="$N" --window="$WINDOW" $flag |
            rate)
        echo "run $run, command tasks, checkpoint $mode: $r tasks/s"
        if [ "$mode" = on ]; then cmd_on="$cmd_on $r"; else cmd_off="$cmd_off $r"; fi
    done
done
mean() { echo "$@" | tr ' ' '\n' | awk 'NF {s += $1; n++} END {printf "%.0f", s / n}'; }
echo "== checkpointing cost (mean of $RUNS runs)"
echo "control plane: $(mean $cp_off) tasks/s without, $(mean $cp_on) with checkpointing" \
     "($(echo "100 * (1 - $(mean $cp_on) / $(mean $cp_off))" | bc -l | xargs printf '%.1f')% fewer)"
echo "command tasks: $(mean $cmd_off) tasks/s without, $(mean $cmd_on) with checkpointing" \
     "($(echo "100 * (1 - $(mean $cmd_on) / $(mean $cmd_off))" | bc -l | xargs printf '%.1f')% fewer)"
ls -l "$dir/agent/meta/"

echo "== recovery of $NREC running tasks"
"$bin/tepui" execute --master="127.0.0.1:$mport" --name=recover --command='sleep 3600' \
    --instances="$NREC" --resources='cpus:0.01;mem:1' --quiet >"$dir/execute.log" 2>&1 &
execute=$!
pids="$pids $execute"
i=0
until [ "$(metric "$aport" slave/tasks_running)" = "$NREC.0" ]; do
    i=$((i + 1)); [ $i -gt 1200 ] && { echo "bench: the tasks never all ran" >&2; exit 1; }
    sleep 0.1
done
# Every RUNNING acknowledged (none left to resend).
sleep 2
for attempt in $(seq "$RUNS"); do
    kill -9 "$agent"
    wait "$agent" 2>/dev/null || true
    t0=$(now)
    start_agent "$aport" INFO
    until [ "$(metric "$aport" slave/registered)" = "1.0" ]; do sleep 0.01; done
    t1=$(now)
    running=$(metric "$aport" slave/tasks_running)
    took=$(metric "$aport" slave/recovery_time_secs)
    echo "restart $attempt: registered again $(echo "$t1 - $t0" | bc -l | xargs printf '%.3f') s" \
         "after its start (recovery itself: $(printf '%.3f' "$took") s), $running tasks running"
done
grep -E "recovered agent|did not re-subscribe|recovery finished" "$dir/agent.log" | cut -c1-160
grep -c "re-subscribed after the agent's restart" "$dir/agent.log" |
    xargs printf "executors re-subscribed over all restarts: %s\n"
