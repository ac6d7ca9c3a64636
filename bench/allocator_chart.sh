#!/bin/sh
# Runs bench/allocator_bench over cluster sizes (1k, 10k, 50k agents x 10, 100,
# 1000 frameworks), without and with quota (10 nested roles, guarantees and
# limits), and draws the full-cycle time against the number of agents with
# gnuplot into docs/allocator-cycle.svg. The figures stay in a CSV beside it.
#
#   bench/allocator_chart.sh [build dir, default build] [output svg]
set -eu
BUILD=${1:-build}
OUT=${2:-docs/allocator-cycle.svg}
BENCH=$BUILD/bench/allocator_bench
[ -x "$BENCH" ] || make -s BUILD="$BUILD" "$BENCH"
command -v gnuplot >/dev/null || { echo "allocator_chart: gnuplot is needed (apt-get install gnuplot-nox)" >&2; exit 1; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
"$BENCH" --agents=1000,10000,50000 --frameworks=10,100,1000 --csv="$TMP/plain.csv"
"$BENCH" --agents=1000,10000,50000 --frameworks=10,100,1000 --roles=10 --quota --csv="$TMP/quota.csv"
# One data file per framework count: agents full_ms.
for f in 10 100 1000; do
    awk -F, -v f=$f 'NR > 1 && $2 == f { print $1, $3 }' "$TMP/plain.csv" > "$TMP/plain-$f.dat"
    awk -F, -v f=$f 'NR > 1 && $2 == f { print $1, $3 }' "$TMP/quota.csv" > "$TMP/quota-$f.dat"
done
gnuplot <<GP
set terminal svg size 800,500 dynamic font "sans,12"
set output "$OUT"
set title "tepui allocator: full allocation cycle"
set xlabel "agents"
set ylabel "cycle time (ms)"
set logscale xy
set xtics ("1k" 1000, "10k" 10000, "50k" 50000)
set key top left
set grid
plot "$TMP/plain-10.dat" with linespoints title "10 frameworks", \
     "$TMP/plain-100.dat" with linespoints title "100 frameworks", \
     "$TMP/plain-1000.dat" with linespoints title "1000 frameworks", \
     "$TMP/quota-10.dat" with linespoints dashtype 2 title "10 frameworks, quota", \
     "$TMP/quota-100.dat" with linespoints dashtype 2 title "100 frameworks, quota", \
     "$TMP/quota-1000.dat" with linespoints dashtype 2 title "1000 frameworks, quota"
GP
cat "$TMP/plain.csv" > "${OUT%.svg}.csv"
tail -n +2 "$TMP/quota.csv" | sed 's/$/,quota/' >> "${OUT%.svg}.csv"
echo "wrote $OUT and ${OUT%.svg}.csv"
