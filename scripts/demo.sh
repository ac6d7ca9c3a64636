#!/bin/sh
# The README's demo: installs what is missing, builds, brings up a local
# cluster (a master and two agents on loopback), runs three tasks on it --
# one that succeeds and prints, one that fails, one that is killed -- shows
# their states and output, and shuts everything down.
set -eu
cd "$(dirname "$0")/.."
scripts/install-deps.sh
make -s -j"$(nproc)" all

bin=build/bin
dir=$(mktemp -d /tmp/tepui-demo-XXXXXX)
"$bin/tepui" cluster up --agents=2 --port=0 --work_dir="$dir" >"$dir/cluster.out" 2>&1 &
cluster=$!
stop() {
    kill -INT "$cluster" 2>/dev/null || true
    wait "$cluster" 2>/dev/null || true
}
trap stop EXIT INT TERM

i=0
until grep -q "Press Ctrl-C" "$dir/cluster.out" 2>/dev/null; do
    i=$((i + 1))
    if [ $i -gt 300 ] || ! kill -0 "$cluster" 2>/dev/null; then
        echo "demo: the cluster did not come up:" >&2
        cat "$dir/cluster.out" >&2
        exit 1
    fi
    sleep 0.1
done
head -1 "$dir/cluster.out"
master="127.0.0.1:$(cat "$dir/master.port")"

run() {
    title=$1
    shift
    printf '\n=== %s\n' "$title"
    set +e
    "$bin/tepui" execute --master="$master" --resources='cpus:0.1;mem:32' "$@"
    code=$?
    set -e
    echo "=== tepui execute exited with status $code"
}

run "1. a task that succeeds and prints" --name=hello \
    --command='echo "Hello from tepui: task running on $(hostname) in $PWD"'
run "2. a task that fails" --name=fails \
    --command='echo "about to fail" >&2; exit 3'
run "3. a task that is killed after 2 seconds" --name=killed \
    --command='echo "sleeping"; sleep 600' --kill_after=2secs

printf '\n=== All tasks the master remembers\n'
"$bin/tepui" task list --master="$master" --all
printf '\n=== Stopping the cluster\n'
stop
trap - EXIT INT TERM
rm -rf "$dir"
echo "demo: done"
