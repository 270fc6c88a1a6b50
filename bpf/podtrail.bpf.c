// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * podtrail: every outbound TCP connect and UDP send with a destination, with the
 * identity of the process that made it, read in that process's context.
 *
 * Flow of a TCP attempt: inet_sock_set_state CLOSE->SYN_SENT parks an event in
 * a pend slot (keyed by the sock); set_state SYN_SENT->ESTABLISHED/CLOSE or the
 * connect exit finishes it; what is still parked after the timeout the native
 * sweep sends as INPROGRESS. UDP is reported at syscall exit, deduplicated per process and flow.
 *
 * Three attach modes share everything below the program stubs: syscall
 * tracepoints, kprobes and fentry/fexit on the __sys_* functions. The loader
 * enables one set (pt_tp_*, pt_kp_*+pt_kr_*, pt_fe_*+pt_fx_*) plus the common ones.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>
#include "podtrail.h"
#include "pt_sock.bpf.h"
#include "pt_maps.bpf.h"
#include "pt_proc.bpf.h"
#include "pt_task.bpf.h"
#include "pt_dns.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Where the syscall-exit programs of tracepoint and kprobe mode build events:
 * per-CPU scratch slot 0 (they run with preemption off). `make tests` also
 * builds this file with PT_TEST_TASK_SLOT, where they use fentry mode's task
 * storage instead, so fentry's event path runs on kernels where fentry does
 * not load (test/integration/bpf-helpers.test.ts). */
#ifdef PT_TEST_TASK_SLOT
#define PT_SLOT_SYSCALL PT_SLOT_TASK
#else
#define PT_SLOT_SYSCALL 0
#endif

static __always_inline int emit_event(struct pt_connect_event *e, __u8 status, __s32 err)
{
	struct pt_connect_event *r;

	e->type = PT_REC_CONNECT;
	e->status = status;
	e->err = err;
	e->flags &= ~PT_F_IN_SYSCALL;
	e->done_ns = bpf_ktime_get_boot_ns();
	/* The seq is taken before the reserve, so a failed reserve is a gap downstream. */
	e->seq = next_seq();
	r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
	if (!r) {
		count(PT_STAT_RB_EVENT_FAIL);
		return -1;
	}
	__builtin_memcpy(r, e, sizeof(*r));
	bpf_ringbuf_submit(r, ringbuf_wakeup_flag());
	return 0;
}

static __always_inline void init_dst(struct pt_connect_event *e, const struct pt_inflight *in)
{
	__builtin_memset(e, 0, sizeof(*e));
	e->type = PT_REC_CONNECT;
	e->protocol = in->protocol;
	e->op = in->op;
	e->ts_ns = in->ts_ns;
	e->family = in->dst.family;
	e->dport = in->dst.port;
	__builtin_memcpy(e->daddr, in->dst.addr, PT_ADDR_LEN);
	if (in->dst.v4mapped)
		e->flags |= PT_F_V4MAPPED;
}

/* Identity and cgroup; when the cgroup path record is lost the event is
 * dropped with a burnt seq, so no event ever reaches JS without its path. */
static __always_inline int init_task(struct pt_connect_event *e)
{
	if (fill_task(e) < 0) {
		next_seq();
		return -1;
	}
	return 0;
}

/* Is the current task inside connect(2)? Then its syscall exit will run and
 * can report an errno that the sock does not hold. io_uring, socketcall,
 * sendto(MSG_FASTOPEN) and kernel sockets reach tcp_v4_connect otherwise. */
static __always_inline int in_connect_syscall(void)
{
#if defined(__TARGET_ARCH_x86)
	struct pt_regs *r = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());

	return r && BPF_CORE_READ(r, orig_ax) == 42; /* __NR_connect, x86_64 */
#elif defined(__TARGET_ARCH_arm64)
	struct pt_regs *r = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());

	return r && BPF_CORE_READ(r, syscallno) == 203; /* __NR_connect, arm64 */
#else
	return 1;
#endif
}

/* CLOSE->SYN_SENT: tcp_v4_connect/tcp_v6_connect, in the connecting task's
 * context, with the destination set and before the SYN leaves, so whatever
 * state change comes next finds the attempt. One probe here replaces a connect
 * entry probe that had to read the sockaddr and walk the fd table. */
