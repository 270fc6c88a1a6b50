// SPDX-License-Identifier: Apache-2.0
/*
 * The connect generator of bench/sustained.ts, built static (cc -static) and copied into
 * each busybox container, which has no loop tool with rate control. It connects to its
 * own listener on 127.0.0.1 at RATE connects/s on an absolute schedule for SECONDS, and
 * keeps its own count, which the bench compares with the audit records it finds.
 *
 *   pt-load RATE SECONDS
 *
 * stdout, one line each:
 *   {"ready":1,"port":P,"pid":NSPID}               once the listener is up
 *   {"t":MS,"connects":N,"fails":F}                  about once a second
 *   {"connects":N,"fails":F,"seconds":S,"rate":R,"port":P,"maxLateMs":L}   at the end
 *
 * A schedule that falls behind (the machine is busy) catches up in a burst, so the total
 * stays RATE * SECONDS; maxLateMs says how far behind it fell. The client closes with
 * SO_LINGER 0 (RST, no TIME_WAIT) so long runs never run out of ephemeral ports.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void sleep_until(long long ns)
{
	struct timespec ts = { .tv_sec = ns / 1000000000LL, .tv_nsec = ns % 1000000000LL };
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

int main(int argc, char **argv)
{
	double rate = argc > 1 ? atof(argv[1]) : 0;
	double secs = argc > 2 ? atof(argv[2]) : 0;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	struct linger lg = { 1, 0 };
	long n = 0, fails = 0;
	int l, one = 1;

	if (argc != 3 || rate <= 0 || rate > 100000 || secs <= 0 || secs > 86400) {
		fprintf(stderr, "usage: pt-load RATE SECONDS (0 < RATE <= 100000, 0 < SECONDS <= 86400)\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	l = socket(AF_INET, SOCK_STREAM, 0);
	if (l < 0 || setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) || bind(l, (void *)&a, sizeof(a)) ||
	    listen(l, 4096) || getsockname(l, (void *)&a, &al)) {
		fprintf(stderr, "pt-load: listener: %s\n", strerror(errno));
		return 2;
	}
	int port = ntohs(a.sin_port);
	printf("{\"ready\":1,\"port\":%d,\"pid\":%d}\n", port, getpid());

	long total = (long)(rate * secs + 0.5);
	double step = 1e9 / rate;
	long long start = now_ns(), next_report = start + 1000000000LL, max_late = 0;
	for (long i = 0; i < total; i++) {
		long long due = start + (long long)(i * step);
		long long t = now_ns();
		if (t < due)
			sleep_until(due);
		else if (t - due > max_late)
			max_late = t - due;
		int s = socket(AF_INET, SOCK_STREAM, 0);
		if (s < 0) {
			fprintf(stderr, "pt-load: socket: %s\n", strerror(errno));
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
		t = now_ns();
		if (t >= next_report) {
			printf("{\"t\":%lld,\"connects\":%ld,\"fails\":%ld}\n", (t - start) / 1000000, n, fails);
			next_report += 1000000000LL;
		}
	}
	double el = (now_ns() - start) / 1e9;
	printf("{\"connects\":%ld,\"fails\":%ld,\"seconds\":%.3f,\"rate\":%.1f,\"port\":%d,\"maxLateMs\":%.1f}\n", n, fails, el,
	       n / el, port, max_late / 1e6);
	return 0;
}
