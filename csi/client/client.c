/*
 * client.c — unary CSI calls over the gRPC core C API (see client.h). Each call uses
 * its own pluck completion queue, so one client may be used from several threads.
 */
#include <errno.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "csi.h"

struct csi_client {
	grpc_channel *channel;
};

int csi_client_open(const char *endpoint, struct csi_client **out)
{
	const char *path = csi_endpoint_path(endpoint);
	if (!path)
		return -EINVAL;
	struct csi_client *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	grpc_init();
	char target[4200];
	snprintf(target, sizeof(target), "unix:%s", path);
	grpc_arg args[] = {
		{.type = GRPC_ARG_INTEGER, .key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH,
		 .value.integer = 16 << 20},
		{.type = GRPC_ARG_INTEGER, .key = GRPC_ARG_ENABLE_RETRIES, .value.integer = 0},
	};
	grpc_channel_args cargs = {.num_args = 2, .args = args};
	grpc_channel_credentials *creds = grpc_insecure_credentials_create();
	c->channel = grpc_channel_create(target, creds, &cargs);
	grpc_channel_credentials_release(creds);
	*out = c;
	return 0;
}

void csi_client_close(struct csi_client *c)
{
	if (!c)
		return;
	grpc_channel_destroy(c->channel);
	free(c);
	grpc_shutdown();
}

int csi_client_call_raw(struct csi_client *c, const char *method, const void *req, size_t len,
			void **resp, size_t *resp_len, char *details, size_t details_len,
			int timeout_ms)
{
	gpr_timespec deadline = gpr_time_add(gpr_now(GPR_CLOCK_REALTIME),
					     gpr_time_from_millis(timeout_ms > 0 ? timeout_ms : 60000,
								  GPR_TIMESPAN));
	grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
	grpc_slice msl = grpc_slice_from_copied_string(method);
	grpc_call *call = grpc_channel_create_call(c->channel, NULL, GRPC_PROPAGATE_DEFAULTS, cq, msl,
						   NULL, deadline, NULL);
	grpc_slice_unref(msl);
	grpc_slice body = grpc_slice_from_copied_buffer(req, len);
	grpc_byte_buffer *send = grpc_raw_byte_buffer_create(&body, 1);
	grpc_slice_unref(body);
	grpc_byte_buffer *recv = NULL;
	grpc_metadata_array init_md, trail_md;
	grpc_metadata_array_init(&init_md);
	grpc_metadata_array_init(&trail_md);
	grpc_status_code status = GRPC_STATUS_UNKNOWN;
	grpc_slice status_details = grpc_empty_slice();
	grpc_op ops[6];
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = send;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[3].data.recv_initial_metadata.recv_initial_metadata = &init_md;
	ops[4].op = GRPC_OP_RECV_MESSAGE;
	ops[4].data.recv_message.recv_message = &recv;
	ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	ops[5].data.recv_status_on_client.trailing_metadata = &trail_md;
	ops[5].data.recv_status_on_client.status = &status;
	ops[5].data.recv_status_on_client.status_details = &status_details;
	int r = -EIO;
	*resp = NULL;
	*resp_len = 0;
	if (grpc_call_start_batch(call, ops, 6, call, NULL) == GRPC_CALL_OK) {
		grpc_event ev = grpc_completion_queue_pluck(cq, call, gpr_inf_future(GPR_CLOCK_REALTIME),
							    NULL);
		if (ev.type == GRPC_OP_COMPLETE && ev.success)
			r = (int)status;
	}
	if (details && details_len) {
		size_t n = GRPC_SLICE_LENGTH(status_details);
		if (n >= details_len)
			n = details_len - 1;
		memcpy(details, GRPC_SLICE_START_PTR(status_details), n);
		details[n] = '\0';
	}
	if (r == GRPC_STATUS_OK && recv) {
		grpc_byte_buffer_reader rd;
		grpc_byte_buffer_reader_init(&rd, recv);
		grpc_slice all = grpc_byte_buffer_reader_readall(&rd);
		grpc_byte_buffer_reader_destroy(&rd);
		*resp_len = GRPC_SLICE_LENGTH(all);
		*resp = malloc(*resp_len ? *resp_len : 1);
		if (*resp)
			memcpy(*resp, GRPC_SLICE_START_PTR(all), *resp_len);
		grpc_slice_unref(all);
	}
	if (recv)
		grpc_byte_buffer_destroy(recv);
	grpc_byte_buffer_destroy(send);
	grpc_slice_unref(status_details);
	grpc_metadata_array_destroy(&init_md);
	grpc_metadata_array_destroy(&trail_md);
	grpc_call_unref(call);
	grpc_completion_queue_shutdown(cq);
	grpc_completion_queue_destroy(cq);
	return r;
}

int csi_client_call(struct csi_client *c, const char *method, const ProtobufCMessage *req,
		    const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp,
		    char *details, size_t details_len, int timeout_ms)
{
	size_t n = protobuf_c_message_get_packed_size(req);
	uint8_t *buf = malloc(n ? n : 1);
	if (!buf)
		return -ENOMEM;
	protobuf_c_message_pack(req, buf);
	void *out = NULL;
	size_t out_len = 0;
	*resp = NULL;
	int r = csi_client_call_raw(c, method, buf, n, &out, &out_len, details, details_len,
				    timeout_ms);
	free(buf);
	if (r == 0) {
		*resp = protobuf_c_message_unpack(resp_desc, NULL, out_len, out);
		if (!*resp) {
			if (details && details_len)
				snprintf(details, details_len, "%s: the response is not a valid %s",
					 method, resp_desc->name);
			r = GRPC_STATUS_INTERNAL;
		}
	}
	free(out);
	return r;
}
