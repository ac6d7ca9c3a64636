#!/bin/bash
# Master failover benchmark: a ZooKeeper server (Debian's zookeeper package,
# on loopback), three masters electing a leader through it, N agents, and
# build/bench/failover, a libtepui scheduler given zk:// that kills the
# leading master (SIGKILL) once it has been offered every agent, and times
# the new leader's offers: its re-subscription, the first offer, and every
# agent offered again. A killed leader's member of the group lives on for
# its ZooKeeper session timeout, which therefore bounds the failover from
# below, as in Mesos.
#
#   bench/failover.sh [AGENTS] [SESSION_TIMEOUT] [RUNS]    (defaults: 100, 10secs, 3)
#
# Agents are real tepui-agent processes following zk://; EMULATE=1 uses
# build/bench/emulator instead (one process, N agents over the internal
# protocol, which tries the masters in turn and follows their 307s).
# BUILD=dir uses another build (default: build).
set -eu
cd "$(dirname "$0")/.."
N=${1:-100}
TIMEOUT=${2:-10secs}
RUNS=${3:-3}
BUILD=${BUILD:-build}
EMULATE=${EMULATE:-0}

make -s -j"$(nproc)" BUILD="$BUILD" all "$BUILD/bench/failover" "$BUILD/bench/emulator"
bin=$BUILD/bin
pids=""
dir=""
cleanup() {
    for p in $pids; do kill -9 "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    [ -n "$dir" ] && rm -rf "$dir"
    pids=""
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_file() {
    i=0
    until [ -s "$1" ]; do
        i=$((i + 1)); [ $i -gt 600 ] && { echo "bench: $1 never appeared" >&2; exit 1; }
        sleep 0.05
    done
}
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
ruok() {
    r=$(timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1 && printf ruok >&3 && cat <&3" \
        2>/dev/null || true)
    [ "$r" = imok ]
}
active_agents() {
    curl -sL "http://127.0.0.1:$1/state" |
        python3 -c "import json,sys; print(json.load(sys.stdin).get('activated_slaves', -1))" \
        2>/dev/null || echo -1
}

echo "== machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo), $(uname -r)"
echo "== $N agents$([ "$EMULATE" = 1 ] && echo ' (emulated)'), --zk_session_timeout=$TIMEOUT, $RUNS runs"
ulimit -n 65536 2>/dev/null || true

for run in $(seq "$RUNS"); do
    dir=$(mktemp -d /tmp/tepui-failover-bench-XXXXXX)
    zport=$(free_port)
    mkdir -p "$dir/zk"
    cat >"$dir/zoo.cfg" <<EOF
tickTime=200
dataDir=$dir/zk
clientPort=$zport
clientPortAddress=127.0.0.1
maxClientCnxns=0
maxSessionTimeout=60000
admin.enableServer=false
4lw.commands.whitelist=ruok
EOF
    java -Xmx512m -XX:+UseSerialGC -cp /usr/share/java/zookeeper.jar:/usr/share/java/slf4j-nop.jar \
        org.apache.zookeeper.server.ZooKeeperServerMain "$dir/zoo.cfg" >"$dir/zk.log" 2>&1 &
    pids="$pids $!"
    i=0
    until ruok "$zport"; do
        i=$((i + 1)); [ $i -gt 300 ] && { echo "bench: ZooKeeper did not start" >&2; exit 1; }
        sleep 0.05
    done
    zk="zk://127.0.0.1:$zport/tepui"

    mpids=""
    ports=""
    for m in 1 2 3; do
        "$bin/tepui-master" --ip=127.0.0.1 --port=0 --port_file="$dir/m$m.port" \
            --work_dir="$dir/m$m" --zk="$zk" --zk_session_timeout="$TIMEOUT" \
            --logging_level=WARNING 2>"$dir/m$m.log" &
        mpid=$!
        pids="$pids $mpid"
        wait_file "$dir/m$m.port"
        port=$(cat "$dir/m$m.port")
        mpids="$mpids${mpids:+,}$port:$mpid"
        ports="$ports${ports:+,}127.0.0.1:$port"
    done
    first=${ports%%,*}
    first=${first##*:}

    if [ "$EMULATE" = 1 ]; then
        "$BUILD/bench/emulator" --masters="$ports" --agents="$N" \
            --resources='cpus:8;mem:32768;disk:65536;ports:[31000-32000]' 2>"$dir/emulator.log" &
        pids="$pids $!"
    else
        for a in $(seq "$N"); do
            "$bin/tepui-agent" --ip=127.0.0.1 --port=0 --master="$zk" --work_dir="$dir/a$a" \
                --resources='cpus:8;mem:32768;disk:65536;ports:[31000-32000]' \
                --logging_level=WARNING 2>"$dir/a$a.log" &
            pids="$pids $!"
        done
    fi
    i=0
    until [ "$(active_agents "$first")" = "$N" ]; do
        i=$((i + 1)); [ $i -gt 1200 ] && { echo "bench: agents did not register" >&2; exit 1; }
        sleep 0.1
    done

    out=$("$BUILD/bench/failover" --master="$zk" --agents="$N" --pids="$mpids")
    echo "run $run: $out"
    cleanup
done
