/*
 * httpd.c — the few lines of HTTP/1.1 the metrics endpoint needs: GET and HEAD of one
 * resource, keep-alive, no request bodies. It replaced libmicrohttpd, whose TLS stack
 * (gnutls, p11-kit, nettle, gmp, tasn1, idn2, unistring: 2.4 MiB resident) every pvnode
 * loaded whether metrics were on or not.
 *
 * One thread polls the listening socket, at most CSI_HTTP_MAX_CONNS connections and a
 * wake-up pipe. A connection is read into a buffer of CSI_HTTP_HEAD_MAX bytes, allocated
 * when it is accepted; each complete request head in it is answered in turn (pipelined
 * requests too). A head that does not fit, a request line that is not
 * `METHOD SP /target SP HTTP/1.x`, or a request with a body is answered 400/431 and the
 * connection closed; so is an HTTP/1.0 request or one saying `Connection: close`, once
 * answered. A connection idle for CSI_HTTP_IDLE_S seconds is closed, and a reply that
 * cannot be written within that time closes it too (the thread then serves the others
 * again: a slow reader stalls them for at most that long).
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "csi.h"
#include "pvnode/util.h"

#define CSI_HTTP_MAX_CONNS 16
#define CSI_HTTP_IDLE_S 10

struct conn {
	int fd;
	size_t len;
	time_t last;   /* CLOCK_MONOTONIC seconds of the last byte read */
	char *buf;     /* CSI_HTTP_HEAD_MAX bytes */
};

struct csi_httpd {
	int listen_fd, wake[2];
	csi_http_handler handler;
	void *ud;
	pthread_t tid;
	struct conn conns[CSI_HTTP_MAX_CONNS];
};

static time_t mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

/* The length of the head (through the empty line) at the start of buf, 0 if it is not
 * complete yet. Bare LF line ends are accepted, as RFC 9112 allows. */
static size_t head_length(const char *buf, size_t len)
{
	for (size_t i = 0; i + 1 < len; i++) {
		if (buf[i] != '\n')
			continue;
		if (buf[i + 1] == '\n')
			return i + 2;
		if (buf[i + 1] == '\r' && i + 2 < len && buf[i + 2] == '\n')
			return i + 3;
	}
	return 0;
}

/* A header line "Name: value" (name matched without case); the value without leading
 * blanks, up to the line end, in val (NUL-terminated, cut to vlen). */
static bool header_value(const char *line, size_t n, const char *name, char *val, size_t vlen)
{
	size_t k = strlen(name);
	if (n <= k || strncasecmp(line, name, k) != 0 || line[k] != ':')
		return false;
	size_t i = k + 1;
	while (i < n && (line[i] == ' ' || line[i] == '\t'))
		i++;
	size_t e = n;
	while (e > i && (line[e - 1] == '\r' || line[e - 1] == ' ' || line[e - 1] == '\t'))
		e--;
	snprintf(val, vlen, "%.*s", (int)(e - i), line + i);
	return true;
}

