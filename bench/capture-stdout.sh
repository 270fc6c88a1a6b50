# SPDX-License-Identifier: Apache-2.0
# Sourced by the capture benches (bpf-prog-cost.sh, bpf-prog-variants.sh, capture-breakdown.sh,
# exec-loop.sh; root; $root set). Each gets a scratch directory ($tmp) and the one capture it
# runs at a time ($cap); on exit the capture is stopped, restore() runs if the script defined
# one (a sysctl to put back), and $tmp goes.
loop=$root/.tmp/connect-loop
mkdir -p "$root/.tmp"
[ -x "$loop" ] || cc -O2 -Wall -o "$loop" "$root/bench/connect-loop.c"
# Variant builds of the BPF object compile against the build's headers (vmlinux.h).
[ -r "$root/bpf/.output/vmlinux.h" ] || make -C "$root/bpf" >/dev/null
tmp=$(mktemp -d)
cap=

# stop_stdout_capture: SIGINT to the running capture (if any), and wait for it.
stop_stdout_capture() {
  [ -n "$cap" ] && kill -INT "$cap" 2>/dev/null && wait "$cap" 2>/dev/null || true
  cap=
}

bench_exit() {
  stop_stdout_capture
  if declare -F restore >/dev/null; then restore; fi
  rm -rf "$tmp"
}
trap bench_exit EXIT

# start_stdout_capture LOG: `podtrail capture --stdout` to /dev/null, its log to LOG; sets $cap
# and returns once the programs are attached (exits the script if they never are).
# PODTRAIL_BPF_OBJECT and the like pass through the environment; further capture flags in
# CAPTURE_EXTRA_ARGS (split on spaces).
start_stdout_capture() {
  # shellcheck disable=SC2086
  PODTRAIL_LOG_LEVEL=info node --max-semi-space-size=4 "$root/bin/podtrail.js" capture --stdout ${CAPTURE_EXTRA_ARGS:-} >/dev/null 2>"$1" &
  cap=$!
  for _ in $(seq 300); do
    grep -q '"msg":"kernel capture attached"' "$1" 2>/dev/null && return 0
    kill -0 "$cap" 2>/dev/null || { cat "$1" >&2; exit 1; }
    sleep 0.1
  done
  echo "capture did not attach in 30 s" >&2
  exit 1
}
