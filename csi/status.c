/*
 * status.c — the one place where pvnode's error kinds become gRPC status codes (and,
 * for pvctl over CSI, where status codes become kinds again, so exit statuses match
 * the in-process ones).
 */
#include <errno.h>
#include <grpc/status.h>

#include "csi.h"

int csi_status_from_err(const struct pv_err *err)
{
	if (!err)
		return GRPC_STATUS_INTERNAL;
	switch (err->kind) {
	case PV_E_NONE:
		return err->code < 0 ? GRPC_STATUS_INTERNAL : GRPC_STATUS_OK;
	case PV_E_INVALID:
		return GRPC_STATUS_INVALID_ARGUMENT;
	case PV_E_NOT_FOUND:
		return GRPC_STATUS_NOT_FOUND;
	case PV_E_EXISTS:
		return GRPC_STATUS_ALREADY_EXISTS;
	case PV_E_POLICY:
	case PV_E_IN_USE:
		return GRPC_STATUS_FAILED_PRECONDITION;
	case PV_E_BUSY:
		return GRPC_STATUS_ABORTED;
	case PV_E_UNAVAILABLE:
		return GRPC_STATUS_UNAVAILABLE;
	case PV_E_RANGE:
		return GRPC_STATUS_OUT_OF_RANGE;
	case PV_E_RESOURCE:
		return GRPC_STATUS_RESOURCE_EXHAUSTED;
	case PV_E_UNSUPPORTED:
		return GRPC_STATUS_UNIMPLEMENTED;
	case PV_E_INTERNAL:
	default:
		return GRPC_STATUS_INTERNAL;
	}
}

void csi_unsupported_is_invalid(struct pv_err *err)
{
	/* The spec has no "this driver cannot" code for these calls: CreateVolume's
	 * "Source incompatible or not supported" is INVALID_ARGUMENT, and CreateSnapshot of a
	 * volume whose driver has no snapshots is the same kind of bad argument (the RPC
	 * itself is implemented: UNIMPLEMENTED would tell the CO to stop calling it). */
	if (err && err->kind == PV_E_UNSUPPORTED && err->code == -EOPNOTSUPP)   /* a driver's "cannot" only */
		err->kind = PV_E_INVALID;
}

enum pv_err_kind csi_kind_from_status(int code)
{
	switch (code) {
	case GRPC_STATUS_OK:
		return PV_E_NONE;
	case GRPC_STATUS_INVALID_ARGUMENT:
		return PV_E_INVALID;
	case GRPC_STATUS_NOT_FOUND:
		return PV_E_NOT_FOUND;
	case GRPC_STATUS_ALREADY_EXISTS:
		return PV_E_EXISTS;
	case GRPC_STATUS_FAILED_PRECONDITION:
		return PV_E_POLICY;
	case GRPC_STATUS_ABORTED:
		return PV_E_BUSY;
	case GRPC_STATUS_UNAVAILABLE:
	case GRPC_STATUS_DEADLINE_EXCEEDED:
		return PV_E_UNAVAILABLE;
	case GRPC_STATUS_OUT_OF_RANGE:
		return PV_E_RANGE;
	case GRPC_STATUS_RESOURCE_EXHAUSTED:
		return PV_E_RESOURCE;
	case GRPC_STATUS_UNIMPLEMENTED:
		return PV_E_UNSUPPORTED;
	default:
		return PV_E_INTERNAL;
	}
}

const char *csi_status_name(int code)
{
	static const char *const names[] = {
		"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
		"NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
		"FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL",
		"UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
	};
	if (code < 0 || code >= (int)(sizeof(names) / sizeof(names[0])))
		return "UNKNOWN";
	return names[code];
}
