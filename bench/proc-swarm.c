// SPDX-License-Identifier: Apache-2.0
// N live processes for bench/proc-rss.sh: forks N children, each of which execs this binary
// again ("child I WORD": its own exec record, argv and key), sends one UDP datagram to
// 127.0.0.1:9 (so capture renders its identity, as for a process that connected), tells the
// parent over a pipe and sleeps until killed. The parent prints "ready N SECONDS" once all
// N are up, then sleeps too. Static, so each child costs the kernel little besides itself.
// SIGTERM to the parent kills the children and reaps them before it exits: killed all at
// once through the cgroup, 50,000 orphans would wait for init to reap them, holding their
// pids meanwhile (the next fork anywhere on the machine can then fail with EAGAIN).
//
//   proc-swarm N
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t term;

static void on_term(int sig)
{
	(void)sig;
	term = 1;
}

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc == 5 && !strcmp(argv[1], "child")) {
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(9) };
		int s = socket(AF_INET, SOCK_DGRAM, 0), w = atoi(argv[4]);

		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (s >= 0)
			sendto(s, "x", 1, 0, (struct sockaddr *)&a, sizeof(a));
		if (write(w, "x", 1) != 1)
			return 1;
		close(w);
		for (;;)
			pause();
	}
	if (argc != 2) {
		fprintf(stderr, "usage: proc-swarm N\n");
		return 2;
	}
	int n = atoi(argv[1]), p[2];
	double t0 = now();
	char buf[4096];
	pid_t *kids = calloc(n > 0 ? n : 1, sizeof(pid_t));
	struct sigaction sa = { .sa_handler = on_term };

	if (!kids)
		return 1;
	sigaction(SIGTERM, &sa, NULL);

	if (pipe(p))
		return 1;
	for (int i = 0; i < n; i++) {
		pid_t c = fork();

		if (c < 0) {
			perror("fork");
			n = i;
			break;
		}
		if (c == 0) {
			char idx[16], word[40], fd[16];

			close(p[0]);
			snprintf(idx, sizeof(idx), "%d", i);
			/* A different argument per process, 8-30 bytes. */
			snprintf(word, sizeof(word), "--worker=%0*x", 8 + i % 22, (unsigned)i * 2654435761u);
			snprintf(fd, sizeof(fd), "%d", p[1]);
			execl("/proc/self/exe", argv[0], "child", idx, word, fd, (char *)NULL);
			_exit(127);
		}
		kids[i] = c;
	}
	close(p[1]);
	for (long got = 0; got < n && !term;) {
		ssize_t r = read(p[0], buf, sizeof(buf));

		if (r <= 0 && !term)
			break;
		if (r > 0)
			got += r;
	}
	if (!term) {
		printf("ready %d %.1f\n", n, now() - t0);
		fflush(stdout);
	}
	while (!term)
		pause();
	for (int i = 0; i < n; i++)
		kill(kids[i], SIGKILL);
	while (wait(NULL) > 0 || errno == EINTR)
		;
	return 0;
}