static __always_inline int park_sk(struct sock *sk)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct pt_inflight in = {};
	struct pt_connect_event *e;
	struct pt_conn_mark *mark = NULL;
	__u64 key = (__u64)sk;

	if ((id >> 32) == self_tgid)
		return 0;
	if (BPF_CORE_READ_BITFIELD_PROBED(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	if (dst_from_sk(sk, &in.dst))
		return 0;
	if (exclude_loopback && is_loopback(&in.dst))
		return 0;
	e = scratch_slot(0);
	if (!e)
		return 0;
	in.protocol = IPPROTO_TCP;
	in.op = PT_OP_CONNECT;
	in.ts_ns = bpf_ktime_get_boot_ns();
	if (in_connect_syscall()) {
		mark = bpf_task_storage_get(&conn_mark, bpf_get_current_task_btf(), 0,
					    BPF_LOCAL_STORAGE_GET_F_CREATE);
		if (mark) {
			mark->sk = key;
			mark->ts_ns = in.ts_ns;
			mark->state = PT_MARK_DROPPED;
		}
	}
	init_dst(e, &in);
	if (init_task(e) < 0)
		return 0;
	/* Only an attempt whose exit will run may leave its failure to the exit. */
	if (mark)
		e->flags |= PT_F_IN_SYSCALL;
	if (pend_put(key, e)) {
		count(PT_STAT_PENDING_FULL);
		if (mark)
			mark->state = PT_MARK_UNPARKED;
		else /* no connect() exit will report it (sendto(MSG_FASTOPEN), io_uring, a
		      * kernel socket): now, without its source port, which is not bound yet.
		      * Filling the slots must not hide the connects that follow. */
			emit_event(e, PT_ST_INPROGRESS, 0);
		return 0;
	}
	if (mark)
		mark->state = PT_MARK_PARKED;
	return 0;
}

/* UDP sends with a destination: the sockaddr is read at syscall entry. */
static __always_inline int on_enter(__u8 op, long fd, const void *uaddr, long alen)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct pt_inflight in = {};
	struct sock *sk;
	__u8 proto = 0;

	if ((id >> 32) == self_tgid)
		return 0;
	if (read_dst(uaddr, alen, &in.dst))
		return 0;
	if (exclude_loopback && is_loopback(&in.dst))
		return 0;
	sk = sock_from_fd(fd, &proto);
	if (!sk || proto != IPPROTO_UDP)
		return 0;
	in.sk = (__u64)sk;
	in.protocol = proto;
	in.op = op;
	in.ts_ns = bpf_ktime_get_boot_ns();
	if (bpf_map_update_elem(&inflight, &id, &in, BPF_ANY))
		count(PT_STAT_INFLIGHT_FULL);
	return 0;
}

static __always_inline int on_enter_msg(__u8 op, long fd, const struct user_msghdr *um)
{
	struct user_msghdr m = {};

	if (bpf_probe_read_user(&m, sizeof(m), um))
		return 0;
	return on_enter(op, fd, m.msg_name, m.msg_namelen);
}

static __always_inline int udp_exit(struct pt_inflight *in, long ret, __u32 slot)
{
	struct pt_connect_event *e = scratch_slot(slot);
	struct pt_udp_key k = {};
	__u64 now = bpf_ktime_get_boot_ns(), *last;
	__s32 err = ret < 0 ? -ret : 0;

	if (!e)
		return 0;
	init_dst(e, in);
	fill_src(e, (struct sock *)in->sk);
	k.tgid = bpf_get_current_pid_tgid() >> 32;
	k.sport = e->sport;
	k.dport = e->dport;
	k.family = e->family;
	__builtin_memcpy(k.saddr, e->saddr, PT_ADDR_LEN);
	__builtin_memcpy(k.daddr, e->daddr, PT_ADDR_LEN);
	last = bpf_map_lookup_elem(&udp_seen, &k);
	if (last && now - *last < udp_dedup_ns)
		return 0;
	if (init_task(e) < 0)
		return 0;
	/* Marked only once reported, so the first datagram of a flow always goes out. */
	if (emit_event(e, status_of(err), err) == 0)
		bpf_map_update_elem(&udp_seen, &k, &now, BPF_ANY);
	return 0;
}

static __always_inline int on_exit(__u8 op, long ret, __u32 slot)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct pt_inflight *p = bpf_map_lookup_elem(&inflight, &id);
	struct pt_inflight in;

	if (!p)
		return 0;
	__builtin_memcpy(&in, p, sizeof(in));
	bpf_map_delete_elem(&inflight, &id);
	if (in.op != op)
		return 0;
	return udp_exit(&in, ret, slot);
}

/* Status of a finished attempt from the syscall's return and the sock. */
static __always_inline __u8 exit_status(struct sock *sk, __u8 state, long ret, __s32 *err)
{
	*err = 0;
	if (ret == -PT_EINPROGRESS && state == PT_TCP_CLOSE) {
		*err = BPF_CORE_READ(sk, sk_err);
		return *err ? status_of(*err) : PT_ST_ERROR;
	}
	if (ret < 0 && ret != -PT_EINPROGRESS) {
		*err = -ret;
		return status_of(*err);
	}
	return PT_ST_OK;
}

