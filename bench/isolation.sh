#!/bin/sh
# The isolation benchmark: command-task launch rate with the posix launcher
# (the default --isolation=posix/cpu,posix/mem) against the same agent with
# cgroups and a PID namespace per container
# (--isolation=cgroups/cpu,cgroups/mem,cgroups/pids,namespaces/pid), in one
# run, one after the other against the same master. Prints both rates and
# their ratio. Needs root and writable cgroups.
#
#   bench/isolation.sh [N] [WINDOW]     (defaults: 500 tasks, 16 in flight)
#
# BUILD picks the build directory (default build; SAN=1 for a sanitizer build).
set -eu
cd "$(dirname "$0")/.."
N=${1:-500}
WINDOW=${2:-16}
BUILD=${BUILD:-build}

make -s -j"$(nproc)" BUILD="$BUILD" ${SAN:+SAN=$SAN} all "$BUILD/bench/launch"
bin=$BUILD/bin
dir=$(mktemp -d /tmp/tepui-bench-iso-XXXXXX)
root="tepui-bench-$$"
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
        i=$((i + 1)); [ $i -gt 400 ] && { echo "bench: $1 never appeared" >&2; exit 1; }
        sleep 0.05
    done
}

echo "== machine: $(nproc) cores, $(uname -r), build $BUILD"
"$bin/tepui-master" --port=0 --port_file="$dir/master.port" --work_dir="$dir/master" \
    --logging_level=WARNING 2>"$dir/master.log" &
master=$!
pids="$master"
wait_file "$dir/master.port"
mport=$(cat "$dir/master.port")

# run NAME ISOLATION: one agent, N tasks, its throughput on stdout.
run() {
    rm -f "$dir/agent.port"
    "$bin/tepui-agent" --master="127.0.0.1:$mport" --port=0 --port_file="$dir/agent.port" \
        --work_dir="$dir/agent-$1" --resources='cpus:64;mem:65536;disk:65536' \
        --isolation="$2" --cgroups_root="$root" --logging_level=WARNING \
        2>"$dir/agent-$1.log" &
    agent=$!
    pids="$master $agent"
    wait_file "$dir/agent.port"
    out=$("$BUILD/bench/launch" --master="127.0.0.1:$mport" --tasks="$N" --window="$WINDOW")
    echo "$out" | sed "s/^/$1: /" >&2
    kill "$agent"
    wait "$agent" 2>/dev/null || true
    pids="$master"
    echo "$out" | awk '/^throughput/ {print $2}'
}

posix=$(run posix posix/cpu,posix/mem)
isolated=$(run cgroups cgroups/cpu,cgroups/mem,cgroups/pids,namespaces/pid)
echo "posix launcher:              $posix tasks/s"
echo "cgroups + pid namespace:     $isolated tasks/s"
awk -v a="$posix" -v b="$isolated" 'BEGIN { printf "slowdown: %.2fx\n", a / b }'
left=$(find /sys/fs/cgroup -mindepth 3 -maxdepth 3 -path "*/$root/*" -type d 2>/dev/null | wc -l)
echo "containers' cgroups left behind: $left"
for d in $(find /sys/fs/cgroup -maxdepth 2 -name "$root" -type d 2>/dev/null); do rmdir "$d" 2>/dev/null || true; done
