/*
 * proc.c — helper processes by PID: their start time (to tell a live helper from a
 * reused PID), liveness (a zombie counts as exited) and stopping them.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pvnode/driver/os.h"

static int read_stat(pid_t pid, char *state, unsigned long long *start)
{
	char path[64], buf[1024], *p;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')'); /* comm may contain spaces and parentheses */
	if (!p || p[1] != ' ')
		return -EINVAL;
	p += 2;
	*state = *p;
	/* after ") ": field 3 is state; start time is field 22 → skip 19 more fields */
	for (int field = 3; field < 22; field++) {
		p = strchr(p, ' ');
		if (!p)
			return -EINVAL;
		p++;
	}
	*start = strtoull(p, NULL, 10);
	return 0;
}

unsigned long long pv_proc_start_time(pid_t pid)
{
	unsigned long long start = 0;
	char state = 0;

	if (pid <= 0 || read_stat(pid, &state, &start) < 0)
		return 0;
	return start;
}

bool pv_proc_alive(pid_t pid, unsigned long long start)
{
	unsigned long long s = 0;
	char state = 0;

	if (pid <= 0 || read_stat(pid, &state, &s) < 0)
		return false;
	if (state == 'Z' || state == 'X')
		return false;
	return start == 0 || s == start;
}

int pv_proc_stop(pid_t pid, unsigned long long start, int timeout_ms)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };

	if (!pv_proc_alive(pid, start))
		return 0;
	if (kill(pid, SIGTERM) < 0 && errno != ESRCH)
		return -errno;
	for (int waited = 0; waited < timeout_ms; waited += 10) {
		waitpid(pid, NULL, WNOHANG); /* reap if it is our child */
		if (!pv_proc_alive(pid, start))
			return 0;
		nanosleep(&ts, NULL);
	}
	if (pv_proc_alive(pid, start))
		kill(pid, SIGKILL);
	for (int waited = 0; waited < 2000; waited += 10) {
		waitpid(pid, NULL, WNOHANG);
		if (!pv_proc_alive(pid, start))
			return 0;
		nanosleep(&ts, NULL);
	}
	return -ETIMEDOUT;
}

void pv_process_harden(void)
{
	struct rlimit none = { 0, 0 };

	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	setrlimit(RLIMIT_CORE, &none);
}
