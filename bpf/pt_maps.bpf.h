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

/* Writer: next_seq()/next_proc_seq() here and the native INPROGRESS sweep (connect
 * seqs only), all by atomic add (the sweep through mmap). Reader: native stats().
 * Indexed by enum pt_seq_idx. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PT_SEQ_NR);
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
	PT_MARK_PARKED = 1,   /* in a pend slot */
	PT_MARK_UNPARKED = 2, /* no free pend slot: the exit reports what it knows */
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

/* TCP attempts waiting for their outcome (podtrail.h explains the slots).
 * Parker: set_state at CLOSE->SYN_SENT. Takers: set_state at the outcome, the
 * connect exit, the native sweep (through the mmap). In-place writers of a
 * READY slot's event: the connect exit and tcp_retransmit_skb (source port). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PT_PEND_SLOTS);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct pt_pend_hdr);
} pend_hdr SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PT_PEND_SLOTS);
	__type(key, __u32);
	__type(value, struct pt_connect_event);
} pend_ev SEC(".maps");

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
 * programs of tracepoint and kprobe mode and park_sk (process context, not
 * preemptible; fentry mode uses ev_task below). Slot 1: set_state, which can run in softirq on
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

static __always_inline __u64 next_proc_seq(void)
{
	__u32 idx = PT_SEQ_PROC;
	__u64 *c = bpf_map_lookup_elem(&seq_counter, &idx);

	if (!c)
		return 0;
	return __sync_fetch_and_add(c, 1) + 1;
}

/* The process table: key and parent of every process capture saw exec or fork.
 * Writers: the exec and fork programs (insert/replace), exit (delete). Reader:
 * fill_identity, once per connect event; exec and fork for the parent's key.
 * Sized above the 50,000 live processes a node is planned for; when full, a
 * process's key falls back to its start time and PT_STAT_PROC_FULL counts it. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, struct pt_proc);
} procs SEC(".maps");

/* A process record under construction (8 KiB: not for the stack). Writer and
 * reader: one run of the exec/fork/exit programs, which never nest on a CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pt_proc_rec);
} proc_scratch SEC(".maps");

/* The dentries of the path being built, leaf first. Writer and reader: exec. */
struct pt_path_walk {
	__u64 dentry[PT_PATH_DEPTH];
	__u32 total; /* bytes the whole path needs: "/name" per component */
	__u32 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pt_path_walk);
} path_scratch SEC(".maps");

static __always_inline __u64 ringbuf_wakeup_flag(void)
{
	if (!wakeup_bytes || bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes)
		return BPF_RB_FORCE_WAKEUP;
	return BPF_RB_NO_WAKEUP;
}

/* The event under construction of a program that can be preempted mid-run:
 * fentry/fexit run under migrate_disable() only, so on a preemptible kernel a
 * per-CPU scratch slot could be taken over by another task's tracepoint run on
 * the same CPU while this one sleeps. The task's own storage cannot.
 * Writer and reader: one run of an fentry/fexit program of the task. */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct pt_connect_event);
} ev_task SEC(".maps");

/* Where an event is built: slot 0 or 1 of the per-CPU scratch (programs that
 * run with preemption off: tracepoints, kprobes), or PT_SLOT_TASK (fentry mode).
 * Always a constant at the call site, so each program has one of the two. */
#define PT_SLOT_TASK 2

static __always_inline struct pt_connect_event *scratch_slot(__u32 slot)
{
	if (slot == PT_SLOT_TASK)
		return bpf_task_storage_get(&ev_task, bpf_get_current_task_btf(), 0,
					    BPF_LOCAL_STORAGE_GET_F_CREATE);
	return bpf_map_lookup_elem(&scratch, &slot);
}

/* First slot of a sock's probe window (Fibonacci hashing of the address). */
static __always_inline __u32 pend_home(__u64 sk)
{
	return (__u32)((sk * 0x9E3779B97F4A7C15ULL) >> 50) & (PT_PEND_SLOTS - 1);
}

/* Index of the READY slot holding sk's attempt, or -1. */
static __always_inline int pend_find(__u64 sk)
{
	__u32 home = pend_home(sk);

#pragma unroll
	for (__u32 i = 0; i < PT_PEND_PROBE; i++) {
		__u32 idx = (home + i) & (PT_PEND_SLOTS - 1);
		struct pt_pend_hdr *h = bpf_map_lookup_elem(&pend_hdr, &idx);

		if (h && h->state == PT_PEND_READY && h->sk == sk)
			return idx;
	}
	return -1;
}

static __always_inline struct pt_connect_event *pend_event(int idx)
{
	__u32 i = (__u32)idx;

	return bpf_map_lookup_elem(&pend_ev, &i);
}

/* Takes slot idx if it still holds sk's attempt: copies the event to out and
 * frees the slot. 0 when taken; then the caller alone reports the attempt. */
static __always_inline int pend_take(int idx, __u64 sk, struct pt_connect_event *out)
{
	__u32 i = (__u32)idx;
	struct pt_pend_hdr *h = bpf_map_lookup_elem(&pend_hdr, &i);
	struct pt_connect_event *ev = bpf_map_lookup_elem(&pend_ev, &i);

	if (!h || !ev)
		return -1;
	if (__sync_val_compare_and_swap(&h->state, PT_PEND_READY, PT_PEND_BUSY) != PT_PEND_READY)
		return -1;
	/* Read after the swap: the slot may have changed hands since pend_find. */
	if (h->sk != sk) {
		__sync_lock_test_and_set(&h->state, PT_PEND_READY);
		return -1;
	}
	__builtin_memcpy(out, ev, sizeof(*out));
	h->sk = 0;
	__sync_lock_test_and_set(&h->state, PT_PEND_FREE);
	return 0;
}

/* Parks e for sk. Returns 0, or -1 when its window has no free slot. An older
 * attempt still parked for the same sock is replaced and counted stale. */
static __always_inline int pend_put(__u64 sk, const struct pt_connect_event *e)
{
	__u32 home = pend_home(sk);
	int stale = pend_find(sk);
	struct pt_connect_event *old = scratch_slot(1);

	/* The stale event is discarded: slot 1 serves as a sink (park_sk uses slot 0). */
	if (stale >= 0 && old && pend_take(stale, sk, old) == 0)
		count(PT_STAT_PENDING_STALE);
#pragma unroll
	for (__u32 i = 0; i < PT_PEND_PROBE; i++) {
		__u32 idx = (home + i) & (PT_PEND_SLOTS - 1);
		struct pt_pend_hdr *h = bpf_map_lookup_elem(&pend_hdr, &idx);
		struct pt_connect_event *ev;

		if (!h || h->state != PT_PEND_FREE)
			continue;
		if (__sync_val_compare_and_swap(&h->state, PT_PEND_FREE, PT_PEND_BUSY) != PT_PEND_FREE)
			continue;
		ev = bpf_map_lookup_elem(&pend_ev, &idx);
		if (!ev) {
			__sync_lock_test_and_set(&h->state, PT_PEND_FREE);
			return -1;
		}
		__builtin_memcpy(ev, e, sizeof(*ev));
		h->sk = sk;
		h->ts_ns = e->ts_ns;
		/* An atomic exchange orders the writes above before READY. */
		__sync_lock_test_and_set(&h->state, PT_PEND_READY);
		return 0;
	}
	return -1;
}

#endif