int csi_http_parse(const char *buf, size_t len, struct csi_http_request *rq)
{
	size_t head = head_length(buf, len);
	memset(rq, 0, sizeof(*rq));
	if (!head)
		return len >= CSI_HTTP_HEAD_MAX ? -E2BIG : -EAGAIN;
	rq->head_len = head;
	const char *eol = memchr(buf, '\n', head);
	size_t n = (size_t)(eol - buf);
	if (n && buf[n - 1] == '\r')
		n--;
	/* METHOD SP TARGET SP HTTP/1.x: printable ASCII only */
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)buf[i] < 0x20 || (unsigned char)buf[i] > 0x7e)
			return -EINVAL;
	const char *sp1 = memchr(buf, ' ', n);
	const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', n - (size_t)(sp1 + 1 - buf)) : NULL;
	if (!sp1 || !sp2 || sp1 == buf || sp2 == sp1 + 1 || (size_t)(sp1 - buf) >= sizeof(rq->method) ||
	    (size_t)(sp2 - sp1 - 1) >= sizeof(rq->path) || sp1[1] != '/')
		return -EINVAL;
	size_t vlen = n - (size_t)(sp2 + 1 - buf);
	if (vlen != 8 || memcmp(sp2 + 1, "HTTP/1.", 7) != 0 || (sp2[8] != '0' && sp2[8] != '1'))
		return -EINVAL;
	memcpy(rq->method, buf, (size_t)(sp1 - buf));
	size_t plen = (size_t)(sp2 - sp1 - 1);
	const char *q = memchr(sp1 + 1, '?', plen);   /* the query is not part of the path */
	memcpy(rq->path, sp1 + 1, q ? (size_t)(q - sp1 - 1) : plen);
	rq->keep_alive = sp2[8] == '1';
	for (const char *l = eol + 1; l < buf + head;) {
		const char *e = memchr(l, '\n', (size_t)(buf + head - l));
		size_t ln = (size_t)(e - l);
		char v[64];
		if (header_value(l, ln, "Content-Length", v, sizeof(v)) && strcmp(v, "0") != 0)
			rq->has_body = true;
		else if (header_value(l, ln, "Transfer-Encoding", v, sizeof(v)))
			rq->has_body = true;
		else if (header_value(l, ln, "Connection", v, sizeof(v))) {
			if (strcasecmp(v, "close") == 0)
				rq->keep_alive = false;
			else if (strcasecmp(v, "keep-alive") == 0)
				rq->keep_alive = true;
		}
		l = e + 1;
	}
	return 0;
}

/* Write all of it within the idle timeout; false when the peer is gone or too slow.
 * `more`: the body follows (the head and the body leave in one segment when they fit). */
static bool send_all(int fd, const char *p, size_t n, bool more)
{
	time_t until = mono_s() + CSI_HTTP_IDLE_S;
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL | (more ? MSG_MORE : 0));
		if (w > 0) {
			p += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			return false;
		time_t left = until - mono_s();
		struct pollfd pf = {.fd = fd, .events = POLLOUT};
		if (left <= 0 || poll(&pf, 1, (int)left * 1000) <= 0)
			return false;
	}
	return true;
}

static const char *reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 431: return "Request Header Fields Too Large";
	default: return "Internal Server Error";
	}
}

static bool respond(int fd, int status, const char *type, const char *body, size_t len, bool head_only,
		    bool keep_alive)
{
	char h[256];
	int n = snprintf(h, sizeof(h), "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s%s\r\n",
			 status, reason(status), type, len, status == 405 ? "Allow: GET, HEAD\r\n" : "",
			 keep_alive ? "" : "Connection: close\r\n");
	bool with_body = !head_only && len;
	return send_all(fd, h, (size_t)n, with_body) && (!with_body || send_all(fd, body, len, false));
}

static void conn_close(struct conn *c)
{
	close(c->fd);
	free(c->buf);
	*c = (struct conn){.fd = -1};
}

/* Answer every complete request in the buffer; false: close the connection. */
static bool serve_requests(struct csi_httpd *h, struct conn *c)
{
	for (;;) {
		struct csi_http_request rq;
		int r = csi_http_parse(c->buf, c->len, &rq);
		if (r == -EAGAIN)
			return true;
		if (r < 0) {
			const char *msg = r == -E2BIG ? "request head too large\n" : "bad request\n";
			respond(c->fd, r == -E2BIG ? 431 : 400, "text/plain", msg, strlen(msg), false, false);
			return false;
		}
		if (rq.has_body) {   /* a body: not ours to read */
			respond(c->fd, 400, "text/plain", "no request bodies\n", 18, false, false);
			return false;
		}
		bool head_only = strcmp(rq.method, "HEAD") == 0;
		char *body = NULL;
		size_t len = 0;
		const char *type = "text/plain";
		int status = h->handler(h->ud, rq.method, rq.path, &body, &len, &type);
		bool ok = respond(c->fd, status, type, body ? body : "", body ? len : 0, head_only, rq.keep_alive);
		free(body);
		if (!ok || !rq.keep_alive)
			return false;
		memmove(c->buf, c->buf + rq.head_len, c->len - rq.head_len);
		c->len -= rq.head_len;
	}
}

