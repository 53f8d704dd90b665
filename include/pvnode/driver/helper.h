/*
 * helper.h — userspace data-path helpers: one way to start, watch, stop and adopt them,
 * and one readiness protocol.
 *
 * A helper is a program of a driver (pvnode-iscsi-fuse, pvnode-nfs-fuse,
 * pvnode-rbd-fuse) that serves one staged volume. It runs detached, in its own session,
 * so a restart of pvnode or pvctl never stops a volume's data path; the journal records
 * its pid and start time and a restarted daemon adopts it again.
 *
 * The protocol, the same for every helper:
 *   - non-secret arguments on argv; the secrets as one JSON object on stdin, then EOF
 *     (never on argv, in the environment or in a file);
 *   - file descriptor 3 carries exactly one line:
 *       "READY[ key=value]..."            it serves (values %-escaped: no space, no '%',
 *                                         no control character),
 *       "ERROR <kind> <errno> <sentence>" it cannot (kind: pv_err_kind_name()),
 *     and EOF without a line means it died;
 *   - stdout and stderr go to <run_dir>/<program>.log;
 *   - SIGTERM: stop serving, release what it holds (fences, sessions), exit 0.
 */
#ifndef PVNODE_DRIVER_HELPER_H
#define PVNODE_DRIVER_HELPER_H

#include <stdbool.h>
#include <sys/types.h>

#include "pvnode/error.h"
#include "pvnode/pv.h"
#include "pvnode/secrets.h"

struct pv_helper {
	pid_t pid;                  /* 0: none */
	unsigned long long start;   /* /proc/PID/stat start time: guards against pid reuse */
};

/* --- in pvnode / pvctl (lib/helper.c) --- */
struct pv_helper_spec {
	const char *program;               /* e.g. "pvnode-iscsi-fuse" (found by pv_helper_path) */
	const char *const *args;           /* argv[1..], NULL-terminated; never a secret */
	const struct pv_secrets *secrets;  /* sent on stdin; NULL: an empty object */
	const char *run_dir;               /* the volume's run directory: the log goes there */
	int ready_timeout_ms;              /* how long to wait for the line on fd 3 */
	const char *what;                  /* for sentences: "iSCSI helper for iqn... lun 1" */
};

/* Start the helper and wait for its line. On READY, *h is filled and `ready` (may be
 * NULL) gets the key=value fields; on ERROR the helper's kind, errno and sentence are
 * the error; on a timeout or an early exit the helper is stopped and the error names
 * its log. */
int pv_helper_start(const struct pv_helper_spec *s, struct pv_helper *h, struct pv_map *ready,
		    struct pv_err *err);
/* Running, not a zombie, and the same process (start time) as recorded. */
bool pv_helper_alive(const struct pv_helper *h);
/* SIGTERM, wait up to timeout_ms, then SIGKILL; only the recorded process. Reaps it when
 * it is a child of this process. Clears *h. A helper that is gone is success. */
void pv_helper_stop(struct pv_helper *h, int timeout_ms);

/* --- in the helper program (lib/helper/child.c, libpvhelper) --- */
/* Log as `prog` on stderr, no core dumps, remember fd 3 when the parent passed it. */
void pv_helper_child_init(const char *prog);
/* A tuning variable in KiB from the environment, in bytes: unset or empty gives dflt; a
 * value that is not a plain decimal up to max_kib is refused with a warning (dflt). */
long long pv_helper_env_kib(const char *name, long long dflt, unsigned long max_kib);
/* Read the JSON object of secrets from stdin (until EOF). */
int pv_helper_child_secrets(struct pv_secrets *out, struct pv_err *err);
/* Report "READY" with the fields (may be NULL) and close fd 3. */
void pv_helper_child_ready(const struct pv_map *fields);
/* Report "ERROR ..." for err (also logged) and close fd 3. Returns the exit status to
 * use: 3 for a policy refusal (a fence held elsewhere), else 1. */
int pv_helper_child_fail(const struct pv_err *err);

/* The protocol's escaping of READY values, shared by both sides (unit-tested). */
void pv_helper_escape(const char *in, char *out, size_t len);
void pv_helper_unescape(char *s);

#endif
