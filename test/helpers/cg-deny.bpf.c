// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* Refuses TCP connects to port 9 (EPERM), for test/helpers/cg-deny.c. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("cgroup/connect4")
int deny4(struct bpf_sock_addr *ctx)
{
	return ctx->user_port == bpf_htons(9) ? 0 : 1;
}

SEC("cgroup/connect6")
int deny6(struct bpf_sock_addr *ctx)
{
	return ctx->user_port == bpf_htons(9) ? 0 : 1;
}
