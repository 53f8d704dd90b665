/*
 * h2.h — the CSI server's HTTP/2 (RFC 9113, h2c with prior knowledge) for unary gRPC:
 * one connection's protocol state, with no socket and no thread of its own. The server
 * feeds it what it read (h2_input), writes what it has to send (h2_output/h2_consumed),
 * and answers the calls it announces (h2_respond), all from one thread.
 */
#ifndef PV_CSI_H2_H
#define PV_CSI_H2_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define H2_MAX_MESSAGE (1 << 20)     /* a request message; larger: RESOURCE_EXHAUSTED */
#define H2_MAX_STREAMS 64            /* SETTINGS_MAX_CONCURRENT_STREAMS */
#define H2_MAX_HEADER_LIST 16384     /* SETTINGS_MAX_HEADER_LIST_SIZE */

struct h2_conn;
/* A complete call: the method path and the request message (malloc'd, the callee's to
 * free). The answer comes later through h2_respond with the same stream. */
typedef void (*h2_call_fn)(void *arg, struct h2_conn *c, uint32_t stream, const char *path,
			   uint8_t *msg, size_t len);

struct h2_conn *h2_new(h2_call_fn fn, void *arg);
void h2_free(struct h2_conn *c);
/* Bytes read from the peer: 0, or -EPROTO when the connection is finished (a GOAWAY may
 * wait in the output: flush it, then close). */
int h2_input(struct h2_conn *c, const uint8_t *p, size_t len);
/* gRPC status, message (any text; percent-encoded here), response message. A stream
 * the peer reset meanwhile is forgotten. */
void h2_respond(struct h2_conn *c, uint32_t stream, int status, const char *msg, const void *data,
		size_t len);
/* What waits to be written, and how much of it was. */
size_t h2_output(struct h2_conn *c, const uint8_t **p);
void h2_consumed(struct h2_conn *c, size_t n);
/* A graceful stop: GOAWAY; calls in flight are still answered. */
void h2_goaway(struct h2_conn *c);
/* Streams open (read, running or being answered). */
unsigned h2_streams(const struct h2_conn *c);
bool h2_closing(const struct h2_conn *c);   /* a GOAWAY was sent or received */
/* CLOCK_MONOTONIC in milliseconds: the clock of deadlines. */
int64_t h2_now_ms(void);
/* grpc-timeout's value in milliseconds (at least 1), or -1 when malformed. */
int64_t h2_parse_timeout(const char *v, size_t vl);
/* A call's deadline (h2_now_ms clock) from its grpc-timeout, 0 when it has none; valid
 * from the call's announcement until it is answered. */
int64_t h2_stream_deadline(const struct h2_conn *c, uint32_t stream);
/* Answer DEADLINE_EXCEEDED to every call whose deadline is at or before now; a running
 * one's later h2_respond is dropped. How many were. */
unsigned h2_expire(struct h2_conn *c, int64_t now);
#endif
