/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * DNS answers without kprobes. cgroup/connect4|6 and cgroup/sendmsg4|6 run in
 * the process's context when a socket connects or sends to a DNS port: they
 * mark the socket (socket-local storage) with who owns it. cgroup_skb/egress
 * and /ingress, attached at the host's cgroup v2 root so every socket on the
 * node inherits them, copy the DNS payload of marked sockets only (queries
 * out, answers in) into the ring the connects use, so an answer is read before
 * the connect that follows it. Every program lets its packet or call through.
 * The loader enables these (pt_dns_*) only when DNS capture is on.
 */
#ifndef PT_DNS_BPF_H
#define PT_DNS_BPF_H

#define PT_ETH_P_IP 0x0800
#define PT_ETH_P_IPV6 0x86DD

/* Options, set by native/src/dns_attach.cc between open and load. */
const volatile __u16 dns_ports[PT_DNS_PORTS] = { 53 };
/* UDP payload bytes copied per packet: 512 covers every answer without EDNS; a
 * bigger one was asked for with EDNS. TCP segments get up to PT_DNS_MAX each. */
const volatile __u32 dns_copy_max = PT_DNS_MAX;

/* Writer: the sock_addr programs (create or refresh). Readers: the skb programs. */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct pt_dns_mark);
} dns_sock SEC(".maps");

/* A record under construction. Egress runs in process context and softirq can
 * run ingress (or egress: a TCP ACK) on top of it on the same CPU: each nesting
 * level gets its own slot. Writer and reader: one program run. */
#define PT_DNS_NEST 3
struct pt_dns_scratch {
	__u32 depth;
	__u32 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PT_DNS_NEST);
	__type(key, __u32);
	__type(value, struct pt_dns_rec);
} dns_scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pt_dns_scratch);
} dns_depth SEC(".maps");

static __always_inline __u64 next_dns_seq(void)
{
	__u32 idx = PT_SEQ_DNS;
	__u64 *c = bpf_map_lookup_elem(&seq_counter, &idx);

	if (!c)
		return 0;
	return __sync_fetch_and_add(c, 1) + 1;
}

static __always_inline int is_dns_port(__u16 port)
{
#pragma unroll
	for (int i = 0; i < PT_DNS_PORTS; i++) {
		if (dns_ports[i] == 0)
			return 0;
		if (dns_ports[i] == port)
			return 1;
	}
	return 0;
}

/* In process context: record who owns the socket. Its cgroup path record goes
 * out now if it has not yet, as for a connect. */
static __always_inline void dns_mark(struct bpf_sock_addr *ctx)
{
	struct task_struct *t = bpf_get_current_task_btf();
	struct pt_dns_mark *m;
	struct bpf_sock *sk = ctx->sk;
	struct cgroup *cg;
	__u32 tgid;
	__u16 hier = 0;

	if (!is_dns_port(bpf_ntohs((__u16)ctx->user_port)))
		return;
	tgid = t->tgid;
	if (tgid == self_tgid || !sk)
		return;
	m = bpf_sk_storage_get(&dns_sock, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!m) {
		count(PT_STAT_DNS_MARK_FAIL);
		return;
	}
	cg = pick_cgroup(&hier);
	m->tgid = tgid;
	m->cg_hier = hier;
	m->cgroup_id = cg->kn->id;
	m->netns_cookie = bpf_get_netns_cookie(ctx);
	m->proc_key_ns = key_of(tgid, t, 0);
	bpf_probe_read_kernel_str(m->comm, sizeof(m->comm), t->comm);
	/* A lost path record is sent again by the next mark or connect. */
	emit_cgroup(cg, hier, m->cgroup_id);
}

SEC("cgroup/connect4")
int pt_dns_connect4(struct bpf_sock_addr *ctx)
{
	dns_mark(ctx);
	return 1;
}

SEC("cgroup/connect6")
int pt_dns_connect6(struct bpf_sock_addr *ctx)
{
	dns_mark(ctx);
	return 1;
}

/* Unconnected sends with an address (musl's sendto). */
SEC("cgroup/sendmsg4")
int pt_dns_sendmsg4(struct bpf_sock_addr *ctx)
{
	dns_mark(ctx);
	return 1;
}

SEC("cgroup/sendmsg6")
int pt_dns_sendmsg6(struct bpf_sock_addr *ctx)
{
	dns_mark(ctx);
	return 1;
}

/* Addresses, ports and payload of a marked socket's packet into r. The skb
 * starts at the IP header in both directions. 0 when r holds a DNS packet. */
