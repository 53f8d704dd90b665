/*
 * test_nfs_wire.c — unit tests of the helper's own NFSv3 WRITE encoding and reply
 * decoding (drivers/nfs/nfs_wire.c). The call is checked word by word against RFC 5531 /
 * RFC 1813 and decoded again with libnfs's XDR (zdr_WRITE3args), so two readings of the
 * format agree; replies are built with libnfs's zdr_WRITE3res (with and without
 * attributes, success and failure) and then broken: other xid, not a reply, refusals,
 * short and overlong records. READ likewise: the call decoded by zdr_READ3args, replies
 * built with zdr_READ3res read back in the pieces the helper receives them in (never a
 * byte past the header asked for), then broken.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <nfsc/libnfs.h>
#include <nfsc/libnfs-zdr.h>
#include <nfsc/libnfs-raw.h>
#include <nfsc/libnfs-raw-nfs.h>

#include "../../drivers/nfs/nfs_wire.h"

#define OPAQUE_AUTH_LIMIT 400 /* RFC 5531 */

static uint32_t word(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint8_t *put(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
	return p + 4;
}

static const uint32_t groups[3] = { 10, 20, 30 };
static const struct pvnfs_wire_auth auth = { .machine = "pvnode", .uid = 1000, .gid = 100,
					     .n = 3, .groups = groups };
static const uint8_t fh[28] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
				17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28 };

static void test_call_words(void **state)
{
	(void)state;
	uint8_t hdr[PVNFS_WIRE_WRITE_HDR_MAX];
	struct pvnfs_wire_write w = { .xid = 0xdeadbeef, .auth = &auth, .fh = fh, .fh_len = 27,
				      .offset = 0x123456789aULL, .count = 5, .stable = PVNFS_WIRE_UNSTABLE };
	size_t pad = 99;
	int n = pvnfs_wire_write_call(hdr, sizeof(hdr), &w, &pad);

	/* 4 mark + 24 call + 8 cred head + 4 stamp + 4+8 machine + 12 ids + 12 groups
	 * + 8 verifier + 4+28 handle + 8 offset + 4 count + 4 stable + 4 data length */
	assert_int_equal(n, 4 + 24 + 8 + 4 + 12 + 12 + 12 + 8 + 32 + 8 + 4 + 4 + 4);
	assert_int_equal(pad, 3);
	int last = 0;
	assert_int_equal(pvnfs_wire_frag_len(hdr, &last), (uint32_t)n - 4 + 5 + 3);
	assert_true(last);
	const uint8_t *p = hdr + 4;
	assert_int_equal(word(p), 0xdeadbeef);
	assert_int_equal(word(p + 4), 0);        /* CALL */
	assert_int_equal(word(p + 8), 2);        /* RPC version */
	assert_int_equal(word(p + 12), 100003);  /* NFS */
	assert_int_equal(word(p + 16), 3);
	assert_int_equal(word(p + 20), 7);       /* WRITE */
	assert_int_equal(word(p + 24), 1);       /* AUTH_SYS */
	assert_int_equal(word(p + 28), 4 + 12 + 12 + 12);
	assert_int_equal(word(p + 36), 6);
	assert_memory_equal(p + 40, "pvnode\0\0", 8);
	assert_int_equal(word(p + 48), 1000);
	assert_int_equal(word(p + 52), 100);
	assert_int_equal(word(p + 56), 3);
	assert_int_equal(word(p + 68), 30);
	assert_int_equal(word(p + 72), 0);       /* AUTH_NONE verifier */
	assert_int_equal(word(p + 76), 0);
	assert_int_equal(word(p + 80), 27);      /* handle, padded to 28 */
	assert_memory_equal(p + 84, fh, 27);
	assert_int_equal(p[84 + 27], 0);
	assert_int_equal(word(p + 112), 0x12);
	assert_int_equal(word(p + 116), 0x3456789a);
	assert_int_equal(word(p + 120), 5);
	assert_int_equal(word(p + 124), PVNFS_WIRE_UNSTABLE);
	assert_int_equal(word(p + 128), 5);
	assert_int_equal(n, 4 + 132);

	/* aligned data: no padding */
	w.count = 8;
	assert_true(pvnfs_wire_write_call(hdr, sizeof(hdr), &w, &pad) > 0);
	assert_int_equal(pad, 0);
}

