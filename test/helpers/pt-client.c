// SPDX-License-Identifier: Apache-2.0
/*
 * Test client for test/integration/capture-kernel.test.ts. It places itself in
 * the given cgroups, optionally in new network and UTS namespaces (lo brought
 * up), makes the connections its mode asks for against listeners it opens on
 * loopback in its own namespace, prints one JSON line with what it saw from its
 * side (getsockname), and exits at once.
 *
 *   pt-client [--procs FILE]... [--unshare] [--hostname NAME] [--family 4|6|mapped]
 *             [--count N] [--wait-ms N] MODE
 *   MODE: tcp | tcp-refused | tcp-nonblock | tcp-stuck | udp | udp-connect | tcp-loop
 *         | tcp-unreach (needs --unshare: a documentation address with no route)
 *         | tcp-fastopen (--count sendto(MSG_FASTOPEN) on unconnected TCP sockets: no connect())
 *         | tcp-stuck-many (needs --unshare: --count non-blocking attempts left in
 *           SYN_SENT for --wait-ms, more than the kernel side has slots for)
 *         | udp-unreach (needs --unshare: sendto, then connect, a documentation
 *           address with no route)
 *         | tcp-noport (--count connects to one listener, each kept open: with
 *           --setup narrowing ip_local_port_range the last ones find no port)
 *   --setup CMD runs CMD with sh inside the new namespaces first (routes, sysctls).
 *   tcp-unreach makes --count attempts, each on a new socket, then waits --wait-ms
 *   with the sockets open; udp-connect waits --wait-ms after its sends.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int family = AF_INET, mapped = 0, count = 1, wait_ms = 0, unshare_ns = 0;
static const char *setup_cmd;
static char out[4 << 20];
static size_t outn;

static void die(const char *what)
{
	fprintf(stderr, "pt-client: %s: %s\n", what, strerror(errno));
	exit(2);
}

static void emit(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void emit(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	outn += vsnprintf(out + outn, sizeof(out) - outn, fmt, ap);
	va_end(ap);
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* Loopback address of the socket family in use, port p. */
static socklen_t loaddr(struct sockaddr_storage *ss, int p, int for_listen)
{
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		struct sockaddr_in *a = (void *)ss;
		a->sin_family = AF_INET;
		a->sin_port = htons(p);
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		return sizeof(*a);
	}
	struct sockaddr_in6 *a = (void *)ss;
	a->sin6_family = AF_INET6;
	a->sin6_port = htons(p);
	if (mapped && !for_listen)
		inet_pton(AF_INET6, "::ffff:127.0.0.1", &a->sin6_addr);
	else if (!mapped)
		a->sin6_addr = in6addr_loopback;
	return sizeof(*a);
}

static int sock(int type)
{
	int s = socket(family, type, 0);
	if (s < 0)
		die("socket");
	return s;
}

/* A listener (or bound UDP socket) on loopback; returns its port. */
static int listener(int type, int backlog, int *fd)
{
	struct sockaddr_storage ss;
	socklen_t l = loaddr(&ss, 0, 1);
	*fd = sock(type);
	if (bind(*fd, (void *)&ss, l))
		die("bind");
	if (type == SOCK_STREAM && listen(*fd, backlog))
		die("listen");
	l = sizeof(ss);
	getsockname(*fd, (void *)&ss, &l);
	return ntohs(family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
				       : ((struct sockaddr_in6 *)&ss)->sin6_port);
}

/* One result: what this side of socket s looks like. */
static void report(int s, int dport, int err, const char *sep)
{
	struct sockaddr_storage ss;
	socklen_t l = sizeof(ss);
	char a[INET6_ADDRSTRLEN] = "";
	int port = 0;

	if (getsockname(s, (void *)&ss, &l) == 0) {
		if (ss.ss_family == AF_INET) {
			inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, a, sizeof(a));
			port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
		} else {
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, a, sizeof(a));
			port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
		}
	}
	emit("%s{\"saddr\":\"%s\",\"sport\":%d,\"dport\":%d,\"err\":%d}", sep, a, port, dport, err);
}

static int do_connect(int s, int port)
{
	struct sockaddr_storage ss;
	socklen_t l = loaddr(&ss, port, 0);
	return connect(s, (void *)&ss, l) ? errno : 0;
}

static void lo_up(void)
{
	struct ifreq ifr = { 0 };
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	strcpy(ifr.ifr_name, "lo");
	if (ioctl(s, SIOCGIFFLAGS, &ifr))
		die("SIOCGIFFLAGS");
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	if (ioctl(s, SIOCSIFFLAGS, &ifr))
		die("SIOCSIFFLAGS");
	close(s);
}

