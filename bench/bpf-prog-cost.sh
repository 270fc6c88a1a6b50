#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Where capture's kernel-side cost goes: runs `podtrail capture --stdout` (no Kafka),
# drives bench/connect-loop.c for SECONDS, and prints each BPF program's run time per
# connect from the kernel's own accounting (kernel.bpf_stats_enabled, read with bpftool).
# The accounting adds ~2 clock reads per program run, so absolute figures are high by
# a few tens of ns per run; compare programs and builds, not against the loop's total.
#
# With LOAD=exec the load is bench/exec-loop.c (fork + execve of /bin/true) and the
# figures are per exec: what the process table's exec, fork and exit programs cost.
#
#   [LOAD=exec] bench/bpf-prog-cost.sh [SECONDS]   (root; builds .tmp/connect-loop if missing)
set -euo pipefail
secs=${1:-3}
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/capture-stdout.sh
. "$root/bench/capture-stdout.sh"
was=$(sysctl -n kernel.bpf_stats_enabled)
restore() { sysctl -qw kernel.bpf_stats_enabled="$was"; }
out=$tmp/log
sysctl -qw kernel.bpf_stats_enabled=1
# Ours are the pt_ programs that were not there before (others may run captures too).
old_ids=$(bpftool prog show --json | node -e 'console.log(JSON.parse(require("fs").readFileSync(0, "utf8")).map((p) => p.id).join(","))')
start_stdout_capture "$out"
sleep 1
before=$(bpftool prog show --json)
if [ "${LOAD:-connect}" = exec ]; then
  exl=$root/.tmp/exec-loop
  [ -x "$exl" ] || cc -O2 -Wall -o "$exl" "$root/bench/exec-loop.c"
  res=$("$exl" "$secs")
else
  res=$("$loop" "$secs")
fi
after=$(bpftool prog show --json)
echo "$res"
node -e '
const [before, after, res, oldIds] = process.argv.slice(1);
const old = new Set(oldIds.split(",").map(Number));
const n = JSON.parse(res).connects ?? JSON.parse(res).execs;
const unit = JSON.parse(res).connects === undefined ? "exec" : "connect";
const ours = (j) => new Map(JSON.parse(j).filter((p) => !old.has(p.id) && String(p.name).startsWith("pt_") && p.run_cnt !== undefined).map((p) => [p.name, p]));
const b = ours(before), a = ours(after);
let total = 0;
for (const [name, p] of a) {
  const q = b.get(name) ?? { run_time_ns: 0, run_cnt: 0 };
  const ns = p.run_time_ns - q.run_time_ns, runs = p.run_cnt - q.run_cnt;
  if (!runs) continue;
  total += ns;
  console.log(`${name.padEnd(18)} ${(ns / n).toFixed(0).padStart(6)} ns per ${unit}  ${(ns / runs).toFixed(0).padStart(5)} ns per run  ${(runs / n).toFixed(2)} runs per ${unit}`);
}
console.log(`all programs       ${(total / n).toFixed(0).padStart(6)} ns per ${unit} (${n} ${unit}s)`);
' "$before" "$after" "$res" "$old_ids"
