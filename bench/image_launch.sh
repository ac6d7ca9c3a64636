#!/bin/sh
# Tasks from container images: one master, one agent with --image_store_dir,
# and build/bench/launch launching N tasks running `true` inside a busybox
# image (an OCI image layout, then a docker-archive tarball) and N plain
# command tasks, in the same run, alternating ROUNDS times. Each image is
# warmed first with one task (its layer unpacked into the agent's cache), so
# what is measured is a launch from an unpacked image: provisioning child,
# overlay mount, bundle, crun run and delete. Prints tasks/s and ACCEPT to
# RUNNING and to FINISHED percentiles for each, and the load average.
#
#   bench/image_launch.sh [N] [WINDOW] [ROUNDS]   (defaults: 200 tasks, 16 in flight, 2)
#
# BUILD=dir uses another build directory (default build); KINDS picks what
# runs (default "plain busybox-oci busybox-docker"); LOGGING_LEVEL=INFO and
# KEEP_AGENT_LOG=file keep the agent's log. Needs root, crun and
# busybox-static (scripts/install-deps.sh).
set -eu
cd "$(dirname "$0")/.."
N=${1:-200}
WINDOW=${2:-16}
ROUNDS=${3:-2}
BUILD=${BUILD:-build}
LEVEL=${LOGGING_LEVEL:-WARNING}
KINDS=${KINDS:-plain busybox-oci busybox-docker}

if [ "$(id -u)" != 0 ]; then
    echo "image_launch: needs root (overlayfs mounts and crun)" >&2
    exit 1
fi
make -s -j"$(nproc)" BUILD="$BUILD" all "$BUILD/bench/launch" "$BUILD/bench/image_build"
bin=$BUILD/bin
dir=$(mktemp -d /tmp/tepui-imgbench-XXXXXX)
pids=""
cleanup() {
    for p in $pids; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    # The agent unmounts its rootfs mounts as it ends; never remove through one.
    if ! grep -q " $dir/" /proc/self/mountinfo; then rm -rf "$dir"; fi
}
trap cleanup EXIT INT TERM

wait_file() {
    i=0
    until [ -s "$1" ]; do
        i=$((i + 1)); [ $i -gt 200 ] && { echo "image_launch: $1 never appeared" >&2; exit 1; }
        sleep 0.05
    done
}

echo "== machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo), $(uname -r), $(crun --version | head -1)"
"$BUILD/bench/image_build" "$dir/images"

"$bin/tepui-master" --port=0 --port_file="$dir/master.port" --work_dir="$dir/master" \
    --logging_level=WARNING 2>"$dir/master.log" &
master=$!
pids="$pids $master"
wait_file "$dir/master.port"
mport=$(cat "$dir/master.port")
"$bin/tepui-agent" --master="127.0.0.1:$mport" --port=0 --port_file="$dir/agent.port" \
    --work_dir="$dir/agent" --resources='cpus:64;mem:65536;disk:65536' \
    --image_store_dir="$dir/images" --logging_level="$LEVEL" 2>"$dir/agent.log" &
agent=$!
pids="$pids $agent"
wait_file "$dir/agent.port"
sleep 1

launch() {
    "$BUILD/bench/launch" --master="127.0.0.1:$mport" --window="$WINDOW" "$@"
}
for image in busybox-oci busybox-docker; do
    if ! launch --tasks=1 --image="$image" >"$dir/warm.out" 2>&1; then
        echo "image_launch: the warm-up task from $image failed:" >&2
        cat "$dir/warm.out" "$dir/agent.log" >&2
        exit 1
    fi
done

summary=""
round=1
while [ $round -le "$ROUNDS" ]; do
    for kind in $KINDS; do
        opt=""
        [ "$kind" != plain ] && opt="--image=$kind"
        echo "== round $round: $kind, $N tasks, at most $WINDOW in flight"
        out=$(launch --tasks="$N" $opt)
        echo "$out"
        rate=$(echo "$out" | awk '/^throughput/ {print $2}')
        run=$(echo "$out" | awk '/^ACCEPT->RUNNING/ {print $4 " / " $6}')
        fin=$(echo "$out" | awk '/^ACCEPT->FINISHED/ {print $4 " / " $6}')
        summary="$summary
$round $kind: $rate tasks/s; ACCEPT->RUNNING p50/p99 $run ms; ACCEPT->FINISHED p50/p99 $fin ms"
    done
    echo "   load average: $(cut -d' ' -f1-3 /proc/loadavg)"
    round=$((round + 1))
done
echo "== one task at a time (latency without queueing), 30 tasks each"
for kind in $KINDS; do
    opt=""
    [ "$kind" != plain ] && opt="--image=$kind"
    out=$("$BUILD/bench/launch" --master="127.0.0.1:$mport" --window=1 --tasks=30 $opt)
    echo "$kind: $(echo "$out" | grep '^ACCEPT' | tr '\n' ' ')"
done

echo "== summary (load average at the end: $(cut -d' ' -f1-3 /proc/loadavg))$summary"
if [ -n "${KEEP_AGENT_LOG:-}" ]; then cp "$dir/agent.log" "$KEEP_AGENT_LOG"; fi
kill "$agent" "$master"
wait "$agent" "$master" 2>/dev/null || true
pids=""
