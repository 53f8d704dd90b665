/* Unit tests: the CSI server's HPACK decoder (csi/hpack.c) on RFC 7541 Appendix C, and
 * h2.c's frame handling (csi/h2.c) on edge cases, through its byte-in/byte-out API. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "h2.h"
#include "hpack.h"

static size_t unhex(const char *h, uint8_t *out)
{
	size_t n = 0;
	while (*h) {
		if (*h == ' ') {
			h++;
			continue;
		}
		char two[3] = {h[0], h[1], '\0'};
		out[n++] = (uint8_t)strtoul(two, NULL, 16);
		h += 2;
	}
	return n;
}

struct collect {
	char text[2048];
};

static int collect_fn(void *arg, const char *n, size_t nl, const char *v, size_t vl)
{
	struct collect *c = arg;
	size_t l = strlen(c->text);
	snprintf(c->text + l, sizeof(c->text) - l, "%.*s: %.*s\n", (int)nl, n, (int)vl, v);
	return 0;
}

static void decodes(struct hpack_dec *d, const char *hex, const char *want, size_t table_size)
{
	uint8_t buf[1024];
	struct collect c = {{0}};
	size_t n = unhex(hex, buf);
	assert_int_equal(hpack_decode(d, buf, n, collect_fn, &c), 0);
	assert_string_equal(c.text, want);
	assert_int_equal(d->size, table_size);
}

#define REQ1 ":method: GET\n:scheme: http\n:path: /\n:authority: www.example.com\n"
#define REQ2 ":method: GET\n:scheme: http\n:path: /\n:authority: www.example.com\ncache-control: no-cache\n"
#define REQ3 ":method: GET\n:scheme: https\n:path: /index.html\n:authority: www.example.com\ncustom-key: custom-value\n"

static void c3_requests_plain(void **state)
{
	(void)state;
	struct hpack_dec d;
	hpack_dec_init(&d, 4096);
	decodes(&d, "828684410f7777772e6578616d706c652e636f6d", REQ1, 57);
	decodes(&d, "828684be58086e6f2d6361636865", REQ2, 110);
	decodes(&d, "828785bf400a637573746f6d2d6b65790c637573746f6d2d76616c7565", REQ3, 164);
	assert_int_equal(d.n, 3);
	hpack_dec_free(&d);
}

static void c4_requests_huffman(void **state)
{
	(void)state;
	struct hpack_dec d;
	hpack_dec_init(&d, 4096);
	decodes(&d, "828684418cf1e3c2e5f23a6ba0ab90f4ff", REQ1, 57);
	decodes(&d, "828684be5886a8eb10649cbf", REQ2, 110);
	decodes(&d, "828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf", REQ3, 164);
	hpack_dec_free(&d);
}

#define RESP1 ":status: 302\ncache-control: private\ndate: Mon, 21 Oct 2013 20:13:21 GMT\nlocation: https://www.example.com\n"
#define RESP2 ":status: 307\ncache-control: private\ndate: Mon, 21 Oct 2013 20:13:21 GMT\nlocation: https://www.example.com\n"
#define RESP3 ":status: 200\ncache-control: private\ndate: Mon, 21 Oct 2013 20:13:22 GMT\nlocation: https://www.example.com\n" \
	"content-encoding: gzip\nset-cookie: foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1\n"

static void c5_responses_eviction(void **state)
{
	(void)state;
	struct hpack_dec d;
	hpack_dec_init(&d, 256);
	decodes(&d, "4803333032580770726976617465611d4d6f6e2c203231204f637420323031332032303a31333a323120474d54"
		    "6e1768747470733a2f2f7777772e6578616d706c652e636f6d", RESP1, 222);
	decodes(&d, "4803333037c1c0bf", RESP2, 222);
	assert_int_equal(d.n, 4);
	decodes(&d, "88c1611d4d6f6e2c203231204f637420323031332032303a31333a323220474d54c05a04677a6970"
		    "7738666f6f3d4153444a4b48514b425a584f5157454f50495541585157454f49553b206d61782d616765"
		    "3d333630303b2076657273696f6e3d31", RESP3, 215);
	assert_int_equal(d.n, 3);
	hpack_dec_free(&d);
}

static void c6_responses_huffman(void **state)
{
	(void)state;
	struct hpack_dec d;
	hpack_dec_init(&d, 256);
	decodes(&d, "488264025885aec3771a4b6196d07abe941054d444a8200595040b8166e082a62d1bff6e919d29ad171863c78f0b97c8e9ae82ae43d3",
		RESP1, 222);
	decodes(&d, "4883640effc1c0bf", RESP2, 222);
	decodes(&d, "88c16196d07abe941054d444a8200595040b8166e084a62d1bffc05a839bd9ab77ad94e7821dd7f2e6c7b335dfdfcd5b3960d5af27087f3672c1ab270fb5291f9587316065c003ed4ee5b1063d5007",
		RESP3, 215);
	hpack_dec_free(&d);
}

static void hpack_refuses(void **state)
{
	(void)state;
	const char *bad[] = {
		"80",           /* index 0 */
		"be",           /* index 62, the dynamic table is empty */
		"41",           /* truncated literal */
		"4185",         /* string longer than the block */
		"418" "1ff",    /* Huffman padding longer than 7 bits... of ones: 0xff = 8 ones */
		"4181" "00",    /* padding not ones */
		"3fe21f",       /* table size update above the limit (4097 > 4096) */
		"82" "20",      /* a table size update after a field */
		"ffffffffff0f", /* an integer beyond 2^28 */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint8_t buf[64];
		struct hpack_dec d;
		struct collect c = {{0}};
		hpack_dec_init(&d, 4096);
		size_t n = unhex(bad[i], buf);
		assert_int_equal(hpack_decode(&d, buf, n, collect_fn, &c), -EPROTO);
		hpack_dec_free(&d);
	}
	char out[8];
	size_t ol;
	uint8_t eos[4] = {0xff, 0xff, 0xff, 0xfc};   /* EOS (30 ones) + 2 bits */
	assert_int_equal(hpack_huffman_decode(eos, 4, out, sizeof(out), &ol), -EPROTO);
}

