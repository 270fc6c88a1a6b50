#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The floor of capture's kernel side on this machine: bench/connect-loop.c with
#   none     nothing attached
#   count    bench/count.bpf.c: a program on each tracepoint podtrail's tracepoint mode attaches,
#            each only adding one to a per-CPU counter (loaded by bench/count-loader.c)
#   podtrail `podtrail capture --stdout` to /dev/null (the object as built; tracepoint mode on a
#            kernel without kprobes/fentry, as here)
# alternating ROUNDS times. Prints, per round and as medians: connects/s and the loop's CPU per
# connect (user + system, so the probes that run in its syscalls count), and the count arm's
# program runs per connect (to show it was attached and fired).
#
#   bench/bpf-floor.sh [ROUNDS] [SECONDS]   (root; after npm ci)
set -euo pipefail
rounds=${1:-5}
secs=${2:-4}
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/capture-stdout.sh
. "$root/bench/capture-stdout.sh"
[ -r "$root/bpf/.output/vmlinux.h" ] || make -C "$root/bpf" >/dev/null
arch=$(uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
clang -g -O2 -Wall -target bpf -mcpu=v3 -D__TARGET_ARCH_"$arch" -I"$root/bpf/.output" -c "$root/bench/count.bpf.c" -o "$root/.tmp/count.bpf.o"
cc -O2 -Wall -o "$root/.tmp/count-loader" "$root/bench/count-loader.c" -lbpf
tmp=$(mktemp -d)
cap=
counter=
cleanup() {
  [ -n "$cap" ] && kill -INT "$cap" 2>/dev/null && wait "$cap" 2>/dev/null || true
  [ -n "$counter" ] && kill -INT "$counter" 2>/dev/null && wait "$counter" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
echo "bpf floor: $(nproc) CPUs, $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg), $rounds rounds of $secs s"
field() { node -e 'console.log(JSON.parse(process.argv[1])[process.argv[2]])' "$1" "$2"; }
declare -A rate cpu
for r in $(seq "$rounds"); do
  for v in none count podtrail; do
    extra=
    case $v in
      count)
        "$root/.tmp/count-loader" "$root/.tmp/count.bpf.o" >"$tmp/count.out" 2>&1 &
        counter=$!
        for _ in $(seq 100); do grep -q '^attached' "$tmp/count.out" && break; sleep 0.1; done
        grep -q '^attached' "$tmp/count.out" || { cat "$tmp/count.out" >&2; exit 1; } ;;
      podtrail)
        start_stdout_capture "$tmp/log"
        sleep 1 ;;
    esac
    res=$("$loop" "$secs")
    case $v in
      count)
        kill -INT "$counter"; wait "$counter" || true; counter=
        hits=$(sed -n 's/^hits //p' "$tmp/count.out")
        extra=" ($(node -e 'console.log((process.argv[1] / process.argv[2]).toFixed(2))' "$hits" "$(field "$res" connects)") program runs per connect)" ;;
      podtrail) kill -INT "$cap"; wait "$cap" || true; cap= ;;
    esac
    us=$(node -e 'const j = JSON.parse(process.argv[1]); console.log((j.cpuSeconds / j.connects * 1e6).toFixed(2))' "$res")
    rt=$(field "$res" rate)
    echo "round $r  $v  $rt connects/s  $us us loop CPU per connect$extra"
    rate[$v]="${rate[$v]:-} $rt"
    cpu[$v]="${cpu[$v]:-} $us"
  done
done
med() { node -e 'const xs = process.argv.slice(1).map(Number).sort((a, b) => a - b); const m = xs.length % 2 ? xs[(xs.length - 1) / 2] : (xs[xs.length / 2 - 1] + xs[xs.length / 2]) / 2; console.log(m.toFixed(2))' "$@"; }
echo "medians over $rounds rounds:"
for v in none count podtrail; do
  # shellcheck disable=SC2086
  echo "  $(printf '%-9s' $v) $(med ${rate[$v]}) connects/s  $(med ${cpu[$v]}) us loop CPU per connect"
done
