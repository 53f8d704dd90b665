/* libFuzzer target: one HTTP/2 connection (csi/h2.c, csi/hpack.c) fed arbitrary bytes
 * after the preface; every call is answered at once with a response larger than the
 * default windows (flow control, MAX_FRAME_SIZE) or an error, by turns. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "h2.h"

static uint8_t resp[100000];
static unsigned turn;

static void on_call(void *arg, struct h2_conn *c, uint32_t stream, const char *path, uint8_t *msg, size_t len)
{
	(void)arg;
	(void)path;
	(void)len;
	free(msg);
	if (turn++ % 3 == 2)
		return;   /* left running: answered at the end */
	h2_respond(c, stream, turn % 2 ? 0 : 5, "gone\n\x01%", resp, sizeof(resp));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct h2_conn *c = h2_new(on_call, NULL);
	const uint8_t *o;
	size_t n;
	if (!c)
		return 0;
	h2_input(c, (const uint8_t *)"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 24);
	/* in chunks whose sizes come from the data, draining output in between */
	while (size > 0) {
		size_t chunk = 1 + (data[0] % 64);
		if (chunk > size)
			chunk = size;
		if (h2_input(c, data, chunk) < 0)
			break;
		data += chunk;
		size -= chunk;
		if ((n = h2_output(c, &o)) > 0)
			h2_consumed(c, n / 2 + 1 > n ? n : n / 2 + 1);
	}
	h2_expire(c, INT64_MAX);   /* calls left running pass their deadline */
	for (uint32_t id = 1; id < 200; id += 2)
		h2_respond(c, id, 0, "", resp, 100);
	while ((n = h2_output(c, &o)) > 0)
		h2_consumed(c, n);
	h2_goaway(c);
	h2_free(c);
	return 0;
}
