/*
 * nfs_wire.c — NFSv3 WRITE calls encoded by the helper itself and their replies decoded
 * (see nfs_wire.h). libnfs 4.0 has no WRITE that sends from the caller's buffer: it
 * copies the data into its PDU. Here the header is built in a small buffer and the data
 * goes to the socket straight from the FUSE request (nfs_pool.c sends and receives).
 *
 * Pure logic, unit-tested (tests/unit/test_nfs_wire.c). XDR: big-endian 32-bit words,
 * 64-bit as two words, opaque<> as a length word then the bytes padded to 4.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "nfs_wire.h"

#define RPC_CALL 0
#define RPC_REPLY 1
#define RPC_VERSION 2
#define NFS_PROGRAM 100003
#define NFS_V3 3
#define NFSPROC3_READ 6
#define NFSPROC3_WRITE 7
#define AUTH_NONE 0
#define AUTH_SYS 1
#define MSG_ACCEPTED 0
#define MSG_DENIED 1
#define ACCEPT_SUCCESS 0
#define REJECT_AUTH_ERROR 1
#define OPAQUE_AUTH_MAX 400  /* RFC 5531: an opaque_auth body is at most 400 bytes */

static size_t pad4(size_t n)
{
	return (4 - (n & 3)) & 3;
}

/* ---- encoding ---- */

struct enc {
	uint8_t *p, *end;
	int err;
};

static void put32(struct enc *e, uint32_t v)
{
	if (e->err || e->end - e->p < 4) {
		e->err = -ENOSPC;
		return;
	}
	e->p[0] = (uint8_t)(v >> 24);
	e->p[1] = (uint8_t)(v >> 16);
	e->p[2] = (uint8_t)(v >> 8);
	e->p[3] = (uint8_t)v;
	e->p += 4;
}

static void put64(struct enc *e, uint64_t v)
{
	put32(e, (uint32_t)(v >> 32));
	put32(e, (uint32_t)v);
}

static void put_opaque(struct enc *e, const void *data, size_t len)
{
	size_t pad = pad4(len);

	put32(e, (uint32_t)len);
	if (e->err || (size_t)(e->end - e->p) < len + pad) {
		e->err = -ENOSPC;
		return;
	}
	memcpy(e->p, data, len);
	memset(e->p + len, 0, pad);
	e->p += len + pad;
}

/* Whether a call's credentials and file handle can be encoded. */
static bool call_ok(const struct pvnfs_wire_auth *a, const void *fh, size_t fh_len)
{
	return a && (!a->machine || strlen(a->machine) <= PVNFS_WIRE_MACHINE_MAX) &&
	       a->n <= PVNFS_WIRE_MAX_GROUPS && fh && fh_len > 0 && fh_len <= PVNFS_WIRE_FHSIZE;
}

/* The record mark (a placeholder, see finish_mark), the RPC call header of NFSv3
 * procedure `proc` with AUTH_SYS credentials, then the file handle (the first argument
 * of both READ3args and WRITE3args). */
static void put_call(struct enc *e, uint32_t xid, uint32_t proc, const struct pvnfs_wire_auth *a,
		     const void *fh, size_t fh_len)
{
	size_t mlen = a->machine ? strlen(a->machine) : 0;

	put32(e, 0);                        /* record mark, filled in by finish_mark */
	put32(e, xid);
	put32(e, RPC_CALL);
	put32(e, RPC_VERSION);
	put32(e, NFS_PROGRAM);
	put32(e, NFS_V3);
	put32(e, proc);
	/* credentials: AUTH_SYS { stamp, machinename<255>, uid, gid, gids<16> } */
	put32(e, AUTH_SYS);
	put32(e, (uint32_t)(4 + 4 + mlen + pad4(mlen) + 4 + 4 + 4 + 4 * a->n));
	put32(e, 0);                        /* stamp: servers do not use it */
	put_opaque(e, a->machine ? a->machine : "", mlen);
	put32(e, a->uid);
	put32(e, a->gid);
	put32(e, a->n);
	for (uint32_t i = 0; i < a->n; i++)
		put32(e, a->groups[i]);
	put32(e, AUTH_NONE);                /* verifier */
	put32(e, 0);
	put_opaque(e, fh, fh_len);
}

