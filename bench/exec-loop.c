// SPDX-License-Identifier: Apache-2.0
// An exec-heavy load for bench/exec-loop.sh: fork + execve of /bin/true, waited for, in a
// loop for SECONDS; prints {"execs":N,"seconds":S,"cpu_us_per_exec":C} (C counts this
// process and its reaped children, where the exec, fork and exit probes run).
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double cpu(int who)
{
	struct rusage ru;

	getrusage(who, &ru);
	return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 3, t0 = now(), t;
	long n = 0;
	char *const args[] = { "true", NULL };
	char *const env[] = { NULL };

	do {
		pid_t p = fork();

		if (p < 0) {
			perror("fork");
			return 1;
		}
		if (p == 0) {
			execve("/bin/true", args, env);
			_exit(127);
		}
		if (waitpid(p, NULL, 0) < 0) {
			perror("waitpid");
			return 1;
		}
		n++;
		t = now();
	} while (t - t0 < secs);
	printf("{\"execs\":%ld,\"seconds\":%.3f,\"cpu_us_per_exec\":%.2f}\n", n, t - t0,
	       (cpu(RUSAGE_SELF) + cpu(RUSAGE_CHILDREN)) * 1e6 / n);
	return 0;
}
