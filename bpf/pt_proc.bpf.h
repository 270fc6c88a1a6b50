/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/* The process table: what a process runs (path, argv, flags) is read once per
 * exec at sched_process_exec and sent as a PT_REC_PROC record; fork and exit
 * keep the table true. A connect then costs one lookup of its key (fill_identity).
 * Tracepoints only, so every attach mode has them. */
#ifndef PT_PROC_BPF_H
#define PT_PROC_BPF_H

#define PT_OVERLAYFS_SUPER_MAGIC 0x794c7630

/* Flags a fork inherits: they describe the image, not how it was found. */
#define PT_EXE_IMAGE_FLAGS (PT_EXE_FILELESS | PT_EXE_MEMFD | PT_EXE_UPPER)

/* struct mount embeds the vfsmount that paths carry (the kernel's real_mount()). */
static __always_inline struct mount *real_mount(struct vfsmount *vm)
{
	return (struct mount *)((void *)vm - bpf_core_field_offset(struct mount, mnt));
}

static __always_inline struct vfsmount *vfs_mount(struct mount *m)
{
	return (struct vfsmount *)((void *)m + bpf_core_field_offset(struct mount, mnt));
}

/* The key a task's connects carry: its exec time from the table, else its start. */
static __always_inline __u64 key_of(__u32 tgid, struct task_struct *t, __u16 *flags)
{
	struct pt_proc *pp = bpf_map_lookup_elem(&procs, &tgid);

	if (pp) {
		if (flags)
			*flags = pp->exe_flags;
		return pp->key_ns;
	}
	if (flags)
		*flags = 0;
	return BPF_CORE_READ(t, group_leader, start_boottime);
}

static __always_inline struct pt_proc_rec *proc_rec(struct task_struct *t, __u8 kind)
{
	__u32 zero = 0;
	struct pt_proc_rec *r = bpf_map_lookup_elem(&proc_scratch, &zero);

	if (!r)
		return NULL;
	r->type = PT_REC_PROC;
	r->kind = kind;
	r->_pad0 = 0;
	r->exe_flags = 0;
	r->ts_ns = bpf_ktime_get_boot_ns();
	r->key_ns = 0;
	r->parent_key_ns = 0;
	r->start_ns = BPF_CORE_READ(t, group_leader, start_boottime);
	r->tgid = BPF_CORE_READ(t, tgid);
	r->ppid = 0;
	r->uid = BPF_CORE_READ(t, cred, uid.val);
	r->_pad1 = 0;
	r->exe_len = 0;
	r->args_len = 0;
	r->args_full = 0;
	r->_pad2 = 0;
	bpf_probe_read_kernel_str(r->comm, sizeof(r->comm), t->comm);
	return r;
}

static __always_inline void parent_of(struct task_struct *t, struct pt_proc_rec *r, __u16 *pflags)
{
	struct task_struct *p = BPF_CORE_READ(t, real_parent);

	r->ppid = BPF_CORE_READ(p, tgid);
	r->parent_key_ns = key_of(r->ppid, p, pflags);
}

/* Only as much of data[] as is used goes into the ring. The seq is taken first,
 * so a failed output is a gap in the process sequence as well as a count. It
 * also burns a connect seq: a lost exec or fork leaves the connects that follow
 * without their executable, so it must reach the same loss accounting (a gap in
 * the raw topic's sequence, a CaptureLoss, LOSS downstream) as a lost connect. */
static __always_inline int proc_emit(struct pt_proc_rec *r)
{
	__u64 sz = __builtin_offsetof(struct pt_proc_rec, data) + (__u64)r->exe_len + r->args_len;

	r->seq = next_proc_seq();
	if (sz > sizeof(*r))
		sz = sizeof(*r);
	if (bpf_ringbuf_output(&events, r, sz, ringbuf_wakeup_flag())) {
		count(PT_STAT_RB_PROC_FAIL);
		next_seq();
		return -1;
	}
	return 0;
}

struct pt_walk_ctx {
	struct pt_path_walk *w;
	struct pt_proc_rec *r;
	struct dentry *d;
	struct vfsmount *vm;
	struct mount *m;
	struct dentry *root_d;
	struct vfsmount *root_m;
	__u32 n;
	__u32 off;
	int done;
};