/* What libnfs's own XDR reads from the record (header, data, padding): the same call. */
static void test_call_libnfs_decodes(void **state)
{
	(void)state;
	static uint8_t rec[PVNFS_WIRE_WRITE_HDR_MAX + 4096];
	const char data[] = "some bytes that are not a multiple of four!";
	size_t dlen = sizeof(data) - 1, pad;
	struct pvnfs_wire_auth root = { .machine = "", .n = 0 };
	struct pvnfs_wire_write w = { .xid = 7, .auth = &root, .fh = fh, .fh_len = sizeof(fh),
				      .offset = 1 << 20, .count = (uint32_t)dlen,
				      .stable = PVNFS_WIRE_FILE_SYNC };
	int n = pvnfs_wire_write_call(rec, sizeof(rec), &w, &pad);

	assert_true(n > 0);
	memcpy(rec + n, data, dlen);
	memset(rec + n + dlen, 0, pad);
	int last;
	size_t total = pvnfs_wire_frag_len(rec, &last) + 4;
	assert_int_equal(total, (size_t)n + dlen + pad);
	/* skip the call header: mark, 6 words, AUTH_SYS of an empty name and no groups
	 * (flavor, length, stamp, name length, uid, gid, group count), AUTH_NONE */
	size_t args = 4 + 24 + 4 * 7 + 8;
	ZDR z;
	WRITE3args a;
	memset(&a, 0, sizeof(a));
	zdrmem_create(&z, (caddr_t)rec + args, (uint32_t)(total - args), ZDR_DECODE);
	assert_true(zdr_WRITE3args(&z, &a));
	assert_int_equal(zdr_getpos(&z), total - args);
	assert_int_equal(a.file.data.data_len, sizeof(fh));
	assert_memory_equal(a.file.data.data_val, fh, sizeof(fh));
	assert_int_equal(a.offset, 1 << 20);
	assert_int_equal(a.count, dlen);
	assert_int_equal(a.stable, FILE_SYNC);
	assert_int_equal(a.data.data_len, dlen);
	assert_memory_equal(a.data.data_val, data, dlen);
	zdr_destroy(&z);
}

static void test_call_refusals(void **state)
{
	(void)state;
	uint8_t hdr[PVNFS_WIRE_WRITE_HDR_MAX];
	uint32_t many[PVNFS_WIRE_MAX_GROUPS + 1] = { 0 };
	struct pvnfs_wire_auth a = auth;
	struct pvnfs_wire_write w = { .auth = &a, .fh = fh, .fh_len = 27, .count = 1 };
	size_t pad;

	w.fh_len = 0;
	assert_int_equal(pvnfs_wire_write_call(hdr, sizeof(hdr), &w, &pad), -EINVAL);
	w.fh_len = PVNFS_WIRE_FHSIZE + 1;
	assert_int_equal(pvnfs_wire_write_call(hdr, sizeof(hdr), &w, &pad), -EINVAL);
	w.fh_len = 27;
	a.groups = many;
	a.n = PVNFS_WIRE_MAX_GROUPS + 1;
	assert_int_equal(pvnfs_wire_write_call(hdr, sizeof(hdr), &w, &pad), -EINVAL);
	a.n = PVNFS_WIRE_MAX_GROUPS; /* the largest header fits the documented size */
	a.machine = "0123456789abcdef0123456789abcdef";
	static uint8_t fh64[PVNFS_WIRE_FHSIZE];
	w.fh = fh64;
	w.fh_len = sizeof(fh64);
	assert_int_equal(pvnfs_wire_write_call(hdr, sizeof(hdr), &w, &pad), PVNFS_WIRE_WRITE_HDR_MAX);
	assert_int_equal(pvnfs_wire_write_call(hdr, sizeof(hdr) - 1, &w, &pad), -ENOSPC);
	a.machine = "0123456789abcdef0123456789abcdefX";
	assert_int_equal(pvnfs_wire_write_call(hdr, sizeof(hdr), &w, &pad), -EINVAL);
	a.machine = "pvnode";
	w.stable = 3;
	assert_int_equal(pvnfs_wire_write_call(hdr, sizeof(hdr), &w, &pad), -EINVAL);
	w.stable = PVNFS_WIRE_UNSTABLE;
	w.auth = NULL;
	assert_int_equal(pvnfs_wire_write_call(hdr, sizeof(hdr), &w, &pad), -EINVAL);
}

