/*
 * helper.c — starting, watching and stopping userspace data-path helpers (the parent
 * side of the protocol in include/pvnode/driver/helper.h).
 *
 * pv_helper_start spawns the program detached (own session) with its secrets on a pipe
 * as stdin and a readiness pipe as fd 3, then waits for the one line the helper writes
 * there. Everything that can go wrong on the way — no such program, an early exit, a
 * timeout, an ERROR line — ends with the helper stopped and one sentence in err.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pvnode/driver/helper.h"
#include "pvnode/driver/helper_stats.h"
#include "pvnode/driver/os.h"

#define READY_LINE_MAX (PV_ERR_MSG_MAX + 1024)

void pv_helper_escape(const char *in, char *out, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (const unsigned char *p = (const unsigned char *)in; *p && o + 4 < len; p++) {
		if (*p <= ' ' || *p == '%' || *p == 0x7f) {
			out[o++] = '%';
			out[o++] = hex[*p >> 4];
			out[o++] = hex[*p & 15];
		} else {
			out[o++] = (char)*p;
		}
	}
	out[o] = '\0';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

void pv_helper_unescape(char *s)
{
	char *o = s;
	for (char *p = s; *p; p++) {
		int hi, lo;
		if (*p == '%' && (hi = hexval(p[1])) >= 0 && (lo = hexval(p[2])) >= 0) {
			*o++ = (char)(hi * 16 + lo);
			p += 2;
		} else {
			*o++ = *p;
		}
	}
	*o = '\0';
}

/* One line from fd within timeout_ms: 0 and the line (no newline), -ETIMEDOUT, or
 * -EPIPE when the writer closed without a line. */
static int read_line(int fd, char *line, size_t len, int timeout_ms)
{
	long long deadline = pv_mono_ms() + timeout_ms;
	size_t used = 0;

	while (used + 1 < len && !memchr(line, '\n', used)) {
		int left = (int)(deadline - pv_mono_ms());
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (left <= 0)
			return -ETIMEDOUT;
		int n = poll(&p, 1, left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n == 0 ? -ETIMEDOUT : -errno;
		ssize_t r = read(fd, line + used, len - 1 - used);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		used += (size_t)r;
	}
	line[used] = '\0';
	line[strcspn(line, "\n")] = '\0';
	return line[0] ? 0 : -EPIPE;
}

/* "READY k=v k=v" → the map. */
static int parse_ready(char *fields, struct pv_map *ready)
{
	char *save = NULL;
	for (char *tok = strtok_r(fields, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		char *eq = strchr(tok, '=');
		if (!eq)
			continue;
		*eq = '\0';
		pv_helper_unescape(eq + 1);
		if (ready && pv_map_set(ready, tok, eq + 1) < 0)
			return -ENOMEM;
	}
	return 0;
}

/* "ERROR <kind> <errno> <sentence>" → err. */
static int parse_error(const struct pv_helper_spec *s, const char *rest, struct pv_err *err)
{
	char kind[32];
	const char *sp = strchr(rest, ' ');
	char *end;
	long code;

	if (!sp || (size_t)(sp - rest) >= sizeof(kind))
		return pv_err_set(err, -EIO, PV_E_INTERNAL, "%s failed: %s", s->what, rest);
	snprintf(kind, sizeof(kind), "%.*s", (int)(sp - rest), rest);
	code = strtol(sp + 1, &end, 10);
	if (end == sp + 1 || *end != ' ')
		return pv_err_set(err, -EIO, PV_E_INTERNAL, "%s failed: %s", s->what, rest);
	return pv_err_set(err, code > 0 && code < 4096 ? (int)-code : -EIO, pv_err_kind_from_name(kind), "%s", end + 1);
}

static int spawn_with_pipes(const struct pv_helper_spec *s, const char *log, pid_t *pid, int *ready_fd,
			    struct pv_err *err)
{
	char path[PATH_MAX];
	const char *argv[64];
	size_t n = 0;
	int in[2] = { -1, -1 }, rdy[2] = { -1, -1 }, r;
	_cleanup_(pv_closep) int logfd = -1;
	_cleanup_(pv_closep) int statsfd = -1;

	r = pv_helper_path(s->program, path, sizeof(path), err);
	if (r < 0)
		return r;
	argv[n++] = path;
	for (size_t i = 0; s->args && s->args[i] && n < 63; i++)
		argv[n++] = s->args[i];
	argv[n] = NULL;
	logfd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (logfd < 0)
		return pv_err_set(err, -errno, PV_E_INTERNAL, "cannot open the helper log %s: %s", log, strerror(errno));
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(rdy, O_CLOEXEC) < 0) {
		r = pv_err_set(err, -errno, PV_E_INTERNAL, "cannot create pipes for %s: %s", s->what, strerror(errno));
		goto out;
	}
	char *text = pv_secrets_to_json(s->secrets, false);
	size_t len = text ? strlen(text) : 0;
	/* the secrets fit in the pipe buffer (64 KiB): written now, EOF says that is all */
	bool written = text && len < 65536 && write(in[1], text, len) == (ssize_t)len;
	pv_secret_text_free(text);
	if (!written) {
		r = pv_err_set(err, -EIO, PV_E_INTERNAL, "cannot pass the secrets to %s", s->what);
		goto out;
	}
	close(in[1]);
	in[1] = -1;
	/* fd 4: the helper's counters file (metrics, describe); a helper runs without it */
	statsfd = pv_helper_stats_create(s->run_dir);
	if (statsfd < 0)
		pv_warn("%s: no I/O counters (cannot make %s/%s: %s)", s->what, s->run_dir, PV_HELPER_STATS_FILE,
			strerror(-statsfd));
	int keep[2] = { rdy[1], statsfd };
	struct pv_spawn_opts o = { .stdin_fd = in[0], .stdout_fd = logfd, .stderr_fd = logfd,
				   .detach = true, .keep_fds = keep, .n_keep_fds = statsfd >= 0 ? 2 : 1 };
	r = pv_spawn_detached(argv, &o, pid, err);
	if (r == 0) {
		*ready_fd = rdy[0];
		rdy[0] = -1;
	}
out:
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (rdy[i] >= 0)
			close(rdy[i]);
	}
	return r;
}