/* One step up: a component, or a mount crossing. 1 ends the walk. */
static long walk_up(__u64 i, struct pt_walk_ctx *c)
{
	struct dentry *d = c->d, *parent, *mroot;
	struct vfsmount *vm = c->vm;
	struct mount *m = c->m, *mp;

	if (d == c->root_d && vm == c->root_m) {
		c->done = 1;
		return 1;
	}
	parent = BPF_CORE_READ(d, d_parent);
	mroot = BPF_CORE_READ(vm, mnt_root);
	if (d != mroot && d != parent) {
		if (c->n >= PT_PATH_DEPTH)
			return 1;
		c->w->dentry[c->n & (PT_PATH_DEPTH - 1)] = (__u64)d;
		c->n++;
		c->w->total += 1 + BPF_CORE_READ(d, d_name.len);
		c->d = parent;
		return 0;
	}
	mp = BPF_CORE_READ(m, mnt_parent);
	if (d != mroot || m == mp) {
		/* A dentry that is its own parent without being a mount's root is a
		 * pseudo file (a memfd): its own name is all the path there is. */
		if (d != mroot && c->n < PT_PATH_DEPTH) {
			char pfx[6] = {};

			c->w->dentry[c->n & (PT_PATH_DEPTH - 1)] = (__u64)d;
			c->n++;
			c->w->total += 1 + BPF_CORE_READ(d, d_name.len);
			bpf_probe_read_kernel(pfx, sizeof(pfx), BPF_CORE_READ(d, d_name.name));
			if (pfx[0] == 'm' && pfx[1] == 'e' && pfx[2] == 'm' && pfx[3] == 'f' && pfx[4] == 'd' &&
			    pfx[5] == ':')
				c->r->exe_flags |= PT_EXE_MEMFD;
		}
		c->r->exe_flags |= PT_EXE_UNREACHABLE;
		c->done = 1;
		return 1;
	}
	/* A mount's root: go on from where it is mounted, in its parent. */
	c->d = BPF_CORE_READ(m, mnt_mountpoint);
	c->m = mp;
	c->vm = vfs_mount(mp);
	return 0;
}

/* Component i from the root: "/" and its name. 1 ends the writing. A path
 * longer than PT_EXE_MAX loses its top components, not the file's own name. */
static long write_down(__u64 i, struct pt_walk_ctx *c)
{
	struct dentry *d;
	const unsigned char *name;
	__u32 len, off = c->off;

	if (i >= c->n)
		return 1;
	d = (struct dentry *)c->w->dentry[(c->n - 1 - i) & (PT_PATH_DEPTH - 1)];
	name = BPF_CORE_READ(d, d_name.name);
	len = BPF_CORE_READ(d, d_name.len);
	if (c->w->total >= PT_EXE_MAX && i + 1 < c->n) {
		c->w->total -= 1 + len;
		c->r->exe_flags |= PT_EXE_PATH_TRUNCATED;
		return 0;
	}
	if (len > 255 || off + 1 + len >= PT_EXE_MAX) {
		c->r->exe_flags |= PT_EXE_PATH_TRUNCATED;
		return 1;
	}
	c->r->data[off & (PT_EXE_MAX - 1)] = '/';
	off++;
	bpf_probe_read_kernel(&c->r->data[off & (PT_EXE_MAX - 1)], len & 255, name);
	c->off = off + len;
	return 0;
}

/* The executable's path as the process sees it (relative to its root, so a
 * container's /usr/bin/curl), by the walk d_path does: up through d_parent,
 * and from a mount's root to where it is mounted. Leaf first into
 * path_scratch, then written root first. bpf_loop: the verifier checks each
 * step once instead of every path through PT_PATH_DEPTH of them. */
static __always_inline void exe_path(struct pt_proc_rec *r, struct file *f, struct task_struct *t)
{
	__u32 zero = 0;
	struct pt_walk_ctx c = {
		.w = bpf_map_lookup_elem(&path_scratch, &zero),
		.r = r,
		.d = BPF_CORE_READ(f, f_path.dentry),
		.vm = BPF_CORE_READ(f, f_path.mnt),
		.root_d = BPF_CORE_READ(t, fs, root.dentry),
		.root_m = BPF_CORE_READ(t, fs, root.mnt),
	};

	if (!c.w)
		return;
	/* In the map value, not on the stack: the verifier need not follow its value
	 * through every step, which it would for a stack slot. */
	c.w->total = 0;
	c.m = real_mount(c.vm);
	/* Crossings take steps too: twice the depth bounds both. */
	bpf_loop(2 * PT_PATH_DEPTH, walk_up, &c, 0);
	if (!c.done)
		r->exe_flags |= PT_EXE_PATH_TRUNCATED;
	bpf_loop(PT_PATH_DEPTH, write_down, &c, 0);
	if (c.n == 0) {
		r->data[0] = '/';
		c.off = 1;
	}
	r->exe_len = c.off & (PT_EXE_MAX - 1);
}

