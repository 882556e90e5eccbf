#!/usr/bin/env bash
# Stop the CI SLURM cluster started by start.sh: slurmd, slurmctld, munged,
# by the PIDs recorded in $SLURM_STATE_DIR (default /tmp/ci-slurm).
# SIGTERM first, SIGKILL after a grace period; already-dead PIDs are fine.
set -uo pipefail

STATE="${SLURM_STATE_DIR:-/tmp/ci-slurm}"
GRACE="${SLURM_CI_STOP_GRACE:-5}"

log() { echo "[ci-slurm] $*" >&2; }
# alive = exists and is not a zombie (zombies are reaped by init shortly)
alive() {
    kill -0 "$1" 2>/dev/null || return 1
    case "$(ps -o stat= -p "$1" 2>/dev/null)" in Z*) return 1 ;; esac
}

# $1 = name, $2 = expected executable basename (guards against PID reuse)
stop_one() {
    local name="$1" exe="$2" pidfile="$STATE/$1.pid" pid comm
    if [ ! -s "$pidfile" ]; then log "$name: no pid file"; return 0; fi
    pid="$(cat "$pidfile")"
    if ! [[ "$pid" =~ ^[0-9]+$ ]] || ! alive "$pid"; then
        log "$name: not running"; rm -f "$pidfile"; return 0
    fi
    comm="$(cat "/proc/$pid/comm" 2>/dev/null || true)"
    if [ "$comm" != "$exe" ]; then
        log "$name: pid $pid is '$comm', not $exe - not touching it"
        rm -f "$pidfile"; return 0
    fi
    local t0=$(( ${EPOCHREALTIME/./} / 1000 ))
    kill -TERM "$pid" 2>/dev/null || true
    local i
    for ((i = 0; i < GRACE * 10; i++)); do
        alive "$pid" || break
        sleep 0.1
    done
    if alive "$pid"; then
        log "$name: pid $pid ignored SIGTERM, sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        for ((i = 0; i < 20; i++)); do alive "$pid" || break; sleep 0.1; done
    fi
    if alive "$pid"; then
        log "$name: pid $pid still alive"; return 1
    fi
    # it has exited; give init a moment to reap the zombie so that ps is clean
    for ((i = 0; i < 30; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    log "$name: stopped (pid $pid, $(( ${EPOCHREALTIME/./} / 1000 - t0 )) ms)"
    rm -f "$pidfile"
}

rc=0
# Jobs (slurmstepd + their processes) survive a slurmd shutdown, so cancel
# whatever is still queued/running first, while slurmctld/slurmd are alive.
if [ -s "$STATE/slurm.conf" ] && [ -s "$STATE/slurmctld.pid" ] \
   && alive "$(cat "$STATE/slurmctld.pid")"; then
    export SLURM_CONF="$STATE/slurm.conf"
    active="$(timeout 10 squeue -h -o %i -t PENDING,RUNNING,SUSPENDED,COMPLETING 2>/dev/null | tr '\n' ' ')"
    if [ -n "${active// /}" ]; then
        log "cancelling active jobs: $active"
        timeout 10 scancel $active 2>/dev/null || true
        # without a live slurmd the cancel cannot complete; don't wait then
        waits=150
        alive "$(cat "$STATE/slurmd.pid" 2>/dev/null)" || waits=10
        for ((i = 0; i < waits; i++)); do
            left="$(timeout 5 squeue -h -o %i -t PENDING,RUNNING,SUSPENDED,COMPLETING 2>/dev/null)"
            [ -z "$left" ] && break
            sleep 0.1
        done
        [ -n "${left:-}" ] && log "WARNING: jobs still active after scancel: $(echo $left)"
    fi
fi
stop_one slurmd slurmd || rc=1
stop_one slurmctld slurmctld || rc=1
stop_one munged munged || rc=1

# Fallback: orphaned job steps (e.g. slurmd died before the jobs were
# cancelled).  Our slurmstepd processes have their cwd in $STATE/log (the
# SlurmdLogFile dir); kill each of them together with its descendants.
descendants() {  # print pid and all its descendants
    local p="$1" c
    echo "$p"
    for c in $(ps -o pid= --ppid "$p" 2>/dev/null); do descendants "$c"; done
}
stepds=""
for d in /proc/[0-9]*; do
    [ "$(cat "$d/comm" 2>/dev/null)" = slurmstepd ] || continue
    alive "${d#/proc/}" || continue
    case "$(readlink "$d/cwd" 2>/dev/null)" in
        "$STATE"|"$STATE"/*) stepds="$stepds ${d#/proc/}" ;;
    esac
done
if [ -n "$stepds" ]; then
    pids=""
    for p in $stepds; do pids="$pids $(descendants "$p" | tr '\n' ' ')"; done
    log "killing orphaned job steps and their processes:$pids"
    kill -TERM $pids 2>/dev/null || true
    sleep 2
    kill -KILL $pids 2>/dev/null || true
    sleep 0.5
    for p in $pids; do
        if alive "$p"; then log "pid $p still alive"; rc=1; fi
    done
fi
exit "$rc"