static __always_inline int dns_parse_skb(struct __sk_buff *skb, struct pt_dns_rec *r, __u8 dir)
{
	__u8 *loc = dir == PT_DNS_QUERY ? r->laddr : r->raddr; /* the packet's source */
	__u8 *rem = dir == PT_DNS_QUERY ? r->raddr : r->laddr;
	__u32 l4 = 0, len = skb->len, plen;
	__u8 proto = 0;
	__u16 ports[2];

	if (skb->protocol == bpf_htons(PT_ETH_P_IP)) {
		struct iphdr ip;

		if (bpf_skb_load_bytes(skb, 0, &ip, sizeof(ip)))
			return -1;
		/* Delivered packets are reassembled; a fragment here is not ours to read. */
		if (ip.frag_off & bpf_htons(0x1fff))
			return -1;
		proto = ip.protocol;
		l4 = ip.ihl * 4;
		r->family = AF_INET;
		__builtin_memcpy(loc, &ip.saddr, 4);
		__builtin_memcpy(rem, &ip.daddr, 4);
	} else if (skb->protocol == bpf_htons(PT_ETH_P_IPV6)) {
		struct ipv6hdr ip6;

		if (bpf_skb_load_bytes(skb, 0, &ip6, sizeof(ip6)))
			return -1;
		/* Extension headers are not walked: DNS packets do not carry them. */
		proto = ip6.nexthdr;
		l4 = sizeof(ip6);
		r->family = AF_INET6;
		__builtin_memcpy(loc, &ip6.saddr, 16);
		__builtin_memcpy(rem, &ip6.daddr, 16);
	} else {
		return -1;
	}
	if (bpf_skb_load_bytes(skb, l4, ports, sizeof(ports)))
		return -1;
	/* ports[0] is the packet's source. */
	if (dir == PT_DNS_QUERY) {
		r->lport = bpf_ntohs(ports[0]);
		r->rport = bpf_ntohs(ports[1]);
	} else {
		r->rport = bpf_ntohs(ports[0]);
		r->lport = bpf_ntohs(ports[1]);
	}
	if (!is_dns_port(r->rport))
		return -1;
	if (proto == IPPROTO_UDP) {
		l4 += 8;
		r->tcp_seq = 0;
	} else if (proto == IPPROTO_TCP) {
		__u8 doff = 0;
		__u32 seq = 0;

		if (bpf_skb_load_bytes(skb, l4 + 4, &seq, 4) || bpf_skb_load_bytes(skb, l4 + 12, &doff, 1))
			return -1;
		r->tcp_seq = bpf_ntohl(seq);
		l4 += (doff >> 4) * 4;
	} else {
		return -1;
	}
	if (l4 >= len)
		return -1; /* no payload: a bare ACK, SYN or FIN */
	r->protocol = proto;
	r->wire_len = len - l4;
	plen = r->wire_len;
	/* TCP answers are the ones too big for UDP: their segments get the whole buffer
	 * (user space reassembles them, with a byte cap of its own). */
	if (proto == IPPROTO_UDP && plen > dns_copy_max)
		plen = dns_copy_max;
	if (plen > PT_DNS_MAX)
		plen = PT_DNS_MAX;
	/* The verifier needs 1..PT_DNS_MAX in a register it can see. */
	plen &= 0x1fff;
	if (plen == 0 || plen > PT_DNS_MAX)
		return -1;
	if (bpf_skb_load_bytes(skb, l4, r->data, plen))
		return -1;
	r->cap_len = plen;
	return 0;
}

static __always_inline void dns_skb(struct __sk_buff *skb, __u8 dir)
{
	struct bpf_sock *sk = skb->sk;
	struct pt_dns_mark *m;
	struct pt_dns_scratch *d;
	struct pt_dns_rec *r;
	__u32 zero = 0, slot;
	__u64 sz;

	if (!sk)
		return;
	sk = bpf_sk_fullsock(sk);
	if (!sk)
		return;
	/* The one cost every packet on the node pays: an unmarked socket ends here. */
	m = bpf_sk_storage_get(&dns_sock, sk, 0, 0);
	if (!m)
		return;
	d = bpf_map_lookup_elem(&dns_depth, &zero);
	if (!d)
		return;
	slot = d->depth;
	if (slot >= PT_DNS_NEST)
		return;
	d->depth = slot + 1;
	r = bpf_map_lookup_elem(&dns_scratch, &slot);
	if (!r)
		goto out;
	r->type = PT_REC_DNS;
	r->dir = dir;
	r->_pad0 = 0;
	r->_pad1 = 0;
	r->_pad2 = 0;
	r->_pad3 = 0;
	__builtin_memset(r->laddr, 0, sizeof(r->laddr));
	__builtin_memset(r->raddr, 0, sizeof(r->raddr));
	if (dns_parse_skb(skb, r, dir))
		goto out;
	r->ts_ns = bpf_ktime_get_boot_ns();
	r->sock_cookie = bpf_get_socket_cookie(skb);
	r->cgroup_id = m->cgroup_id;
	r->netns_cookie = m->netns_cookie;
	r->proc_key_ns = m->proc_key_ns;
	r->tgid = m->tgid;
	r->cg_hier = m->cg_hier;
	__builtin_memcpy(r->comm, m->comm, sizeof(r->comm));
	/* As connects: the seq first, so a failed output is a gap as well as a count. */
	r->seq = next_dns_seq();
	sz = __builtin_offsetof(struct pt_dns_rec, data) + (__u64)r->cap_len;
	if (sz > sizeof(*r))
		sz = sizeof(*r);
	if (bpf_ringbuf_output(&events, r, sz, ringbuf_wakeup_flag()))
		count(PT_STAT_RB_DNS_FAIL);
out:
	d->depth = slot;
}

SEC("cgroup_skb/egress")
int pt_dns_egress(struct __sk_buff *skb)
{
	dns_skb(skb, PT_DNS_QUERY);
	return 1;
}

SEC("cgroup_skb/ingress")
int pt_dns_ingress(struct __sk_buff *skb)
{
	dns_skb(skb, PT_DNS_ANSWER);
	return 1;
}

#endif