/* A reply record: RPC header (accepted, a verifier of vlen bytes, SUCCESS) + WRITE3res
 * encoded by libnfs. Returns its length. */
static size_t reply(uint8_t *buf, size_t cap, uint32_t xid, uint32_t vlen, WRITE3res *res)
{
	uint8_t *p = put(buf, xid);
	p = put(p, 1);          /* REPLY */
	p = put(p, 0);          /* MSG_ACCEPTED */
	p = put(p, 0);          /* verifier flavor */
	p = put(p, vlen);
	memset(p, 0xab, (vlen + 3) & ~3u);
	p += (vlen + 3) & ~3u;
	p = put(p, 0);          /* SUCCESS */
	ZDR z;
	size_t head = (size_t)(p - buf);
	zdrmem_create(&z, (caddr_t)p, (uint32_t)(cap - head), ZDR_ENCODE);
	assert_true(zdr_WRITE3res(&z, res));
	size_t len = head + zdr_getpos(&z);
	zdr_destroy(&z);
	return len;
}

static void test_reply_ok(void **state)
{
	(void)state;
	uint8_t rec[512];
	WRITE3res res;
	struct pvnfs_wire_write_res out;

	memset(&res, 0, sizeof(res));
	res.status = NFS3_OK;
	res.WRITE3res_u.resok.count = 1048576;
	res.WRITE3res_u.resok.committed = UNSTABLE;
	memcpy(res.WRITE3res_u.resok.verf, "verifier", 8);
	size_t n = reply(rec, sizeof(rec), 42, 0, &res);
	assert_int_equal(pvnfs_wire_write_reply(rec, n, 42, &out), 0);
	assert_int_equal(out.nfsstat, 0);
	assert_int_equal(out.count, 1048576);
	assert_int_equal(out.committed, PVNFS_WIRE_UNSTABLE);
	assert_memory_equal(out.verf, "verifier", 8);

	/* with both attribute blocks, as ganesha sends them, and a verifier of 5 bytes */
	res.WRITE3res_u.resok.file_wcc.before.attributes_follow = 1;
	res.WRITE3res_u.resok.file_wcc.before.pre_op_attr_u.attributes.size = 77;
	res.WRITE3res_u.resok.file_wcc.after.attributes_follow = 1;
	res.WRITE3res_u.resok.file_wcc.after.post_op_attr_u.attributes.size = 99;
	res.WRITE3res_u.resok.committed = FILE_SYNC;
	res.WRITE3res_u.resok.count = 3;
	n = reply(rec, sizeof(rec), 43, 5, &res);
	assert_int_equal(n, 24 + 8 + 4 + 4 + 24 + 4 + 84 + 16);
	assert_int_equal(pvnfs_wire_write_reply(rec, n, 43, &out), 0);
	assert_int_equal(out.count, 3);
	assert_int_equal(out.committed, PVNFS_WIRE_FILE_SYNC);

	/* a failed WRITE is a reply: its status, and its wcc_data skipped */
	memset(&res, 0, sizeof(res));
	res.status = NFS3ERR_NOSPC;
	res.WRITE3res_u.resfail.file_wcc.after.attributes_follow = 1;
	n = reply(rec, sizeof(rec), 44, 0, &res);
	assert_int_equal(pvnfs_wire_write_reply(rec, n, 44, &out), 0);
	assert_int_equal(out.nfsstat, NFS3ERR_NOSPC);
}

