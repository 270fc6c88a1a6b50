// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Runs the programs of pt_test.bpf.c through BPF_PROG_TEST_RUN and prints what
 * they returned, one JSON object per line; test/integration/bpf-helpers.test.ts
 * decides what is right. Root only.
 *
 *   pt-bpf-test OBJ cgroup V2ROOT LEVELS NAMELEN
 *     makes LEVELS nested cgroups under V2ROOT (the top one "pt-bpftest-<pid>",
 *     below it names of NAMELEN letters), moves itself into the deepest, runs
 *     the cgroup walk, moves back and removes them. Prints depth, flags, len
 *     and path.
 *   pt-bpf-test OBJ pend OP...
 *     put:SK find:SK take:IDX:SK home:SK  run the pend-slot helpers on SK
 *     hdr:IDX:STATE:SK                    writes slot IDX's header from here,
 *                                         as another CPU mid-protocol would
 *     stale                               the PENDING_STALE count
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/types.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "podtrail.h"

enum { PUT = 1, FIND = 2, TAKE = 3, HOME = 4 };

static int die(const char *what, int err)
{
	fprintf(stderr, "pt-bpf-test: %s: %s\n", what, strerror(err < 0 ? -err : err));
	exit(2);
}

static int run(struct bpf_program *p, __u64 a0, __u64 a1, __u64 a2)
{
	__u64 args[3] = { a0, a1, a2 };
	LIBBPF_OPTS(bpf_test_run_opts, o, .ctx_in = args, .ctx_size_in = sizeof(args));
	int err = bpf_prog_test_run_opts(bpf_program__fd(p), &o);

	if (err)
		die("BPF_PROG_TEST_RUN", errno);
	return (int)o.retval;
}

static void write_file_at(int dfd, const char *name, const char *text)
{
	int fd = openat(dfd, name, O_WRONLY | O_CLOEXEC);

	if (fd < 0)
		die(name, errno);
	if (write(fd, text, strlen(text)) < 0)
		die(name, errno);
	close(fd);
}

/* This process's v2 cgroup, relative to the hierarchy root ("0::/x" -> "/x"). */
static void own_cgroup(char *out, size_t n)
{
	FILE *f = fopen("/proc/self/cgroup", "r");
	char line[4096];

	out[0] = 0;
	if (!f)
		die("/proc/self/cgroup", errno);
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "0::", 3)) {
			line[strcspn(line, "\n")] = 0;
			snprintf(out, n, "%s", line + 3);
		}
	fclose(f);
	if (!out[0])
		die("no cgroup v2 line in /proc/self/cgroup", ENOENT);
}

static int cgroup_case(struct bpf_object *obj, const char *root, int levels, int namelen)
{
	struct bpf_program *p = bpf_object__find_program_by_name(obj, "pt_test_cgroup_path");
	int out = bpf_object__find_map_fd_by_name(obj, "cgroup_out");
	int fds[64], rfd, home;
	char name[256], top[64], back[4096], pid[32];
	static struct pt_cgroup_rec r;
	__u32 zero = 0;

	if (!p || out < 0 || levels < 1 || levels > 64 || namelen < 1 || namelen > 255)
		die("bad cgroup case", EINVAL);
	own_cgroup(back, sizeof(back));
	snprintf(pid, sizeof(pid), "%d", getpid());
	snprintf(top, sizeof(top), "pt-bpftest-%d", getpid());
	rfd = open(root, O_DIRECTORY | O_CLOEXEC);
	if (rfd < 0)
		die(root, errno);
	/* By directory fd: the deeper paths are longer than PATH_MAX. */
	for (int i = 0; i < levels; i++) {
		const char *n = top;

		if (i > 0) {
			memset(name, 'a' + (i - 1) % 26, namelen);
			name[namelen] = 0;
			n = name;
		}
		if (mkdirat(i ? fds[i - 1] : rfd, n, 0755))
			die("mkdirat", errno);
		fds[i] = openat(i ? fds[i - 1] : rfd, n, O_DIRECTORY | O_CLOEXEC);
		if (fds[i] < 0)
			die("openat", errno);
	}
	write_file_at(fds[levels - 1], "cgroup.procs", pid);
	run(p, 0, 0, 0);
	/* Back where it was, then remove the tree deepest first. */
	home = openat(rfd, back[1] ? back + 1 : ".", O_DIRECTORY | O_CLOEXEC);
	if (home < 0)
		die(back, errno);
	write_file_at(home, "cgroup.procs", pid);
	for (int i = levels - 1; i >= 0; i--) {
		const char *n = top;

		if (i > 0) {
			memset(name, 'a' + (i - 1) % 26, namelen);
			name[namelen] = 0;
			n = name;
		}
		close(fds[i]);
		if (unlinkat(i ? fds[i - 1] : rfd, n, AT_REMOVEDIR))
			die("rmdir", errno);
	}
	if (bpf_map_lookup_elem(out, &zero, &r))
		die("cgroup_out", errno);
	if (r.len > PT_CGROUP_PATH_MAX)
		die("len beyond the path buffer", ERANGE);
	printf("{\"top\":\"%s\",\"depth\":%u,\"flags\":%u,\"len\":%u,\"path\":\"", top, r.depth, r.flags, r.len);
	/* Names are letters, digits and '-' here; anything else would be a bug. */
	for (__u32 i = 0; i < r.len; i++)
		putchar(r.path[i] >= 0x20 && r.path[i] < 0x7f && r.path[i] != '"' && r.path[i] != '\\' ? r.path[i] : '?');
	printf("\"}\n");
	return 0;
}

