#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Where the connect loop's extra CPU goes with capture on. Builds variants of the BPF
# object from this checkout's bpf/ (edited copies in a temp dir), runs `podtrail capture
# --stdout` (to /dev/null) with each through PODTRAIL_BPF_OBJECT, and drives
# bench/connect-loop.c; the variants alternate ROUNDS times. Prints the loop's CPU per
# connect (user + system, so the probes that run in its syscalls count) per round and the
# median per variant:
#   none        no capture
#   empty-only  inet_sock_set_state returns at once; no syscall tracepoints
#   set-state   the full inet_sock_set_state; no syscall tracepoints
#   empty       inet_sock_set_state returns at once; syscall tracepoints as built
#   full        the object as built
# Variants without syscall tracepoints cannot report failures inside connect() or UDP:
# they are for measuring, not for use. No bpf_stats: nothing but the variant differs.
#
#   bench/capture-breakdown.sh [ROUNDS] [SECONDS]   (root; after npm ci)
set -euo pipefail
rounds=${1:-4}
secs=${2:-4}
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/capture-stdout.sh
. "$root/bench/capture-stdout.sh"
cp "$root"/bpf/*.c "$root"/bpf/*.h "$tmp/"
arch=$(uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
build() { # name, source edits (perl -0pe)
  perl -0pe "$2" "$tmp/podtrail.bpf.c" >"$tmp/$1.bpf.c"
  clang -g -O2 -Wall -Wno-unused-variable -Wno-unused-function -target bpf -mcpu=v3 -D__TARGET_ARCH_"$arch" \
    -I"$root/bpf/.output" -I"$tmp" -c "$tmp/$1.bpf.c" -o "$tmp/$1.o"
}
# The loader needs every program it was compiled against (the skeleton), so the syscall
# tracepoint programs stay, emptied and moved to a raw tracepoint the loop never fires: no
# syscall tracepoint is attached, and so no slow path for every syscall.
nosys='s/SEC\("tp\/syscalls\/\w+"\)\n(int pt_tp_\w+\([^)]*\)\n\{\n)/SEC("raw_tp\/sched_kthread_stop")\n$1\treturn 0;\n/g;'
empty='s/(int BPF_PROG\(pt_set_state[^\n]*\n\{\n)/$1\treturn 0;\n/;'
build full ''
build empty "$empty"
build set-state "$nosys"
build empty-only "$empty$nosys"
grep -q 'return 0;' <(sed -n '/BPF_PROG(pt_set_state/,+2p' "$tmp/empty.bpf.c") || { echo "capture-breakdown: the empty edit did not apply" >&2; exit 1; }
! grep -q 'tp/syscalls/' "$tmp/set-state.bpf.c" || { echo "capture-breakdown: the nosys edit did not apply" >&2; exit 1; }

variants=(none empty-only set-state empty full)
declare -A all
for r in $(seq "$rounds"); do
  for v in "${variants[@]}"; do
    if [ "$v" != none ]; then
      PODTRAIL_BPF_OBJECT=$tmp/$v.o start_stdout_capture "$tmp/log"
      sleep 1
    fi
    res=$("$loop" "$secs")
    stop_stdout_capture
    us=$(node -e 'const j = JSON.parse(process.argv[1]); console.log((j.cpuSeconds / j.connects * 1e6).toFixed(2))' "$res")
    echo "round $r  $v  $us us loop CPU per connect  $(node -e 'console.log(JSON.parse(process.argv[1]).rate)' "$res") connects/s"
    all[$v]="${all[$v]:-} $us"
  done
done
echo "median loop CPU per connect over $rounds rounds:"
for v in "${variants[@]}"; do
  node -e 'const xs = process.argv.slice(2).map(Number).sort((a, b) => a - b); const m = xs.length % 2 ? xs[(xs.length - 1) / 2] : (xs[xs.length / 2 - 1] + xs[xs.length / 2]) / 2; console.log(`  ${process.argv[1].padEnd(11)} ${m.toFixed(2)} us`)' "$v" ${all[$v]}
done
