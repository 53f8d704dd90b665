/*
 * common.c — pieces both the server (libcsi) and the client (pvctl, tests) use: the
 * per-call arena messages are built in, string maps turned into map entries, and
 * endpoint parsing.
 */
#include <stdlib.h>
#include <string.h>

#include "csi.h"

void *csi_alloc(struct csi_arena *a, size_t size)
{
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 16;
		void **p = realloc(a->ptrs, cap * sizeof(*p));
		if (!p)
			abort();
		a->ptrs = p;
		a->cap = cap;
	}
	void *m = calloc(1, size ? size : 1);
	if (!m)
		abort();
	a->ptrs[a->n++] = m;
	return m;
}

char *csi_strdup(struct csi_arena *a, const char *s)
{
	size_t len = strlen(s);
	char *d = csi_alloc(a, len + 1);
	memcpy(d, s, len);
	return d;
}

void csi_arena_free(struct csi_arena *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->ptrs[i]);
	free(a->ptrs);
	a->ptrs = NULL;
	a->n = a->cap = 0;
}

void **csi_map_out(struct csi_arena *a, const ProtobufCMessageDescriptor *entry_desc,
		   const struct pv_map *m, size_t *n)
{
	*n = 0;
	if (!m || !m->n)
		return NULL;
	void **v = csi_alloc(a, m->n * sizeof(*v));
	for (size_t i = 0; i < m->n; i++) {
		struct csi_kv *kv = csi_alloc(a, entry_desc->sizeof_message);
		protobuf_c_message_init(entry_desc, kv);
		kv->key = csi_strdup(a, m->items[i].key);
		kv->value = csi_strdup(a, m->items[i].value);
		v[i] = kv;
	}
	*n = m->n;
	return v;
}

const char *csi_endpoint_path(const char *endpoint)
{
	if (strncmp(endpoint, "unix://", 7) == 0)
		endpoint += 7;
	else if (strncmp(endpoint, "unix:", 5) == 0)
		endpoint += 5;
	return endpoint[0] == '/' ? endpoint : NULL;
}
