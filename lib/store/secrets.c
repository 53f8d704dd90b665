/*
 * secrets.c — secret sets and their store (<state>/secrets/<name>.json, 0600 in a 0700
 * directory). Values are wiped from memory when freed and never printed.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <jansson.h>

#include "pvnode/secrets.h"
#include "pvnode/driver/os.h"

void pv_secrets_init(struct pv_secrets *s)
{
	memset(s, 0, sizeof(*s));
}

void pv_secrets_free(struct pv_secrets *s)
{
	pv_map_free_secure(&s->map);
}

const char *pv_secrets_get(const struct pv_secrets *s, const char *key)
{
	return s ? pv_map_get(&s->map, key) : NULL;
}

int pv_secrets_set(struct pv_secrets *s, const char *key, const char *value)
{
	return pv_map_set(&s->map, key, value);
}

static int store_path(const char *state_dir, const char *name, char *buf, size_t len, struct pv_err *err)
{
	if (!pv_name_valid(name))
		return pv_err_set(err, -EINVAL, PV_E_INVALID, "'%s' is not a valid secret name (allowed: 1-128 of A-Z a-z 0-9 . _ : -)",
				  name);
	snprintf(buf, len, "%s/secrets/%s.json", state_dir, name);
	return 0;
}

/* Wipe jansson's copies of the values of a secrets object before it is freed. */
static void wipe_json(json_t *root)
{
	const char *key;
	json_t *v;
	json_object_foreach(root, key, v)
		if (json_is_string(v))
			explicit_bzero((char *)json_string_value(v), json_string_length(v));
}

int pv_secrets_from_json(const char *text, struct pv_secrets *out, struct pv_err *err)
{
	json_t *root = json_loads(text, JSON_REJECT_DUPLICATES, NULL), *v;
	const char *key;
	int r = 0;

	pv_secrets_init(out);
	if (!json_is_object(root)) {
		json_decref(root);
		return pv_err_set(err, -EINVAL, PV_E_INVALID, "secrets are not a JSON object of strings");
	}
	json_object_foreach(root, key, v) {
		if (!json_is_string(v) || pv_secrets_set(out, key, json_string_value(v)) < 0) {
			r = pv_err_set(err, -EINVAL, PV_E_INVALID, "secret %.64s is not a string", key);
			break;
		}
	}
	wipe_json(root);
	json_decref(root);
	if (r < 0)
		pv_secrets_free(out);
	return r;
}

char *pv_secrets_to_json(const struct pv_secrets *s, bool pretty)
{
	json_t *root = json_object();
	char *text;

	for (size_t i = 0; s && i < s->map.n; i++)
		json_object_set_new(root, s->map.items[i].key, json_string(s->map.items[i].value));
	text = json_dumps(root, (pretty ? JSON_INDENT(2) : JSON_COMPACT) | JSON_SORT_KEYS);
	wipe_json(root);
	json_decref(root);
	return text;
}

void pv_secret_text_free(char *text)
{
	if (text) {
		explicit_bzero(text, strlen(text));
		free(text);
	}
}

int pv_secrets_store_load(const char *state_dir, const char *name, struct pv_secrets *out, struct pv_err *err)
{
	char path[PATH_MAX], *text = NULL;
	size_t len = 0;
	int r = store_path(state_dir, name, path, sizeof(path), err);

	if (r < 0)
		return r;
	r = pv_read_file(path, &text, &len, NULL);
	if (r == -ENOENT)
		return pv_err_set(err, r, PV_E_NOT_FOUND, "secret %s does not exist (create it with: pvctl secret set %s KEY=VALUE)",
				  name, name);
	if (r < 0)
		return pv_err_set(err, r, PV_E_INTERNAL, "cannot read secret %s: %s", name, strerror(-r));
	r = pv_secrets_from_json(text, out, NULL);
	pv_secret_text_free(text);
	if (r < 0)
		return pv_err_set(err, -EINVAL, PV_E_INTERNAL, "secret store file for %s is damaged", name);
	return 0;
}

int pv_secrets_store_save(const char *state_dir, const char *name, const struct pv_secrets *s, struct pv_err *err)
{
	char path[PATH_MAX], dir[PATH_MAX], *text;
	int r = store_path(state_dir, name, path, sizeof(path), err);

	if (r < 0)
		return r;
	snprintf(dir, sizeof(dir), "%s/secrets", state_dir);
	r = pv_mkdir_p(dir, 0700, err);
	if (r < 0)
		return r;
	text = pv_secrets_to_json(s, true);
	if (!text)
		return pv_err_set(err, -ENOMEM, PV_E_RESOURCE, "out of memory");
	r = pv_write_atomic(path, text, strlen(text), 0600, err);
	pv_secret_text_free(text);
	return r;
}

