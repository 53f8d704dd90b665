/*
 * hpack.c — HPACK header compression (RFC 7541), see hpack.h.
 *
 * The Huffman code is canonical: every code follows from the code lengths of Appendix B
 * (symbols of one length are consecutive codes in symbol order, EOS the last 30-bit one),
 * so only the 256 lengths are kept and decoding walks per-length first codes.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "hpack.h"

struct hpack_entry {
	size_t nlen, vlen;
	char data[];   /* name NUL value NUL */
};

static const uint8_t huff_len[256] = {
	13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28,
	28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
	6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6,
	5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
	13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
	7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
	15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5,
	6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
	20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23,
	24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
	22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23,
	21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
	26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25,
	19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
	20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23,
	26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
};

#define HUFF_MAXLEN 30
struct huff_tab {
	uint32_t first[HUFF_MAXLEN + 1];   /* first code of each length */
	uint16_t count[HUFF_MAXLEN + 1];
	uint16_t offset[HUFF_MAXLEN + 1];  /* index into sym of that first code */
	uint16_t sym[257];                 /* symbols by (length, symbol); 256 = EOS */
};
static struct huff_tab huff;
static pthread_once_t huff_once = PTHREAD_ONCE_INIT;

static void huff_build(void)
{
	unsigned k = 0;
	uint32_t code = 0;
	for (unsigned l = 1; l <= HUFF_MAXLEN; l++) {
		huff.first[l] = code;
		huff.offset[l] = (uint16_t)k;
		for (unsigned s = 0; s < 257; s++) {
			unsigned sl = s == 256 ? 30 : huff_len[s];
			if (sl == l) {
				huff.sym[k++] = (uint16_t)s;
				huff.count[l]++;
				code++;
			}
		}
		code <<= 1;
	}
}

int hpack_huffman_decode(const uint8_t *in, size_t len, char *out, size_t cap, size_t *olen)
{
	uint32_t code = 0;
	unsigned bits = 0;   /* bits in code */
	bool ones = true;    /* the pending bits are all 1 (a prefix of EOS) */
	size_t o = 0;

	pthread_once(&huff_once, huff_build);   /* a second build would double the counts */
	for (size_t i = 0; i < len; i++) {
		for (int b = 7; b >= 0; b--) {
			unsigned bit = (in[i] >> b) & 1;
			code = code << 1 | bit;
			bits++;
			ones = ones && bit;
			if (bits > HUFF_MAXLEN)
				return -EPROTO;
			if (code - huff.first[bits] < huff.count[bits]) {
				unsigned s = huff.sym[huff.offset[bits] + (code - huff.first[bits])];
				if (s == 256)
					return -EPROTO;   /* EOS in a string is an error (5.2) */
				if (o >= cap)
					return -ENOBUFS;
				out[o++] = (char)s;
				code = 0;
				bits = 0;
				ones = true;
			}
		}
	}
	if (bits > 7 || !ones)
		return -EPROTO;   /* padding longer than 7 bits or not the EOS prefix */
	*olen = o;
	return 0;
}

static const char *const static_table[61][2] = {
	{":authority", ""}, {":method", "GET"}, {":method", "POST"}, {":path", "/"},
	{":path", "/index.html"}, {":scheme", "http"}, {":scheme", "https"}, {":status", "200"},
	{":status", "204"}, {":status", "206"}, {":status", "304"}, {":status", "400"},
	{":status", "404"}, {":status", "500"}, {"accept-charset", ""},
	{"accept-encoding", "gzip, deflate"}, {"accept-language", ""}, {"accept-ranges", ""},
	{"accept", ""}, {"access-control-allow-origin", ""}, {"age", ""}, {"allow", ""},
	{"authorization", ""}, {"cache-control", ""}, {"content-disposition", ""},
	{"content-encoding", ""}, {"content-language", ""}, {"content-length", ""},
	{"content-location", ""}, {"content-range", ""}, {"content-type", ""}, {"cookie", ""},
	{"date", ""}, {"etag", ""}, {"expect", ""}, {"expires", ""}, {"from", ""}, {"host", ""},
	{"if-match", ""}, {"if-modified-since", ""}, {"if-none-match", ""}, {"if-range", ""},
	{"if-unmodified-since", ""}, {"last-modified", ""}, {"link", ""}, {"location", ""},
	{"max-forwards", ""}, {"proxy-authenticate", ""}, {"proxy-authorization", ""},
	{"range", ""}, {"referer", ""}, {"refresh", ""}, {"retry-after", ""}, {"server", ""},
	{"set-cookie", ""}, {"strict-transport-security", ""}, {"transfer-encoding", ""},
	{"user-agent", ""}, {"vary", ""}, {"via", ""}, {"www-authenticate", ""},
};