int pv_helper_start(const struct pv_helper_spec *s, struct pv_helper *h, struct pv_map *ready, struct pv_err *err)
{
	char log[PATH_MAX], line[READY_LINE_MAX];
	_cleanup_(pv_closep) int fd = -1;
	pid_t pid = 0;
	int r;

	memset(h, 0, sizeof(*h));
	snprintf(log, sizeof(log), "%s/%s.log", s->run_dir, s->program);
	r = spawn_with_pipes(s, log, &pid, &fd, err);
	if (r < 0)
		return r;
	struct pv_helper child = { .pid = pid, .start = pv_proc_start_time(pid) };
	r = read_line(fd, line, sizeof(line), s->ready_timeout_ms);
	if (r == 0 && (strcmp(line, "READY") == 0 || strncmp(line, "READY ", 6) == 0)) {
		if (parse_ready(line + 5, ready) == 0) {
			*h = child;
			return 0;
		}
		r = pv_err_set(err, -ENOMEM, PV_E_RESOURCE, "out of memory");
	} else if (r == 0 && strncmp(line, "ERROR ", 6) == 0) {
		r = parse_error(s, line + 6, err);
	} else if (r == -ETIMEDOUT) {
		r = pv_err_set(err, r, PV_E_UNAVAILABLE, "%s did not become ready within %d s (see %s)", s->what,
			       s->ready_timeout_ms / 1000, log);
	} else {
		r = pv_err_set(err, -EIO, PV_E_INTERNAL, "%s exited without a report (see %s)", s->what, log);
	}
	pv_helper_stop(&child, 10000);
	return r;
}

bool pv_helper_alive(const struct pv_helper *h)
{
	return h->pid > 0 && pv_proc_alive(h->pid, h->start);
}

void pv_helper_stop(struct pv_helper *h, int timeout_ms)
{
	if (h->pid > 0 && pv_proc_alive(h->pid, h->start))
		pv_proc_stop(h->pid, h->start, timeout_ms);
	/* a helper this process started is its child until it exits: reap it, never block */
	if (h->pid > 0)
		for (int i = 0; i < 50 && waitpid(h->pid, NULL, WNOHANG) == 0; i++)
			usleep(10000);
	memset(h, 0, sizeof(*h));
}