int pv_secrets_store_delete(const char *state_dir, const char *name, struct pv_err *err)
{
	char path[PATH_MAX];
	int r = store_path(state_dir, name, path, sizeof(path), err);

	if (r < 0)
		return r;
	if (unlink(path) < 0) {
		if (errno == ENOENT)
			return pv_err_set(err, -ENOENT, PV_E_NOT_FOUND, "secret %s does not exist", name);
		return pv_err_set(err, -errno, PV_E_INTERNAL, "cannot delete secret %s: %s", name, strerror(errno));
	}
	return 0;
}

int pv_secrets_store_list(const char *state_dir, int (*cb)(const char *name, const struct pv_secrets *s, void *ud),
			  void *ud, struct pv_err *err)
{
	char dir[PATH_MAX];
	struct dirent **list = NULL;
	int n, r = 0;

	snprintf(dir, sizeof(dir), "%s/secrets", state_dir);
	n = scandir(dir, &list, NULL, alphasort);
	if (n < 0)
		return errno == ENOENT ? 0 : pv_err_set(err, -errno, PV_E_INTERNAL, "cannot list %s: %s", dir, strerror(errno));
	for (int i = 0; i < n; i++) {
		char name[PV_NAME_MAX + 8];
		size_t len = strlen(list[i]->d_name);
		struct pv_secrets s;
		if (r == 0 && len > 5 && strcmp(list[i]->d_name + len - 5, ".json") == 0 && len - 5 <= PV_NAME_MAX) {
			memcpy(name, list[i]->d_name, len - 5);
			name[len - 5] = '\0';
			if (pv_secrets_store_load(state_dir, name, &s, NULL) == 0) {
				r = cb(name, &s, ud);
				pv_secrets_free(&s);
			}
		}
		free(list[i]);
	}
	free(list);
	return r;
}

bool pv_secret_looking(const char *s)
{
	static const char *const words[] = { "pass", "secret", "key", "token", "cred", "auth", NULL };
	char lower[256];
	size_t i;

	for (i = 0; s[i] && i < sizeof(lower) - 1; i++)
		lower[i] = (char)((s[i] >= 'A' && s[i] <= 'Z') ? s[i] + 32 : s[i]);
	lower[i] = '\0';
	for (const char *const *w = words; *w; w++)
		if (strstr(lower, *w))
			return true;
	return false;
}

/* --- the secrets a NodeStage brought (no secretRef): kept for the stage's lifetime in
 * <state>/secrets/staged/<volume>.json (0600), so a helper that dies can be restarted
 * with them. Nothing else reads them; unstage removes them. --- */
static void staged_path(const char *state_dir, const char *volume, char *buf, size_t len)
{
	snprintf(buf, len, "%s/secrets/staged/%s.json", state_dir, volume);
}

int pv_secrets_stage_save(const char *state_dir, const char *volume, const struct pv_secrets *s,
			  struct pv_err *err)
{
	char path[PATH_MAX], *text;
	int r;

	if (!pv_name_valid(volume))
		return pv_err_set(err, -EINVAL, PV_E_INVALID, "'%s' is not a valid volume id", volume);
	snprintf(path, sizeof(path), "%s/secrets/staged", state_dir);
	r = pv_mkdir_p(path, 0700, err);
	if (r < 0)
		return r;
	staged_path(state_dir, volume, path, sizeof(path));
	text = pv_secrets_to_json(s, false);
	if (!text)
		return pv_err_set(err, -ENOMEM, PV_E_RESOURCE, "out of memory");
	r = pv_write_atomic(path, text, strlen(text), 0600, err);
	pv_secret_text_free(text);
	return r;
}

int pv_secrets_stage_load(const char *state_dir, const char *volume, struct pv_secrets *out)
{
	char path[PATH_MAX], *text = NULL;
	size_t len;
	int r;

	pv_secrets_init(out);
	if (!pv_name_valid(volume))
		return -EINVAL;
	staged_path(state_dir, volume, path, sizeof(path));
	r = pv_read_file(path, &text, &len, NULL);
	if (r < 0)
		return r;
	r = pv_secrets_from_json(text, out, NULL);
	pv_secret_text_free(text);
	return r;
}

void pv_secrets_stage_delete(const char *state_dir, const char *volume)
{
	char path[PATH_MAX];

	if (!pv_name_valid(volume))
		return;
	staged_path(state_dir, volume, path, sizeof(path));
	unlink(path);
}
