/*
 * h2.c — HTTP/2 for unary gRPC calls, see h2.h.
 *
 * Reading: the preface, then frames of at most 16 KiB (our SETTINGS_MAX_FRAME_SIZE is the
 * default). A header block (HEADERS and its CONTINUATIONs) is always decoded, so the
 * HPACK table stays in step even for streams that are refused. Request DATA is given
 * back to the peer's windows as it arrives; what a connection buffers is bounded by
 * H2_MAX_STREAMS, H2_MAX_MESSAGE and CONN_BUFFER_MAX.
 *
 * Writing: responses are queued per stream and sent as the peer's windows and
 * SETTINGS_MAX_FRAME_SIZE allow, at most OUT_SOFT_MAX bytes buffered ahead of the socket;
 * a peer that makes us buffer more than OUT_HARD_MAX (PING and SETTINGS acks it never
 * reads) loses the connection. (The server stops reading a peer long before: a PING
 * flood that never reads gets about 0.7 MB in, csi_h2_peers.) Window credit for request
 * DATA goes back in WIN_STEP steps, so tiny frames do not multiply what we write.
 *
 * Deadlines: grpc-timeout is parsed (malformed: INTERNAL, as grpc-go answers); h2_expire
 * answers DEADLINE_EXCEEDED for a call past it. HEADERS on a stream already closed are
 * ignored, not answered: we may have reset it, and RFC 9113 5.1 says frames that were in
 * flight then are to be ignored.
 *
 * Errors: a connection error sends GOAWAY and ends the connection; a stream error
 * RST_STREAM. Nothing the peer sends reaches further than that.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "h2.h"
#include "hpack.h"

#define FRAME_MAX 16384
#define WIN_DEFAULT 65535
#define WIN_MAX 0x7fffffff
#define CONN_BUFFER_MAX (4 * H2_MAX_MESSAGE)
#define OUT_SOFT_MAX (64 * 1024)
#define OUT_HARD_MAX (4 * 1024 * 1024)
#define BLOCK_MAX (64 * 1024)          /* one header block, compressed */

enum { F_DATA, F_HEADERS, F_PRIORITY, F_RST, F_SETTINGS, F_PUSH, F_PING, F_GOAWAY, F_WINDOW, F_CONT };
enum { FL_END_STREAM = 1, FL_ACK = 1, FL_END_HEADERS = 4, FL_PADDED = 8, FL_PRIORITY = 0x20 };
enum { E_NO = 0, E_PROTOCOL = 1, E_INTERNAL = 2, E_FLOW = 3, E_CLOSED = 5, E_FRAME_SIZE = 6,
       E_REFUSED = 7, E_COMPRESSION = 9, E_CALM = 11 };
enum st { ST_RECV, ST_RUNNING, ST_SENDING };