/* argv straight from the new image's stack (NUL-separated), cut at PT_ARGS_MAX. */
static __always_inline void exe_args(struct pt_proc_rec *r, struct task_struct *t)
{
	struct mm_struct *mm = BPF_CORE_READ(t, mm);
	unsigned long as = BPF_CORE_READ(mm, arg_start), ae = BPF_CORE_READ(mm, arg_end);
	__u64 full = ae > as ? ae - as : 0;
	__u32 off = r->exe_len & (PT_EXE_MAX - 1);
	__u32 len = full > PT_ARGS_MAX ? PT_ARGS_MAX : (__u32)full;

	r->args_full = full > 0xffffffffULL ? 0xffffffff : (__u32)full;
	if (full > PT_ARGS_MAX)
		r->exe_flags |= PT_EXE_ARGS_TRUNCATED;
	if (len == 0)
		return;
	/* Keeps the bound in a register the verifier sees (clang may drop the min above). */
	asm volatile("%[len] &= 0x1fff" : [len] "+r"(len));
	if (len > PT_ARGS_MAX)
		return;
	if (bpf_probe_read_user(&r->data[off], len, (const void *)as)) {
		r->exe_flags |= PT_EXE_ARGS_TRUNCATED;
		return;
	}
	r->args_len = len;
}

/* A file with no link at exec time was never in a directory (a memfd,
 * O_TMPFILE) or was unlinked before it ran. On overlayfs, an upper dentry
 * means the file was written (or copied up) in the container's layer. */
static __always_inline __u16 image_flags(struct file *f)
{
	struct inode *ino = BPF_CORE_READ(f, f_inode);
	__u16 fl = 0;

	if (BPF_CORE_READ(ino, i_nlink) == 0)
		fl |= PT_EXE_FILELESS;
	if (BPF_CORE_READ(ino, i_sb, s_magic) == PT_OVERLAYFS_SUPER_MAGIC) {
		struct ovl_inode *oi = (struct ovl_inode *)((void *)ino -
							    bpf_core_field_offset(struct ovl_inode, vfs_inode));

		if (BPF_CORE_READ(oi, __upperdentry))
			fl |= PT_EXE_UPPER;
	}
	return fl;
}

/* A table entry for the record's process; when the table is full the entry is
 * dropped, so its connects carry the start time, and the record says the same. */
static __always_inline void proc_put(struct pt_proc_rec *r)
{
	struct pt_proc v = {
		.key_ns = r->key_ns,
		.parent_key_ns = r->parent_key_ns,
		.ppid = r->ppid,
		.exe_flags = r->exe_flags & PT_EXE_IMAGE_FLAGS,
	};
	__u32 tgid = r->tgid;

	if (bpf_map_update_elem(&procs, &tgid, &v, BPF_ANY)) {
		count(PT_STAT_PROC_FULL);
		bpf_map_delete_elem(&procs, &tgid);
		r->key_ns = r->start_ns;
	}
}

/* In the new image's context, after the point of no return: a new key. */
SEC("raw_tp/sched_process_exec")
int BPF_PROG(pt_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	struct pt_proc_rec *r = proc_rec(p, PT_PROC_EXEC);
	struct file *f = BPF_CORE_READ(bprm, file);

	if (!r)
		return 0;
	r->key_ns = r->ts_ns;
	parent_of(p, r, NULL);
	r->exe_flags = image_flags(f);
	exe_path(r, f, p);
	exe_args(r, p);
	proc_put(r);
	proc_emit(r);
	return 0;
}

/* A new process (not a thread) runs its parent's image under its own key. */
SEC("raw_tp/sched_process_fork")
int BPF_PROG(pt_fork, struct task_struct *parent, struct task_struct *child)
{
	struct pt_proc_rec *r;
	__u16 pflags = 0;

	if (BPF_CORE_READ(child, pid) != BPF_CORE_READ(child, tgid))
		return 0;
	r = proc_rec(child, PT_PROC_FORK);
	if (!r)
		return 0;
	r->key_ns = r->start_ns;
	parent_of(child, r, &pflags);
	r->exe_flags = pflags & PT_EXE_IMAGE_FLAGS;
	proc_put(r);
	proc_emit(r);
	return 0;
}

/* Runs for every exiting thread; the process is gone with its last one
 * (signal->live reaches 0 before this tracepoint). */
SEC("raw_tp/sched_process_exit")
int BPF_PROG(pt_exit, struct task_struct *p)
{
	struct pt_proc_rec *r;
	struct pt_proc *pp;
	__u32 tgid;

	if (BPF_CORE_READ(p, signal, live.counter) != 0)
		return 0;
	r = proc_rec(p, PT_PROC_EXIT);
	if (!r)
		return 0;
	tgid = r->tgid;
	pp = bpf_map_lookup_elem(&procs, &tgid);
	if (pp) {
		r->key_ns = pp->key_ns;
		r->parent_key_ns = pp->parent_key_ns;
		r->ppid = pp->ppid;
		r->exe_flags = pp->exe_flags;
		bpf_map_delete_elem(&procs, &tgid);
	} else {
		r->key_ns = r->start_ns;
	}
	proc_emit(r);
	return 0;
}

#endif
