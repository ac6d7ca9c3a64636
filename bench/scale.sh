#!/bin/bash
# The whole master at scale, against emulated agents and frameworks
# (bench/emulator.c): registration, steady offer cycles, task throughput,
# memory, a re-registration storm and a flood beyond the master's file
# descriptors. Prints figures; asserts nothing. Build without sanitizers:
#
#   make BUILD=build all bench && BUILD=build bench/scale.sh [scenario...]
#
# Scenarios: register steady launch memory storm flood (default: all).
# Sizes can be changed through the environment (see the defaults below).
# CHART=path.svg also draws registration time and master RSS against the
# number of agents (needs gnuplot).
set -u

BUILD=${BUILD:-build}
MASTER_BIN=$BUILD/bin/tepui-master
EMULATOR=$BUILD/bench/emulator
REGISTER_SIZES=${REGISTER_SIZES:-"1000 10000 50000"}
STEADY_AGENTS=${STEADY_AGENTS:-10000}
STEADY_FRAMEWORKS=${STEADY_FRAMEWORKS:-100}
STEADY_SECS=${STEADY_SECS:-15}
LAUNCH_AGENTS=${LAUNCH_AGENTS:-1000}
LAUNCH_TASKS=${LAUNCH_TASKS:-200000}
LAUNCH_WINDOW=${LAUNCH_WINDOW:-5000}
MEMORY_AGENTS=${MEMORY_AGENTS:-50000}
MEMORY_TASKS=${MEMORY_TASKS:-1000000}
STORM_AGENTS=${STORM_AGENTS:-10000}
FLOOD_AGENTS=${FLOOD_AGENTS:-2000}
FLOOD_FDS=${FLOOD_FDS:-1024}
FLOOD_SECS=${FLOOD_SECS:-20}
CHART=${CHART:-}

for p in "$MASTER_BIN" "$EMULATOR"; do
    [ -x "$p" ] || { echo "scale.sh: $p is missing (make BUILD=$BUILD all bench)" >&2; exit 2; }