/* --- h2.c --- */

struct peer {
	struct h2_conn *c;
	uint32_t stream;
	char path[128];
	size_t msg_len;
	int calls;
	uint8_t out[1 << 20];
	size_t olen;
};

static void on_call(void *arg, struct h2_conn *c, uint32_t stream, const char *path, uint8_t *msg, size_t len)
{
	struct peer *p = arg;
	(void)c;
	p->stream = stream;
	snprintf(p->path, sizeof(p->path), "%s", path);
	p->msg_len = len;
	p->calls++;
	free(msg);
}

static void drain(struct peer *p)
{
	const uint8_t *o;
	size_t n;
	while ((n = h2_output(p->c, &o)) > 0) {
		assert_true(p->olen + n <= sizeof(p->out));
		memcpy(p->out + p->olen, o, n);
		p->olen += n;
		h2_consumed(p->c, n);
	}
}

static size_t frame(uint8_t *b, uint8_t type, uint8_t flags, uint32_t id, const void *pl, size_t len)
{
	b[0] = (uint8_t)(len >> 16);
	b[1] = (uint8_t)(len >> 8);
	b[2] = (uint8_t)len;
	b[3] = type;
	b[4] = flags;
	b[5] = (uint8_t)(id >> 24);
	b[6] = (uint8_t)(id >> 16);
	b[7] = (uint8_t)(id >> 8);
	b[8] = (uint8_t)id;
	memcpy(b + 9, pl, len);
	return 9 + len;
}

