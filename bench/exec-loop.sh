#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# What capture costs an exec-heavy node: bench/exec-loop.c (fork + execve of /bin/true) for
# SECONDS with no capture, with this checkout's `podtrail capture --stdout` (to /dev/null),
# and, when COMPARE names another built checkout, with that one's, alternating the arms
# ROUNDS times. Prints each round and the median execs/s and CPU per exec of each arm, and
# each capture arm's slowdown (median of the per-round ratios to the no-capture arm).
# NOID=1 adds an arm with this checkout's capture under --process-identity off (the kernel
# side unchanged, no user-space process table).
#
#   [COMPARE=DIR] [NOID=1] bench/exec-loop.sh [ROUNDS] [SECONDS]   (root; after npm ci)
set -euo pipefail
rounds=${1:-5}
secs=${2:-3}
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/capture-stdout.sh
. "$root/bench/capture-stdout.sh"
exl=$root/.tmp/exec-loop
[ -x "$exl" ] || cc -O2 -Wall -o "$exl" "$root/bench/exec-loop.c"
arms=(none podtrail)
[ -n "${NOID:-}" ] && arms+=(noid)
[ -n "${COMPARE:-}" ] && arms+=(compare)
echo "exec loop: $(nproc) CPUs, $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg), $rounds rounds of ${secs} s"
for r in $(seq "$rounds"); do
  for a in "${arms[@]}"; do
    case $a in
      podtrail) start_stdout_capture "$tmp/log" ;;
      noid) CAPTURE_EXTRA_ARGS="--process-identity off" start_stdout_capture "$tmp/log" ;;
      compare) here=$root; root=$COMPARE; start_stdout_capture "$tmp/log"; root=$here ;;
    esac
    res=$("$exl" "$secs")
    stop_stdout_capture
    rm -f "$tmp/log"
    echo "round $r $a $res" | tee -a "$tmp/all"
  done
done
node -e '
const lines = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n");
const by = {};
for (const l of lines) {
  const [, r, arm, json] = l.match(/^round (\d+) (\S+) (.*)$/);
  const j = JSON.parse(json);
  (by[arm] ??= {})[r] = { rate: j.execs / j.seconds, cpu: j.cpu_us_per_exec };
}
const med = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
for (const [arm, rs] of Object.entries(by)) {
  const v = Object.values(rs);
  let line = `${arm.padEnd(9)} median ${med(v.map((x) => x.rate)).toFixed(0)} execs/s, ${med(v.map((x) => x.cpu)).toFixed(1)} us CPU per exec`;
  if (arm !== "none") line += `, slowdown ${med(Object.entries(rs).map(([r, x]) => by.none[r].rate / x.rate)).toFixed(3)}x (median of per-round ratios)`;
  console.log(line);
}
' "$tmp/all"
