// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
// The floor for capture's kernel side (bench/bpf-floor.sh): a program on each tracepoint that
// podtrail's tracepoint mode attaches (bpf/podtrail.bpf.c, bpf/pt_proc.bpf.h), each doing
// nothing but add one to a per-CPU counter. What a connect pays for the attachment itself.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} hits SEC(".maps");

static __always_inline int count(void)
{
	__u32 k = 0;
	__u64 *v = bpf_map_lookup_elem(&hits, &k);
	if (v)
		(*v)++;
	return 0;
}

#define RAW(name, tp) SEC("raw_tp/" tp) int name(void *ctx) { return count(); }
#define TP(name, tp) SEC("tp/syscalls/" tp) int name(void *ctx) { return count(); }

RAW(c_set_state, "inet_sock_set_state")
RAW(c_retrans, "tcp_retransmit_skb")
RAW(c_exec, "sched_process_exec")
RAW(c_fork, "sched_process_fork")
RAW(c_exit, "sched_process_exit")
TP(c_conn_out, "sys_exit_connect")
TP(c_sendto_in, "sys_enter_sendto")
TP(c_sendto_out, "sys_exit_sendto")
TP(c_sendmsg_in, "sys_enter_sendmsg")
TP(c_sendmsg_out, "sys_exit_sendmsg")
TP(c_sendmmsg_in, "sys_enter_sendmmsg")
TP(c_sendmmsg_out, "sys_exit_sendmmsg")