static const char PREFACE[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

struct stream {
	uint32_t id;
	enum st state;
	bool reset;           /* the peer reset it while its call runs */
	bool bad_encoding;    /* grpc-encoding is not identity */
	char encoding[32];
	int64_t send_win;
	int64_t deadline;     /* CLOCK_MONOTONIC ms from grpc-timeout, 0: none */
	uint32_t unacked;     /* request bytes not yet given back to the stream's window */
	char *path;
	uint8_t *body;
	size_t blen, bcap;
	uint8_t *resp;        /* DATA still to send (then the trailers: grpc-status 0) */
	size_t rlen, roff;
	struct stream *next;
};

struct h2_conn {
	h2_call_fn fn;
	void *arg;
	struct hpack_dec dec;
	size_t preface;       /* bytes of it seen */
	bool settings_seen;
	uint8_t in[9 + FRAME_MAX];
	size_t inlen;
	uint8_t *out;
	size_t olen, ooff, ocap;
	uint32_t peer_frame_max;
	int64_t peer_init_win, send_win;
	uint32_t last_stream;
	uint8_t *block;       /* header block being gathered */
	size_t blocklen;
	uint32_t block_stream;
	bool block_end_stream;
	struct stream *streams;
	unsigned nstreams;
	size_t buffered;
	uint32_t unacked;     /* request bytes not yet given back to the connection's window */
	bool goaway_sent, goaway_recv, dead;
};

/* Window credit is given back in steps of this much, not per DATA frame: a peer sending
 * one-byte frames would otherwise make us write 26 bytes for each byte it sends. */
#define WIN_STEP 16384

int64_t h2_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static size_t get24(const uint8_t *p)
{
	return (size_t)p[0] << 16 | (size_t)p[1] << 8 | p[2];
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void emit(struct h2_conn *c, uint8_t type, uint8_t flags, uint32_t stream, const void *p, size_t len)
{
	if (c->dead && type != F_GOAWAY)
		return;
	if (c->olen - c->ooff + 9 + len > OUT_HARD_MAX) {
		c->dead = true;   /* the peer does not read: stop producing */
		return;
	}
	if (c->olen + 9 + len > c->ocap) {
		if (c->ooff) {
			memmove(c->out, c->out + c->ooff, c->olen - c->ooff);
			c->olen -= c->ooff;
			c->ooff = 0;
		}
		if (c->olen + 9 + len > c->ocap) {
			size_t cap = c->ocap ? c->ocap : 1024;
			while (cap < c->olen + 9 + len)
				cap *= 2;
			uint8_t *n = realloc(c->out, cap);
			if (!n) {
				c->dead = true;
				return;
			}
			c->out = n;
			c->ocap = cap;
		}
	}
	uint8_t *h = c->out + c->olen;
	h[0] = (uint8_t)(len >> 16);
	h[1] = (uint8_t)(len >> 8);
	h[2] = (uint8_t)len;
	h[3] = type;
	h[4] = flags;
	put32(h + 5, stream & 0x7fffffff);
	if (len)
		memcpy(h + 9, p, len);
	c->olen += 9 + len;
}

static int conn_error(struct h2_conn *c, uint32_t code)
{
	if (!c->dead) {
		uint8_t p[8];
		put32(p, c->last_stream);
		put32(p + 4, code);
		emit(c, F_GOAWAY, 0, 0, p, sizeof(p));
		c->goaway_sent = true;
		c->dead = true;
	}
	return -EPROTO;
}

static void rst(struct h2_conn *c, uint32_t id, uint32_t code)
{
	uint8_t p[4];
	put32(p, code);
	emit(c, F_RST, 0, id, p, 4);
}

static void window_update(struct h2_conn *c, uint32_t id, uint32_t n)
{
	uint8_t p[4];
	put32(p, n);
	emit(c, F_WINDOW, 0, id, p, 4);
}

static struct stream *find(struct h2_conn *c, uint32_t id)
{
	for (struct stream *s = c->streams; s; s = s->next)
		if (s->id == id)
			return s;
	return NULL;
}

static void stream_free(struct h2_conn *c, struct stream *s)
{
	for (struct stream **pp = &c->streams; *pp; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	c->nstreams--;
	c->buffered -= s->bcap;
	free(s->path);
	free(s->body);
	free(s->resp);
	free(s);
}

struct h2_conn *h2_new(h2_call_fn fn, void *arg)
{
	struct h2_conn *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->fn = fn;
	c->arg = arg;
	c->peer_frame_max = FRAME_MAX;
	c->peer_init_win = c->send_win = WIN_DEFAULT;
	hpack_dec_init(&c->dec, HPACK_TABLE_DEFAULT);
	uint8_t set[12];
	set[0] = 0;
	set[1] = 3;   /* MAX_CONCURRENT_STREAMS */
	put32(set + 2, H2_MAX_STREAMS);
	set[6] = 0;
	set[7] = 6;   /* MAX_HEADER_LIST_SIZE */
	put32(set + 8, H2_MAX_HEADER_LIST);
	emit(c, F_SETTINGS, 0, 0, set, sizeof(set));
	/* the connection window: room for a whole request message without a round trip */
	window_update(c, 0, H2_MAX_MESSAGE);
	return c;
}

void h2_free(struct h2_conn *c)
{
	if (!c)
		return;
	while (c->streams)
		stream_free(c, c->streams);
	hpack_dec_free(&c->dec);
	free(c->block);
	free(c->out);
	free(c);
}

size_t h2_output(struct h2_conn *c, const uint8_t **p)
{
	*p = c->out + c->ooff;
	return c->olen - c->ooff;
}

static void pump(struct h2_conn *c);
static size_t status_block(uint8_t *out, size_t cap, bool head, int status, const char *msg);

void h2_consumed(struct h2_conn *c, size_t n)
{
	c->ooff += n;
	if (c->ooff == c->olen)
		c->ooff = c->olen = 0;
	pump(c);
}

unsigned h2_streams(const struct h2_conn *c)
{
	return c->nstreams;
}

bool h2_closing(const struct h2_conn *c)
{
	return c->goaway_sent || c->goaway_recv || c->dead;
}

void h2_goaway(struct h2_conn *c)
{
	if (c->goaway_sent || c->dead)
		return;
	uint8_t p[8];
	put32(p, c->last_stream);
	put32(p + 4, E_NO);
	emit(c, F_GOAWAY, 0, 0, p, sizeof(p));
	c->goaway_sent = true;
}

/* Send what the windows allow; a stream whose DATA is all out gets its trailers. */
static void pump(struct h2_conn *c)
{
	struct stream *s = c->streams, *next;
	for (; s; s = next) {
		next = s->next;
		if (s->state != ST_SENDING)
			continue;
		while (s->roff < s->rlen && c->send_win > 0 && s->send_win > 0 &&
		       c->olen - c->ooff < OUT_SOFT_MAX && !c->dead) {
			size_t n = s->rlen - s->roff;
			if ((int64_t)n > c->send_win)
				n = (size_t)c->send_win;
			if ((int64_t)n > s->send_win)
				n = (size_t)s->send_win;
			if (n > c->peer_frame_max)
				n = c->peer_frame_max;
			emit(c, F_DATA, 0, s->id, s->resp + s->roff, n);
			s->roff += n;
			c->send_win -= (int64_t)n;
			s->send_win -= (int64_t)n;
		}
		if (s->roff == s->rlen && !c->dead) {
			uint8_t trailers[32];
			size_t n = status_block(trailers, sizeof(trailers), false, 0, NULL);
			emit(c, F_HEADERS, FL_END_HEADERS | FL_END_STREAM, s->id, trailers, n);
			stream_free(c, s);
		}
	}
}

static size_t percent_encode(char *out, size_t cap, const char *msg)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;
	for (const unsigned char *p = (const unsigned char *)msg; *p && o + 4 < cap; p++) {
		if (*p >= 0x20 && *p <= 0x7e && *p != '%') {
			out[o++] = (char)*p;
		} else {
			out[o++] = '%';
			out[o++] = hex[*p >> 4];
			out[o++] = hex[*p & 15];
		}
	}
	out[o] = '\0';
	return o;
}

/* :status and content-type, then (trailers-only) grpc-status and grpc-message. */
static size_t status_block(uint8_t *out, size_t cap, bool head, int status, const char *msg)
{
	size_t pos = 0;
	char num[16], enc[3 * 1024 + 4];
	if (head) {
		out[pos++] = 0x88;   /* :status 200, static index 8 */
		hpack_encode(out, cap, &pos, "content-type", "application/grpc", 16);
	}
	if (status >= 0) {
		int n = snprintf(num, sizeof(num), "%d", status);
		hpack_encode(out, cap, &pos, "grpc-status", num, (size_t)n);
		if (msg && *msg) {
			size_t el = percent_encode(enc, sizeof(enc), msg);
			hpack_encode(out, cap, &pos, "grpc-message", enc, el);
		}
	}
	return pos;
}

static void trailers_only(struct h2_conn *c, struct stream *s, int status, const char *msg)
{
	uint8_t blk[4096];
	size_t n = status_block(blk, sizeof(blk), true, status, msg);
	emit(c, F_HEADERS, FL_END_HEADERS | FL_END_STREAM, s->id, blk, n);
}

void h2_respond(struct h2_conn *c, uint32_t id, int status, const char *msg, const void *data, size_t len)
{
	struct stream *s = find(c, id);
	if (!s || s->state != ST_RUNNING)
		return;
	if (s->reset || c->dead) {
		stream_free(c, s);
		return;
	}
	if (status != 0 || len > 0xffffffffu - 5) {
		trailers_only(c, s, status ? status : 13, status ? msg : "response too large");
		stream_free(c, s);
		return;
	}
	s->resp = malloc(len + 5);
	if (!s->resp) {
		trailers_only(c, s, 13, "out of memory");
		stream_free(c, s);
		return;
	}
	s->resp[0] = 0;
	put32(s->resp + 1, (uint32_t)len);
	if (len)
		memcpy(s->resp + 5, data, len);
	s->rlen = len + 5;
	s->roff = 0;
	uint8_t blk[64];
	size_t n = status_block(blk, sizeof(blk), true, -1, NULL);
	emit(c, F_HEADERS, FL_END_HEADERS, s->id, blk, n);
	s->state = ST_SENDING;
	pump(c);
}

/* A call answered here, without the handler (a malformed request). */
static void refuse(struct h2_conn *c, struct stream *s, int status, const char *msg)
{
	trailers_only(c, s, status, msg);
	if (s->state == ST_RECV)
		rst(c, s->id, E_NO);   /* the rest of the request is not wanted */
	stream_free(c, s);
}

static void request_done(struct h2_conn *c, struct stream *s)
{
	char msg[256];
	if (s->blen < 5) {
		snprintf(msg, sizeof(msg), "%.200s: no request message", s->path);
		s->state = ST_RUNNING;
		refuse(c, s, 3, msg);
		return;
	}
	uint32_t len = get32(s->body + 1);
	if (s->body[0] == 1) {
		if (s->bad_encoding)
			snprintf(msg, sizeof(msg), "compressed messages (grpc-encoding %s) are not supported",
				 s->encoding);
		else
			snprintf(msg, sizeof(msg), "a compressed message without grpc-encoding");
		s->state = ST_RUNNING;
		refuse(c, s, s->bad_encoding ? 12 : 13, msg);
		return;
	}
	if (s->body[0] != 0 || len != s->blen - 5) {
		s->state = ST_RUNNING;
		refuse(c, s, 13, "the request is not one length-prefixed message");
		return;
	}
	s->state = ST_RUNNING;
	uint8_t *m = s->body;
	memmove(m, m + 5, len);
	s->body = NULL;
	c->buffered -= s->bcap;
	s->bcap = s->blen = 0;
	c->fn(c->arg, c, s->id, s->path, m, len);
}

static int on_data(struct h2_conn *c, struct stream *s, const uint8_t *p, size_t n)
{
	if (s->blen + n > 5 + (size_t)H2_MAX_MESSAGE) {
		char msg[128];
		snprintf(msg, sizeof(msg), "the request is larger than the %d bytes pvnode accepts",
			 H2_MAX_MESSAGE);
		refuse(c, s, 8, msg);
		return 1;
	}
	if (s->blen + n > s->bcap) {
		size_t cap = s->bcap ? s->bcap : 256;
		while (cap < s->blen + n)
			cap *= 2;
		if (cap > 5 + (size_t)H2_MAX_MESSAGE)
			cap = 5 + (size_t)H2_MAX_MESSAGE;
		if (c->buffered - s->bcap + cap > CONN_BUFFER_MAX) {
			rst(c, s->id, E_CALM);
			stream_free(c, s);
			return 1;
		}
		uint8_t *b = realloc(s->body, cap);
		if (!b) {
			rst(c, s->id, E_INTERNAL);
			stream_free(c, s);
			return 1;
		}
		c->buffered += cap - s->bcap;
		s->body = b;
		s->bcap = cap;
	}
	memcpy(s->body + s->blen, p, n);
	s->blen += n;
	/* announced length too large: say so now rather than after a megabyte */
	if (s->blen >= 5 && get32(s->body + 1) > H2_MAX_MESSAGE) {
		char msg[128];
		snprintf(msg, sizeof(msg), "the request message (%u bytes) is larger than the %d bytes pvnode accepts",
			 get32(s->body + 1), H2_MAX_MESSAGE);
		refuse(c, s, 8, msg);
		return 1;
	}
	return 0;
}

struct hdrs {
	char *path;
	bool post, grpc, trailer_pseudo, bad;
	char encoding[32];
	bool bad_encoding;
	int64_t timeout_ms;   /* grpc-timeout; 0: none, -1: malformed */
	size_t size;
};

/* grpc-timeout: 1 to 8 digits and a unit (H, M, S, m, u, n). Milliseconds, rounded up so
 * that a timeout never becomes "none"; -1 when malformed. */
int64_t h2_parse_timeout(const char *v, size_t vl)
{
	if (vl < 2 || vl > 9)
		return -1;
	int64_t n = 0;
	for (size_t i = 0; i + 1 < vl; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		n = n * 10 + (v[i] - '0');
	}
	switch (v[vl - 1]) {
	case 'H': return n * 3600000;
	case 'M': return n * 60000;
	case 'S': return n * 1000;
	case 'm': return n ? n : 1;
	case 'u': return (n + 999) / 1000 ? (n + 999) / 1000 : 1;
	case 'n': return (n + 999999) / 1000000 ? (n + 999999) / 1000000 : 1;
	default: return -1;
	}
}

/* A field value pvnode prints (in logs and status messages): visible ASCII only, so a
 * request cannot forge a log line or a terminal escape. */
static bool printable(const char *v, size_t vl)
{
	for (size_t i = 0; i < vl; i++)
		if ((unsigned char)v[i] < 0x21 || (unsigned char)v[i] > 0x7e)
			return false;
	return true;
}

static int on_field(void *arg, const char *n, size_t nl, const char *v, size_t vl)
{
	struct hdrs *h = arg;
	h->size += nl + vl + 32;
	if (h->size > H2_MAX_HEADER_LIST) {
		h->bad = true;
		return 0;
	}
	if (nl == 7 && !strcmp(n, ":method"))
		h->post = !strcmp(v, "POST");
	else if (nl == 5 && !strcmp(n, ":path")) {
		free(h->path);
		h->path = vl && v[0] == '/' && printable(v, vl) ? strdup(v) : NULL;
	} else if (!strcmp(n, "content-type"))
		h->grpc = !strncmp(v, "application/grpc", 16) && (v[16] == '\0' || v[16] == '+' || v[16] == ';');
	else if (!strcmp(n, "grpc-encoding")) {
		snprintf(h->encoding, sizeof(h->encoding), "%s", printable(v, vl) ? v : "?");
		h->bad_encoding = strcmp(v, "identity") != 0;
	} else if (nl == 12 && !strcmp(n, "grpc-timeout"))
		h->timeout_ms = h2_parse_timeout(v, vl);
	return 0;
}

static int headers_done(struct h2_conn *c)
{
	struct hdrs h = {0};
	uint32_t id = c->block_stream;
	int r = hpack_decode(&c->dec, c->block, c->blocklen, on_field, &h);
	free(c->block);
	c->block = NULL;
	c->blocklen = 0;
	c->block_stream = 0;
	if (r < 0) {
		free(h.path);
		return conn_error(c, E_COMPRESSION);
	}
	struct stream *s = find(c, id);
	if (s) {   /* trailers of a request */
		free(h.path);
		if (s->state != ST_RECV)
			return 0;
		if (!c->block_end_stream) {
			rst(c, id, E_PROTOCOL);
			stream_free(c, s);
			return 0;
		}
		request_done(c, s);
		return 0;
	}
	if (id <= c->last_stream || c->goaway_sent) {   /* a closed stream, or after our GOAWAY */
		free(h.path);
		return 0;
	}
	if (!(id & 1)) {
		free(h.path);
		return conn_error(c, E_PROTOCOL);
	}
	c->last_stream = id;
	if (c->nstreams >= H2_MAX_STREAMS || h.bad) {
		free(h.path);
		rst(c, id, h.bad ? E_CALM : E_REFUSED);
		return 0;
	}
	if (!h.post || !h.path) {
		free(h.path);
		rst(c, id, E_PROTOCOL);
		return 0;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		free(h.path);
		rst(c, id, E_INTERNAL);
		return 0;
	}
	s->id = id;
	s->path = h.path;
	s->send_win = c->peer_init_win;
	s->bad_encoding = h.bad_encoding;
	memcpy(s->encoding, h.encoding, sizeof(s->encoding));
	if (h.timeout_ms > 0)
		s->deadline = h2_now_ms() + h.timeout_ms;
	s->next = c->streams;
	c->streams = s;
	c->nstreams++;
	if (h.timeout_ms < 0) {
		s->state = c->block_end_stream ? ST_RUNNING : ST_RECV;
		refuse(c, s, 13, "malformed grpc-timeout");
		return 0;
	}
	if (!h.grpc) {
		uint8_t blk[64];
		size_t pos = 0;
		hpack_encode(blk, sizeof(blk), &pos, ":status", "415", 3);
		emit(c, F_HEADERS, FL_END_HEADERS | FL_END_STREAM, id, blk, pos);
		if (!c->block_end_stream)
			rst(c, id, E_NO);
		stream_free(c, s);
		return 0;
	}
	if (c->block_end_stream)
		request_done(c, s);
	return 0;
}

static int block_add(struct h2_conn *c, const uint8_t *p, size_t n)
{
	if (c->blocklen + n > BLOCK_MAX)
		return conn_error(c, E_CALM);
	uint8_t *b = realloc(c->block, c->blocklen + n + 1);
	if (!b)
		return conn_error(c, E_INTERNAL);
	c->block = b;
	memcpy(b + c->blocklen, p, n);
	c->blocklen += n;
	return 0;
}

static int settings(struct h2_conn *c, const uint8_t *p, size_t len)
{
	for (size_t i = 0; i + 6 <= len; i += 6) {
		uint16_t id = (uint16_t)(p[i] << 8 | p[i + 1]);
		uint32_t v = get32(p + i + 2);
		switch (id) {
		case 2:   /* ENABLE_PUSH */
			if (v > 1)
				return conn_error(c, E_PROTOCOL);
			break;
		case 4:   /* INITIAL_WINDOW_SIZE */
			if (v > WIN_MAX)
				return conn_error(c, E_FLOW);
			for (struct stream *s = c->streams; s; s = s->next) {
				s->send_win += (int64_t)v - c->peer_init_win;
				if (s->send_win > WIN_MAX)
					return conn_error(c, E_FLOW);
			}
			c->peer_init_win = v;
			break;
		case 5:   /* MAX_FRAME_SIZE */
			if (v < 16384 || v > 0xffffff)
				return conn_error(c, E_PROTOCOL);
			c->peer_frame_max = v;
			break;
		default:   /* HEADER_TABLE_SIZE: our encoder never indexes; others: no use */
			break;
		}
	}
	emit(c, F_SETTINGS, FL_ACK, 0, NULL, 0);
	return 0;
}

/* Frames that carry no header block and no request data. */
static int control(struct h2_conn *c, uint8_t type, uint8_t flags, uint32_t id, const uint8_t *p, size_t len)
{
	switch (type) {
	case F_RST: {
		if (id == 0)
			return conn_error(c, E_PROTOCOL);
		if (len != 4)
			return conn_error(c, E_FRAME_SIZE);
		if (id > c->last_stream)
			return conn_error(c, E_PROTOCOL);
		struct stream *s = find(c, id);
		if (s && s->state == ST_RUNNING)
			s->reset = true;   /* forgotten when its handler answers */
		else if (s)
			stream_free(c, s);
		return 0;
	}
	case F_SETTINGS:
		if (id != 0)
			return conn_error(c, E_PROTOCOL);
		if (flags & FL_ACK)
			return len ? conn_error(c, E_FRAME_SIZE) : 0;
		if (len % 6)
			return conn_error(c, E_FRAME_SIZE);
		if (settings(c, p, len) < 0)
			return -EPROTO;
		pump(c);
		return 0;
	case F_PUSH:
		return conn_error(c, E_PROTOCOL);
	case F_PING:
		if (id != 0)
			return conn_error(c, E_PROTOCOL);
		if (len != 8)
			return conn_error(c, E_FRAME_SIZE);
		if (!(flags & FL_ACK))
			emit(c, F_PING, FL_ACK, 0, p, 8);
		return 0;
	case F_GOAWAY:
		if (id != 0)
			return conn_error(c, E_PROTOCOL);
		if (len < 8)
			return conn_error(c, E_FRAME_SIZE);
		c->goaway_recv = true;
		return 0;
	case F_WINDOW: {
		if (len != 4)
			return conn_error(c, E_FRAME_SIZE);
		uint32_t inc = get32(p) & 0x7fffffff;
		if (id == 0) {
			if (inc == 0)
				return conn_error(c, E_PROTOCOL);
			c->send_win += inc;
			if (c->send_win > WIN_MAX)
				return conn_error(c, E_FLOW);
		} else {
			struct stream *s = find(c, id);
			if (!s)
				return id > c->last_stream ? conn_error(c, E_PROTOCOL) : 0;
			if (inc == 0 || s->send_win + inc > WIN_MAX) {
				rst(c, id, inc ? E_FLOW : E_PROTOCOL);
				if (s->state == ST_RUNNING)
					s->reset = true;
				else
					stream_free(c, s);
				return 0;
			}
			s->send_win += inc;
		}
		pump(c);
		return 0;
	}
	default:
		return 0;   /* unknown frame types are ignored */
	}
}

static int frame(struct h2_conn *c, uint8_t type, uint8_t flags, uint32_t id, const uint8_t *p, size_t len)
{
	if (!c->settings_seen) {
		if (type != F_SETTINGS || (flags & FL_ACK))
			return conn_error(c, E_PROTOCOL);
		c->settings_seen = true;
	}
	if (c->block_stream && (type != F_CONT || id != c->block_stream))
		return conn_error(c, E_PROTOCOL);   /* a header block is interleaved */

	size_t whole = len;   /* the frame's length, padding included: what flow control counts */
	if (type == F_DATA || type == F_HEADERS) {
		if (id == 0)
			return conn_error(c, E_PROTOCOL);
		size_t pad = 0;
		if (flags & FL_PADDED) {
			if (len < 1)
				return conn_error(c, E_FRAME_SIZE);
			pad = p[0];
			p++;
			len--;
		}
		if (type == F_HEADERS && (flags & FL_PRIORITY)) {
			if (len < 5)
				return conn_error(c, E_FRAME_SIZE);
			p += 5;
			len -= 5;
		}
		if (pad > len)
			return conn_error(c, E_PROTOCOL);
		len -= pad;
	}
	switch (type) {
	case F_DATA: {
		if (whole && (c->unacked += (uint32_t)whole) >= WIN_STEP) {
			window_update(c, 0, c->unacked);
			c->unacked = 0;
		}
		struct stream *s = find(c, id);
		if (!s) {
			if (id > c->last_stream)
				return conn_error(c, E_PROTOCOL);   /* an idle stream */
			return 0;   /* a stream closed here: what was in flight */
		}
		if (s->state != ST_RECV) {
			rst(c, id, E_CLOSED);
			return 0;
		}
		if (len && on_data(c, s, p, len))
			return 0;   /* the stream is gone */
		if (flags & FL_END_STREAM)
			request_done(c, s);
		else if (whole && (s->unacked += (uint32_t)whole) >= WIN_STEP) {
			window_update(c, id, s->unacked);
			s->unacked = 0;
		}
		return 0;
	}
	case F_HEADERS:
		c->block_stream = id;
		c->block_end_stream = flags & FL_END_STREAM;
		if (block_add(c, p, len) < 0)
			return -EPROTO;
		return (flags & FL_END_HEADERS) ? headers_done(c) : 0;
	case F_CONT:
		if (!c->block_stream || id != c->block_stream)
			return conn_error(c, E_PROTOCOL);
		if (block_add(c, p, len) < 0)
			return -EPROTO;
		return (flags & FL_END_HEADERS) ? headers_done(c) : 0;
	case F_PRIORITY:
		if (id == 0)
			return conn_error(c, E_PROTOCOL);
		if (len != 5)
			rst(c, id, E_FRAME_SIZE);
		return 0;
	default:
		return control(c, type, flags, id, p, len);
	}
}

int h2_input(struct h2_conn *c, const uint8_t *p, size_t len)
{
	while (len && !c->dead) {
		if (c->preface < sizeof(PREFACE) - 1) {
			if (*p != (uint8_t)PREFACE[c->preface])
				return conn_error(c, E_PROTOCOL);
			c->preface++;
			p++;
			len--;
			continue;
		}
		/* the 9-byte header first, then the payload it announces */
		size_t flen = c->inlen >= 9 ? get24(c->in) : 0;
		size_t n = 9 + flen - c->inlen < len ? 9 + flen - c->inlen : len;
		memcpy(c->in + c->inlen, p, n);
		c->inlen += n;
		p += n;
		len -= n;
		if (c->inlen < 9)
			continue;
		if ((flen = get24(c->in)) > FRAME_MAX)   /* checked before any payload is kept */
			return conn_error(c, E_FRAME_SIZE);
		if (c->inlen < 9 + flen)
			continue;
		c->inlen = 0;
		if (frame(c, c->in[3], c->in[4], get32(c->in + 5) & 0x7fffffff, c->in + 9, flen) < 0)
			return -EPROTO;
	}
	return c->dead ? -EPROTO : 0;
}

int64_t h2_stream_deadline(const struct h2_conn *c, uint32_t id)
{
	for (const struct stream *s = c->streams; s; s = s->next)
		if (s->id == id)
			return s->deadline;
	return 0;
}

/* What a gRPC server does at a call's deadline: answer DEADLINE_EXCEEDED. A running
 * handler is not stopped (CSI calls are idempotent: the CO calls again, and meets
 * ABORTED while this one still runs); its answer is dropped. */
unsigned h2_expire(struct h2_conn *c, int64_t now)
{
	unsigned n = 0;
	struct stream *s = c->streams, *next;
	for (; s; s = next) {
		next = s->next;
		if (!s->deadline || s->deadline > now || s->reset || s->state == ST_SENDING)
			continue;
		n++;
		if (s->state == ST_RUNNING) {
			trailers_only(c, s, 4, "the call's deadline (grpc-timeout) passed; it goes on, and a retry is answered ABORTED until it ends");
			s->reset = true;
		} else {
			refuse(c, s, 4, "the call's deadline (grpc-timeout) passed before its request was complete");
		}
	}
	if (n)
		pump(c);
	return n;
}