/* The connect exit of an attempt parked at CLOSE->SYN_SENT. */
static __always_inline int tcp_exit(struct sock *sk, long ret, __u32 slot)
{
	__u64 key = (__u64)sk;
	__u8 state = BPF_CORE_READ(sk, __sk_common.skc_state);
	struct pt_connect_event *ev, *e;
	int idx = pend_find(key);
	__s32 err;
	__u8 status;

	if (idx < 0)
		return 0; /* set_state reported it */
	ev = pend_event(idx);
	if (!ev)
		return 0;
	/* The port is bound now: non-blocking attempts keep the full tuple. Written
	 * in place, as tcp_retransmit_skb does; a taker copying at the same moment
	 * fills the source again itself. */
	fill_src(ev, sk);
	if (state == PT_TCP_SYN_SENT || state == PT_TCP_SYN_RECV) {
		ev->flags &= ~PT_F_IN_SYSCALL;
		return 0;
	}
	e = scratch_slot(slot);
	if (!e)
		return 0;
	/* Whoever takes the slot emits it. */
	if (pend_take(idx, key, e))
		return 0;
	status = exit_status(sk, state, ret, &err);
	return emit_event(e, status, err);
}

/* What connect() did without a parked attempt: a UDP connect, a TCP connect
 * that failed before SYN_SENT (no route, no port, a BPF hook refusing it), or
 * one whose park found no free pend slot. */
static __always_inline int connect_exit_slow(long ret, long fd, const void *uaddr, long alen,
					     __u32 mark_state, __u64 mark_ts, __u32 slot)
{
	struct pt_connect_event *e;
	struct pt_inflight in = {};
	struct sock *sk;
	__u8 proto = 0, state;
	__s32 err;

	if ((bpf_get_current_pid_tgid() >> 32) == self_tgid)
		return 0;
	sk = sock_from_fd(fd, &proto);
	if (!sk)
		return 0;
	in.sk = (__u64)sk;
	in.protocol = proto;
	in.op = PT_OP_CONNECT;
	in.ts_ns = mark_ts ? mark_ts : bpf_ktime_get_boot_ns();
	if (mark_state == PT_MARK_UNPARKED) {
		if (proto != IPPROTO_TCP || dst_from_sk(sk, &in.dst))
			return 0;
	} else {
		if (read_dst(uaddr, alen, &in.dst))
			return 0;
		if (exclude_loopback && is_loopback(&in.dst))
			return 0;
		if (proto == IPPROTO_UDP)
			return udp_exit(&in, ret, slot);
		/* A mark-less attempt that reached SYN_SENT was parked by set_state or
		 * filtered there; one that did not fails here with its errno. */
		if (ret >= 0 || ret == -PT_EINPROGRESS || ret == -PT_EALREADY || ret == -PT_EISCONN ||
		    ret == -PT_EINTR || (ret <= -512 && ret >= -516))
			return 0;
		if (pend_find(in.sk) >= 0)
			return tcp_exit(sk, ret, slot);
	}
	state = BPF_CORE_READ(sk, __sk_common.skc_state);
	e = scratch_slot(slot);
	if (!e)
		return 0;
	init_dst(e, &in);
	if (init_task(e) < 0)
		return 0;
	fill_src(e, sk);
	if (state == PT_TCP_SYN_SENT || state == PT_TCP_SYN_RECV)
		return emit_event(e, PT_ST_INPROGRESS, 0);
	return emit_event(e, exit_status(sk, state, ret, &err), err);
}

/* connect() exit in every mode. The thread's mark names the attempt it parked;
 * without one the arguments are needed, which the tracepoint and kretprobe read
 * from the task's saved user registers (ARGS_FROM_REGS). */
static __always_inline int connect_exit(long ret, int args_from_regs, long fd, const void *uaddr,
					long alen, __u32 slot)
{
	struct pt_conn_mark *mark = bpf_task_storage_get(&conn_mark, bpf_get_current_task_btf(), 0, 0);
	__u32 state = 0;
	__u64 sk = 0, ts = 0;

	if (mark && mark->sk) {
		sk = mark->sk;
		state = mark->state;
		ts = mark->ts_ns;
		mark->sk = 0;
		if (state == PT_MARK_PARKED)
			return tcp_exit((struct sock *)sk, ret, slot);
		if (state == PT_MARK_DROPPED)
			return 0;
	}
	if (args_from_regs) {
		struct pt_regs *r = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());

		if (!r)
			return 0;
		fd = (int)PT_REGS_PARM1_CORE_SYSCALL(r);
		uaddr = (const void *)PT_REGS_PARM2_CORE_SYSCALL(r);
		alen = (int)PT_REGS_PARM3_CORE_SYSCALL(r);
	}
	return connect_exit_slow(ret, fd, uaddr, alen, state, ts, slot);
}
/* Common to all modes. raw_tp, not tp: perf-based programs are skipped when
 * another one runs on the CPU, and this one fires in softirq on top of them. */
