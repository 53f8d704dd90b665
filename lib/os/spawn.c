/*
 * spawn.c — run programs with posix_spawn (gRPC's threads make fork-then-work unsafe).
 *
 * pv_spawn_run() waits, optionally captures output and enforces a timeout;
 * pv_spawn_detached() starts a helper in its own session so that restarting pvnode
 * never takes a volume down. Only the fds asked for are inherited. Secrets go to
 * helpers through a pipe on stdin, never argv or the environment.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "pvnode/driver/os.h"

extern char **environ;

static int build_actions(posix_spawn_file_actions_t *fa, const struct pv_spawn_opts *o, int capture_w)
{
	int in = o ? o->stdin_fd : -1, out = o ? o->stdout_fd : -1, er = o ? o->stderr_fd : -1;
	size_t nkeep = o ? o->n_keep_fds : 0;

	posix_spawn_file_actions_init(fa);
	if (in >= 0)
		posix_spawn_file_actions_adddup2(fa, in, 0);
	else
		posix_spawn_file_actions_addopen(fa, 0, "/dev/null", O_RDONLY, 0);
	if (out == -2)
		posix_spawn_file_actions_adddup2(fa, capture_w, 1);
	else if (out >= 0)
		posix_spawn_file_actions_adddup2(fa, out, 1);
	else
		posix_spawn_file_actions_addopen(fa, 1, "/dev/null", O_WRONLY, 0);
	if (er == -2)
		posix_spawn_file_actions_adddup2(fa, capture_w, 2);
	else if (er >= 0)
		posix_spawn_file_actions_adddup2(fa, er, 2);
	else
		posix_spawn_file_actions_addopen(fa, 2, "/dev/null", O_WRONLY, 0);
	for (size_t i = 0; i < nkeep; i++)
		posix_spawn_file_actions_adddup2(fa, o->keep_fds[i], 3 + (int)i);
	posix_spawn_file_actions_addclosefrom_np(fa, 3 + (int)nkeep);
	return 0;
}

static int do_spawn(const char *const argv[], const struct pv_spawn_opts *o, int capture_w,
		    bool setsid_flag, pid_t *pid, struct pv_err *err)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, all;
	int r;

	build_actions(&fa, o, capture_w);
	posix_spawnattr_init(&attr);
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &all);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
				 (setsid_flag ? POSIX_SPAWN_SETSID : 0));
	r = posix_spawnp(pid, argv[0], &fa, &attr, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (r != 0)
		return pv_err_set(err, -r, r == ENOENT ? PV_E_UNSUPPORTED : PV_E_INTERNAL,
				  "cannot run %s: %s", argv[0], strerror(r));
	return 0;
}

int pv_spawn_run(const char *const argv[], const struct pv_spawn_opts *o, char **out, struct pv_err *err)
{
	bool capture = o && (o->stdout_fd == -2 || o->stderr_fd == -2);
	int pipefd[2] = { -1, -1 }, status, r;
	size_t cap = 0, used = 0;
	char *buf = NULL;
	long long deadline = (o && o->timeout_ms > 0) ? pv_mono_ms() + o->timeout_ms : 0;
	bool timed_out = false;
	pid_t pid;

	if (capture && pipe2(pipefd, O_CLOEXEC) < 0)
		return pv_err_set(err, -errno, PV_E_INTERNAL, "pipe: %s", strerror(errno));
	r = do_spawn(argv, o, pipefd[1], false, &pid, err);
	if (pipefd[1] >= 0)
		close(pipefd[1]);
	if (r < 0) {
		if (pipefd[0] >= 0)
			close(pipefd[0]);
		return r;
	}
	if (capture) {
		for (;;) {
			struct pollfd p = { .fd = pipefd[0], .events = POLLIN };
			int wait_ms = deadline ? (int)(deadline - pv_mono_ms()) : -1;
			ssize_t n;
			if (deadline && wait_ms <= 0) {
				timed_out = true;
				break;
			}
			if (poll(&p, 1, wait_ms) < 0) {
				if (errno == EINTR)
					continue;
				break;
			}
			if (!p.revents)
				continue;
			if (used + 4096 + 1 > cap) {
				char *nb = realloc(buf, cap ? cap * 2 : 8192);
				if (!nb)
					break;
				buf = nb;
				cap = cap ? cap * 2 : 8192;
			}
			n = read(pipefd[0], buf + used, cap - used - 1);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			used += (size_t)n;
		}
		close(pipefd[0]);
	}
	for (;;) {
		pid_t w = waitpid(pid, &status, deadline && !timed_out ? WNOHANG : 0);
		if (w == pid)
			break;
		if (w < 0 && errno != EINTR) {
			free(buf);
			return pv_err_set(err, -errno, PV_E_INTERNAL, "waiting for %s: %s", argv[0], strerror(errno));
		}
		if (timed_out || (deadline && pv_mono_ms() >= deadline)) {
			timed_out = true;
			kill(pid, SIGKILL);
			continue;
		}
		if (w == 0)
			usleep(2000);
	}
	if (out) {
		if (!buf)
			buf = calloc(1, 1);
		else
			buf[used] = '\0';
		*out = buf;
	} else {
		free(buf);
	}
	if (timed_out)
		return pv_err_set(err, -ETIMEDOUT, PV_E_UNAVAILABLE, "%s did not finish within %d ms",
				  argv[0], o->timeout_ms);
	if (WIFSIGNALED(status))
		return pv_err_set(err, -EINTR, PV_E_INTERNAL, "%s was killed by signal %d", argv[0],
				  WTERMSIG(status));
	return WEXITSTATUS(status);
}

int pv_spawn_detached(const char *const argv[], const struct pv_spawn_opts *o, pid_t *pid, struct pv_err *err)
{
	return do_spawn(argv, o, -1, true, pid, err);
}

static bool executable(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

int pv_helper_path(const char *name, char *buf, size_t len, struct pv_err *err)
{
	const char *env = getenv("PVNODE_HELPER_DIR");
	char self[PATH_MAX];
	ssize_t n;

	if (env && *env) {
		snprintf(buf, len, "%s/%s", env, name);
		if (executable(buf))
			return 0;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		char *slash;
		self[n] = '\0';
		slash = strrchr(self, '/');
		if (slash) {
			*slash = '\0';
			snprintf(buf, len, "%s/%s", self, name);
			if (executable(buf))
				return 0;
		}
	}
	snprintf(buf, len, "%s/%s", PV_LIBEXECDIR, name);
	if (executable(buf))
		return 0;
	snprintf(buf, len, "%s/%s", PV_BUILD_ROOT, name);
	if (executable(buf))
		return 0;
	return pv_err_set(err, -ENOENT, PV_E_INTERNAL,
			  "helper program %s not found (looked in $PVNODE_HELPER_DIR, next to this program and in %s)",
			  name, PV_LIBEXECDIR);
}
