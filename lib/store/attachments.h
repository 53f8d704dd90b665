/*
 * attachments.h — the nodes a volume is published to by the controller
 * (<state>/attachments/<volume>, lib/store/attachments.c). Private to the library: the
 * controller layer is its only user. Callers hold the volume lock.
 */
#ifndef PVNODE_STORE_ATTACHMENTS_H
#define PVNODE_STORE_ATTACHMENTS_H

#include <stdbool.h>
#include <stddef.h>

#include "pvnode/error.h"

struct pv_attachments {
	char **nodes;
	size_t n;
};
int pv_attachments_load(const char *state, const char *volume, struct pv_attachments *a,
			struct pv_err *err);
bool pv_attachments_has(const struct pv_attachments *a, const char *node);
/* Write the list with `add` appended (may be NULL) and `drop` left out (may be NULL);
 * an empty list removes the file. */
int pv_attachments_save(const char *state, const char *volume, const struct pv_attachments *a,
			const char *add, const char *drop, struct pv_err *err);
void pv_attachments_free(struct pv_attachments *a);

#endif
