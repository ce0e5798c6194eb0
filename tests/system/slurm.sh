#!/usr/bin/env bash
# A real single-node SLURM for the tests, without systemd (Debian 12's slurmctld/slurmd/munge).
#
#   tests/system/slurm.sh start BASE   munged (if none answers) + slurmctld + slurmd with their
#                                      slurm.conf, state, spool, logs and pid files under BASE; waits
#                                      until the node is idle, then prints `export SLURM_CONF=...`
#   tests/system/slurm.sh stop BASE    stops what `start BASE` started, by its pid files only
#
# The node: partition `debug` (default), one node named after the host that advertises
# SLURM_TEST_CPUS CPUs (default 8, more than the machine has, so short jobs run side by side),
# memory = total minus 1 GiB, and one fake GPU (a char device) so `--gpus=1` requests schedule.
# Ports are picked free at start, so two clusters (two test sessions) can run side by side.
# `MinJobAge=600` keeps finished jobs in squeue: without slurmdbd, squeue is the only place the
# snakemake executor and submitit can read a finished job's state from. `KillWait=1`: a cancelled or
# requeued job gets SIGKILL 1 s after SIGTERM (default 30 s), which submitit's jobs ignore.
set -euo pipefail

die() { echo "slurm.sh: $*" >&2; exit 1; }

alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

free_port() {  # a TCP port nobody listens on now
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start_munge() {
    # one munged serves every cluster on the host; start it only if none answers, and remember
    # that this BASE started it so that `stop BASE` stops it again
    if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then return 0; fi
    [ -r /etc/munge/munge.key ] || die "no /etc/munge/munge.key: reinstall munge (tests/system/install.sh)"
    install -d -o munge -g munge -m 0755 /run/munge
    install -d -o munge -g munge -m 0700 /var/log/munge /var/lib/munge
    runuser -u munge -- /usr/sbin/munged --pid-file=/run/munge/munged.pid
    local i
    for i in $(seq 50); do
        munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && { cp /run/munge/munged.pid "$BASE/munged.pid"; return 0; }
        sleep 0.1
    done
    die "munged did not answer within 5 s; see /var/log/munge/munged.log"
}

write_conf() {
    local host mem cpus ctld_port d_port
    host=$(hostname -s)
    mem=$(( $(awk '/MemTotal/ {print int($2 / 1024)}' /proc/meminfo) - 1024 ))
    cpus=${SLURM_TEST_CPUS:-8}
    ctld_port=$(free_port)
    d_port=$(free_port)
    while [ "$d_port" = "$ctld_port" ]; do d_port=$(free_port); done
    mkdir -p "$BASE"/{state,spool,log}
    rm -f "$BASE/fakegpu0"
    mknod "$BASE/fakegpu0" c 1 3  # a char device standing in for /dev/nvidia0
    cat >"$BASE/slurm.conf" <<EOF
ClusterName=scorebench
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$d_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$BASE/state
SlurmdSpoolDir=$BASE/spool
SlurmctldPidFile=$BASE/slurmctld.pid
SlurmdPidFile=$BASE/slurmd.pid
SlurmctldLogFile=$BASE/log/slurmctld.log
SlurmdLogFile=$BASE/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SlurmdParameters=config_overrides
SchedulerParameters=sched_interval=2
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MinJobAge=600
JobRequeue=1
KillWait=1
ReturnToService=2
GresTypes=gpu
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem Gres=gpu:1 State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
    cat >"$BASE/gres.conf" <<EOF
AutoDetect=off
NodeName=$host Name=gpu File=$BASE/fakegpu0
EOF
}

link_conf() {
    # Snakemake's job-step plugin strips SLURM_* (SLURM_CONF included) from the `srun` it runs
    # inside each job, so that srun finds its config only at a default path. /run/slurm/conf is
    # where clients look after /etc/slurm (the configless cache), and a runtime path: link it to
    # this cluster's slurm.conf unless a live cluster started elsewhere already owns it.
    local link=/run/slurm/conf/slurm.conf target
    [ -e /etc/slurm/slurm.conf ] && echo "slurm.sh: warning: /etc/slurm/slurm.conf exists; srun inside snakemake jobs will read it, not $SLURM_CONF" >&2
    if [ -L "$link" ]; then
        target=$(readlink "$link")
        if [ "$target" != "$SLURM_CONF" ] && alive "$(dirname "$target")/slurmctld.pid"; then
            echo "slurm.sh: warning: $link belongs to the cluster in $(dirname "$target"); srun inside snakemake jobs will use that one" >&2
            return 0
        fi
    elif [ -e "$link" ]; then
        echo "slurm.sh: warning: $link is a file, left alone; srun inside snakemake jobs will read it" >&2
        return 0
    fi
    mkdir -p "$(dirname "$link")"
    ln -sfn "$SLURM_CONF" "$link"
}

start() {
    command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munge >/dev/null \
        || die "slurmctld, slurmd or munge is not installed: run tests/system/install.sh (needs root and apt-get)"
    [ "$(id -u)" -eq 0 ] || die "starting slurmd needs root"
    mkdir -p "$BASE"
    BASE=$(cd "$BASE" && pwd)
    alive "$BASE/slurmctld.pid" && die "a cluster already runs from $BASE: run 'slurm.sh stop $BASE' first"
    start_munge
    write_conf
    export SLURM_CONF="$BASE/slurm.conf"
    link_conf
    slurmctld -c -f "$SLURM_CONF" || die "slurmctld failed to start; see $BASE/log/slurmctld.log"
    slurmd -f "$SLURM_CONF" || die "slurmd failed to start; see $BASE/log/slurmd.log"
    local i state=""
    for i in $(seq 150); do
        state=$(sinfo -h -N -o %T 2>/dev/null | head -1 || true)
        [ "$state" = idle ] && { echo "export SLURM_CONF=$SLURM_CONF"; return 0; }
        sleep 0.2
    done
    die "the node is '${state:-unreachable}' after 30 s, not idle; see $BASE/log/slurmctld.log and slurmd.log"
}

stop() {
    [ -d "$BASE" ] || return 0
    BASE=$(cd "$BASE" && pwd)
    [ "$(readlink /run/slurm/conf/slurm.conf 2>/dev/null)" = "$BASE/slurm.conf" ] && rm -f /run/slurm/conf/slurm.conf
    # cancel this cluster's active jobs first, so that no job step outlives its slurmd
    if alive "$BASE/slurmctld.pid" && [ -n "$(SLURM_CONF="$BASE/slurm.conf" timeout 10 squeue -h -t active 2>/dev/null)" ]; then
        SLURM_CONF="$BASE/slurm.conf" timeout 10 scancel --user "$(id -un)" 2>/dev/null || true
        sleep 2  # KillWait=1: SIGTERM, then SIGKILL 1 s later
    fi
    local pids=() name pid i
    for name in slurmd slurmctld munged; do  # all at once: each takes 1-2 s to shut down
        alive "$BASE/$name.pid" && { pid=$(cat "$BASE/$name.pid"); kill "$pid"; pids+=("$pid"); }
        rm -f "$BASE/$name.pid"
    done
    for i in $(seq 100); do
        for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && break; pid=""; done
        [ -z "${pid:-}" ] && break
        sleep 0.1
    done
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && kill -9 "$pid"; done
    return 0
}

case "${1:-}" in
    start) [ $# -eq 2 ] || die "usage: slurm.sh start BASE"; BASE=$2; start ;;
    stop) [ $# -eq 2 ] || die "usage: slurm.sh stop BASE"; BASE=$2; stop ;;
    *) die "usage: slurm.sh start BASE | stop BASE" ;;
esac
