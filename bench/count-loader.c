// SPDX-License-Identifier: Apache-2.0
/*
 * Loads bench/count.bpf.c's object and attaches every program in it (each by its SEC name),
 * prints "attached N" once they are, waits for SIGINT or SIGTERM, then prints the counter's
 * total over all CPUs and detaches. For bench/bpf-floor.sh.
 *
 *   count-loader OBJECT
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: count-loader OBJECT\n");
		return 2;
	}
	struct bpf_object *obj = bpf_object__open_file(argv[1], NULL);
	if (!obj || libbpf_get_error(obj)) {
		fprintf(stderr, "count-loader: cannot open %s\n", argv[1]);
		return 1;
	}
	if (bpf_object__load(obj)) {
		fprintf(stderr, "count-loader: cannot load %s\n", argv[1]);
		return 1;
	}
	struct bpf_program *prog;
	int n = 0;
	bpf_object__for_each_program(prog, obj) {
		struct bpf_link *l = bpf_program__attach(prog);
		if (!l || libbpf_get_error(l)) {
			fprintf(stderr, "count-loader: cannot attach %s\n", bpf_program__name(prog));
			return 1;
		}
		n++;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	printf("attached %d\n", n);
	fflush(stdout);
	while (!stop)
		pause();
	int fd = bpf_object__find_map_fd_by_name(obj, "hits");
	int ncpu = libbpf_num_possible_cpus();
	unsigned long long *v = calloc(ncpu, sizeof(*v)), total = 0;
	unsigned int key = 0;
	if (fd >= 0 && v && bpf_map_lookup_elem(fd, &key, v) == 0)
		for (int i = 0; i < ncpu; i++)
			total += v[i];
	printf("hits %llu\n", total);
	bpf_object__close(obj);
	return 0;
}