static void accept_one(struct csi_httpd *h)
{
	int fd = accept4(h->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED)
			pv_warn("metrics: accept: %s", strerror(errno));
		return;
	}
	for (int i = 0; i < CSI_HTTP_MAX_CONNS; i++) {
		struct conn *c = &h->conns[i];
		if (c->fd >= 0)
			continue;
		if (!(c->buf = malloc(CSI_HTTP_HEAD_MAX)))
			break;
		/* a reply is one write: no waiting for the ACK of the last one (Nagle) */
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c->fd = fd;
		c->len = 0;
		c->last = mono_s();
		return;
	}
	close(fd);   /* at the limit: the scraper retries */
}

static void *httpd_thread(void *arg)
{
	struct csi_httpd *h = arg;
	struct pollfd pf[CSI_HTTP_MAX_CONNS + 2];
	int idx[CSI_HTTP_MAX_CONNS + 2];

	for (;;) {
		size_t n = 0;
		pf[n++] = (struct pollfd){.fd = h->wake[0], .events = POLLIN};
		pf[n++] = (struct pollfd){.fd = h->listen_fd, .events = POLLIN};
		for (int i = 0; i < CSI_HTTP_MAX_CONNS; i++)
			if (h->conns[i].fd >= 0) {
				idx[n] = i;
				pf[n++] = (struct pollfd){.fd = h->conns[i].fd, .events = POLLIN};
			}
		if (poll(pf, n, 1000) < 0 && errno != EINTR) {
			pv_warn("metrics: poll: %s", strerror(errno));
			sleep(1);
			continue;
		}
		if (pf[0].revents)
			return NULL;
		time_t now = mono_s();
		for (size_t k = 2; k < n; k++) {
			struct conn *c = &h->conns[idx[k]];
			if (!pf[k].revents) {
				if (now - c->last >= CSI_HTTP_IDLE_S)
					conn_close(c);
				continue;
			}
			ssize_t r = read(c->fd, c->buf + c->len, CSI_HTTP_HEAD_MAX - c->len);
			if (r < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (r <= 0) {
				conn_close(c);
				continue;
			}
			c->len += (size_t)r;
			c->last = now;
			if (!serve_requests(h, c))
				conn_close(c);
		}
		if (pf[1].revents & POLLIN)
			accept_one(h);
	}
}

int csi_httpd_start(const struct sockaddr *sa, unsigned salen, csi_http_handler handler, void *ud,
		    struct csi_httpd **out)
{
	struct csi_httpd *h = calloc(1, sizeof(*h));
	int one = 1, r;
	sigset_t all, old;

	if (!h)
		return -ENOMEM;
	h->handler = handler;
	h->ud = ud;
	h->wake[0] = h->wake[1] = -1;
	for (int i = 0; i < CSI_HTTP_MAX_CONNS; i++)
		h->conns[i].fd = -1;
	h->listen_fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (h->listen_fd < 0 || setsockopt(h->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(h->listen_fd, sa, salen) < 0 || listen(h->listen_fd, 64) < 0 ||
	    pipe2(h->wake, O_CLOEXEC) < 0)
		goto fail;
	/* its thread must never take SIGTERM: signals belong to the server's sigwait thread */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	r = pthread_create(&h->tid, NULL, httpd_thread, h);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r != 0) {
		errno = r;
		goto fail;
	}
	*out = h;
	return 0;
fail:
	r = -errno;
	if (h->listen_fd >= 0)
		close(h->listen_fd);
	if (h->wake[0] >= 0) {
		close(h->wake[0]);
		close(h->wake[1]);
	}
	free(h);
	return r;
}

void csi_httpd_stop(struct csi_httpd *h)
{
	if (!h)
		return;
	if (write(h->wake[1], "x", 1) < 0)
		pv_warn("metrics: cannot wake the HTTP thread: %s", strerror(errno));
	pthread_join(h->tid, NULL);
	for (int i = 0; i < CSI_HTTP_MAX_CONNS; i++)
		if (h->conns[i].fd >= 0)
			conn_close(&h->conns[i]);
	close(h->listen_fd);
	close(h->wake[0]);
	close(h->wake[1]);
	free(h);
}
