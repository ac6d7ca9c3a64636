#!/bin/sh
# Stops the Slurm peer that setup.sh started.
scontrol shutdown 2>/dev/null || true
sleep 1
[ -s /run/munge/munged.pid ] && kill "$(cat /run/munge/munged.pid)" 2>/dev/null
true
