/*
 * catalog.h — the PV catalog: one JSON file per PV under <state>/catalog, written
 * atomically. Create provisions the backing storage through the driver first and
 * records the PV only when that succeeded; delete removes the storage then the record.
 */
#ifndef PVNODE_CATALOG_H
#define PVNODE_CATALOG_H

#include "pvnode/driver/driver.h"
#include "pvnode/pv.h"

/* -ENOENT (PV_E_NOT_FOUND) when there is no such PV. */
int pv_catalog_load(const char *state_dir, const char *name, struct pv *out, struct pv_err *err);
int pv_catalog_save(const char *state_dir, const struct pv *pv, struct pv_err *err);
int pv_catalog_remove(const char *state_dir, const char *name, struct pv_err *err);
/* Names in order. *names is NULL-terminated, free with pv_strv_free. */
int pv_catalog_list(const char *state_dir, char ***names, struct pv_err *err);

/* Provision + record. Idempotent: the same PV again succeeds (PV_E_EXISTS when a PV of
 * that name differs). `secrets` may be NULL (loaded from secretRef). */
int pv_catalog_create(const char *state_dir, const char *node_id, struct pv *pv,
		      const struct pv_secrets *secrets, bool progress, struct pv_err *err);
/* Remove storage + record. -ENOENT when there is no such PV. */
int pv_catalog_delete(const char *state_dir, const char *node_id, const char *name,
		      const struct pv_secrets *secrets, struct pv_err *err);

void pv_strv_free(char **v);

#endif
