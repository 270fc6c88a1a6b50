# SPDX-License-Identifier: Apache-2.0
# Sourced by bench/bpf-prog-cost.sh and bench/capture-breakdown.sh (root; $root set).
loop=$root/.tmp/connect-loop
mkdir -p "$root/.tmp"
[ -x "$loop" ] || cc -O2 -Wall -o "$loop" "$root/bench/connect-loop.c"

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