static void test_reply_bad(void **state)
{
	(void)state;
	uint8_t rec[512], *p;
	WRITE3res res;
	struct pvnfs_wire_write_res out;

	memset(&res, 0, sizeof(res));
	res.WRITE3res_u.resok.count = 10;
	res.WRITE3res_u.resok.file_wcc.after.attributes_follow = 1;
	size_t n = reply(rec, sizeof(rec), 5, 0, &res);

	assert_int_equal(pvnfs_wire_write_reply(rec, n, 6, &out), -EPROTO);      /* other xid */
	for (size_t k = 0; k < n; k += 4)                                         /* short */
		assert_int_equal(pvnfs_wire_write_reply(rec, k, 5, &out), -EPROTO);
	assert_int_equal(pvnfs_wire_write_reply(rec, n - 1, 5, &out), -EPROTO);
	memset(rec + n, 0, 4);                                                    /* trailing */
	assert_int_equal(pvnfs_wire_write_reply(rec, n + 4, 5, &out), -EPROTO);
	assert_int_equal(pvnfs_wire_write_reply(rec, n, 5, &out), 0);

	put(rec + 4, 0);                                                          /* a CALL */
	assert_int_equal(pvnfs_wire_write_reply(rec, n, 5, &out), -EPROTO);
	put(rec + 4, 1);
	put(rec + 20, 1);                                                         /* PROG_UNAVAIL */
	assert_int_equal(pvnfs_wire_write_reply(rec, n, 5, &out), -EPROTO);
	put(rec + 20, 0);
	put(rec + 28, 2);                               /* pre_op_attr: a boolean that is 2 */
	assert_int_equal(pvnfs_wire_write_reply(rec, n, 5, &out), -EPROTO);
	put(rec + 28, 1);                    /* attributes said to follow that are not there */
	assert_int_equal(pvnfs_wire_write_reply(rec, n, 5, &out), -EPROTO);
	put(rec + 28, 0);
	put(rec + n - 12, 3);                                 /* committed: no such stable_how */
	assert_int_equal(pvnfs_wire_write_reply(rec, n, 5, &out), -EPROTO);
	put(rec + n - 12, 0);
	assert_int_equal(pvnfs_wire_write_reply(rec, n, 5, &out), 0);

	put(rec + 16, 0x7fffffff);                            /* verifier longer than allowed */
	assert_int_equal(pvnfs_wire_write_reply(rec, n, 5, &out), -EPROTO);

	/* MSG_DENIED: AUTH_ERROR (credentials refused) vs RPC_MISMATCH */
	p = put(rec, 9);
	p = put(p, 1);
	p = put(p, 1);
	p = put(p, 1);            /* AUTH_ERROR */
	p = put(p, 1);            /* AUTH_BADCRED */
	assert_int_equal(pvnfs_wire_write_reply(rec, (size_t)(p - rec), 9, &out), -EACCES);
	put(rec + 12, 0);         /* RPC_MISMATCH */
	assert_int_equal(pvnfs_wire_write_reply(rec, (size_t)(p - rec), 9, &out), -EPROTO);
	put(rec + 8, 2);          /* neither accepted nor denied */
	assert_int_equal(pvnfs_wire_write_reply(rec, (size_t)(p - rec), 9, &out), -EPROTO);
	assert_int_equal(pvnfs_wire_write_reply(rec, 0, 9, &out), -EPROTO);
}

static void test_frag_len(void **state)
{
	(void)state;
	const uint8_t a[4] = { 0x80, 0, 1, 0 }, b[4] = { 0x7f, 0xff, 0xff, 0xff };
	int last;

	assert_int_equal(pvnfs_wire_frag_len(a, &last), 256);
	assert_true(last);
	assert_int_equal(pvnfs_wire_frag_len(b, &last), 0x7fffffff);
	assert_false(last);
}

static void test_record(void **state)
{
	(void)state;
	uint8_t raw[64], rec[16];
	size_t len;

	/* one fragment of 5 bytes */
	memcpy(raw, "\x80\0\0\x05hello", 9);
	for (size_t have = 0; have < 9; have++)
		assert_int_equal(pvnfs_wire_record(raw, have, rec, sizeof(rec), &len), 0);
	assert_int_equal(pvnfs_wire_record(raw, 9, rec, sizeof(rec), &len), 1);
	assert_int_equal(len, 5);
	assert_memory_equal(rec, "hello", 5);
	assert_int_equal(pvnfs_wire_record(raw, 10, rec, sizeof(rec), &len), -EPROTO); /* trailing */
	/* two fragments joined, the first not last */
	memcpy(raw, "\0\0\0\x03" "abc\x80\0\0\x02" "de", 13);
	assert_int_equal(pvnfs_wire_record(raw, 7, rec, sizeof(rec), &len), 0);
	assert_int_equal(pvnfs_wire_record(raw, 12, rec, sizeof(rec), &len), 0);
	assert_int_equal(pvnfs_wire_record(raw, 13, rec, sizeof(rec), &len), 1);
	assert_int_equal(len, 5);
	assert_memory_equal(rec, "abcde", 5);
	/* larger than the buffer: refused before it arrives */
	memcpy(raw, "\x80\0\0\x11", 4);
	assert_int_equal(pvnfs_wire_record(raw, 4, rec, sizeof(rec), &len), -EPROTO);
	memcpy(raw, "\xff\xff\xff\xff", 4);
	assert_int_equal(pvnfs_wire_record(raw, 4, rec, sizeof(rec), &len), -EPROTO);
	/* empty fragments are allowed */
	memcpy(raw, "\0\0\0\0\x80\0\0\0", 8);
	assert_int_equal(pvnfs_wire_record(raw, 8, rec, sizeof(rec), &len), 1);
	assert_int_equal(len, 0);
}


