/*
 * killafter.c — a test tool for the hostile loop (tests/hardening/hostile.py): run a
 * command and SIGKILL it after a given number of microseconds if it is still running,
 * the way a node loses a process (OOM killer, a crash, a power cut of one process).
 * Only the command is killed, not what it started: that is what a real crash leaves.
 *
 *   killafter MICROSECONDS COMMAND [ARG]...
 *
 * Exit status: 137 when the command was killed, else the command's own status
 * (128 + signal when it died of another signal). stdout/stderr are the command's.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	char *end;
	long long us;
	pid_t pid;
	int status;

	if (argc < 3 || (us = strtoll(argv[1], &end, 10)) < 0 || *end) {
		fprintf(stderr, "usage: killafter MICROSECONDS COMMAND [ARG]...\n");
		return 2;
	}
	if ((pid = fork()) < 0) {
		perror("killafter: fork");
		return 2;
	}
	if (pid == 0) {
		execvp(argv[2], argv + 2);
		perror(argv[2]);
		_exit(127);
	}
	struct timespec ts = { .tv_sec = (time_t)(us / 1000000), .tv_nsec = (long)(us % 1000000) * 1000 };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
	if (waitpid(pid, &status, WNOHANG) == 0) {
		kill(pid, SIGKILL);
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		/* it may have finished between the check and the kill */
		if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
			return 137;
	}
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);
}
