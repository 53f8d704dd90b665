/*
 * k8s_import.h — Kubernetes PersistentVolume manifests → pvnode PVs (pvctl import).
 *
 * Pure: text in, PVs out; nothing is read, written or contacted. A YAML or JSON stream
 * (one or more documents; a List's items) is parsed with libyaml into JSON values, and
 * each PersistentVolume becomes a PV for registration: the in-tree `nfs`, `iscsi` and
 * `rbd` sources map to the drivers of those names, a `csi` source of pvnode's (what
 * `pvctl get -o k8s` prints) back to the PV it came from. Other sources are skipped by
 * name. The PVs are not checked against the drivers built in (an rbd PV is produced
 * even where no rbd driver is): callers validate them (pv_complete) before use.
 *
 * It lives in the front end, not lib/model: it knows the backends by name (the in-tree
 * sources and their fields), which the library never does.
 */
#ifndef PVNODE_CLI_K8S_IMPORT_H
#define PVNODE_CLI_K8S_IMPORT_H

#include <stddef.h>

#include <jansson.h>

#include "pvnode/error.h"
#include "pvnode/pv.h"

enum pvk_outcome {
	PVK_CONVERTED = 0,   /* pv holds the PV */
	PVK_SKIPPED,         /* a source (or kind) pvnode does not serve: why says which */
	PVK_INVALID,         /* a PersistentVolume that cannot be read: why says where */
};

struct pvk_item {
	char name[PV_NAME_MAX + 1];  /* metadata.name, "document N" without one */
	enum pvk_outcome outcome;
	char why[PV_ERR_MSG_MAX];    /* skipped / invalid: one sentence */
	char source[32];             /* "nfs", "iscsi", "rbd", "csi", the unsupported source's key */
	struct pv pv;                /* converted: drivers not consulted, validate before use */
	char secret_keys[256];       /* for its secretRef: "KEY=VALUE ..." to pass to pvctl secret set */
	char note[256];              /* what the conversion decided, for the report ("" none) */
};

struct pvk_list {
	struct pvk_item *items;
	size_t n;
};

/* Every document of a YAML or JSON stream. Text that is not YAML is PV_E_INVALID naming
 * the line and column; what it holds is judged item by item. */
int pvk_parse(const char *text, size_t len, struct pvk_list *out, struct pv_err *err);
void pvk_list_free(struct pvk_list *l);

/* One PersistentVolume manifest (a JSON object) → *out (initialised here). `index`
 * names a document without metadata.name. */
void pvk_convert(json_t *manifest, size_t index, struct pvk_item *out);

/* The CSI driver names that are pvnode's: pvnode.csi.io and *.pvnode.csi.io. */
bool pvk_csi_driver_ours(const char *driver);

#endif
