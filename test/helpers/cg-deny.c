// SPDX-License-Identifier: Apache-2.0
/*
 * Another party's cgroup program that refuses connects, as a network policy
 * agent's would: attaches the cgroup/connect4 and cgroup/connect6 programs of
 * OBJ to CGROUP_DIR, prints "attached", and holds them until stdin closes.
 *
 *   cg-deny OBJ CGROUP_DIR
 */
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	char buf[64];

	if (argc != 3) {
		fprintf(stderr, "usage: cg-deny OBJ CGROUP_DIR\n");
		return 2;
	}
	struct bpf_object *o = bpf_object__open_file(argv[1], NULL);
	if (!o || bpf_object__load(o)) {
		fprintf(stderr, "cg-deny: cannot load %s\n", argv[1]);
		return 1;
	}
	int cg = open(argv[2], O_RDONLY | O_DIRECTORY);
	if (cg < 0) {
		perror("cg-deny: cgroup");
		return 1;
	}
	struct bpf_program *p;
	bpf_object__for_each_program(p, o) {
		if (!bpf_program__attach_cgroup(p, cg)) {
			fprintf(stderr, "cg-deny: attach %s failed\n", bpf_program__name(p));
			return 1;
		}
	}
	printf("attached\n");
	fflush(stdout);
	while (read(0, buf, sizeof(buf)) > 0)
		;
	return 0;
}
