/* libFuzzer target: the metrics endpoint's request-head parser (csi/httpd.c,
 * csi_http_parse) fed arbitrary bytes. What it returns must describe the input: a head
 * length within it, a NUL-terminated method and path, the path starting with '/'. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "csi.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct csi_http_request rq;
	char *buf = malloc(size ? size : 1);   /* exactly the input: overreads are caught */
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	int r = csi_http_parse(buf, size, &rq);
	if (r == 0) {
		if (rq.head_len == 0 || rq.head_len > size)
			abort();
		if (!memchr(rq.method, '\0', sizeof(rq.method)) || !memchr(rq.path, '\0', sizeof(rq.path)))
			abort();
		if (rq.path[0] != '/' || !rq.method[0])
			abort();
	} else if (r != -EAGAIN && r != -E2BIG && r != -EINVAL) {
		abort();
	}
	free(buf);
	return 0;
}