static int pend_case(struct bpf_object *obj, int argc, char **argv)
{
	struct bpf_program *p = bpf_object__find_program_by_name(obj, "pt_test_pend");
	int hdr = bpf_object__find_map_fd_by_name(obj, "pend_hdr");
	int taken = bpf_object__find_map_fd_by_name(obj, "taken");
	int stats = bpf_object__find_map_fd_by_name(obj, "stats");
	int ncpu = libbpf_num_possible_cpus();

	if (!p || hdr < 0 || taken < 0 || stats < 0 || ncpu <= 0)
		die("test object incomplete", ENOENT);
	for (int i = 0; i < argc; i++) {
		char *a = argv[i], *x = strchr(a, ':');
		unsigned long long v1 = x ? strtoull(x + 1, &x, 0) : 0;
		unsigned long long v2 = x && *x == ':' ? strtoull(x + 1, &x, 0) : 0;
		unsigned long long v3 = x && *x == ':' ? strtoull(x + 1, &x, 0) : 0;

		if (!strncmp(a, "put:", 4)) {
			printf("{\"op\":\"put\",\"ret\":%d}\n", run(p, PUT, v1, 0));
		} else if (!strncmp(a, "find:", 5)) {
			printf("{\"op\":\"find\",\"ret\":%d}\n", run(p, FIND, v1, 0));
		} else if (!strncmp(a, "home:", 5)) {
			printf("{\"op\":\"home\",\"ret\":%d}\n", run(p, HOME, v1, 0));
		} else if (!strncmp(a, "take:", 5)) {
			struct pt_connect_event e = {};
			__u32 zero = 0;
			int ret;

			bpf_map_update_elem(taken, &zero, &e, BPF_ANY);
			ret = run(p, TAKE, v2, v1);
			if (bpf_map_lookup_elem(taken, &zero, &e))
				die("taken", errno);
			printf("{\"op\":\"take\",\"ret\":%d,\"ts\":\"%llu\"}\n", ret, (unsigned long long)e.ts_ns);
		} else if (!strncmp(a, "hdr:", 4)) {
			struct pt_pend_hdr h = { .sk = v3, .state = (__u32)v2 };
			__u32 k = (__u32)v1;

			if (bpf_map_update_elem(hdr, &k, &h, BPF_ANY))
				die("pend_hdr", errno);
			printf("{\"op\":\"hdr\",\"ret\":0}\n");
		} else if (!strcmp(a, "stale")) {
			__u64 vals[ncpu], sum = 0;
			__u32 k = PT_STAT_PENDING_STALE;

			if (bpf_map_lookup_elem(stats, &k, vals))
				die("stats", errno);
			for (int c = 0; c < ncpu; c++)
				sum += vals[c];
			printf("{\"op\":\"stale\",\"ret\":%llu}\n", (unsigned long long)sum);
		} else {
			die(a, EINVAL);
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct bpf_object *obj;
	int err;

	if (argc < 3) {
		fprintf(stderr, "usage: pt-bpf-test OBJ cgroup V2ROOT LEVELS NAMELEN | OBJ pend OP...\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	obj = bpf_object__open_file(argv[1], NULL);
	if (!obj)
		die(argv[1], errno);
	err = bpf_object__load(obj);
	if (err)
		die("load", err);
	if (!strcmp(argv[2], "cgroup") && argc == 6)
		err = cgroup_case(obj, argv[3], atoi(argv[4]), atoi(argv[5]));
	else if (!strcmp(argv[2], "pend"))
		err = pend_case(obj, argc - 3, argv + 3);
	else
		die(argv[2], EINVAL);
	bpf_object__close(obj);
	return err;
}
