#!/bin/sh
# A one-node Slurm on loopback for comparison runs, configured for job
# throughput (no accounting, builtin scheduler, cores oversubscribed), with
# its state under $SLURM_PEER_DIR (default /tmp/tepui-slurm-peer).
# Installs Debian's slurm-wlm when missing; needs root.
set -eu
D=${SLURM_PEER_DIR:-/tmp/tepui-slurm-peer}
if ! command -v slurmctld >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q slurm-wlm </dev/null >/dev/null
fi
mkdir -p "$D/state" "$D/spool" "$D/log" /etc/munge /run/munge /var/log/munge /var/lib/munge /etc/slurm
if [ ! -s /etc/munge/munge.key ]; then
    head -c 1024 /dev/urandom >/etc/munge/munge.key
fi
chown -R munge:munge /etc/munge /run/munge /var/log/munge /var/lib/munge 2>/dev/null || true
chmod 400 /etc/munge/munge.key
pgrep -x munged >/dev/null || { munged --force; sleep 0.5; }
mem=$(awk '/MemTotal/ {print int($2 / 1024) - 1024}' /proc/meminfo)
cpus=$(nproc)
cat >/etc/slurm/slurm.conf <<CONF
ClusterName=tepuipeer
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$D/state
SlurmdSpoolDir=$D/spool
SlurmctldPidFile=$D/slurmctld.pid
SlurmdPidFile=$D/slurmd.pid
SlurmctldLogFile=$D/log/slurmctld.log
SlurmdLogFile=$D/log/slurmd.log
SlurmctldDebug=error
SlurmdDebug=error
ProctrackType=proctrack/pgid
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerParameters=max_rpc_cnt=0,sched_min_interval=0
MaxJobCount=100000
MinJobAge=1
MessageTimeout=30
ReturnToService=2
NodeName=localhost CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=bench Nodes=localhost Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:64
CONF
slurmctld -c 2>/dev/null || slurmctld
sleep 1
slurmd
sleep 2
scontrol update nodename=localhost state=resume 2>/dev/null || true
sinfo -h >/dev/null
