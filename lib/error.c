/*
 * error.c — struct pv_err: one sentence and a kind per failure (see error.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pvnode/error.h"

int pv_err_setv(struct pv_err *err, int code, enum pv_err_kind kind, const char *fmt, va_list ap)
{
	if (code > 0)
		code = -code;
	if (code == 0)
		code = -EIO;
	if (!err)
		return code;
	if (err->kind != PV_E_NONE) {
		/* A second sentence for one failure is a bug: the first, innermost one is kept
		 * (callers add context with pv_err_prefix, or pv_err_clear what they handled). */
#ifdef PV_DEBUG_ERRORS
		char second[PV_ERR_MSG_MAX];
		vsnprintf(second, sizeof(second), fmt, ap);
		fprintf(stderr, "BUG: error set twice: \"%s\", then \"%s\"\n", err->msg, second);
		abort();
#endif
		return code;
	}
	err->code = code;
	err->kind = kind;
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	return code;
}

int pv_err_set(struct pv_err *err, int code, enum pv_err_kind kind, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	code = pv_err_setv(err, code, kind, fmt, ap);
	va_end(ap);
	return code;
}

void pv_err_prefix(struct pv_err *err, const char *fmt, ...)
{
	char prefix[256], old[PV_ERR_MSG_MAX];
	va_list ap;

	if (!err || err->kind == PV_E_NONE)
		return;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof(old));
	snprintf(err->msg, sizeof(err->msg), "%s%s", prefix, old);
}

void pv_err_clear(struct pv_err *err)
{
	if (err)
		memset(err, 0, sizeof(*err));
}

enum pv_err_kind pv_err_kind_from_errno(int code)
{
	switch (code < 0 ? -code : code) {
	case EINVAL: case ENAMETOOLONG: case E2BIG:
		return PV_E_INVALID;
	case ENOENT: case ENODEV: case ENXIO:
		return PV_E_NOT_FOUND;
	case EEXIST:
		return PV_E_EXISTS;
	case EPERM: case EACCES: case EROFS:
		return PV_E_POLICY;
	case EBUSY: case EAGAIN:
		return PV_E_BUSY;
	case ETIMEDOUT: case ECONNREFUSED: case EHOSTUNREACH: case ENETUNREACH: case ECONNRESET:
		return PV_E_UNAVAILABLE;
	case ENOSPC: case EDQUOT: case ENOMEM: case EMFILE: case ENFILE:
		return PV_E_RESOURCE;
	case ERANGE: case EFBIG:
		return PV_E_RANGE;
	case ENOSYS: case EOPNOTSUPP:
		return PV_E_UNSUPPORTED;
	default:
		return PV_E_INTERNAL;
	}
}

int pv_err_exit_status(const struct pv_err *err)
{
	if (!err)
		return 1;
	switch (err->kind) {
	case PV_E_NONE:
		return 0;
	case PV_E_INVALID: case PV_E_RANGE:
		return 2;
	case PV_E_POLICY:
		return 3;
	default:
		return 1;
	}
}

static const char *const kind_names[] = {
	[PV_E_NONE] = "none", [PV_E_INTERNAL] = "internal", [PV_E_INVALID] = "invalid",
	[PV_E_NOT_FOUND] = "not-found", [PV_E_EXISTS] = "exists", [PV_E_POLICY] = "refused",
	[PV_E_BUSY] = "busy", [PV_E_UNAVAILABLE] = "unavailable", [PV_E_RANGE] = "out-of-range",
	[PV_E_RESOURCE] = "exhausted", [PV_E_UNSUPPORTED] = "unsupported", [PV_E_IN_USE] = "in-use",
};
#define N_KINDS (sizeof(kind_names) / sizeof(kind_names[0]))

const char *pv_err_kind_name(enum pv_err_kind kind)
{
	if ((unsigned)kind >= N_KINDS)
		return "unknown";
	return kind_names[kind];
}

enum pv_err_kind pv_err_kind_from_name(const char *name)
{
	for (size_t k = 1; name && k < N_KINDS; k++)
		if (strcmp(kind_names[k], name) == 0)
			return (enum pv_err_kind)k;
	return PV_E_INTERNAL;
}
