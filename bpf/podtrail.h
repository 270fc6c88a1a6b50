/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * The one definition of what the podtrail BPF object sends to user space.
 * Keep aligned with src/capture/event-layout.ts (a unit test compares the
 * offsets the C++ compiler computes from this file with the TS mirror).
 *
 * Fixed-width fields with explicit padding: TypeScript decodes by byte offset.
 * Include vmlinux.h (BPF) or <linux/types.h> (user space) before this file.
 */
#ifndef PODTRAIL_H
#define PODTRAIL_H

#define PT_COMM_LEN 16
#define PT_UTS_LEN 65
#define PT_ADDR_LEN 16
/* A path of up to 15 levels of 255-byte names always fits in 4096 bytes. */
#define PT_CGROUP_MAX_DEPTH 15
#define PT_CGROUP_NAME_MAX 256
#define PT_CGROUP_PATH_MAX 4096
#define PT_CGROUP_PATH_BUF (PT_CGROUP_PATH_MAX + PT_CGROUP_NAME_MAX)
#define PT_MAX_CONTROLLERS 4
/* Process records: the executable's path and argv, each cut at this many bytes. */
#define PT_EXE_MAX 4096
#define PT_ARGS_MAX 4096
/* Path components walked per exec (mount crossings included). */
#define PT_PATH_DEPTH 64

enum pt_rec_type {
	PT_REC_CONNECT = 1,
	PT_REC_CGROUP = 2,
	PT_REC_PROC = 3,
	PT_REC_DNS = 4,
};

/* pt_proc_rec.kind */
enum pt_proc_kind {
	PT_PROC_EXEC = 1,
	PT_PROC_FORK = 2,
	PT_PROC_EXIT = 3,
};

/* pt_proc_rec.exe_flags, set at exec (a fork inherits its parent's). */
enum pt_exe_flags {
	/* The file had no link left when it was exec'd: a memfd, O_TMPFILE or an
	 * already unlinked file (fileless execution). */
	PT_EXE_FILELESS = 1,
	/* Its dentry is a memfd's ("memfd:<name>", not in any directory). */
	PT_EXE_MEMFD = 2,
	/* On overlayfs with an upper dentry: written to the writable layer, not
	 * (or not only) in the image. */
	PT_EXE_UPPER = 4,
	/* The path was cut at PT_EXE_MAX bytes or PT_PATH_DEPTH components. */
	PT_EXE_PATH_TRUNCATED = 8,
	/* The walk ended outside the process's root (a pseudo file, a detached mount). */
	PT_EXE_UNREACHABLE = 16,
	/* argv was longer than PT_ARGS_MAX bytes (or unreadable). */
	PT_EXE_ARGS_TRUNCATED = 32,
};

enum pt_status {
	PT_ST_OK = 0,
	PT_ST_INPROGRESS = 1,
	PT_ST_REFUSED = 2,
	PT_ST_TIMEOUT = 3,
	PT_ST_UNREACHABLE = 4,
	PT_ST_ERROR = 5,
};

enum pt_op {
	PT_OP_CONNECT = 1,
	PT_OP_SENDTO = 2,
	PT_OP_SENDMSG = 3,
	PT_OP_SENDMMSG = 4,
};

enum pt_event_flags {
	/* An AF_INET6 socket connected to ::ffff:a.b.c.d; reported as IPv4. */
	PT_F_V4MAPPED = 1,
	/* Internal: the connect syscall of this pending attempt has not returned. */
	PT_F_IN_SYSCALL = 2,
	/* Emitted by the user-space sweep (status INPROGRESS), not by BPF. */
	PT_F_SWEPT = 4,
	/* The process's executable has no link left at the connect: deleted
	 * after exec, or fileless from the start (its exec record says which). */
	PT_F_EXE_UNLINKED = 8,
};

enum pt_cgroup_flags {
	PT_CGF_TRUNCATED = 1,
};

/* Index into the per-CPU `stats` array. */
enum pt_stat {
	PT_STAT_RB_EVENT_FAIL = 0,  /* connect event reserve failed */
	PT_STAT_RB_CGROUP_FAIL = 1, /* cgroup path record reserve failed (its event is dropped, seq burnt) */
	PT_STAT_PENDING_FULL = 2,   /* no free pend slot in the window: reported at once as INPROGRESS (by the connect() exit, else at SYN_SENT) */
	PT_STAT_INFLIGHT_FULL = 3,  /* per-thread inflight map full: attempt not seen */
	PT_STAT_PENDING_STALE = 4,  /* a parked attempt replaced by a new attempt on the same sock */
	PT_STAT_RB_PROC_FAIL = 5,   /* process record reserve failed: a gap in the process sequence and a burnt connect seq */
	PT_STAT_PROC_FULL = 6,      /* process table full: the process's key falls back to its start time */
	PT_STAT_RB_DNS_FAIL = 7,    /* DNS packet record reserve failed: a gap in the DNS sequence */
	PT_STAT_DNS_MARK_FAIL = 8,  /* socket-local storage refused a DNS socket's mark: its answers are not seen */
	PT_STAT_NR = 9,
};

