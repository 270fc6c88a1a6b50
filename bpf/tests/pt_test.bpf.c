// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Test programs for podtrail's BPF helpers, in the manner of Tetragon's
 * bpf/tests: each drives one helper of the real program, included from the
 * same headers (not copied), through BPF_PROG_TEST_RUN. pt_test.c loads this
 * object and runs them; test/integration/bpf-helpers.test.ts asserts.
 *
 * raw_tp programs: a test run executes them in the calling task's context, so
 * the cgroup walk sees the cgroup the runner moved itself into. They are
 * loaded, never attached.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>
#include "podtrail.h"
#include "pt_sock.bpf.h"
#include "pt_maps.bpf.h"
#include "pt_task.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Output of the cgroup walk. Writer: pt_test_cgroup_path. Reader: pt_test.c. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pt_cgroup_rec);
} cgroup_out SEC(".maps");

/* The event the last successful take copied out. Reader: pt_test.c. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pt_connect_event);
} taken SEC(".maps");

/* The calling task's v2 cgroup path, by the walk emit_cgroup uses. */
SEC("raw_tp/pt_test_cgroup_path")
int pt_test_cgroup_path(void *ctx)
{
	struct task_struct *t = bpf_get_current_task_btf();
	__u32 zero = 0;
	struct pt_cgroup_rec *r = bpf_map_lookup_elem(&cgroup_out, &zero);

	if (!r)
		return -1;
	r->type = PT_REC_CGROUP;
	r->hier = 0;
	r->cgroup_id = BPF_CORE_READ(t, cgroups, dfl_cgrp, kn, id);
	cgroup_path(r, BPF_CORE_READ(t, cgroups, dfl_cgrp, kn));
	return 0;
}

enum pt_test_pend_op {
	PT_TEST_PUT = 1,  /* pend_put(sk) of an event with ts_ns = sk + 1: 0, or -1 (window full) */
	PT_TEST_FIND = 2, /* pend_find(sk): slot index or -1 */
	PT_TEST_TAKE = 3, /* pend_take(idx, sk) into `taken`: 0, or -1 (not ours to take) */
	PT_TEST_HOME = 4, /* pend_home(sk) */
};

/* ctx: op, sk, idx (as the u64 args of a raw tracepoint). */
SEC("raw_tp/pt_test_pend")
int pt_test_pend(__u64 *ctx)
{
	__u64 op = ctx[0], sk = ctx[1];
	int idx = (int)ctx[2];
	__u32 zero = 0;
	struct pt_connect_event *e;

	switch (op) {
	case PT_TEST_PUT:
		e = scratch_slot(0);
		if (!e)
			return -2;
		__builtin_memset(e, 0, sizeof(*e));
		e->type = PT_REC_CONNECT;
		e->ts_ns = sk + 1;
		return pend_put(sk, e);
	case PT_TEST_FIND:
		return pend_find(sk);
	case PT_TEST_TAKE:
		e = bpf_map_lookup_elem(&taken, &zero);
		if (!e || idx < 0 || idx >= PT_PEND_SLOTS)
			return -2;
		return pend_take(idx, sk, e);
	case PT_TEST_HOME:
		return pend_home(sk);
	}
	return -2;
}
