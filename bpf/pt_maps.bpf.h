/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/* Maps and options of podtrail.bpf.c. Each map names its writer and reader. */
#ifndef PT_MAPS_BPF_H
#define PT_MAPS_BPF_H

/* Options, set by native/src/loader.cc between open and load. */
const volatile __u32 self_tgid = 0;
const volatile __u8 exclude_loopback = 0;
const volatile __u64 udp_dedup_ns = 60ULL * 1000000000ULL;
const volatile __u32 n_controllers = 0;
const volatile __s32 controller_ssid[PT_MAX_CONTROLLERS] = { -1, -1, -1, -1 };
/* Wake the poll thread only once this much is waiting; it also polls on a short
 * timer. A wakeup per event costs more than the probes themselves. */
const volatile __u64 wakeup_bytes = 0;

/* Writer: emit_event/emit_cgroup (BPF). Reader: native poll thread. Size set by the loader. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20);
} events SEC(".maps");

/* Writer: next_seq() here and the native INPROGRESS sweep, both by atomic add
 * (the sweep through mmap). Reader: native stats(). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, __u64);
} seq_counter SEC(".maps");

/* Writer: count() here. Reader: native stats(). Indexed by enum pt_stat. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PT_STAT_NR);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

struct pt_inflight {
	__u64 sk;
	__u64 ts_ns;
	struct pt_dst dst;
	__u8 protocol;
	__u8 op;
	__u8 _pad[6];
};

/* UDP sends with a destination. Writer: sendto/sendmsg/sendmmsg enter. Reader
 * and deleter: the matching syscall-exit program on the same thread. Keyed by pid_tgid. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct pt_inflight);
} inflight SEC(".maps");

/* The TCP attempt the current thread parked inside its connect() syscall, so
 * the syscall exit finds its sock without walking the fd table. Writer:
 * set_state at CLOSE->SYN_SENT. Reader and clearer: the connect exit. */
enum pt_mark_state {
	PT_MARK_PARKED = 1,   /* in `pending` */
	PT_MARK_UNPARKED = 2, /* `pending` was full: the exit reports what it knows */
	PT_MARK_DROPPED = 3,  /* its cgroup record was lost, seq burnt: nothing to report */
};

struct pt_conn_mark {
	__u64 sk;
	__u64 ts_ns;
	__u32 state;
	__u32 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct pt_conn_mark);
} conn_mark SEC(".maps");

/* TCP attempts waiting for their outcome, keyed by struct sock address.
 * Writer: set_state at CLOSE->SYN_SENT (parks), connect exit and
 * tcp_retransmit_skb (fill the source). Deleters: set_state, connect exit, native sweep. Whoever deletes
 * successfully emits the event, so each attempt goes out exactly once. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct pt_connect_event);
} pending SEC(".maps");

/* (hier, cgroup id) whose path record was submitted. Writer: emit_cgroup after a
 * successful submit. Reader: emit_cgroup. Deleter: native, when its cache lacks an id. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, struct pt_cgroup_key);
	__type(value, __u8);
} cgroup_seen SEC(".maps");

struct pt_udp_key {
	__u32 tgid;
	__u16 sport;
	__u16 dport;
	__u8 saddr[PT_ADDR_LEN];
	__u8 daddr[PT_ADDR_LEN];
	__u8 family;
	__u8 _pad[7];
};

/* Last time a UDP flow was reported. Writer: udp_exit after a successful
 * submit. Reader: udp_exit (dedup window). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct pt_udp_key);
	__type(value, __u64);
} udp_seen SEC(".maps");

/* Event under construction; too big for the 512-byte stack. Slot 0: syscall
 * programs (process context). Slot 1: set_state, which can run in softirq on
 * top of a syscall program on the same CPU. Writer and reader: one program run. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct pt_connect_event);
} scratch SEC(".maps");

static __always_inline void count(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &idx);

	if (v)
		__sync_fetch_and_add(v, 1);
}

static __always_inline __u64 next_seq(void)
{
	__u32 zero = 0;
	__u64 *c = bpf_map_lookup_elem(&seq_counter, &zero);

	if (!c)
		return 0;
	return __sync_fetch_and_add(c, 1) + 1;
}

static __always_inline __u64 ringbuf_wakeup_flag(void)
{
	if (!wakeup_bytes || bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes)
		return BPF_RB_FORCE_WAKEUP;
	return BPF_RB_NO_WAKEUP;
}

static __always_inline struct pt_connect_event *scratch_slot(__u32 slot)
{
	return bpf_map_lookup_elem(&scratch, &slot);
}

#endif