/* The record mark at hdr: one fragment, the last, of `frag` bytes. */
static void finish_mark(uint8_t *hdr, size_t frag)
{
	struct enc m = { .p = hdr, .end = hdr + 4 };

	put32(&m, 0x80000000u | (uint32_t)frag);
}

int pvnfs_wire_write_call(uint8_t *hdr, size_t cap, const struct pvnfs_wire_write *w, size_t *pad)
{
	struct enc e = { .p = hdr, .end = hdr + cap };

	if (!call_ok(w->auth, w->fh, w->fh_len) || w->count > 0x7fffff00u ||
	    w->stable < PVNFS_WIRE_UNSTABLE || w->stable > PVNFS_WIRE_FILE_SYNC)
		return -EINVAL;
	/* WRITE3args { nfs_fh3 file, offset3, count3, stable_how, opaque data<> } */
	put_call(&e, w->xid, NFSPROC3_WRITE, w->auth, w->fh, w->fh_len);
	put64(&e, w->offset);
	put32(&e, w->count);
	put32(&e, (uint32_t)w->stable);
	put32(&e, w->count);
	if (e.err)
		return e.err;

	size_t len = (size_t)(e.p - hdr);
	finish_mark(hdr, len - 4 + w->count + pad4(w->count));
	*pad = pad4(w->count);
	return (int)len;
}

int pvnfs_wire_read_call(uint8_t *buf, size_t cap, const struct pvnfs_wire_read *r)
{
	struct enc e = { .p = buf, .end = buf + cap };

	if (!call_ok(r->auth, r->fh, r->fh_len) || r->count == 0 || r->count > PVNFS_WIRE_READ_MAX)
		return -EINVAL;
	/* READ3args { nfs_fh3 file, offset3 offset, count3 count } */
	put_call(&e, r->xid, NFSPROC3_READ, r->auth, r->fh, r->fh_len);
	put64(&e, r->offset);
	put32(&e, r->count);
	if (e.err)
		return e.err;

	size_t len = (size_t)(e.p - buf);
	finish_mark(buf, len - 4);
	return (int)len;
}

/* ---- decoding ---- */

int pvnfs_wire_record(const uint8_t *raw, size_t have, uint8_t *rec, size_t cap, size_t *len)
{
	size_t pos = 0;
	int last = 0;

	*len = 0;
	while (!last) {
		if (have - pos < 4)
			return 0;
		uint32_t n = pvnfs_wire_frag_len(raw + pos, &last);
		if (n > cap - *len)
			return -EPROTO;
		if (have - pos - 4 < n)
			return 0;
		memcpy(rec + *len, raw + pos + 4, n);
		*len += n;
		pos += 4 + (size_t)n;
	}
	return pos == have ? 1 : -EPROTO;
}

/* A decoder over the bytes received so far. Running out of them is an error of its own
 * kind: `need` is then how many bytes (from the start) the next step needs, which a reader
 * of a record in pieces (READ replies) waits for; a malformed record leaves need 0. */
struct dec {
	const uint8_t *p, *start, *end;
	int err;
	size_t need;
};

static void short_by(struct dec *d, size_t n)
{
	d->err = -EPROTO;
	d->need = (size_t)(d->p - d->start) + n;
}

static uint32_t get32(struct dec *d)
{
	if (d->err)
		return 0;
	if (d->end - d->p < 4) {
		short_by(d, 4);
		return 0;
	}
	uint32_t v = (uint32_t)d->p[0] << 24 | (uint32_t)d->p[1] << 16 | (uint32_t)d->p[2] << 8 | d->p[3];
	d->p += 4;
	return v;
}

static void skip(struct dec *d, size_t n)
{
	if (d->err)
		return;
	if ((size_t)(d->end - d->p) < n) {
		short_by(d, n);
		return;
	}
	d->p += n;
}