done
command -v jq >/dev/null || { echo "scale.sh: needs jq" >&2; exit 2; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/tepui-scale.XXXXXX")
MASTER_PID=""
PIDS=()
cleanup() {
    for p in "${PIDS[@]}" $MASTER_PID; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT

# A process can hold at most the hard limit of descriptors; each emulated
# agent needs one in the emulator and one in the master.
FD_LIMIT=$(ulimit -Hn)
fits() { [ "$FD_LIMIT" = unlimited ] || [ "$1" -le $((FD_LIMIT - 200)) ]; }
max_agents() { [ "$FD_LIMIT" = unlimited ] && echo "$1" || echo $((FD_LIMIT - 200)); }

now() { date +%s.%N; }
load() { cut -d' ' -f1-3 /proc/loadavg; }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
metric() { curl -s --max-time 30 "http://127.0.0.1:$PORT/metrics/snapshot" | jq -r ".\"$1\" // 0"; }

# start_master DIR [flags...]: sets MASTER_PID and PORT (PORT reused when set
# in RESTART_PORT).
start_master() {
    local dir=$1; shift
    mkdir -p "$dir"
    rm -f "$dir/port"
    "$MASTER_BIN" --ip=127.0.0.1 --port="${RESTART_PORT:-0}" --port_file="$dir/port" \
        --work_dir="$dir/work" --logging_level=WARNING "$@" 2>>"$dir/master.log" &
    MASTER_PID=$!
    for _ in $(seq 200); do [ -s "$dir/port" ] && break; sleep 0.05; done
    PORT=$(cat "$dir/port")
}

stop_master() {
    [ -n "$MASTER_PID" ] || return 0
    kill -TERM "$MASTER_PID" 2>/dev/null
    wait "$MASTER_PID" 2>/dev/null
    local rc=$?
    [ "$rc" -eq 0 ] || echo "  (master exited $rc on SIGTERM)"
    MASTER_PID=""
}

# emulator OUT args...: starts one in the background, sets EM_PID.
emulator() {
    local out=$1; shift
    "$EMULATOR" --masters="127.0.0.1:$PORT" "$@" >"$out" 2>"$out.err" &
    EM_PID=$!
    PIDS+=("$EM_PID")
}

# wait_line FILE PATTERN SECS: waits for a line, prints it.
wait_line() {
    local deadline=$(( $(date +%s) + $3 ))
    while [ "$(date +%s)" -lt "$deadline" ]; do
        grep -m1 -- "$2" "$1" 2>/dev/null && return 0
        sleep 0.05
    done
    return 1
}

stop_pid() { kill -TERM "$1" 2>/dev/null; wait "$1" 2>/dev/null; }

echo "tepui scale benchmark: $(nproc) cores, $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo), fd hard limit $FD_LIMIT, load $(load)"

scenario_register() {
    echo
    echo "== a. registration of N agents (in-memory registry)"
    printf "%8s %12s %14s %14s %16s %s\n" agents "time (s)" "idle RSS MiB" "RSS MiB" "bytes/agent" "load"
    : >"$TMP/register.dat"
    for n in $REGISTER_SIZES; do
        if ! fits "$n"; then
            printf "%8s skipped: needs %s descriptors in one process, the hard limit is %s\n" "$n" "$n" "$FD_LIMIT"
            continue
        fi
        start_master "$TMP/reg$n" --registry=in_memory
        sleep 0.5
        local idle
        idle=$(rss_kb "$MASTER_PID")
        emulator "$TMP/reg$n/em.out" --agents="$n"
        local line t
        line=$(wait_line "$TMP/reg$n/em.out" "^registered:" 600)
        t=$(echo "$line" | awk '{print $5}')
        sleep 2
        local rss
        rss=$(rss_kb "$MASTER_PID")
        printf "%8s %12s %14.1f %14.1f %16.0f %s\n" "$n" "${t:-timeout}" "$(echo "$idle/1024" | bc -l)" \
            "$(echo "$rss/1024" | bc -l)" "$(echo "($rss-$idle)*1024/$n" | bc -l)" "$(load)"
        [ -n "$t" ] && echo "$n $t $(echo "$rss/1024" | bc -l)" >>"$TMP/register.dat"
        stop_pid "$EM_PID"
        stop_master
    done
    if [ -n "$CHART" ] && command -v gnuplot >/dev/null && [ -s "$TMP/register.dat" ]; then
        gnuplot <<EOF
set terminal svg size 720,400 dynamic font "sans,11"
set output "$CHART"
set title "tepui-master: registering N emulated agents ($(nproc)-core VM)"
set xlabel "agents"
set ylabel "time until all registered (s)"
set y2label "master RSS (MiB)"
set ytics nomirror
set y2tics
set key left top
set grid
plot "$TMP/register.dat" using 1:2 with linespoints title "registration time (s)", \
     "$TMP/register.dat" using 1:3 axes x1y2 with linespoints title "master RSS (MiB)"
EOF
        echo "  chart: $CHART"
    fi
}

scenario_steady() {
    echo
    local n=$STEADY_AGENTS
    fits "$n" || n=$(max_agents "$n")
    echo "== b. steady offer cycles: $n agents, $STEADY_FRAMEWORKS frameworks declining every offer (refuse_seconds 0), allocation interval 1 s"
    start_master "$TMP/steady" --registry=in_memory
    emulator "$TMP/steady/agents.out" --agents="$n"
    wait_line "$TMP/steady/agents.out" "^registered:" 600 | sed 's/^/  /'
    local agents_pid=$EM_PID
    emulator "$TMP/steady/fws.out" --agents=0 --frameworks="$STEADY_FRAMEWORKS"
    local fws_pid=$EM_PID
    sleep 5
    local runs0 offers0 t0 samples=""
    runs0=$(metric allocator/mesos/allocation_runs)
    offers0=$(metric master/offers_sent)
    t0=$(now)
    for _ in $(seq "$STEADY_SECS"); do
        sleep 1
        samples="$samples $(metric allocator/mesos/allocation_run_ms)"
    done
    local runs1 offers1 t1
    runs1=$(metric allocator/mesos/allocation_runs)
    offers1=$(metric master/offers_sent)
    t1=$(now)
    echo "$samples" | tr ' ' '\n' | grep . | sort -g | awk -v runs=$((${runs1%.*} - ${runs0%.*})) '
        {v[NR] = $1; s += $1}
        END {printf "  allocation_run_ms (last cycle, sampled every second): mean %.1f, p50 %.1f, max %.1f; %d cycles\n",
             s / NR, v[int((NR + 1) / 2)], v[NR], runs}'
    printf "  offers sent: %.0f/s; master RSS %.1f MiB, CPU %s; load %s\n" \
        "$(echo "(${offers1%.*} - ${offers0%.*}) / ($t1 - $t0)" | bc -l)" \
        "$(echo "$(rss_kb "$MASTER_PID")/1024" | bc -l)" "$(ps -o %cpu= -p "$MASTER_PID")%" "$(load)"
    stop_pid "$fws_pid"
    stop_pid "$agents_pid"
    stop_master
}

scenario_launch() {
    echo
    echo "== c. launching and finishing tasks: $LAUNCH_AGENTS agents, $LAUNCH_TASKS tasks, $LAUNCH_WINDOW in flight"
    echo "   (scheduler ACCEPT -> master -> agent RUN_TASK -> RUNNING -> scheduler ACKNOWLEDGE -> agent -> FINISHED -> ACKNOWLEDGE)"
    start_master "$TMP/launch" --registry=in_memory
    emulator "$TMP/launch/agents.out" --agents="$LAUNCH_AGENTS"
    wait_line "$TMP/launch/agents.out" "^registered:" 600 | sed 's/^/  /'
    local agents_pid=$EM_PID
    local c0
    c0=$(cpu_ticks "$MASTER_PID")
    "$EMULATOR" --masters="127.0.0.1:$PORT" --agents=0 --frameworks=1 --tasks="$LAUNCH_TASKS" \
        --window="$LAUNCH_WINDOW" --exit_when_done --duration=600secs 2>&1 | grep -E "^tasks|^throughput" | sed 's/^/  /'
    local c1
    c1=$(cpu_ticks "$MASTER_PID")
    printf "  master CPU: %.1f s; RSS after: %.1f MiB; load %s\n" "$(echo "($c1 - $c0) / $(getconf CLK_TCK)" | bc -l)" \
        "$(echo "$(rss_kb "$MASTER_PID")/1024" | bc -l)" "$(load)"
    stop_pid "$agents_pid"
    stop_master
}

scenario_memory() {
    echo
    local n=$MEMORY_AGENTS
    if ! fits "$n"; then
        n=$(max_agents "$n")
        echo "   ($MEMORY_AGENTS agents need $MEMORY_AGENTS descriptors; the hard limit is $FD_LIMIT, so $n agents)"
    fi
    echo "== d. memory: $n agents, $MEMORY_TASKS running tasks"
    start_master "$TMP/memory" --registry=in_memory --max_completed_tasks_per_framework=0
    sleep 0.5
    local idle
    idle=$(rss_kb "$MASTER_PID")
    emulator "$TMP/memory/agents.out" --agents="$n" --tasks_run --resources="cpus:256;mem:1048576;disk:65536;ports:[31000-32000]"
    wait_line "$TMP/memory/agents.out" "^registered:" 600 | sed 's/^/  /'
    local agents_pid=$EM_PID
    sleep 2
    local with_agents
    with_agents=$(rss_kb "$MASTER_PID")
    "$EMULATOR" --masters="127.0.0.1:$PORT" --agents=0 --frameworks=1 --tasks="$MEMORY_TASKS" \
        --window="$LAUNCH_WINDOW" --until_running --exit_when_done --duration=3000secs 2>&1 | grep -E "^tasks|^throughput" | sed 's/^/  /'
    sleep 2
    local with_tasks
    with_tasks=$(rss_kb "$MASTER_PID")
    printf "  master RSS: idle %.1f MiB, with %d agents %.1f MiB, with %d tasks running %.1f MiB\n" \
        "$(echo "$idle/1024" | bc -l)" "$n" "$(echo "$with_agents/1024" | bc -l)" "$MEMORY_TASKS" "$(echo "$with_tasks/1024" | bc -l)"
    printf "  per agent: %.0f bytes; per running task: %.0f bytes; load %s\n" \
        "$(echo "($with_agents - $idle) * 1024 / $n" | bc -l)" \
        "$(echo "($with_tasks - $with_agents) * 1024 / $MEMORY_TASKS" | bc -l)" "$(load)"
    printf "  extrapolated to 50,000 agents and 1,000,000 tasks: %.2f GiB\n" \
        "$(echo "($idle + ($with_agents - $idle) * 50000 / $n + ($with_tasks - $with_agents) * 1000000 / $MEMORY_TASKS) / 1048576" | bc -l)"
    stop_pid "$agents_pid"
    stop_master
}

scenario_storm() {
    echo
    local n=$STORM_AGENTS
    fits "$n" || n=$(max_agents "$n")
    echo "== e. re-registration storm: $n agents, master killed (SIGKILL) and restarted with its sqlite registry"
    RESTART_PORT="" start_master "$TMP/storm" --registry=sqlite
    emulator "$TMP/storm/agents.out" --agents="$n"
    wait_line "$TMP/storm/agents.out" "^registered:" 600 | sed 's/^/  /'
    local agents_pid=$EM_PID
    sleep 2
    kill -KILL "$MASTER_PID"
    wait "$MASTER_PID" 2>/dev/null
    local t_restart
    t_restart=$(now)
    RESTART_PORT=$PORT start_master "$TMP/storm" --registry=sqlite
    emulator "$TMP/storm/probe.out" --agents=0 --probe=100ms
    local probe_pid=$EM_PID
    local line
    line=$(wait_line "$TMP/storm/agents.out" "^re-registered:" 600)
    local t_done
    t_done=$(now)
    echo "  $line"
    printf "  all %d re-registered %.2f s after the restarted master was started (load %s)\n" "$n" \
        "$(echo "$t_done - $t_restart" | bc -l)" "$(load)"
    stop_pid "$probe_pid"
    sed 's/^/  during the storm: /' "$TMP/storm/probe.out" | grep probe
    emulator "$TMP/storm/probe2.out" --agents=0 --probe=100ms --duration=5secs
    wait "$EM_PID"
    sed "s/^/  after, $n agents: /" "$TMP/storm/probe2.out" | grep probe
    stop_pid "$agents_pid"
    stop_master
}

scenario_flood() {
    echo
    echo "== f. $FLOOD_AGENTS agents against a master limited to $FLOOD_FDS file descriptors, for $FLOOD_SECS s"
    local dir=$TMP/flood
    mkdir -p "$dir"
    ( ulimit -n "$FLOOD_FDS" && exec "$MASTER_BIN" --ip=127.0.0.1 --port=0 --port_file="$dir/port" \
        --work_dir="$dir/work" --registry=in_memory --logging_level=WARNING 2>>"$dir/master.log" ) &
    MASTER_PID=$!
    for _ in $(seq 200); do [ -s "$dir/port" ] && break; sleep 0.05; done
    PORT=$(cat "$dir/port")
    emulator "$dir/probe.out" --agents=0 --probe=100ms
    local probe_pid=$EM_PID
    emulator "$dir/fw.out" --agents=0 --frameworks=1 --tasks=20000 --window=2000
    local fw_pid=$EM_PID
    sleep 0.5
    local c0
    c0=$(cpu_ticks "$MASTER_PID")
    emulator "$dir/agents.out" --agents="$FLOOD_AGENTS"
    local agents_pid=$EM_PID
    sleep "$FLOOD_SECS"
    local c1
    c1=$(cpu_ticks "$MASTER_PID")
    if kill -0 "$MASTER_PID" 2>/dev/null; then
        echo "  master alive; CPU over the flood: $(echo "100 * ($c1 - $c0) / $(getconf CLK_TCK) / $FLOOD_SECS" | bc)%; RSS $(( $(rss_kb "$MASTER_PID") / 1024 )) MiB; load $(load)"
    else
        echo "  MASTER DIED: $(tail -3 "$dir/master.log")"
    fi
    stop_pid "$fw_pid"
    stop_pid "$agents_pid"
    stop_pid "$probe_pid"
    grep "^agents:" "$dir/agents.out" | sed 's/^/  emulator: /'
    grep -E "^tasks" "$dir/fw.out" | sed 's/^/  framework (subscribed before the flood): /'
    sed 's/^/  during the flood: /' "$dir/probe.out" | grep probe
    echo "  master log: $(grep -c "out of file descriptors" "$dir/master.log") warnings about descriptors (one a second at most); last: $(grep "out of file descriptors" "$dir/master.log" | tail -1 | sed 's/.*: //')"
    stop_master
}

scenarios=${*:-"register steady launch memory storm flood"}
for s in $scenarios; do
    "scenario_$s"
done
echo
echo "load at the end: $(load)"
