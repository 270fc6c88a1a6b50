#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# What each part of the BPF programs costs: builds variants of this checkout's BPF object,
# each with one part edited out, runs each with `podtrail capture --stdout` (to /dev/null)
# through PODTRAIL_BPF_OBJECT, drives bench/connect-loop.c for SECONDS, and prints the
# programs' run time per connect from the kernel's own accounting (bpf_stats, which adds a few
# tens of ns per program run). The variants alternate ROUNDS times:
#   full     the object as built
#   nomark   no per-thread mark at CLOSE->SYN_SENT (connect()'s exit then walks the fd table)
#   noseen   no cgroup_seen lookup (no cgroup path records: for measuring only)
#   noident  no identity reads (fill_identity)
#   noemit   set_state takes the finished attempt but does not emit it
#   noproc   no process key lookup and no exe-unlinked check per connect (fill_identity)
# Variants other than full lose data: for measuring, not for use.
#
#   bench/bpf-prog-variants.sh [ROUNDS] [SECONDS]   (root; after npm ci)
set -euo pipefail
rounds=${1:-2}
secs=${2:-2}
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/capture-stdout.sh
. "$root/bench/capture-stdout.sh"
was=$(sysctl -n kernel.bpf_stats_enabled)
restore() { sysctl -qw kernel.bpf_stats_enabled="$was"; }
arch=$(uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
build() { # name, edit (perl -0pe) applied to every source file; the edit must change something
  mkdir "$tmp/$1"
  for f in "$root"/bpf/*.c "$root"/bpf/*.h; do perl -0pe "$2" "$f" >"$tmp/$1/$(basename "$f")"; done
  local changed=0
  for f in "$root"/bpf/*.c "$root"/bpf/*.h; do cmp -s "$f" "$tmp/$1/$(basename "$f")" || changed=1; done
  if [ -n "$2" ] && [ "$changed" = 0 ]; then
    echo "bpf-prog-variants: the $1 edit did not apply" >&2
    exit 1
  fi
  clang -g -O2 -Wall -Wno-unused-variable -Wno-unused-function -Wno-unused-but-set-variable -target bpf -mcpu=v3 \
    -D__TARGET_ARCH_"$arch" -I"$root/bpf/.output" -I"$tmp/$1" -c "$tmp/$1/podtrail.bpf.c" -o "$tmp/$1.o"
}
build full ''
build nomark 's/if \(in_connect_syscall\(\)\) \{/if (0) {/'
build noseen 's/if \(bpf_map_lookup_elem\(&cgroup_seen, &key\)\)\n\t\treturn 0;/return 0;/'
build noident 's/\tfill_identity\(e\);\n//'
build noemit 's/fill_src\(e, sk\);\n\treturn emit_event\(e, status, err\);\n\}/fill_src(e, sk);\n\treturn 0;\n}/'
build noproc 's/\tpp = bpf_map_lookup_elem\(&procs, &e->tgid\);\n\te->proc_key_ns = pp \? pp->key_ns : e->start_ns;\n//; s/\tif \(mm\) \{\n.*?\n\t\}\n//s'
variants=(${PODTRAIL_VARIANTS:-full nomark noseen noident noemit noproc})

sysctl -qw kernel.bpf_stats_enabled=1
for r in $(seq "$rounds"); do
  for v in "${variants[@]}"; do
    # Ours are the pt_ programs that were not there before (others may run captures too).
    old_ids=$(bpftool prog show --json | node -e 'console.log(JSON.parse(require("fs").readFileSync(0, "utf8")).map((p) => p.id).join(","))')
    PODTRAIL_BPF_OBJECT=$tmp/$v.o start_stdout_capture "$tmp/log"
    sleep 1
    before=$(bpftool prog show --json)
    res=$("$loop" "$secs")
    after=$(bpftool prog show --json)
    stop_stdout_capture
    node -e '
const [r, v, before, after, res, oldIds] = process.argv.slice(1);
const old = new Set(oldIds.split(",").map(Number));
const n = JSON.parse(res).connects;
const ours = (j) => new Map(JSON.parse(j).filter((p) => !old.has(p.id) && String(p.name).startsWith("pt_") && p.run_cnt !== undefined).map((p) => [p.name, p]));
const b = ours(before), a = ours(after);
const parts = [];
let total = 0;
for (const [name, p] of a) {
  const q = b.get(name) ?? { run_time_ns: 0, run_cnt: 0 };
  const ns = p.run_time_ns - q.run_time_ns;
  if (!(p.run_cnt - q.run_cnt)) continue;
  total += ns;
  parts.push(`${name} ${(ns / n).toFixed(0)}`);
}
console.log(`round ${r}  ${v.padEnd(8)} ${(total / n).toFixed(0).padStart(5)} ns per connect (${parts.join(", ")})`);
' "$r" "$v" "$before" "$after" "$res" "$old_ids"
  done
done
