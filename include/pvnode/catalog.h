/*
 * catalog.h — the PV catalog: one JSON file per PV under <state>/catalog, written
 * atomically. To create or delete a volume (its storage with it) use the controller
 * layer (pvnode/controller.h); these only read and write records.
 */
#ifndef PVNODE_CATALOG_H
#define PVNODE_CATALOG_H

#include "pvnode/pv.h"

/* -ENOENT (PV_E_NOT_FOUND) when there is no such PV. */
int pv_catalog_load(const char *state_dir, const char *name, struct pv *out, struct pv_err *err);
int pv_catalog_save(const char *state_dir, const struct pv *pv, struct pv_err *err);
int pv_catalog_remove(const char *state_dir, const char *name, struct pv_err *err);
/* Names in order. *names is NULL-terminated, free with pv_strv_free. */
int pv_catalog_list(const char *state_dir, char ***names, struct pv_err *err);


#endif
