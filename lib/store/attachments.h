/*
 * attachments.h — the nodes a volume is published to by the controller, and with which
 * capability (<state>/attachments/<volume>, lib/store/attachments.c). Private to the
 * library: the controller layer is its only user. Callers hold the volume lock.
 */
#ifndef PVNODE_STORE_ATTACHMENTS_H
#define PVNODE_STORE_ATTACHMENTS_H

#include <stdbool.h>
#include <stddef.h>

#include "pvnode/error.h"
#include "pvnode/pv.h"

/* How a node was given the volume (CSI ControllerPublishVolume's capability). Records
 * written before capabilities were kept have known = false. */
struct pv_attach_cap {
	bool known;
	enum pv_access access;
	bool block;          /* access type block, else mount */
	bool readonly;
};

struct pv_attachments {
	char **nodes;
	struct pv_attach_cap *caps;   /* caps[i] belongs to nodes[i] */
	size_t n;
};
int pv_attachments_load(const char *state, const char *volume, struct pv_attachments *a,
			struct pv_err *err);
bool pv_attachments_has(const struct pv_attachments *a, const char *node);
/* The capability `node` was published with; NULL when it is not published there. */
const struct pv_attach_cap *pv_attachments_cap(const struct pv_attachments *a, const char *node);
/* Write the list with `add` appended with capability `cap` (both may be NULL) and `drop`
 * left out (may be NULL); an empty list removes the file. */
int pv_attachments_save(const char *state, const char *volume, const struct pv_attachments *a,
			const char *add, const struct pv_attach_cap *cap, const char *drop,
			struct pv_err *err);
void pv_attachments_free(struct pv_attachments *a);
/* How many volumes are published to `node` (every attachments file of the state
 * directory). Callers that add one hold pv_attachments_lock_nodes() across the count
 * and the save, so two publishes cannot both take the last place. */
int pv_attachments_count_node(const char *state, const char *node, size_t *count, struct pv_err *err);
/* The description of a volume published from the caller's volume_context (a static PV
 * the catalog does not hold), kept while the volume is published anywhere so that
 * releasing a node can still break its fence: <state>/attachments/@pv/<volume>.json
 * ('@' is no volume id character). Load: -ENOENT (no error set) when none is kept. */
int pv_attachments_save_pv(const char *state, const struct pv *pv, struct pv_err *err);
int pv_attachments_load_pv(const char *state, const char *volume, struct pv *pv, struct pv_err *err);
void pv_attachments_forget_pv(const char *state, const char *volume);
/* The lock of the per-node counts (an fd for pv_unlock), taken after a volume lock. */
int pv_attachments_lock_nodes(const char *state, struct pv_err *err);

#endif
