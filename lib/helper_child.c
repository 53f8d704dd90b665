/*
 * helper_child.c — the helper program's side of the protocol in
 * include/pvnode/driver/helper.h: secrets from stdin, one READY or ERROR line on fd 3.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pvnode/driver/helper.h"
#include "pvnode/driver/helper_stats.h"
#include "pvnode/driver/os.h"

#define SECRETS_MAX 65536

static int ready_fd = -1;

void pv_helper_child_init(const char *prog)
{
	pv_log_setup(getenv("PVNODE_DEBUG") ? PV_LOG_DEBUG : PV_LOG_INFO, false, prog);
	pv_process_harden();
	if (fcntl(3, F_GETFD) >= 0) {
		ready_fd = 3;
		fcntl(3, F_SETFD, FD_CLOEXEC);
	}
	/* fd 4: the counters file, when the parent passed one (mapped, then closed) */
	if (fcntl(PV_HELPER_STATS_FD, F_GETFD) >= 0) {
		if (pv_helper_stats_attach(PV_HELPER_STATS_FD) < 0)
			pv_warn("fd %d is not an I/O counters file: not counting", PV_HELPER_STATS_FD);
		close(PV_HELPER_STATS_FD);
	}
	if (chdir("/") < 0) { /* harmless: nothing is opened relative */ }
}

long long pv_helper_env_kib(const char *name, long long dflt, unsigned long max_kib)
{
	const char *v = getenv(name);
	char *end = NULL;
	unsigned long kib;

	if (!v || !*v)
		return dflt;
	errno = 0;
	kib = strtoul(v, &end, 10);
	/* strtoul takes leading blanks and a sign ("-1" is ULONG_MAX): digits only */
	if (*v < '0' || *v > '9' || *end || errno || kib > max_kib) {
		pv_warn("%s=%.32s is not a size in KiB up to %lu; using the default", name, v, max_kib);
		return dflt;
	}
	return (long long)kib * 1024;
}

int pv_helper_child_secrets(struct pv_secrets *out, struct pv_err *err)
{
	_cleanup_(pv_freep) char *buf = malloc(SECRETS_MAX);
	size_t n = 0;
	ssize_t r = 0;
	int rc;

	pv_secrets_init(out);
	if (!buf)
		return pv_err_set(err, -ENOMEM, PV_E_RESOURCE, "out of memory");
	while (n < SECRETS_MAX - 1 && (r = read(STDIN_FILENO, buf + n, SECRETS_MAX - 1 - n)) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			break;
		n += (size_t)r;
	}
	buf[n] = '\0';
	if (r < 0)
		rc = pv_err_set(err, -errno, PV_E_INTERNAL, "cannot read the secrets from stdin: %s", strerror(errno));
	else
		rc = n ? pv_secrets_from_json(buf, out, err) : 0;
	explicit_bzero(buf, n);
	return rc;
}

static void send_line(const char *line)
{
	if (ready_fd < 0)
		return;
	if (write(ready_fd, line, strlen(line)) < 0) { /* the parent went away: nothing to tell */ }
	close(ready_fd);
	ready_fd = -1;
}

void pv_helper_child_ready(const struct pv_map *fields)
{
	char line[4096] = "READY", value[1024];
	size_t used = 5;

	for (size_t i = 0; fields && i < fields->n && used < sizeof(line) - 2; i++) {
		pv_helper_escape(fields->items[i].value, value, sizeof(value));
		used += (size_t)snprintf(line + used, sizeof(line) - used, " %s=%s", fields->items[i].key, value);
	}
	if (used > sizeof(line) - 2)
		used = sizeof(line) - 2;
	line[used] = '\n';
	line[used + 1] = '\0';
	send_line(line);
}

int pv_helper_child_fail(const struct pv_err *err)
{
	char line[PV_ERR_MSG_MAX + 64], msg[PV_ERR_MSG_MAX];
	enum pv_err_kind kind = err && err->kind ? err->kind : PV_E_INTERNAL;

	snprintf(msg, sizeof(msg), "%s", err && err->msg[0] ? err->msg : "failed");
	msg[strcspn(msg, "\n")] = '\0';
	pv_error("%s", msg);
	snprintf(line, sizeof(line), "ERROR %s %d %s\n", pv_err_kind_name(kind),
		 err && err->code ? -err->code : EIO, msg);
	send_line(line);
	return kind == PV_E_POLICY ? 3 : 1;
}