void hpack_dec_init(struct hpack_dec *d, size_t limit)
{
	memset(d, 0, sizeof(*d));
	d->limit = d->cap = limit;
}

void hpack_dec_free(struct hpack_dec *d)
{
	for (unsigned i = 0; i < d->n; i++)
		free(d->e[i]);
	free(d->e);
	d->e = NULL;
	d->n = 0;
	d->size = 0;
}

static void evict_to(struct hpack_dec *d, size_t cap)
{
	while (d->n && d->size > cap) {
		struct hpack_entry *e = d->e[--d->n];
		d->size -= e->nlen + e->vlen + 32;
		free(e);
	}
}

static int table_add(struct hpack_dec *d, const char *n, size_t nl, const char *v, size_t vl)
{
	size_t sz = nl + vl + 32;
	if (sz > d->cap) {   /* larger than the table: empties it (4.4) */
		evict_to(d, 0);
		return 0;
	}
	evict_to(d, d->cap - sz);
	struct hpack_entry *e = malloc(sizeof(*e) + nl + vl + 2);
	if (!e)
		return -ENOMEM;
	/* entries are >= 32 bytes, so at most cap / 32 of them */
	if (!d->e && !(d->e = calloc(d->limit / 32 + 1, sizeof(*d->e)))) {
		free(e);
		return -ENOMEM;
	}
	e->nlen = nl;
	e->vlen = vl;
	memcpy(e->data, n, nl);
	e->data[nl] = '\0';
	memcpy(e->data + nl + 1, v, vl);
	e->data[nl + 1 + vl] = '\0';
	memmove(d->e + 1, d->e, d->n * sizeof(*d->e));
	d->e[0] = e;
	d->n++;
	d->size += sz;
	return 0;
}