/* PT_REC_CONNECT: 232 bytes. */
struct pt_connect_event {
	__u32 type;          /* PT_REC_CONNECT */
	__u32 flags;         /* enum pt_event_flags */
	__u64 seq;           /* per-node sequence, taken before the ring buffer reserve */
	__u64 ts_ns;         /* CLOCK_BOOTTIME at the connect/send syscall */
	__u64 done_ns;       /* CLOCK_BOOTTIME when the outcome was known */
	__u64 start_ns;      /* process (group leader) start, CLOCK_BOOTTIME */
	__u64 cgroup_id;     /* kernfs id of the cgroup whose path is reported */
	__u32 tgid;
	__u32 tid;
	__u32 ppid;
	__u32 uid;
	__u32 gid;
	__u32 ns_pid;        /* tgid as seen inside its own pid namespace */
	__u32 netns;         /* inode numbers */
	__u32 mntns;
	__u32 pidns;
	__s32 err;           /* positive errno, 0 when none */
	__u8 saddr[PT_ADDR_LEN]; /* IPv4 in the first 4 bytes, network order */
	__u8 daddr[PT_ADDR_LEN];
	__u16 sport;         /* host order */
	__u16 dport;         /* host order */
	__u8 family;         /* AF_INET (2) or AF_INET6 (10) */
	__u8 protocol;       /* IPPROTO_TCP (6) or IPPROTO_UDP (17) */
	__u8 status;         /* enum pt_status */
	__u8 op;             /* enum pt_op */
	__u16 cg_hier;       /* 0: cgroup v2; i>0: configured v1 controller i-1 */
	__u16 _pad0;
	__u32 _pad1;
	char comm[PT_COMM_LEN];
	char uts[PT_UTS_LEN];
	__u8 _pad2[7];
	/* With tgid, the process key: CLOCK_BOOTTIME of its last exec, or of its
	 * start when capture saw no exec (a fork, or older than capture). */
	__u64 proc_key_ns;
};

/* Index into seq_counter: connect events and process records are numbered
 * apart, so the raw topic's sequence stays dense for enrich's loss tracking,
 * while a lost process record is still a gap user space can see. */
enum pt_seq_idx {
	PT_SEQ_CONNECT = 0,
	PT_SEQ_PROC = 1,
	PT_SEQ_DNS = 2,
	PT_SEQ_NR = 3,
};

/* DNS: bytes of a packet's payload copied at most (the rest is cut, wire_len says how much). */
#define PT_DNS_MAX 4096
/* Destination ports that mark a socket as DNS (rodata dns_ports; 0 ends the list). */
#define PT_DNS_PORTS 8

enum pt_dns_dir {
	PT_DNS_QUERY = 1,  /* leaving a marked socket (cgroup_skb/egress) */
	PT_DNS_ANSWER = 2, /* delivered to a marked socket (cgroup_skb/ingress) */
};

/* Who owns a DNS socket: stored in socket-local storage by cgroup/connect4|6 and
 * cgroup/sendmsg4|6 in process context, read back by the skb programs in softirq. */
struct pt_dns_mark {
	__u64 cgroup_id;     /* as pt_connect_event.cgroup_id (same cg_hier rule) */
	__u64 netns_cookie;
	__u64 proc_key_ns;   /* with tgid, the process key, as connects carry it */
	__u32 tgid;
	__u16 cg_hier;
	__u16 _pad;
	char comm[PT_COMM_LEN];
};

/* PT_REC_DNS: one DNS packet of a marked socket. Sent with only as much of
 * data[] as it uses (cap_len bytes of UDP or TCP payload). Numbered by
 * seq_counter[PT_SEQ_DNS]: DNS records never reach the raw topic one for one,
 * so they must not leave holes in the connect sequence enrich checks. */
