/*
 * nfs_wire.h — the helper's own encoding of NFSv3 WRITE and READ calls (ONC RPC over TCP,
 * RFC 5531 record marking, AUTH_SYS; RFC 1813 WRITE3args, READ3args) and decoding of their
 * replies. Pure functions on buffers: the data of a WRITE is not copied, the caller sends
 * the header built here, then its own buffer, then the padding (one sendmsg with three
 * iovecs); the data of a READ reply is not copied either: the header is decoded here as
 * it arrives, and the caller receives the data that follows it straight into its buffer.
 */
#ifndef PVNODE_DRIVERS_NFS_WIRE_H
#define PVNODE_DRIVERS_NFS_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define PVNFS_WIRE_FHSIZE 64      /* NFS3_FHSIZE */
#define PVNFS_WIRE_MAX_GROUPS 16  /* AUTH_SYS carries at most 16 supplementary groups */
#define PVNFS_WIRE_MACHINE_MAX 32 /* our machine name in AUTH_SYS (at most 255 on the wire) */
/* record mark + call header with the largest AUTH_SYS + WRITE3args up to its data */
#define PVNFS_WIRE_WRITE_HDR_MAX \
	(4 + 24 + 8 + 20 + PVNFS_WIRE_MACHINE_MAX + 4 * PVNFS_WIRE_MAX_GROUPS + 8 + 4 + \
	 PVNFS_WIRE_FHSIZE + 20)
/* A WRITE reply is at most ~160 bytes (header, verifier, wcc_data, count, verf); a
 * larger record is not a reply to our WRITE. */
#define PVNFS_WIRE_REPLY_MAX 1024

enum { PVNFS_WIRE_UNSTABLE = 0, PVNFS_WIRE_DATA_SYNC = 1, PVNFS_WIRE_FILE_SYNC = 2 };

struct pvnfs_wire_auth {
	const char *machine;   /* at most PVNFS_WIRE_MACHINE_MAX bytes */
	uint32_t uid, gid, n;  /* n <= PVNFS_WIRE_MAX_GROUPS */
	const uint32_t *groups;
};

struct pvnfs_wire_write {
	uint32_t xid;
	const struct pvnfs_wire_auth *auth;
	const void *fh;
	size_t fh_len;         /* 1..PVNFS_WIRE_FHSIZE */
	uint64_t offset;
	uint32_t count;        /* bytes of data the caller sends after the header */
	int stable;            /* PVNFS_WIRE_UNSTABLE / _DATA_SYNC / _FILE_SYNC */
};

/* Encode the record mark, RPC call header and WRITE3args up to (and including) the data
 * length into hdr (cap >= PVNFS_WIRE_WRITE_HDR_MAX suffices). The record covers the
 * header, count bytes of data and *pad zero bytes after them (XDR's 4-byte alignment),
 * sent as one last fragment. Returns the header's length, or -EINVAL (a handle, group
 * list, machine name or count that does not fit) / -ENOSPC (cap too small). */
int pvnfs_wire_write_call(uint8_t *hdr, size_t cap, const struct pvnfs_wire_write *w, size_t *pad);

/* READ: at most this many bytes per call (the helper's max_read is 1 MiB) */
#define PVNFS_WIRE_READ_MAX (4u << 20)
/* record mark + call header with the largest AUTH_SYS + READ3args */
#define PVNFS_WIRE_READ_CALL_MAX \
	(4 + 24 + 8 + 20 + PVNFS_WIRE_MACHINE_MAX + 4 * PVNFS_WIRE_MAX_GROUPS + 8 + 4 + \
	 PVNFS_WIRE_FHSIZE + 12)
/* The header of a READ reply (up to its data): RPC header with a verifier of at most 400
 * bytes, nfsstat3, post_op_attr, count, eof, data length. */
#define PVNFS_WIRE_READ_HDR_MAX (24 + 400 + 4 + 88 + 12)

struct pvnfs_wire_read {
	uint32_t xid;
	const struct pvnfs_wire_auth *auth;
	const void *fh;
	size_t fh_len;         /* 1..PVNFS_WIRE_FHSIZE */
	uint64_t offset;
	uint32_t count;        /* 1..PVNFS_WIRE_READ_MAX */
};

/* Encode a whole READ call record (record mark, RPC call header, READ3args) into buf.
 * Returns its length, or -EINVAL (handle, groups, machine name or count out of range) /
 * -ENOSPC (cap below what it needs; PVNFS_WIRE_READ_CALL_MAX always suffices). */
int pvnfs_wire_read_call(uint8_t *buf, size_t cap, const struct pvnfs_wire_read *r);

struct pvnfs_wire_read_res {
	uint32_t nfsstat;      /* NFS3_OK (0) or the server's nfsstat3 */
	uint32_t count;        /* when NFS3_OK: bytes of data, whether the file ends there */
	uint32_t eof;
	uint32_t data_len;     /* == count: the data follows the header, then pad to 4 */
	size_t hdr_len;        /* bytes of the record before the data */
};

/* Decode the start of the reply record to the READ of xid (record marks removed) from
 * the `have` bytes received so far. Returns 0 when its header is complete: res says what
 * follows at rec + res->hdr_len (on NFS3_OK data_len bytes of data and their padding,
 * else nothing); a positive N when the header needs at least N bytes of the record
 * (N > have: receive up to N, never more, and call again); -EACCES when the call was
 * refused for its credentials; -EPROTO for anything else (another xid, not a reply,
 * an RPC-level refusal, malformed: count and data length differ, more than
 * PVNFS_WIRE_READ_MAX). */
int pvnfs_wire_read_reply(const uint8_t *rec, size_t have, uint32_t xid,
			  struct pvnfs_wire_read_res *res);

/* A record mark (4 bytes, network order): the fragment's length and whether it is the
 * record's last. */
static inline uint32_t pvnfs_wire_frag_len(const uint8_t m[4], int *last)
{
	uint32_t v = (uint32_t)m[0] << 24 | (uint32_t)m[1] << 16 | (uint32_t)m[2] << 8 | m[3];

	*last = (v & 0x80000000u) != 0;
	return v & 0x7fffffffu;
}

/* Join the fragments of the one record at the start of raw (have bytes received so far)
 * into rec (cap bytes): 1 when it is complete (*len its length), 0 when more bytes are
 * needed, -EPROTO when it is larger than cap or bytes follow it (one call is out on the
 * connection, so nothing may follow its reply). */
int pvnfs_wire_record(const uint8_t *raw, size_t have, uint8_t *rec, size_t cap, size_t *len);

struct pvnfs_wire_write_res {
	uint32_t nfsstat;      /* NFS3_OK (0) or the server's nfsstat3 */
	uint32_t count;        /* when NFS3_OK: bytes written, how stable, the write verifier */
	uint32_t committed;
	uint8_t verf[8];
};

/* Decode a whole reply record (fragments joined, record marks removed) to the WRITE of
 * xid. Returns 0 with res filled when the server answered (res->nfsstat says how; a
 * failed WRITE is still a reply), -EACCES when the RPC was refused for its credentials,
 * -EPROTO for anything else: another xid, not a reply, an RPC-level refusal, a short or
 * malformed record. The caller cannot trust the connection after -EPROTO. */
int pvnfs_wire_write_reply(const uint8_t *rec, size_t len, uint32_t xid,
			   struct pvnfs_wire_write_res *res);

#endif
