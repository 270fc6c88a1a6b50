// SPDX-License-Identifier: Apache-2.0
/*
 * Loopback connect loop for bench/capture.bench.ts: one thread connects to its
 * own listener on 127.0.0.1, accepts, and closes both ends, as fast as it can,
 * for the given number of seconds; then prints one JSON line.
 *
 *   connect-loop SECONDS
 *
 * The client closes with SO_LINGER 0, so it sends RST and leaves no TIME_WAIT:
 * at ~25k connects/s the ephemeral ports would otherwise run out in seconds.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 0;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	struct linger lg = { 1, 0 };
	long n = 0, fails = 0;
	int l, one = 1;

	if (secs <= 0 || secs > 3600) {
		fprintf(stderr, "usage: connect-loop SECONDS (0 < SECONDS <= 3600)\n");
		return 2;
	}
	l = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (l < 0 || bind(l, (void *)&a, sizeof(a)) || listen(l, 4096) || getsockname(l, (void *)&a, &al)) {
		fprintf(stderr, "connect-loop: listener: %s\n", strerror(errno));
		return 2;
	}
	double start = now_s(), end = start + secs, t = start;
	while (t < end) {
		/* Read the clock every 64 connects: it is not free either. */
		for (int i = 0; i < 64; i++) {
			int s = socket(AF_INET, SOCK_STREAM, 0);
			if (s < 0) {
				fprintf(stderr, "connect-loop: socket: %s\n", strerror(errno));
				return 2;
			}
			if (connect(s, (void *)&a, sizeof(a)) == 0) {
				n++;
				int c = accept(l, NULL, NULL);
				if (c >= 0)
					close(c);
			} else {
				fails++;
			}
			setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
			close(s);
		}
		t = now_s();
	}
	/* CPU time includes the BPF programs, which run in this process's syscalls. */
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	double cpu = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
	printf("{\"connects\":%ld,\"fails\":%ld,\"seconds\":%.6f,\"cpuSeconds\":%.6f,\"rate\":%.1f,\"pid\":%d}\n", n,
	       fails, t - start, cpu, n / (t - start), getpid());
	return fails ? 1 : 0;
}