/* ---- READ ---- */

static void test_read_call(void **state)
{
	(void)state;
	uint8_t rec[PVNFS_WIRE_READ_CALL_MAX];
	struct pvnfs_wire_read r = { .xid = 0x01020304, .auth = &auth, .fh = fh, .fh_len = 27,
				     .offset = 0x123456789aULL, .count = 1 << 20 };
	int n = pvnfs_wire_read_call(rec, sizeof(rec), &r), last = 0;

	/* 4 mark + 24 call + 8 cred head + 4 stamp + 4+8 machine + 12 ids + 12 groups
	 * + 8 verifier + 4+28 handle + 8 offset + 4 count */
	assert_int_equal(n, 4 + 24 + 8 + 4 + 12 + 12 + 12 + 8 + 32 + 8 + 4);
	assert_int_equal(pvnfs_wire_frag_len(rec, &last), (uint32_t)n - 4);
	assert_true(last);
	assert_int_equal(word(rec + 4), 0x01020304);
	assert_int_equal(word(rec + 8), 0);         /* CALL */
	assert_int_equal(word(rec + 16), 100003);   /* NFS */
	assert_int_equal(word(rec + 20), 3);
	assert_int_equal(word(rec + 24), 6);        /* READ */
	assert_int_equal(word(rec + 28), 1);        /* AUTH_SYS */

	/* what libnfs's XDR reads after the call header: the same READ3args */
	size_t args = 4 + 24 + 8 + 4 + 12 + 12 + 12 + 8;
	ZDR z;
	READ3args a;
	memset(&a, 0, sizeof(a));
	zdrmem_create(&z, (caddr_t)rec + args, (uint32_t)((size_t)n - args), ZDR_DECODE);
	assert_true(zdr_READ3args(&z, &a));
	assert_int_equal(zdr_getpos(&z), (size_t)n - args);
	assert_int_equal(a.file.data.data_len, 27);
	assert_memory_equal(a.file.data.data_val, fh, 27);
	assert_int_equal(a.offset, 0x123456789aULL);
	assert_int_equal(a.count, 1 << 20);
	zdr_destroy(&z);

	/* refusals, and the largest call fits the documented size exactly */
	r.count = 0;
	assert_int_equal(pvnfs_wire_read_call(rec, sizeof(rec), &r), -EINVAL);
	r.count = PVNFS_WIRE_READ_MAX + 1;
	assert_int_equal(pvnfs_wire_read_call(rec, sizeof(rec), &r), -EINVAL);
	r.count = PVNFS_WIRE_READ_MAX;
	r.fh_len = 0;
	assert_int_equal(pvnfs_wire_read_call(rec, sizeof(rec), &r), -EINVAL);
	static uint8_t fh64[PVNFS_WIRE_FHSIZE];
	static uint32_t many[PVNFS_WIRE_MAX_GROUPS + 1];
	struct pvnfs_wire_auth big = { .machine = "0123456789abcdef0123456789abcdef",
				       .n = PVNFS_WIRE_MAX_GROUPS, .groups = many };
	r.auth = &big;
	r.fh = fh64;
	r.fh_len = sizeof(fh64);
	assert_int_equal(pvnfs_wire_read_call(rec, sizeof(rec), &r), PVNFS_WIRE_READ_CALL_MAX);
	assert_int_equal(pvnfs_wire_read_call(rec, sizeof(rec) - 1, &r), -ENOSPC);
	big.n = PVNFS_WIRE_MAX_GROUPS + 1;
	assert_int_equal(pvnfs_wire_read_call(rec, sizeof(rec), &r), -EINVAL);
	r.auth = NULL;
	assert_int_equal(pvnfs_wire_read_call(rec, sizeof(rec), &r), -EINVAL);
}