static int get_int(const uint8_t **p, const uint8_t *end, unsigned prefix, uint32_t *out)
{
	uint32_t max = (1u << prefix) - 1, v;
	if (*p >= end)
		return -EPROTO;
	v = **p & max;
	(*p)++;
	if (v < max) {
		*out = v;
		return 0;
	}
	for (unsigned shift = 0;; shift += 7) {
		if (*p >= end || shift > 21)
			return -EPROTO;   /* truncated, or beyond 2^28: no field here is that long */
		uint8_t b = *(*p)++;
		v += (uint32_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			break;
	}
	*out = v;
	return 0;
}

/* A string literal: into *s (a malloc'd buffer the caller frees), NUL-terminated. */
static int get_str(const uint8_t **p, const uint8_t *end, char **s, size_t *slen)
{
	uint32_t len;
	if (*p >= end)
		return -EPROTO;
	bool huffman = **p & 0x80;
	if (get_int(p, end, 7, &len) < 0 || len > (size_t)(end - *p))
		return -EPROTO;
	size_t cap = huffman ? (size_t)len * 8 / 5 + 1 : len + 1;
	char *b = malloc(cap);
	if (!b)
		return -ENOMEM;
	if (huffman) {
		int r = hpack_huffman_decode(*p, len, b, cap - 1, slen);
		if (r < 0) {
			free(b);
			return -EPROTO;
		}
	} else {
		memcpy(b, *p, len);
		*slen = len;
	}
	b[*slen] = '\0';
	*p += len;
	*s = b;
	return 0;
}

/* Index (1-based, static then dynamic) → name and value. */
static int lookup(const struct hpack_dec *d, uint32_t idx, const char **n, size_t *nl, const char **v,
		  size_t *vl)
{
	if (idx == 0)
		return -EPROTO;
	if (idx <= 61) {
		*n = static_table[idx - 1][0];
		*v = static_table[idx - 1][1];
		*nl = strlen(*n);
		*vl = strlen(*v);
		return 0;
	}
	if (idx - 62 >= d->n)
		return -EPROTO;
	const struct hpack_entry *e = d->e[idx - 62];
	*n = e->data;
	*nl = e->nlen;
	*v = e->data + e->nlen + 1;
	*vl = e->vlen;
	return 0;
}

int hpack_decode(struct hpack_dec *d, const uint8_t *p, size_t len, hpack_field_fn fn, void *arg)
{
	const uint8_t *end = p + len;
	bool fields = false;
	int r = 0;

	while (p < end && r == 0) {
		uint8_t b = *p;
		uint32_t idx;
		const char *n, *v;
		size_t nl, vl;
		char *ns = NULL, *vs = NULL;

		if (b & 0x80) {   /* indexed field */
			if (get_int(&p, end, 7, &idx) < 0 || lookup(d, idx, &n, &nl, &v, &vl) < 0)
				return -EPROTO;
			fields = true;
			r = fn(arg, n, nl, v, vl);
			continue;
		}
		if ((b & 0xe0) == 0x20) {   /* dynamic table size update, before any field */
			if (fields || get_int(&p, end, 5, &idx) < 0 || idx > d->limit)
				return -EPROTO;
			d->cap = idx;
			evict_to(d, idx);
			continue;
		}
		bool incremental = (b & 0xc0) == 0x40;
		if (get_int(&p, end, incremental ? 6 : 4, &idx) < 0)
			return -EPROTO;
		if (idx) {
			const char *sv;
			size_t svl;
			if (lookup(d, idx, &n, &nl, &sv, &svl) < 0)
				return -EPROTO;
			/* the name may be a dynamic entry that adding this one evicts: copy it */
			if (!(ns = malloc(nl + 1)))
				return -ENOMEM;
			memcpy(ns, n, nl + 1);
		} else if ((r = get_str(&p, end, &ns, &nl)) < 0) {
			return r;
		}
		if ((r = get_str(&p, end, &vs, &vl)) < 0) {
			free(ns);
			return r;
		}
		fields = true;
		if (incremental)
			r = table_add(d, ns, nl, vs, vl);
		if (r == 0)
			r = fn(arg, ns, nl, vs, vl);
		free(ns);
		free(vs);
	}
	return r;
}

static int put_int(uint8_t *out, size_t cap, size_t *pos, uint8_t first, unsigned prefix, size_t v)
{
	size_t max = ((size_t)1 << prefix) - 1;
	if (*pos >= cap)
		return -ENOBUFS;
	if (v < max) {
		out[(*pos)++] = (uint8_t)(first | v);
		return 0;
	}
	out[(*pos)++] = (uint8_t)(first | max);
	v -= max;
	for (;;) {
		if (*pos >= cap)
			return -ENOBUFS;
		if (v < 128) {
			out[(*pos)++] = (uint8_t)v;
			return 0;
		}
		out[(*pos)++] = (uint8_t)(0x80 | (v & 0x7f));
		v >>= 7;
	}
}

static int put_str(uint8_t *out, size_t cap, size_t *pos, const char *s, size_t len)
{
	if (put_int(out, cap, pos, 0, 7, len) < 0 || cap - *pos < len)
		return -ENOBUFS;
	memcpy(out + *pos, s, len);
	*pos += len;
	return 0;
}

int hpack_encode(uint8_t *out, size_t cap, size_t *pos, const char *name, const char *value, size_t vlen)
{
	size_t start = *pos;
	if (*pos >= cap)
		return -ENOBUFS;
	out[(*pos)++] = 0x00;   /* literal without indexing, new name */
	if (put_str(out, cap, pos, name, strlen(name)) < 0 || put_str(out, cap, pos, value, vlen) < 0) {
		*pos = start;   /* no half field: the block stays decodable without it */
		return -ENOBUFS;
	}
	return 0;
}
