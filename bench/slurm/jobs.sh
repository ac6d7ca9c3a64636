#!/bin/sh
# Runs N trivial jobs (/bin/true) on the Slurm peer, as one array and as N
# separate submissions, and prints jobs/s from first submission to last
# completion for each.
set -u
N=${1:-500}
drain() {
    while [ -n "$(squeue -h -o %i 2>/dev/null | head -1)" ]; do sleep 0.05; done
}
now() { date +%s.%N; }
t0=$(now)
sbatch -Q --array=1-"$N" -o /dev/null --wrap=true >/dev/null
drain
t1=$(now)
echo "slurm array: $(echo "$N / ($t1 - $t0)" | bc -l | xargs printf '%.1f') jobs/s ($N jobs)"
t0=$(now)
i=0
while [ $i -lt "$N" ]; do
    sbatch -Q -o /dev/null --wrap=true >/dev/null
    i=$((i + 1))
done
drain
t1=$(now)
echo "slurm separate: $(echo "$N / ($t1 - $t0)" | bc -l | xargs printf '%.1f') jobs/s ($N jobs)"
