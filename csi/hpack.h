/*
 * hpack.h — HPACK (RFC 7541) for the CSI server's HTTP/2: a decoder with the static and
 * dynamic tables and Huffman strings; an encoder that writes literals without indexing
 * and without Huffman (so it keeps no state).
 */
#ifndef PV_CSI_HPACK_H
#define PV_CSI_HPACK_H
#include <stddef.h>
#include <stdint.h>

#define HPACK_TABLE_DEFAULT 4096

struct hpack_entry;
struct hpack_dec {
	size_t limit;    /* SETTINGS_HEADER_TABLE_SIZE we advertised */
	size_t cap;      /* the table size the peer chose (<= limit) */
	size_t size;     /* sum of entry sizes (name + value + 32) */
	unsigned n;      /* entries, newest first */
	struct hpack_entry **e;
};

/* One decoded field; name and value are NUL-terminated. Return 0 or -errno to stop. */
typedef int (*hpack_field_fn)(void *arg, const char *name, size_t nlen, const char *value, size_t vlen);

void hpack_dec_init(struct hpack_dec *d, size_t limit);
void hpack_dec_free(struct hpack_dec *d);
/* A whole header block: 0, -EPROTO (a compression error: the connection is lost), or the
 * callback's error. */
int hpack_decode(struct hpack_dec *d, const uint8_t *p, size_t len, hpack_field_fn fn, void *arg);
/* Huffman-coded `in` into out[cap]: 0 and *olen, or -EPROTO (bad code, padding, EOS) or
 * -ENOBUFS. */
int hpack_huffman_decode(const uint8_t *in, size_t len, char *out, size_t cap, size_t *olen);
/* Appends a literal field without indexing to out[cap] at *pos; -ENOBUFS (and *pos
 * unchanged) when it does not fit. */
int hpack_encode(uint8_t *out, size_t cap, size_t *pos, const char *name, const char *value, size_t vlen);
#endif