/* A READ reply record: RPC header (accepted, a verifier of vlen bytes, SUCCESS) +
 * READ3res encoded by libnfs. Returns its length. */
static size_t read_reply(uint8_t *buf, size_t cap, uint32_t xid, uint32_t vlen, READ3res *res)
{
	uint8_t *p = put(buf, xid);
	p = put(p, 1);
	p = put(p, 0);
	p = put(p, 0);
	p = put(p, vlen);
	memset(p, 0xcd, (vlen + 3) & ~3u);
	p += (vlen + 3) & ~3u;
	p = put(p, 0);
	ZDR z;
	size_t head = (size_t)(p - buf);
	zdrmem_create(&z, (caddr_t)p, (uint32_t)(cap - head), ZDR_ENCODE);
	assert_true(zdr_READ3res(&z, res));
	size_t len = head + zdr_getpos(&z);
	zdr_destroy(&z);
	return len;
}

/* Decode as the helper receives: start with nothing, take exactly what the decoder asks
 * for. It must never ask for a byte past the header (the data goes elsewhere), and every
 * prefix of the header must ask for more than it has. */
static int read_in_pieces(const uint8_t *rec, size_t len, uint32_t xid, struct pvnfs_wire_read_res *res)
{
	size_t have = 0;
	int r, steps = 0;

	while ((r = pvnfs_wire_read_reply(rec, have, xid, res)) > 0) {
		assert_true((size_t)r > have);
		assert_true((size_t)r <= len);
		have = (size_t)r;
		assert_true(++steps < 64);
	}
	if (r == 0) {
		assert_int_equal(res->hdr_len, have);
		for (size_t k = 0; k < have; k++) { /* any shorter prefix: more is needed */
			struct pvnfs_wire_read_res tmp;
			int q = pvnfs_wire_read_reply(rec, k, xid, &tmp);
			assert_true(q > (int)k && (size_t)q <= have);
		}
	}
	return r;
}

static void test_read_reply_ok(void **state)
{
	(void)state;
	static uint8_t rec[4096];
	static char data[] = "eleven byte";
	READ3res res;
	struct pvnfs_wire_read_res out;

	/* as ganesha answers: attributes, data not a multiple of 4, at the end of the file */
	memset(&res, 0, sizeof(res));
	res.status = NFS3_OK;
	res.READ3res_u.resok.file_attributes.attributes_follow = 1;
	res.READ3res_u.resok.file_attributes.post_op_attr_u.attributes.size = 11;
	res.READ3res_u.resok.count = 11;
	res.READ3res_u.resok.eof = 1;
	res.READ3res_u.resok.data.data_len = 11;
	res.READ3res_u.resok.data.data_val = data;
	size_t n = read_reply(rec, sizeof(rec), 77, 0, &res);
	assert_int_equal(read_in_pieces(rec, n, 77, &out), 0);
	assert_int_equal(out.nfsstat, 0);
	assert_int_equal(out.count, 11);
	assert_int_equal(out.data_len, 11);
	assert_int_equal(out.eof, 1);
	assert_int_equal(out.hdr_len, 24 + 4 + 4 + 84 + 12);
	assert_memory_equal(rec + out.hdr_len, data, 11);
	assert_int_equal(out.hdr_len + 11 + 1, n); /* then one byte of padding: the record ends */

	/* no attributes, a verifier of 6 bytes, not at the end */
	res.READ3res_u.resok.file_attributes.attributes_follow = 0;
	res.READ3res_u.resok.eof = 0;
	n = read_reply(rec, sizeof(rec), 78, 6, &res);
	assert_int_equal(read_in_pieces(rec, n, 78, &out), 0);
	assert_int_equal(out.hdr_len, 24 + 8 + 4 + 4 + 12);
	assert_int_equal(out.eof, 0);
	assert_memory_equal(rec + out.hdr_len, data, 11);

	/* nothing at all past the end of the file */
	res.READ3res_u.resok.count = 0;
	res.READ3res_u.resok.eof = 1;
	res.READ3res_u.resok.data.data_len = 0;
	n = read_reply(rec, sizeof(rec), 79, 0, &res);
	assert_int_equal(read_in_pieces(rec, n, 79, &out), 0);
	assert_int_equal(out.data_len, 0);
	assert_int_equal(out.hdr_len, n);

	/* a failed READ is a reply: its status; the record ends after its attributes */
	memset(&res, 0, sizeof(res));
	res.status = NFS3ERR_STALE;
	res.READ3res_u.resfail.file_attributes.attributes_follow = 1;
	n = read_reply(rec, sizeof(rec), 80, 0, &res);
	assert_int_equal(read_in_pieces(rec, n, 80, &out), 0);
	assert_int_equal(out.nfsstat, NFS3ERR_STALE);
	assert_int_equal(out.hdr_len, n);
}