/* Count frames of `type` in what the server wrote; sum their payloads. */
static int frames(const struct peer *p, uint8_t type, size_t *bytes, uint32_t *last_code)
{
	int n = 0;
	if (bytes)
		*bytes = 0;
	for (size_t i = 0; i + 9 <= p->olen;) {
		size_t len = (size_t)p->out[i] << 16 | (size_t)p->out[i + 1] << 8 | p->out[i + 2];
		if (p->out[i + 3] == type) {
			n++;
			if (bytes)
				*bytes += len;
			if (last_code && len >= 4)
				*last_code = (uint32_t)p->out[i + 9 + len - 4] << 24 | (uint32_t)p->out[i + 9 + len - 3] << 16 |
					     (uint32_t)p->out[i + 9 + len - 2] << 8 | p->out[i + 9 + len - 1];
		}
		i += 9 + len;
	}
	return n;
}

static void start(struct peer *p)
{
	memset(p, 0, sizeof(*p));
	p->c = h2_new(on_call, p);
	assert_non_null(p->c);
	uint8_t b[64];
	assert_int_equal(h2_input(p->c, (const uint8_t *)"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 24), 0);
	size_t n = frame(b, 4, 0, 0, "", 0);
	assert_int_equal(h2_input(p->c, b, n), 0);
	drain(p);
}

/* HEADERS for POST /csi.v1.Identity/Probe, application/grpc, literal fields. */
static size_t request_headers(uint8_t *blk)
{
	size_t pos = 0;
	blk[pos++] = 0x83;   /* :method POST */
	blk[pos++] = 0x86;   /* :scheme http */
	hpack_encode(blk, 256, &pos, ":path", "/csi.v1.Identity/Probe", 22);
	hpack_encode(blk, 256, &pos, "content-type", "application/grpc", 16);
	return pos;
}

/* HEADERS (blk, END_HEADERS) and one DATA frame (dflags) on `stream`: h2_input's answer. */
static int send_request(struct peer *p, uint32_t stream, const uint8_t *blk, size_t bl, const void *d,
			size_t dl, uint8_t dflags)
{
	uint8_t f[1024];
	size_t n = frame(f, 1, 4, stream, blk, bl);
	n += frame(f + n, 0, dflags, stream, d, dl);
	return h2_input(p->c, f, n);
}

static void h2_ping_settings(void **state)
{
	(void)state;
	struct peer *p = malloc(sizeof(*p));
	start(p);
	uint8_t b[64];
	size_t n = frame(b, 6, 0, 0, "12345678", 8);
	/* fed one byte at a time */
	for (size_t i = 0; i < n; i++)
		assert_int_equal(h2_input(p->c, b + i, 1), 0);
	drain(p);
	assert_int_equal(frames(p, 6, NULL, NULL), 1);     /* PING ack */
	assert_int_equal(frames(p, 4, NULL, NULL), 2);     /* our SETTINGS + ack of theirs */
	n = frame(b, 2, 0, 1, "\0\0\0\0\x10", 5);         /* PRIORITY: ignored */
	assert_int_equal(h2_input(p->c, b, n), 0);
	n = frame(b, 0xfa, 0, 0, "xx", 2);                /* an unknown type: ignored */
	assert_int_equal(h2_input(p->c, b, n), 0);
	n = frame(b, 6, 0, 0, "1234567", 7);              /* PING of 7 bytes */
	assert_int_equal(h2_input(p->c, b, n), -EPROTO);
	drain(p);
	uint32_t code = 0;
	assert_int_equal(frames(p, 7, NULL, &code), 1);
	assert_int_equal(code, 6);                        /* FRAME_SIZE_ERROR */
	h2_free(p->c);
	free(p);
}

static void h2_bad_starts(void **state)
{
	(void)state;
	struct peer *p = malloc(sizeof(*p));
	memset(p, 0, sizeof(*p));
	p->c = h2_new(on_call, p);
	assert_int_equal(h2_input(p->c, (const uint8_t *)"GET / HTTP/1.1\r\n", 16), -EPROTO);
	h2_free(p->c);
	start(p);
	uint8_t b[32];
	b[0] = 0x01;   /* a frame of 65536 bytes: above our MAX_FRAME_SIZE */
	b[1] = b[2] = 0;
	b[3] = 0;
	b[4] = 0;
	memset(b + 5, 0, 4);
	uint32_t code = 0;
	assert_int_equal(h2_input(p->c, b, 9), -EPROTO);
	drain(p);
	assert_int_equal(frames(p, 7, NULL, &code), 1);
	assert_int_equal(code, 6);
	h2_free(p->c);
	/* an even stream id */
	start(p);
	uint8_t blk[256];
	uint8_t f[512];
	size_t bl = request_headers(blk);
	size_t n = frame(f, 1, 5, 2, blk, bl);
	assert_int_equal(h2_input(p->c, f, n), -EPROTO);
	h2_free(p->c);
	/* a header block interrupted by another frame */
	start(p);
	n = frame(f, 1, 0, 1, blk, 3);
	n += frame(f + n, 6, 0, 0, "12345678", 8);
	assert_int_equal(h2_input(p->c, f, n), -EPROTO);
	h2_free(p->c);
	free(p);
}

/* Padded HEADERS split over a CONTINUATION, padded DATA: one call. */
static void h2_continuation_padding(void **state)
{
	(void)state;
	struct peer *p = malloc(sizeof(*p));
	start(p);
	uint8_t blk[256], pl[300], f[1024];
	size_t bl = request_headers(blk), n = 0;
	pl[0] = 4;   /* pad length */
	memcpy(pl + 1, blk, 10);
	memset(pl + 11, 0, 4);
	n += frame(f + n, 1, 0x8, 1, pl, 15);                  /* PADDED, no END_HEADERS */
	n += frame(f + n, 9, 0x4, 1, blk + 10, bl - 10);      /* CONTINUATION, END_HEADERS */
	uint8_t d[32] = {3, 0, 0, 0, 0, 2, 'h', 'i', 0, 0, 0};
	n += frame(f + n, 0, 0x9, 1, d, 11);                   /* PADDED, END_STREAM */
	assert_int_equal(h2_input(p->c, f, n), 0);
	assert_int_equal(p->calls, 1);
	assert_string_equal(p->path, "/csi.v1.Identity/Probe");
	assert_int_equal(p->msg_len, 2);
	assert_int_equal(h2_streams(p->c), 1);
	h2_respond(p->c, 1, 5, "not there: 100%", NULL, 0);
	drain(p);
	assert_int_equal(h2_streams(p->c), 0);
	assert_non_null(memmem(p->out, p->olen, "not there: 100%25", 17));
	h2_free(p->c);
	free(p);
}

/* A response of 200 KiB: no more than the peer's windows, frames of at most its
 * MAX_FRAME_SIZE; the rest after WINDOW_UPDATEs. A reset stream's answer is dropped. */
static void h2_flow_control(void **state)
{
	(void)state;
	struct peer *p = malloc(sizeof(*p));
	start(p);
	uint8_t blk[256], f[512];
	size_t bl = request_headers(blk), n;
	uint8_t d[5] = {0};
	assert_int_equal(send_request(p, 1, blk, bl, d, 5, 1), 0);
	assert_int_equal(p->calls, 1);
	size_t big = 200 * 1024, sent;
	uint8_t *resp = calloc(1, big);
	h2_respond(p->c, 1, 0, "", resp, big);
	drain(p);
	frames(p, 0, &sent, NULL);
	assert_int_equal(sent, 65535);
	assert_int_equal(h2_streams(p->c), 1);
	uint8_t inc[4] = {0, 0x10, 0, 0};   /* 1 MiB */
	n = frame(f, 8, 0, 1, inc, 4);
	assert_int_equal(h2_input(p->c, f, n), 0);
	n = frame(f, 8, 0, 0, inc, 4);
	assert_int_equal(h2_input(p->c, f, n), 0);
	drain(p);
	frames(p, 0, &sent, NULL);
	assert_int_equal(sent, big + 5);
	assert_int_equal(h2_streams(p->c), 0);
	for (size_t i = 0; i + 9 <= p->olen;) {
		size_t len = (size_t)p->out[i] << 16 | (size_t)p->out[i + 1] << 8 | p->out[i + 2];
		assert_true(len <= 16384);
		i += 9 + len;
	}
	/* stream 3: reset while its handler runs */
	n = frame(f, 1, 4, 3, blk, bl);
	n += frame(f + n, 0, 1, 3, d, 5);
	n += frame(f + n, 3, 0, 3, "\0\0\0\x08", 4);
	assert_int_equal(h2_input(p->c, f, n), 0);
	drain(p);
	size_t before = p->olen;
	h2_respond(p->c, 3, 0, "", resp, 10);
	drain(p);
	assert_int_equal(p->olen, before);
	assert_int_equal(h2_streams(p->c), 0);
	free(resp);
	h2_free(p->c);
	free(p);
}

/* Over 1 MiB announced: RESOURCE_EXHAUSTED at once; compressed: UNIMPLEMENTED. */
static void h2_message_limits(void **state)
{
	(void)state;
	struct peer *p = malloc(sizeof(*p));
	start(p);
	uint8_t blk[256];
	size_t bl = request_headers(blk);
	uint8_t d[5] = {0, 0, 0x20, 0, 0};
	assert_int_equal(send_request(p, 1, blk, bl, d, 5, 0), 0);
	drain(p);
	assert_int_equal(p->calls, 0);
	assert_non_null(memmem(p->out, p->olen, "grpc-status\x01" "8", 13));
	assert_int_equal(h2_streams(p->c), 0);
	size_t pos = bl;
	hpack_encode(blk, sizeof(blk), &pos, "grpc-encoding", "gzip", 4);
	uint8_t z[6] = {1, 0, 0, 0, 1, 0};
	p->olen = 0;
	assert_int_equal(send_request(p, 3, blk, pos, z, 6, 1), 0);
	drain(p);
	assert_int_equal(p->calls, 0);
	assert_non_null(memmem(p->out, p->olen, "grpc-status\x02" "12", 14));
	h2_free(p->c);
	free(p);
}

/* A :path with a control character (it would reach the log) is refused: no call. */
static void h2_path_checked(void **state)
{
	(void)state;
	struct peer *p = malloc(sizeof(*p));
	start(p);
	uint8_t blk[256];
	size_t pos = 0;
	blk[pos++] = 0x83;   /* :method POST */
	hpack_encode(blk, sizeof(blk), &pos, ":path", "/csi.v1.Identity/Probe\nforged", 29);
	hpack_encode(blk, sizeof(blk), &pos, "content-type", "application/grpc", 16);
	uint8_t d[5] = {0};
	assert_int_equal(send_request(p, 1, blk, pos, d, 5, 1), 0);
	drain(p);
	assert_int_equal(p->calls, 0);
	uint32_t code = 0;
	assert_int_equal(frames(p, 3, NULL, &code), 1);   /* RST_STREAM */
	assert_int_equal(code, 1);                         /* PROTOCOL_ERROR */
	/* an encoder that cannot fit a field leaves the block as it was */
	size_t before = pos;
	assert_int_equal(hpack_encode(blk, pos + 4, &pos, "grpc-message", "too long", 8), -ENOBUFS);
	assert_int_equal(pos, before);
	h2_free(p->c);
	free(p);
}


/* grpc-timeout: parsed to milliseconds, malformed refused; at the deadline the call is
 * answered DEADLINE_EXCEEDED and its handler's later answer is dropped. */
static void h2_timeouts(void **state)
{
	(void)state;
	assert_int_equal(h2_parse_timeout("5S", 2), 5000);
	assert_int_equal(h2_parse_timeout("2M", 2), 120000);
	assert_int_equal(h2_parse_timeout("1H", 2), 3600000);
	assert_int_equal(h2_parse_timeout("250m", 4), 250);
	assert_int_equal(h2_parse_timeout("1u", 2), 1);             /* never rounded to none */
	assert_int_equal(h2_parse_timeout("1500000n", 8), 2);
	assert_int_equal(h2_parse_timeout("99999999S", 9), 99999999000LL);
	assert_int_equal(h2_parse_timeout("123456789S", 10), -1);  /* 9 digits */
	assert_int_equal(h2_parse_timeout("S", 1), -1);
	assert_int_equal(h2_parse_timeout("10s", 3), -1);
	assert_int_equal(h2_parse_timeout("1 S", 3), -1);

	struct peer *p = malloc(sizeof(*p));
	start(p);
	uint8_t blk[256];
	size_t bl = request_headers(blk), pos = bl;
	hpack_encode(blk, sizeof(blk), &pos, "grpc-timeout", "10S", 3);
	uint8_t d[5] = {0};
	int64_t t0 = h2_now_ms();
	assert_int_equal(send_request(p, 1, blk, pos, d, 5, 1), 0);
	assert_int_equal(p->calls, 1);
	int64_t dl = h2_stream_deadline(p->c, 1);
	assert_true(dl >= t0 + 10000 && dl <= h2_now_ms() + 10000);
	assert_int_equal(h2_expire(p->c, dl - 1), 0);
	drain(p);
	size_t before = p->olen;
	assert_int_equal(h2_expire(p->c, dl), 1);
	drain(p);
	assert_non_null(memmem(p->out + before, p->olen - before, "grpc-status\x01" "4", 13));
	assert_int_equal(h2_expire(p->c, dl + 5000), 0);          /* answered once */
	before = p->olen;
	h2_respond(p->c, 1, 0, "", d, 5);                          /* the handler, late */
	drain(p);
	assert_int_equal(p->olen, before);
	assert_int_equal(h2_streams(p->c), 0);
	/* no grpc-timeout: no deadline */
	assert_int_equal(send_request(p, 3, blk, bl, d, 5, 1), 0);
	assert_int_equal(h2_stream_deadline(p->c, 3), 0);
	assert_int_equal(h2_expire(p->c, INT64_MAX), 0);
	h2_respond(p->c, 3, 0, "", NULL, 0);
	/* malformed: refused, no call */
	pos = bl;
	hpack_encode(blk, sizeof(blk), &pos, "grpc-timeout", "soon", 4);
	p->olen = 0;
	assert_int_equal(send_request(p, 5, blk, pos, d, 5, 1), 0);
	drain(p);
	assert_int_equal(p->calls, 2);
	assert_non_null(memmem(p->out, p->olen, "malformed grpc-timeout", 22));
	h2_free(p->c);
	free(p);
}

/* Window credit goes back in 16 KiB steps: 1,000 one-byte DATA frames do not make the
 * server write a WINDOW_UPDATE for each (26 bytes out for every byte in). */
static void h2_window_steps(void **state)
{
	(void)state;
	struct peer *p = malloc(sizeof(*p));
	start(p);
	uint8_t blk[256], f[512];
	size_t bl = request_headers(blk);
	uint8_t hdr[5] = {0, 0, 0, 0x50, 0};   /* a message of 20,480 bytes */
	size_t n = frame(f, 1, 4, 1, blk, bl);
	n += frame(f + n, 0, 0, 1, hdr, 5);
	assert_int_equal(h2_input(p->c, f, n), 0);
	p->olen = 0;
	for (int i = 0; i < 20480; i++) {
		n = frame(f, 0, i == 20479 ? 1 : 0, 1, "x", 1);
		assert_int_equal(h2_input(p->c, f, n), 0);
	}
	drain(p);
	assert_int_equal(p->calls, 1);
	assert_int_equal(p->msg_len, 20480);
	int updates = frames(p, 8, NULL, NULL);
	assert_true(updates >= 1 && updates <= 4);
	h2_free(p->c);
	free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(c3_requests_plain),
		cmocka_unit_test(c4_requests_huffman),
		cmocka_unit_test(c5_responses_eviction),
		cmocka_unit_test(c6_responses_huffman),
		cmocka_unit_test(hpack_refuses),
		cmocka_unit_test(h2_ping_settings),
		cmocka_unit_test(h2_bad_starts),
		cmocka_unit_test(h2_continuation_padding),
		cmocka_unit_test(h2_flow_control),
		cmocka_unit_test(h2_message_limits),
		cmocka_unit_test(h2_path_checked),
		cmocka_unit_test(h2_timeouts),
		cmocka_unit_test(h2_window_steps),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
