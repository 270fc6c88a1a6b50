#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Capture's peak RSS with N live processes in its process table (issue target: <= 150 MiB
# with 50,000), with real processes: bench/proc-swarm.c forks N children in a cgroup of
# their own, each exec'd (its own exec record and argv) and each sending one UDP datagram
# (so capture renders its identity, as for a process that connects), then sleeping. Two arms:
#   exec  capture starts first and learns the N from their exec records
#   seed  the N exist first and capture seeds its table from /proc
# Each arm prints capture's VmHWM (peak RSS) and VmRSS once all N are up and their events
# are out, with capture's baseline (the same, before the swarm). The children are killed
# through cgroup.kill and the cgroup removed. kernel.pid_max is raised to fit N for the run
# and restored after.
#
#   bench/proc-rss.sh [N] [ARMS]   (root; after npm ci; ARMS default "exec seed")
set -euo pipefail
n=${1:-50000}
arms=${2:-exec seed}
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/capture-stdout.sh
. "$root/bench/capture-stdout.sh"
swarm=$root/.tmp/proc-swarm
[ "$swarm" -nt "$root/bench/proc-swarm.c" ] || cc -O2 -Wall -static -o "$swarm" "$root/bench/proc-swarm.c"
v2=/sys/fs/cgroup/unified
[ -f "$v2/cgroup.procs" ] || v2=/sys/fs/cgroup
cg=$v2/pt-proc-rss-$$
tmp=$(mktemp -d)
pidmax=$(sysctl -n kernel.pid_max)
cap=
sw=
cleanup() {
  [ -n "$cap" ] && kill -INT "$cap" 2>/dev/null && wait "$cap" 2>/dev/null || true
  kill_swarm
  sysctl -qw kernel.pid_max="$pidmax"
  rm -rf "$tmp"
}
kill_swarm() {
  # The parent kills and reaps its children (proc-swarm.c says why); the cgroup is the fallback.
  if [ -n "$sw" ]; then
    kill -TERM "$sw" 2>/dev/null || true
    wait "$sw" 2>/dev/null || true
  fi
  if [ -d "$cg" ]; then
    echo 1 >"$cg/cgroup.kill"
    # Empty once the last child is reaped, not when cgroup.procs is.
    for _ in $(seq 600); do grep -q '^populated 0' "$cg/cgroup.events" && break; sleep 0.2; done
    for _ in $(seq 50); do rmdir "$cg" 2>/dev/null && break; sleep 0.2; done
  fi
  [ -n "$sw" ] && wait "$sw" 2>/dev/null || true
  sw=
}
trap cleanup EXIT
need=$((n + $(ls /proc | grep -c '^[0-9]') + 4096))
[ "$need" -gt "$pidmax" ] && sysctl -qw kernel.pid_max=$(( need > 4194304 ? 4194304 : need ))

mib() { awk -v k="$2" '$1 == k":" { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }

start_swarm() {
  mkdir "$cg"
  sh -c "echo \$\$ > $cg/cgroup.procs && exec $swarm $n" >"$tmp/swarm" &
  sw=$!
  for _ in $(seq 6000); do
    grep -q '^ready' "$tmp/swarm" && return 0
    kill -0 "$sw" 2>/dev/null || { echo "proc-swarm failed" >&2; exit 1; }
    sleep 0.1
  done
  echo "proc-swarm: not ready in 600 s" >&2
  exit 1
}

# Time for capture to read and write the N processes' records and events.
settle() {
  sleep 5
}

echo "proc-rss: $n processes, $(nproc) CPUs, $(uname -r), Node $(node --version), load average $(cut -d' ' -f1-3 /proc/loadavg)"
for arm in $arms; do
  case $arm in
    exec)
      start_stdout_capture "$tmp/log"
      sleep 2
      base_hwm=$(mib "$cap" VmHWM); base_rss=$(mib "$cap" VmRSS)
      start_swarm ;;
    seed)
      start_swarm
      start_stdout_capture "$tmp/log"
      base_hwm=-; base_rss=- ;;
  esac
  # The /proc seed of N processes takes a while: wait for it before settling.
  for _ in $(seq 1200); do grep -q 'process table seeded' "$tmp/log" && break; sleep 0.1; done
  settle
  seeded=$(grep -o '"processes":[0-9]*' "$tmp/log" | head -1 | cut -d: -f2 || true)
  echo "$arm: swarm up in $(cut -d' ' -f3 "$tmp/swarm") s; capture before the swarm VmHWM $base_hwm MiB VmRSS $base_rss MiB; with $n live: VmHWM $(mib "$cap" VmHWM) MiB, VmRSS $(mib "$cap" VmRSS) MiB; seeded from /proc: ${seeded:-?}"
  kill -INT "$cap"; wait "$cap" 2>/dev/null || true; cap=
  grep '"msg":"capture stopped"' "$tmp/log" | head -c 600; echo
  kill_swarm
  rm -f "$tmp/log" "$tmp/swarm"
done
