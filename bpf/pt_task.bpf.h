/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/* Process identity and cgroup path, read in the connecting task's context. */
#ifndef PT_TASK_BPF_H
#define PT_TASK_BPF_H

/* kernfs_node.parent became __parent in 6.18; one object must run on both. */
struct kernfs_node___new {
	struct kernfs_node *__parent;
} __attribute__((preserve_access_index));
struct kernfs_node___old {
	struct kernfs_node *parent;
} __attribute__((preserve_access_index));

static __always_inline struct kernfs_node *kn_parent(struct kernfs_node *kn)
{
	if (bpf_core_field_exists(struct kernfs_node___new, __parent))
		return BPF_CORE_READ((struct kernfs_node___new *)kn, __parent);
	return BPF_CORE_READ((struct kernfs_node___old *)kn, parent);
}


/* Direct loads through the BTF-typed task pointer: each is one instruction
 * (faults read as 0), where BPF_CORE_READ is a helper call per hop. */
static __always_inline void fill_identity(struct pt_connect_event *e)
{
	struct task_struct *t = bpf_get_current_task_btf();
	struct task_struct *leader = t->group_leader;
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u64 uid_gid = bpf_get_current_uid_gid();
	struct nsproxy *nsp = t->nsproxy;
	struct pid *pid = leader->thread_pid;
	unsigned int level = pid->level;
	struct mm_struct *mm = t->mm;
	struct pt_proc *pp;

	e->tgid = pid_tgid >> 32;
	if (mm) {
		struct file *xf = mm->exe_file;

		if (xf && xf->f_inode->i_nlink == 0)
			e->flags |= PT_F_EXE_UNLINKED;
	}
	e->tid = (__u32)pid_tgid;
	e->uid = (__u32)uid_gid;
	e->gid = uid_gid >> 32;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	e->ppid = t->real_parent->tgid;
	/* The group leader's start time names the process, not this thread. */
	e->start_ns = leader->start_boottime;
	/* The one map lookup per event: everything else about the image was sent at exec. */
	pp = bpf_map_lookup_elem(&procs, &e->tgid);
	e->proc_key_ns = pp ? pp->key_ns : e->start_ns;
	e->netns = nsp->net_ns->ns.inum;
	e->mntns = nsp->mnt_ns->ns.inum;
	bpf_probe_read_kernel_str(e->uts, sizeof(e->uts), nsp->uts_ns->name.nodename);

	/* The task's own pid namespace is the deepest level of its struct pid
	 * (nsproxy->pid_ns_for_children is for its children). */
	if (level == 0) {
		e->ns_pid = pid->numbers[0].nr;
		e->pidns = pid->numbers[0].ns->ns.inum;
	} else if (level < 64) {
		/* A helper-read pointer is a plain number: indexing it is allowed. */
		struct pid *p = BPF_CORE_READ(leader, thread_pid);
		struct upid up = {};

		bpf_core_read(&up, sizeof(up), &p->numbers[level]);
		e->ns_pid = up.nr;
		e->pidns = BPF_CORE_READ(up.ns, ns.inum);
	}
}

/* The rule of src/runtime/cgroup-path.ts: where a configured v1 controller sits in a non-root v1
 * cgroup, that path names the container (Docker's cgroupfs driver leaves v2 at
 * "/" or at the runtime's own service); otherwise take the v2 path. */
static __always_inline struct cgroup *pick_cgroup(__u16 *hier)
{
	struct task_struct *t = bpf_get_current_task_btf();
	struct css_set *cs = t->cgroups;
	struct cgroup *dfl = cs->dfl_cgrp;
	struct cgroup_root *dfl_root = dfl->root;
	__u32 nsubsys = bpf_core_field_size(cs->subsys) / sizeof(void *);

	for (__u32 i = 0; i < PT_MAX_CONTROLLERS; i++) {
		struct cgroup_subsys_state *css;
		struct cgroup *cg;
		__s32 id;

		if (i >= n_controllers)
			break;
		/* rodata: the verifier knows each id, so the index below is a constant. */
		id = controller_ssid[i];
		if (id < 0 || (__u32)id >= nsubsys || id >= 32)
			continue;
		css = cs->subsys[id];
		cg = css->cgroup;
		/* A controller bound to v2 lives on the default root: not a v1 path. */
		if (!cg || cg->root == dfl_root)
			continue;
		/* Read by helper: as plain loads, clang would load both field flavours. */
		if (!kn_parent(cg->kn))
			continue;
		*hier = i + 1;
		return cg;
	}
	*hier = 0;
	return dfl;
}

/* Sends the path of (hier, id) unless already sent. Returns <0 when the record
 * could not be reserved: the caller then drops its event and burns a seq. */
static __always_inline int emit_cgroup(struct cgroup *cg, __u16 hier, __u64 id)
{
	struct pt_cgroup_key key = { .cgroup_id = id, .hier = hier };
	struct kernfs_node *nodes[PT_CGROUP_MAX_DEPTH] = {};
	struct kernfs_node *kn = BPF_CORE_READ(cg, kn);
	struct pt_cgroup_rec *r;
	__u32 n = 0, off = 0;
	__u8 one = 1;

	if (bpf_map_lookup_elem(&cgroup_seen, &key))
		return 0;
	r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
	if (!r) {
		count(PT_STAT_RB_CGROUP_FAIL);
		return -1;
	}
	r->type = PT_REC_CGROUP;
	r->hier = hier;
	r->flags = 0;
	r->cgroup_id = id;

	/* Walk up to the hierarchy root (the node without a parent, not named). */
	for (__u32 i = 0; i < PT_CGROUP_MAX_DEPTH; i++) {
		struct kernfs_node *p = kn_parent(kn);

		if (!p)
			break;
		nodes[i] = kn;
		n++;
		kn = p;
	}
	if (n == PT_CGROUP_MAX_DEPTH && kn_parent(kn))
		r->flags |= PT_CGF_TRUNCATED;

	for (int i = PT_CGROUP_MAX_DEPTH - 1; i >= 0; i--) {
		const char *name;
		long len;

		if ((__u32)i >= n)
			continue;
		if (off >= PT_CGROUP_PATH_MAX) {
			r->flags |= PT_CGF_TRUNCATED;
			break;
		}
		off &= PT_CGROUP_PATH_MAX - 1;
		r->path[off] = '/';
		name = BPF_CORE_READ(nodes[i], name);
		len = bpf_probe_read_kernel_str(&r->path[off + 1], PT_CGROUP_NAME_MAX, name);
		if (len < 1)
			len = 1;
		off += len;
	}
	if (n == 0) {
		r->path[0] = '/';
		r->path[1] = 0;
		off = 1;
	}
	r->len = off > PT_CGROUP_PATH_MAX ? PT_CGROUP_PATH_MAX : off;
	r->depth = n;
	bpf_ringbuf_submit(r, ringbuf_wakeup_flag());
	/* Only now: a record that never reached the ring must be sent again. */
	bpf_map_update_elem(&cgroup_seen, &key, &one, BPF_ANY);
	return 0;
}

/* Identity and cgroup of the current task into e. <0: path record lost.
 * A global function: the verifier checks it once, not once per caller path. */
__attribute__((noinline)) int fill_task(struct pt_connect_event *e)
{
	struct cgroup *cg;
	__u16 hier = 0;

	if (!e)
		return -1;
	fill_identity(e);
	cg = pick_cgroup(&hier);
	e->cg_hier = hier;
	e->cgroup_id = cg->kn->id;
	return emit_cgroup(cg, hier, e->cgroup_id);
}

#endif
