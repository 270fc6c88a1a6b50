/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/* Sockets: destination from user memory, struct sock from an fd, source from the sock. */
#ifndef PT_SOCK_BPF_H
#define PT_SOCK_BPF_H

#define AF_INET 2
#define AF_INET6 10
#define SOCK_STREAM 1
#define SOCK_DGRAM 2
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define S_IFMT 00170000
#define S_IFSOCK 0140000

#define PT_EINTR 4
#define PT_EAGAIN 11
#define PT_ENETUNREACH 101
#define PT_ETIMEDOUT 110
#define PT_ECONNREFUSED 111
#define PT_EHOSTUNREACH 113
#define PT_EINPROGRESS 115
#define PT_EALREADY 114
#define PT_EISCONN 106

#define PT_TCP_ESTABLISHED 1
#define PT_TCP_SYN_SENT 2
#define PT_TCP_SYN_RECV 3
#define PT_TCP_CLOSE 7

struct pt_dst {
	__u8 addr[PT_ADDR_LEN];
	__u16 port;
	__u8 family;
	__u8 v4mapped;
};

/* Reads the destination a program gave to connect/sendto/sendmsg. */
static __always_inline int read_dst(const void *uaddr, long alen, struct pt_dst *d)
{
	__u16 fam = 0;

	if (!uaddr || alen < (long)sizeof(struct sockaddr_in))
		return -1;
	if (bpf_probe_read_user(&fam, sizeof(fam), uaddr))
		return -1;
	if (fam == AF_INET) {
		struct sockaddr_in sa;

		if (bpf_probe_read_user(&sa, sizeof(sa), uaddr))
			return -1;
		d->family = AF_INET;
		d->port = bpf_ntohs(sa.sin_port);
		__builtin_memcpy(d->addr, &sa.sin_addr, 4);
		return 0;
	}
	if (fam == AF_INET6 && alen >= 24) {
		struct {
			__u16 family;
			__u16 port;
			__u32 flowinfo;
			__u8 addr[16];
		} sa6;

		if (bpf_probe_read_user(&sa6, sizeof(sa6), uaddr))
			return -1;
		d->port = bpf_ntohs(sa6.port);
		/* ::ffff:a.b.c.d goes out through IPv4: report it as the IPv4 flow it is. */
		if (((__u64 *)sa6.addr)[0] == 0 && ((__u32 *)sa6.addr)[2] == bpf_htonl(0xffff)) {
			d->family = AF_INET;
			d->v4mapped = 1;
			__builtin_memcpy(d->addr, &sa6.addr[12], 4);
		} else {
			d->family = AF_INET6;
			__builtin_memcpy(d->addr, sa6.addr, 16);
		}
		return 0;
	}
	return -1;
}

/* The destination tcp_v4_connect/tcp_v6_connect stored before CLOSE->SYN_SENT. */
static __always_inline int dst_from_sk(struct sock *sk, struct pt_dst *d)
{
	__u16 fam = BPF_CORE_READ(sk, __sk_common.skc_family);

	d->port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (fam == AF_INET) {
		__u32 a = BPF_CORE_READ(sk, __sk_common.skc_daddr);

		d->family = AF_INET;
		__builtin_memcpy(d->addr, &a, 4);
		return 0;
	}
	if (fam != AF_INET6)
		return -1;
	BPF_CORE_READ_INTO(&d->addr, sk, __sk_common.skc_v6_daddr);
	/* As read_dst: a v4-mapped destination is the IPv4 flow it goes out as. */
	if (((__u64 *)d->addr)[0] == 0 && ((__u32 *)d->addr)[2] == bpf_htonl(0xffff)) {
		d->family = AF_INET;
		d->v4mapped = 1;
		__builtin_memcpy(d->addr, &d->addr[12], 4);
		__builtin_memset(&d->addr[4], 0, 12);
	} else {
		d->family = AF_INET6;
	}
	return 0;
}

static __always_inline int is_loopback(const struct pt_dst *d)
{
	if (d->family == AF_INET)
		return d->addr[0] == 127;
	return ((__u64 *)d->addr)[0] == 0 && ((__u32 *)d->addr)[2] == 0 &&
	       ((__u32 *)d->addr)[3] == bpf_htonl(1);
}

/* current->files->fdt->fd[fd]->private_data->sk, for socket files only.
 * Returns the sock and its protocol (TCP/UDP, 0 for anything else). */
static __always_inline struct sock *sock_from_fd(long fd, __u8 *proto)
{
	struct task_struct *t = bpf_get_current_task_btf();
	struct fdtable *fdt = t->files->fdt;
	struct file **fds;
	struct file *f = NULL;
	struct socket *so;
	struct sock *sk;
	__u16 fam, type, p;
	umode_t mode;

	if (fd < 0 || fd >= fdt->max_fds)
		return NULL;
	fds = fdt->fd;
	bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]);
	if (!f)
		return NULL;
	mode = BPF_CORE_READ(f, f_inode, i_mode);
	if ((mode & S_IFMT) != S_IFSOCK)
		return NULL;
	so = BPF_CORE_READ(f, private_data);
	type = BPF_CORE_READ(so, type);
	sk = BPF_CORE_READ(so, sk);
	if (!sk)
		return NULL;
	fam = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (fam != AF_INET && fam != AF_INET6)
		return NULL;
	/* sk_protocol was a bitfield before 5.6. */
	p = BPF_CORE_READ_BITFIELD_PROBED(sk, sk_protocol);
	if (type == SOCK_STREAM && p == IPPROTO_TCP)
		*proto = IPPROTO_TCP;
	else if (type == SOCK_DGRAM && p == IPPROTO_UDP)
		*proto = IPPROTO_UDP;
	else
		return NULL;
	return sk;
}

/* Source address and port as the sock holds them now. Leaves e alone while
 * no port is bound yet. For TCP, call it once the port is assigned. */
static __always_inline void fill_src(struct pt_connect_event *e, struct sock *sk)
{
	struct inet_sock *inet = (struct inet_sock *)sk;
	__u16 sport = bpf_ntohs(BPF_CORE_READ(inet, inet_sport));

	if (!sport)
		return;
	e->sport = sport;
	if (e->family == AF_INET) {
		/* Also right for v4-mapped: tcp_v4_connect sets the v4 source. */
		__u32 a = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
		__builtin_memcpy(e->saddr, &a, 4);
	} else {
		BPF_CORE_READ_INTO(&e->saddr, sk, __sk_common.skc_v6_rcv_saddr);
	}
}

static __always_inline __u8 status_of(__s32 err)
{
	switch (err) {
	case 0:
		return PT_ST_OK;
	case PT_ECONNREFUSED:
		return PT_ST_REFUSED;
	case PT_ETIMEDOUT:
		return PT_ST_TIMEOUT;
	case PT_ENETUNREACH:
	case PT_EHOSTUNREACH:
		return PT_ST_UNREACHABLE;
	default:
		return PT_ST_ERROR;
	}
}

#endif
