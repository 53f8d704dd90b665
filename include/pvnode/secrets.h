/*
 * secrets.h — secret values (CHAP passwords, cephx keys) and their store.
 *
 * A secret set is a string map whose values are wiped with explicit_bzero when freed.
 * The store keeps one JSON file per set under <state>/secrets (directory 0700, files
 * 0600, atomic writes). Nothing here ever logs a value; `pv_secrets_describe` gives
 * only the keys.
 */
#ifndef PVNODE_SECRETS_H
#define PVNODE_SECRETS_H

#include "pvnode/pv.h"

struct pv_secrets {
	struct pv_map map;
};

void pv_secrets_init(struct pv_secrets *s);
void pv_secrets_free(struct pv_secrets *s); /* wipes values */
const char *pv_secrets_get(const struct pv_secrets *s, const char *key);
int pv_secrets_set(struct pv_secrets *s, const char *key, const char *value);

/* The set as one JSON object ({"key": "value"}) and back: how secrets travel to helper
 * programs (on a pipe) and to the store. Free the text with pv_secret_text_free, which
 * wipes it first. */
char *pv_secrets_to_json(const struct pv_secrets *s, bool pretty);
int pv_secrets_from_json(const char *text, struct pv_secrets *out, struct pv_err *err);
void pv_secret_text_free(char *text);

int pv_secrets_store_load(const char *state_dir, const char *name, struct pv_secrets *out,
			  struct pv_err *err);
int pv_secrets_store_save(const char *state_dir, const char *name, const struct pv_secrets *s,
			  struct pv_err *err);
int pv_secrets_store_delete(const char *state_dir, const char *name, struct pv_err *err);
/* Calls cb for each set name and its keys (never values). */
int pv_secrets_store_list(const char *state_dir,
			  int (*cb)(const char *name, const struct pv_secrets *s, void *ud), void *ud,
			  struct pv_err *err);

/* The secrets a stage was given without a secretRef (CSI NodeStage), kept in the store
 * for the stage's lifetime so a dead helper can be restarted (engine only). */
int pv_secrets_stage_save(const char *state_dir, const char *volume, const struct pv_secrets *s,
			  struct pv_err *err);
int pv_secrets_stage_load(const char *state_dir, const char *volume, struct pv_secrets *out);
void pv_secrets_stage_delete(const char *state_dir, const char *volume);

/* Does a mount option or key look like it carries a secret (password=, secret=,
 * key=, ...)? Used to strip logs. */
bool pv_secret_looking(const char *key_or_option);

#endif