static void run(const char *mode)
{
	int l, s, port, err;

	if (!strcmp(mode, "tcp") || !strcmp(mode, "tcp-loop")) {
		port = listener(SOCK_STREAM, 4096, &l);
		for (int i = 0; i < count; i++) {
			s = sock(SOCK_STREAM);
			err = do_connect(s, port);
			if (i < 64)
				report(s, port, err, i ? "," : "");
			close(s);
			int c = accept(l, NULL, NULL);
			if (c >= 0)
				close(c);
		}
	} else if (!strcmp(mode, "tcp-refused")) {
		port = listener(SOCK_STREAM, 1, &l);
		close(l); /* nothing listens on port now */
		s = sock(SOCK_STREAM);
		err = do_connect(s, port);
		report(s, port, err, "");
	} else if (!strcmp(mode, "tcp-nonblock") || !strcmp(mode, "tcp-stuck")) {
		/* Backlog 0 holds one connection; the next SYN is dropped until accept,
		 * so the non-blocking connect really leaves its syscall in SYN_SENT. */
		int filler = sock(SOCK_STREAM), c;
		port = listener(SOCK_STREAM, 0, &l);
		err = do_connect(filler, port);
		report(filler, port, err, "");
		s = sock(SOCK_STREAM);
		fcntl(s, F_SETFL, O_NONBLOCK);
		err = do_connect(s, port);
		if (!strcmp(mode, "tcp-stuck")) {
			report(s, port, err, ",");
			sleep_ms(wait_ms);
		} else {
			struct pollfd p = { s, POLLOUT, 0 };
			socklen_t el = sizeof(err);
			sleep_ms(300);
			c = accept(l, NULL, NULL);
			if (c >= 0)
				close(c);
			if (poll(&p, 1, 8000) != 1)
				err = ETIMEDOUT;
			else
				getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &el);
			report(s, port, err, ",");
		}
	} else if (!strcmp(mode, "tcp-stuck-many")) {
		/* As tcp-stuck, count times over. Their SYNs are dropped by the full
		 * listener, inside this process's own netns. */
		struct rlimit rl = { (rlim_t)count + 64, (rlim_t)count + 64 };
		int filler = sock(SOCK_STREAM);
		if (!unshare_ns) {
			fprintf(stderr, "pt-client: tcp-stuck-many needs --unshare\n");
			exit(2);
		}
		if (setrlimit(RLIMIT_NOFILE, &rl))
			die("setrlimit");
		port = listener(SOCK_STREAM, 0, &l);
		err = do_connect(filler, port);
		report(filler, port, err, "");
		for (int i = 0; i < count; i++) {
			s = sock(SOCK_STREAM);
			fcntl(s, F_SETFL, O_NONBLOCK);
			err = do_connect(s, port);
			report(s, port, err, ",");
		}
		sleep_ms(wait_ms);
	} else if (!strcmp(mode, "udp")) {
		/* count datagrams to each of two ports, plus one sendmsg to a third. */
		int r1, r2, r3, p1 = listener(SOCK_DGRAM, 0, &r1), p2 = listener(SOCK_DGRAM, 0, &r2);
		int p3 = listener(SOCK_DGRAM, 0, &r3);
		struct sockaddr_storage ss;
		socklen_t sl;
		s = sock(SOCK_DGRAM);
		for (int i = 0; i < count; i++) {
			sl = loaddr(&ss, p1, 0);
			if (sendto(s, "x", 1, 0, (void *)&ss, sl) < 0)
				die("sendto");
			sl = loaddr(&ss, p2, 0);
			if (sendto(s, "y", 1, 0, (void *)&ss, sl) < 0)
				die("sendto");
		}
		sl = loaddr(&ss, p3, 0);
		struct iovec iov = { "z", 1 };
		struct msghdr m = { .msg_name = &ss, .msg_namelen = sl, .msg_iov = &iov, .msg_iovlen = 1 };
		if (sendmsg(s, &m, 0) < 0)
			die("sendmsg");
		report(s, p1, 0, "");
		report(s, p2, 0, ",");
		report(s, p3, 0, ",");
	} else if (!strcmp(mode, "tcp-unreach") || !strcmp(mode, "udp-unreach")) {
		/* In a fresh netns only lo exists (and what --setup adds): the route
		 * lookup fails inside connect()/sendto(), before any state change or
		 * packet. Never on the host's routes, where a packet could leave the machine. */
		struct sockaddr_storage ss = { 0 };
		socklen_t sl;
		if (!unshare_ns) {
			fprintf(stderr, "pt-client: %s needs --unshare\n", mode);
			exit(2);
		}
		if (family == AF_INET) {
			struct sockaddr_in *a = (void *)&ss;
			a->sin_family = AF_INET;
			a->sin_port = htons(9);
			inet_pton(AF_INET, "192.0.2.1", &a->sin_addr);
			sl = sizeof(*a);
		} else {
			struct sockaddr_in6 *a = (void *)&ss;
			a->sin6_family = AF_INET6;
			a->sin6_port = htons(9);
			inet_pton(AF_INET6, "2001:db8::1", &a->sin6_addr);
			sl = sizeof(*a);
		}
		if (!strcmp(mode, "udp-unreach")) {
			s = sock(SOCK_DGRAM);
			err = sendto(s, "x", 1, 0, (void *)&ss, sl) < 0 ? errno : 0;
			report(s, 9, err, "");
			s = sock(SOCK_DGRAM);
			err = connect(s, (void *)&ss, sl) ? errno : 0;
			report(s, 9, err, ",");
		} else {
			for (int i = 0; i < count; i++) {
				s = sock(SOCK_STREAM);
				err = connect(s, (void *)&ss, sl) ? errno : 0;
				report(s, 9, err, i ? "," : "");
			}
			sleep_ms(wait_ms);
		}
	} else if (!strcmp(mode, "tcp-noport")) {
		port = listener(SOCK_STREAM, 4096, &l);
		for (int i = 0; i < count; i++) {
			s = sock(SOCK_STREAM); /* kept open: its port stays taken */
			err = do_connect(s, port);
			report(s, port, err, i ? "," : "");
		}
	} else if (!strcmp(mode, "tcp-fastopen")) {
		struct sockaddr_storage ss;
		socklen_t sl;
		port = listener(SOCK_STREAM, 16, &l);
		sl = loaddr(&ss, port, 0);
		for (int i = 0; i < count; i++) {
			s = sock(SOCK_STREAM);
			/* Without a cookie the kernel sends a plain SYN and connects; data follows. */
			err = sendto(s, "x", 1, MSG_FASTOPEN, (void *)&ss, sl) < 0 ? errno : 0;
			report(s, port, err, i ? "," : "");
			int c = accept(l, NULL, NULL);
			if (c >= 0)
				close(c);
		}
	} else if (!strcmp(mode, "udp-connect")) {
		port = listener(SOCK_DGRAM, 0, &l);
		s = sock(SOCK_DGRAM);
		err = do_connect(s, port);
		for (int i = 0; i < count; i++)
			send(s, "x", 1, 0);
		report(s, port, err, "");
		sleep_ms(wait_ms); /* the socket stays open, unused, this long */
	} else {
		fprintf(stderr, "pt-client: unknown mode %s\n", mode);
		exit(2);
	}
}

