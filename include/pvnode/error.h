/*
 * error.h — pvnode's one error convention.
 *
 * Every fallible function returns 0 or a negative errno and, on failure, fills a
 * `struct pv_err` with one human sentence ("volume web-data: staging path
 * /x is outside the allowed prefixes (/var/lib/kubelet)") and a kind. The kind, not the
 * errno, decides what a caller reports: `pvctl`'s exit status (pv_err_exit_status) and
 * the CSI status code (csi/status.c) are both chosen from it in one place.
 */
#ifndef PVNODE_ERROR_H
#define PVNODE_ERROR_H

#include <stdarg.h>
#include <stddef.h>

enum pv_err_kind {
	PV_E_NONE = 0,
	PV_E_INTERNAL,    /* something failed on this node: exit 1, CSI INTERNAL */
	PV_E_INVALID,     /* bad input: exit 2, CSI INVALID_ARGUMENT */
	PV_E_NOT_FOUND,   /* no such volume/target: exit 1, CSI NOT_FOUND */
	PV_E_EXISTS,      /* incompatible repeat: exit 1, CSI ALREADY_EXISTS */
	PV_E_POLICY,      /* refused by the access-mode policy or a fence: exit 3, CSI FAILED_PRECONDITION */
	PV_E_BUSY,        /* another operation holds the volume: exit 1, CSI ABORTED */
	PV_E_UNAVAILABLE, /* backend unreachable / timed out: exit 1, CSI UNAVAILABLE */
	PV_E_RANGE,       /* capacity out of range: exit 2, CSI OUT_OF_RANGE */
	PV_E_RESOURCE,    /* out of space / devices: exit 1, CSI RESOURCE_EXHAUSTED */
	PV_E_UNSUPPORTED, /* not implemented for this driver: exit 1, CSI UNIMPLEMENTED */
	PV_E_IN_USE,      /* the volume is still staged or published: exit 1, CSI FAILED_PRECONDITION */
};

#define PV_ERR_MSG_MAX 512

struct pv_err {
	int code;              /* negative errno, 0 when no error */
	enum pv_err_kind kind;
	char msg[PV_ERR_MSG_MAX];
};

/* Fill `err` (may be NULL) and return `code` (a negative errno), so callers can write
 * `return pv_err_set(err, -EINVAL, PV_E_INVALID, "...", ...);`. An error is set once,
 * where it is understood: setting a second one without pv_err_clear() is a bug (debug
 * builds abort; others keep the first, innermost sentence). Context is added with
 * pv_err_prefix(). */
int pv_err_set(struct pv_err *err, int code, enum pv_err_kind kind, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
int pv_err_setv(struct pv_err *err, int code, enum pv_err_kind kind, const char *fmt, va_list ap)
	__attribute__((format(printf, 4, 0)));
/* Prefix the existing sentence: "volume x: " + msg. */
void pv_err_prefix(struct pv_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void pv_err_clear(struct pv_err *err);
/* Map an errno to the kind it most likely means when nothing better is known. */
enum pv_err_kind pv_err_kind_from_errno(int code);
/* pvctl's exit status for an error: 1 failed, 2 invalid input, 3 refused by policy. */
int pv_err_exit_status(const struct pv_err *err);
const char *pv_err_kind_name(enum pv_err_kind kind);
/* The kind of a pv_err_kind_name() ("invalid", "refused", ...); PV_E_INTERNAL if none. */
enum pv_err_kind pv_err_kind_from_name(const char *name);

#endif