struct pt_dns_rec {
	__u32 type;          /* PT_REC_DNS */
	__u8 dir;            /* enum pt_dns_dir */
	__u8 protocol;       /* IPPROTO_TCP (6) or IPPROTO_UDP (17) */
	__u8 family;         /* AF_INET (2) or AF_INET6 (10) */
	__u8 _pad0;
	__u64 seq;           /* seq_counter[PT_SEQ_DNS], taken before the reserve */
	__u64 ts_ns;         /* CLOCK_BOOTTIME at the packet */
	__u64 sock_cookie;   /* bpf_get_socket_cookie: queries and answers meet on it */
	__u64 cgroup_id;     /* from the socket's mark */
	__u64 netns_cookie;
	__u64 proc_key_ns;
	__u32 tgid;
	__u16 cg_hier;
	__u16 _pad1;
	__u32 tcp_seq;       /* TCP: the segment's sequence number (host order) */
	__u32 wire_len;      /* payload bytes in the packet */
	__u32 cap_len;       /* payload bytes in data[] (<= PT_DNS_MAX and the copy cap) */
	__u32 _pad2;
	__u8 laddr[PT_ADDR_LEN]; /* the socket's end; IPv4 in the first 4 bytes */
	__u8 raddr[PT_ADDR_LEN]; /* the server's end (the answer's source after any NAT) */
	__u16 lport;         /* host order */
	__u16 rport;
	__u32 _pad3;
	char comm[PT_COMM_LEN];
	__u8 data[PT_DNS_MAX];
};

/* PT_REC_PROC: an exec (with path and argv), a fork or a group exit. Sent
 * with only as much of data[] as it uses: exe_len bytes of path, then
 * args_len bytes of argv (NUL-separated, as in /proc/<pid>/cmdline). */
struct pt_proc_rec {
	__u32 type;          /* PT_REC_PROC */
	__u8 kind;           /* enum pt_proc_kind */
	__u8 _pad0;
	__u16 exe_flags;     /* enum pt_exe_flags */
	__u64 seq;           /* seq_counter[PT_SEQ_PROC], taken before the reserve */
	__u64 ts_ns;         /* CLOCK_BOOTTIME of the exec/fork/exit */
	__u64 key_ns;        /* this process's key (with tgid) */
	__u64 parent_key_ns; /* the parent's key (with ppid) */
	__u64 start_ns;      /* group leader start, CLOCK_BOOTTIME */
	__u32 tgid;
	__u32 ppid;          /* real parent's tgid */
	__u32 uid;
	__u32 _pad1;
	__u32 exe_len;       /* bytes of path in data[], no NUL */
	__u32 args_len;      /* bytes of argv in data[] after the path */
	__u32 args_full;     /* arg_end - arg_start: argv's whole length */
	__u32 _pad2;
	char comm[PT_COMM_LEN];
	__u8 data[PT_EXE_MAX + PT_ARGS_MAX];
};

/* Value of the kernel's process table (`procs`, keyed by tgid). */
struct pt_proc {
	__u64 key_ns;
	__u64 parent_key_ns;
	__u32 ppid;
	__u16 exe_flags;
	__u16 _pad;
};

/* PT_REC_CGROUP: sent once per (cg_hier, cgroup_id) before the first event that uses it. */
struct pt_cgroup_rec {
	__u32 type;          /* PT_REC_CGROUP */
	__u16 hier;          /* as pt_connect_event.cg_hier */
	__u16 flags;         /* enum pt_cgroup_flags */
	__u64 cgroup_id;
	__u32 len;           /* bytes in path, no NUL */
	__u32 depth;         /* levels below the hierarchy root */
	char path[PT_CGROUP_PATH_BUF];
};

/* TCP attempts waiting for their outcome live in a fixed table of slots: a
 * header array (`pend_hdr`, mmapped by the native sweep) and an event array
 * (`pend_ev`) with the same index. A sock hashes to a window of PT_PEND_PROBE
 * slots. Whoever moves a slot READY->BUSY by compare-and-swap owns it: it
 * copies the event out, frees the slot and emits it, so each attempt goes out
 * exactly once. Array slots cost a few loads where a hash map took a bucket
 * lock and a free-list push on every park and every finish. */
#define PT_PEND_SLOTS 16384 /* power of two */
#define PT_PEND_PROBE 8

enum pt_pend_state {
	PT_PEND_FREE = 0,
	PT_PEND_BUSY = 1,  /* being written or being taken */
	PT_PEND_READY = 2, /* holds a parked attempt */
};

struct pt_pend_hdr {
	__u64 sk;    /* struct sock address of the attempt; valid while READY */
	__u64 ts_ns; /* as the event's ts_ns, for the sweep */
	__u32 state; /* enum pt_pend_state, changed only by atomic operations */
	__u32 _pad;
};

/* Key of the kernel's "path already sent" map; user space deletes entries it lacks. */
struct pt_cgroup_key {
	__u64 cgroup_id;
	__u32 hier;
	__u32 _pad;
};

#endif /* PODTRAIL_H */