/* An optional attribute block (pre_op_attr, post_op_attr): a boolean, then `size` bytes. */
static void skip_optional(struct dec *d, size_t size)
{
	uint32_t present = get32(d);

	if (!d->err && present > 1)
		d->err = -EPROTO;
	else if (present)
		skip(d, size);
}

#define WCC_ATTR_SIZE 24  /* size3 + mtime + ctime */
#define FATTR3_SIZE 84    /* type .. ctime */

/* The RPC reply header up to and including accept_stat: 0 for an accepted call to xid,
 * -EACCES when refused for its credentials, -EPROTO (d->need set when bytes are
 * missing) for anything else. */
static int reply_head(struct dec *d, uint32_t xid)
{
	uint32_t v = get32(d);

	if (d->err)
		return d->err;
	if (v != xid)
		return -EPROTO;
	v = get32(d);
	if (d->err || v != RPC_REPLY)
		return -EPROTO;
	uint32_t stat = get32(d);
	if (d->err)
		return d->err;
	if (stat == MSG_DENIED) {
		v = get32(d);
		if (d->err)
			return d->err;
		return v == REJECT_AUTH_ERROR ? -EACCES : -EPROTO;
	}
	if (stat != MSG_ACCEPTED)
		return -EPROTO;
	get32(d);                           /* verifier flavor */
	uint32_t vlen = get32(d);
	if (d->err)
		return d->err;
	if (vlen > OPAQUE_AUTH_MAX)
		return -EPROTO;
	skip(d, vlen + pad4(vlen));
	v = get32(d);
	if (d->err)
		return d->err;
	return v == ACCEPT_SUCCESS ? 0 : -EPROTO; /* PROG_UNAVAIL, GARBAGE_ARGS, ...: not our server */
}

int pvnfs_wire_write_reply(const uint8_t *rec, size_t len, uint32_t xid,
			   struct pvnfs_wire_write_res *res)
{
	struct dec d = { .p = rec, .start = rec, .end = rec + len };
	int r;

	memset(res, 0, sizeof(*res));
	if ((r = reply_head(&d, xid)) < 0)
		return r == -EACCES ? r : -EPROTO;

	/* WRITE3res: nfsstat3, wcc_data, then on success count, committed, verf */
	res->nfsstat = get32(&d);
	skip_optional(&d, WCC_ATTR_SIZE);
	skip_optional(&d, FATTR3_SIZE);
	if (res->nfsstat == 0) {
		res->count = get32(&d);
		res->committed = get32(&d);
		if (!d.err && (size_t)(d.end - d.p) >= sizeof(res->verf))
			memcpy(res->verf, d.p, sizeof(res->verf));
		skip(&d, sizeof(res->verf));
		if (!d.err && res->committed > PVNFS_WIRE_FILE_SYNC)
			d.err = -EPROTO;
	}
	if (d.err || d.p != d.end)
		return -EPROTO;              /* short, or more than a WRITE3res */
	return 0;
}

int pvnfs_wire_read_reply(const uint8_t *rec, size_t have, uint32_t xid,
			  struct pvnfs_wire_read_res *res)
{
	struct dec d = { .p = rec, .start = rec, .end = rec + have };
	int r;

	memset(res, 0, sizeof(*res));
	if ((r = reply_head(&d, xid)) < 0)
		return d.need ? (int)d.need : r;
	/* READ3res: nfsstat3, post_op_attr, then on success count, eof, opaque data<> */
	res->nfsstat = get32(&d);
	skip_optional(&d, FATTR3_SIZE);
	if (res->nfsstat == 0) {
		res->count = get32(&d);
		res->eof = get32(&d);
		res->data_len = get32(&d);
		if (!d.err && (res->eof > 1 || res->data_len != res->count ||
			       res->data_len > PVNFS_WIRE_READ_MAX))
			return -EPROTO;
	}
	if (d.err)
		return d.need ? (int)d.need : d.err;
	res->hdr_len = (size_t)(d.p - rec);
	return 0;
}