int main(int argc, char **argv)
{
	const char *hostname = NULL, *mode = NULL;
	struct stat st;
	char uts[65] = "";

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--procs") && i + 1 < argc) {
			/* "0" moves the writer itself into the cgroup. */
			int fd = open(argv[++i], O_WRONLY);
			if (fd < 0 || write(fd, "0", 1) != 1)
				die(argv[i]);
			close(fd);
		} else if (!strcmp(argv[i], "--unshare")) {
			unshare_ns = 1;
		} else if (!strcmp(argv[i], "--hostname") && i + 1 < argc) {
			hostname = argv[++i];
		} else if (!strcmp(argv[i], "--family") && i + 1 < argc) {
			i++;
			family = !strcmp(argv[i], "4") ? AF_INET : AF_INET6;
			mapped = !strcmp(argv[i], "mapped");
		} else if (!strcmp(argv[i], "--count") && i + 1 < argc) {
			count = atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--wait-ms") && i + 1 < argc) {
			wait_ms = atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--setup") && i + 1 < argc) {
			setup_cmd = argv[++i];
		} else {
			mode = argv[i];
		}
	}
	if (!mode) {
		fprintf(stderr, "usage: pt-client [--procs F]... [--unshare] [--hostname N] [--family 4|6|mapped] MODE\n");
		return 2;
	}
	if (unshare_ns) {
		if (unshare(CLONE_NEWNET | CLONE_NEWUTS))
			die("unshare");
		lo_up();
	}
	if (setup_cmd && system(setup_cmd) != 0) {
		fprintf(stderr, "pt-client: --setup failed: %s\n", setup_cmd);
		return 2;
	}
	if (hostname && sethostname(hostname, strlen(hostname)))
		die("sethostname");
	gethostname(uts, sizeof(uts) - 1);
	if (stat("/proc/self/ns/net", &st))
		die("stat netns");
	emit("{\"pid\":%d,\"netns\":%lu,\"uts\":\"%s\",\"results\":[", getpid(), (unsigned long)st.st_ino, uts);
	run(mode);
	emit("]}\n");
	fputs(out, stdout);
	return 0;
}