SEC("raw_tp/inet_sock_set_state")
int BPF_PROG(pt_set_state, struct sock *sk, int oldstate, int newstate)
{
	__u64 key = (__u64)sk;
	struct pt_connect_event *ev, *e;
	__s32 err = 0;
	__u8 status = PT_ST_OK;
	int idx;

	if (oldstate == PT_TCP_CLOSE && newstate == PT_TCP_SYN_SENT)
		return park_sk(sk);
	if (oldstate != PT_TCP_SYN_SENT)
		return 0;
	if (newstate != PT_TCP_ESTABLISHED && newstate != PT_TCP_CLOSE)
		return 0;
	idx = pend_find(key);
	if (idx < 0)
		return 0;
	ev = pend_event(idx);
	if (!ev)
		return 0;
	if (newstate == PT_TCP_CLOSE) {
		err = BPF_CORE_READ(sk, sk_err);
		/* Synchronous failures (EADDRNOTAVAIL...) leave sk_err 0; the exit of a
		 * connect() still under way has the errno. */
		if (!err && (ev->flags & PT_F_IN_SYSCALL))
			return 0;
		status = err ? status_of(err) : PT_ST_ERROR;
	}
	e = scratch_slot(1);
	if (!e)
		return 0;
	if (pend_take(idx, key, e))
		return 0;
	fill_src(e, sk);
	return emit_event(e, status, err);
}

/* A blocking connect stuck in SYN_SENT has not reached its exit; its first SYN
 * retransmit (1 s) is the first place its source port can be read. */
SEC("raw_tp/tcp_retransmit_skb")
int BPF_PROG(pt_retrans, struct sock *sk)
{
	int idx = pend_find((__u64)sk);
	struct pt_connect_event *ev = idx < 0 ? NULL : pend_event(idx);

	if (ev && !ev->sport)
		fill_src(ev, sk);
	return 0;
}

/* --- tracepoint mode --- */
/* No connect entry probe: set_state parks TCP attempts; the exit does the rest. */
SEC("tp/syscalls/sys_exit_connect")
int pt_tp_conn_out(struct trace_event_raw_sys_exit *ctx)
{
	return connect_exit(ctx->ret, 1, 0, 0, 0, PT_SLOT_SYSCALL);
}

SEC("tp/syscalls/sys_enter_sendto")
int pt_tp_sendto_in(struct trace_event_raw_sys_enter *ctx)
{
	return on_enter(PT_OP_SENDTO, ctx->args[0], (void *)ctx->args[4], ctx->args[5]);
}

SEC("tp/syscalls/sys_exit_sendto")
int pt_tp_sendto_out(struct trace_event_raw_sys_exit *ctx)
{
	return on_exit(PT_OP_SENDTO, ctx->ret, PT_SLOT_SYSCALL);
}

SEC("tp/syscalls/sys_enter_sendmsg")
int pt_tp_sendmsg_in(struct trace_event_raw_sys_enter *ctx)
{
	return on_enter_msg(PT_OP_SENDMSG, ctx->args[0], (void *)ctx->args[1]);
}

SEC("tp/syscalls/sys_exit_sendmsg")
int pt_tp_sendmsg_out(struct trace_event_raw_sys_exit *ctx)
{
	return on_exit(PT_OP_SENDMSG, ctx->ret, PT_SLOT_SYSCALL);
}

/* sendmmsg: the first message's destination stands for the call. */
SEC("tp/syscalls/sys_enter_sendmmsg")
int pt_tp_mmsg_in(struct trace_event_raw_sys_enter *ctx)
{
	return on_enter_msg(PT_OP_SENDMMSG, ctx->args[0], (void *)ctx->args[1]);
}

SEC("tp/syscalls/sys_exit_sendmmsg")
int pt_tp_mmsg_out(struct trace_event_raw_sys_exit *ctx)
{
	return on_exit(PT_OP_SENDMMSG, ctx->ret, PT_SLOT_SYSCALL);
}

#include "pt_probes.bpf.h"
