/*
 * rbd_ready.c — the READY / ERROR line on fd 3 (see rbd_ready.h).
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "rbd_attr.h"
#include "rbd_ready.h"
#include "pvnode/util.h"

static int ready_fd = -1;

void pvr_ready_init(void)
{
	if (fcntl(3, F_GETFD) >= 0) {
		ready_fd = 3;
		fcntl(3, F_SETFD, FD_CLOEXEC);
	}
}

static void report(const char *line)
{
	if (ready_fd < 0)
		return;
	if (write(ready_fd, line, strlen(line)) < 0) { /* the driver went away */ }
	close(ready_fd);
	ready_fd = -1;
}

void pvr_ready_ok(const char *kv)
{
	char line[1024];
	snprintf(line, sizeof(line), "READY %s\n", kv);
	report(line);
}

int pvr_ready_error(const struct pv_err *err)
{
	char line[PV_ERR_MSG_MAX + 64], msg[PV_ERR_MSG_MAX];
	snprintf(msg, sizeof(msg), "%s", err->msg[0] ? err->msg : "failed");
	for (char *p = msg; *p; p++)
		if (*p == '\n')
			*p = ' ';
	snprintf(line, sizeof(line), "ERROR %s %d %s\n", pvr_kind_name(err->kind), err->code, msg);
	pv_error("%s", msg);
	report(line);
	return pv_err_exit_status(err);
}
