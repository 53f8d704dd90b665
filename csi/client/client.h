/*
 * client.h — a minimal CSI client over the gRPC core C API: one channel to a unix
 * socket, unary calls with protobuf-c messages. Used by pvctl --endpoint, the CSI tests
 * and the benchmarks.
 */
#ifndef PVNODE_CSI_CLIENT_H
#define PVNODE_CSI_CLIENT_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

#include "csi.pb-c.h"

struct csi_client;

/* endpoint: unix:///path or /path. */
int csi_client_open(const char *endpoint, struct csi_client **out);
void csi_client_close(struct csi_client *c);

/* Send raw request bytes to `method` ("/csi.v1.Node/NodeGetInfo"); returns the gRPC
 * status code (>= 0), or a negative errno when the call could not be made. *resp / *len
 * get the response bytes (malloc'd) on OK; details (may be NULL) the status message. */
int csi_client_call_raw(struct csi_client *c, const char *method, const void *req, size_t len,
			void **resp, size_t *resp_len, char *details, size_t details_len,
			int timeout_ms);

/* Encode `req`, call, decode the response as `resp_desc`. *resp is freed with
 * protobuf_c_message_free_unpacked. */
int csi_client_call(struct csi_client *c, const char *method, const ProtobufCMessage *req,
		    const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp,
		    char *details, size_t details_len, int timeout_ms);

#endif