static void test_read_reply_bad(void **state)
{
	(void)state;
	static uint8_t rec[4096];
	static char data[8] = "abcdefgh";
	uint8_t *p;
	READ3res res;
	struct pvnfs_wire_read_res out;

	memset(&res, 0, sizeof(res));
	res.READ3res_u.resok.file_attributes.attributes_follow = 1;
	res.READ3res_u.resok.count = 8;
	res.READ3res_u.resok.data.data_len = 8;
	res.READ3res_u.resok.data.data_val = data;
	size_t n = read_reply(rec, sizeof(rec), 5, 0, &res);
	size_t cnt = 24 + 4 + 4 + 84; /* offset of count, eof, data length */

	assert_int_equal(pvnfs_wire_read_reply(rec, n, 5, &out), 0);
	assert_int_equal(pvnfs_wire_read_reply(rec, n, 6, &out), -EPROTO);   /* other xid */
	put(rec + 4, 0);                                                      /* a CALL */
	assert_int_equal(pvnfs_wire_read_reply(rec, n, 5, &out), -EPROTO);
	put(rec + 4, 1);
	put(rec + 20, 1);                                                     /* PROG_UNAVAIL */
	assert_int_equal(pvnfs_wire_read_reply(rec, n, 5, &out), -EPROTO);
	put(rec + 20, 0);
	put(rec + 28, 2);                                 /* post_op_attr: a boolean that is 2 */
	assert_int_equal(pvnfs_wire_read_reply(rec, n, 5, &out), -EPROTO);
	put(rec + 28, 1);
	put(rec + cnt + 4, 2);                                      /* eof: a boolean that is 2 */
	assert_int_equal(pvnfs_wire_read_reply(rec, n, 5, &out), -EPROTO);
	put(rec + cnt + 4, 0);
	put(rec + cnt, 7);                                      /* count and data length differ */
	assert_int_equal(pvnfs_wire_read_reply(rec, n, 5, &out), -EPROTO);
	put(rec + cnt, PVNFS_WIRE_READ_MAX + 4);                   /* both larger than allowed */
	put(rec + cnt + 8, PVNFS_WIRE_READ_MAX + 4);
	assert_int_equal(pvnfs_wire_read_reply(rec, n, 5, &out), -EPROTO);
	put(rec + cnt, 8);
	put(rec + cnt + 8, 8);
	assert_int_equal(pvnfs_wire_read_reply(rec, n, 5, &out), 0);
	put(rec + 16, OPAQUE_AUTH_LIMIT + 4);                 /* verifier longer than allowed */
	assert_int_equal(pvnfs_wire_read_reply(rec, n, 5, &out), -EPROTO);
	put(rec + 16, 0);

	/* MSG_DENIED: AUTH_ERROR (credentials refused) vs RPC_MISMATCH; neither */
	p = put(rec, 9);
	p = put(p, 1);
	p = put(p, 1);
	p = put(p, 1);
	p = put(p, 1);
	assert_int_equal(read_in_pieces(rec, (size_t)(p - rec), 9, &out), -EACCES);
	put(rec + 12, 0);
	assert_int_equal(read_in_pieces(rec, (size_t)(p - rec), 9, &out), -EPROTO);
	put(rec + 8, 2);
	assert_int_equal(read_in_pieces(rec, (size_t)(p - rec), 9, &out), -EPROTO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_call_words),
		cmocka_unit_test(test_call_libnfs_decodes),
		cmocka_unit_test(test_call_refusals),
		cmocka_unit_test(test_reply_ok),
		cmocka_unit_test(test_reply_bad),
		cmocka_unit_test(test_frag_len),
		cmocka_unit_test(test_record),
		cmocka_unit_test(test_read_call),
		cmocka_unit_test(test_read_reply_ok),
		cmocka_unit_test(test_read_reply_bad),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
