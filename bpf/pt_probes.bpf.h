/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/* kprobe and fentry stubs of podtrail.bpf.c, on the same __sys_* functions the
 * syscalls reach, so all modes share one tested code path. */
#ifndef PT_PROBES_BPF_H
#define PT_PROBES_BPF_H

/* libbpf 1.1 has no PT_REGS_PARM6 for kprobes. */
#if defined(__TARGET_ARCH_x86)
#define PT_KPROBE_PARM6(ctx) ((long)(ctx)->r9)
#elif defined(__TARGET_ARCH_arm64)
#define PT_KPROBE_PARM6(ctx) ((long)((struct user_pt_regs *)(ctx))->regs[5])
#else
#define PT_KPROBE_PARM6(ctx) ((long)sizeof(struct sockaddr_in6))
#endif

/* --- kprobe mode --- */
SEC("kretprobe/__sys_connect")
int BPF_KRETPROBE(pt_kr_conn_out, int ret)
{
	return connect_exit(ret, 1, 0, 0, 0, PT_SLOT_SYSCALL);
}

SEC("kprobe/__sys_sendto")
int BPF_KPROBE(pt_kp_sendto_in, int fd, void *buf, __u64 len, unsigned int flags, void *addr)
{
	return on_enter(PT_OP_SENDTO, fd, addr, PT_KPROBE_PARM6(ctx));
}

SEC("kretprobe/__sys_sendto")
int BPF_KRETPROBE(pt_kr_sendto_out, int ret)
{
	return on_exit(PT_OP_SENDTO, ret, PT_SLOT_SYSCALL);
}

SEC("kprobe/__sys_sendmsg")
int BPF_KPROBE(pt_kp_sendmsg_in, int fd, struct user_msghdr *msg)
{
	return on_enter_msg(PT_OP_SENDMSG, fd, msg);
}

SEC("kretprobe/__sys_sendmsg")
int BPF_KRETPROBE(pt_kr_sendmsg_out, long ret)
{
	return on_exit(PT_OP_SENDMSG, ret, PT_SLOT_SYSCALL);
}

SEC("kprobe/__sys_sendmmsg")
int BPF_KPROBE(pt_kp_mmsg_in, int fd, struct mmsghdr *mmsg)
{
	return on_enter_msg(PT_OP_SENDMMSG, fd, (struct user_msghdr *)mmsg);
}

SEC("kretprobe/__sys_sendmmsg")
int BPF_KRETPROBE(pt_kr_mmsg_out, int ret)
{
	return on_exit(PT_OP_SENDMMSG, ret, PT_SLOT_SYSCALL);
}

/* --- fentry mode ---
 * Preemptible (migrate_disable() only): events are built in task storage
 * (PT_SLOT_TASK), never in the per-CPU scratch the tracepoints share. */
SEC("fexit/__sys_connect")
int BPF_PROG(pt_fx_conn_out, int fd, void *uaddr, int alen, int ret)
{
	return connect_exit(ret, 0, fd, uaddr, alen, PT_SLOT_TASK);
}

SEC("fentry/__sys_sendto")
int BPF_PROG(pt_fe_sendto_in, int fd, void *buf, __u64 len, unsigned int flags, void *addr,
	     int alen)
{
	return on_enter(PT_OP_SENDTO, fd, addr, alen);
}

SEC("fexit/__sys_sendto")
int BPF_PROG(pt_fx_sendto_out, int fd, void *buf, __u64 len, unsigned int flags, void *addr,
	     int alen, int ret)
{
	return on_exit(PT_OP_SENDTO, ret, PT_SLOT_TASK);
}

SEC("fentry/__sys_sendmsg")
int BPF_PROG(pt_fe_sendmsg_in, int fd, struct user_msghdr *msg)
{
	return on_enter_msg(PT_OP_SENDMSG, fd, msg);
}

SEC("fexit/__sys_sendmsg")
int BPF_PROG(pt_fx_sendmsg_out, int fd, struct user_msghdr *msg, unsigned int flags, bool forbid,
	     long ret)
{
	return on_exit(PT_OP_SENDMSG, ret, PT_SLOT_TASK);
}

SEC("fentry/__sys_sendmmsg")
int BPF_PROG(pt_fe_mmsg_in, int fd, struct mmsghdr *mmsg)
{
	return on_enter_msg(PT_OP_SENDMMSG, fd, (struct user_msghdr *)mmsg);
}

SEC("fexit/__sys_sendmmsg")
int BPF_PROG(pt_fx_mmsg_out, int fd, struct mmsghdr *mmsg, unsigned int vlen, unsigned int flags,
	     bool forbid, int ret)
{
	return on_exit(PT_OP_SENDMMSG, ret, PT_SLOT_TASK);
}

#endif
