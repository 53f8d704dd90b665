/*
 * catalog.c — the PV catalog (<state>/catalog/<name>.json). Create provisions through
 * the driver first and records the PV only when that worked, so the catalog never names
 * storage that does not exist; delete removes storage, then the record.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pvnode/catalog.h"
#include "pvnode/secrets.h"
#include "pvnode/driver/os.h"

void pv_strv_free(char **v)
{
	for (char **p = v; p && *p; p++)
		free(*p);
	free(v);
}

static int catalog_path(const char *state_dir, const char *name, char *buf, size_t len, struct pv_err *err)
{
	if (!pv_name_valid(name))
		return pv_err_set(err, -EINVAL, PV_E_INVALID, "'%s' is not a valid volume name (allowed: 1-128 of A-Z a-z 0-9 . _ : -)",
				  name);
	snprintf(buf, len, "%s/catalog/%s.json", state_dir, name);
	return 0;
}

int pv_catalog_load(const char *state_dir, const char *name, struct pv *out, struct pv_err *err)
{
	char path[PATH_MAX], *text = NULL;
	int r = catalog_path(state_dir, name, path, sizeof(path), err);

	if (r < 0)
		return r;
	r = pv_read_file(path, &text, NULL, NULL);
	if (r == -ENOENT)
		return pv_err_set(err, r, PV_E_NOT_FOUND, "volume %s is not in the catalog", name);
	if (r < 0)
		return pv_err_set(err, r, PV_E_INTERNAL, "cannot read the catalog entry of %s: %s", name, strerror(-r));
	r = pv_parse_json(text, out, err);
	free(text);
	if (r < 0)
		pv_err_prefix(err, "catalog entry %s: ", name);
	return r;
}

int pv_catalog_save(const char *state_dir, const struct pv *pv, struct pv_err *err)
{
	char path[PATH_MAX], dir[PATH_MAX], *text;
	int r = catalog_path(state_dir, pv->name, path, sizeof(path), err);

	if (r < 0)
		return r;
	snprintf(dir, sizeof(dir), "%s/catalog", state_dir);
	r = pv_mkdir_p(dir, 0755, err);
	if (r < 0)
		return r;
	text = pv_to_json_text(pv);
	if (!text)
		return pv_err_set(err, -ENOMEM, PV_E_RESOURCE, "out of memory");
	r = pv_write_atomic(path, text, strlen(text), 0644, err);
	free(text);
	return r;
}

int pv_catalog_remove(const char *state_dir, const char *name, struct pv_err *err)
{
	char path[PATH_MAX];
	int r = catalog_path(state_dir, name, path, sizeof(path), err);

	if (r < 0)
		return r;
	if (unlink(path) < 0 && errno != ENOENT)
		return pv_err_set(err, -errno, PV_E_INTERNAL, "cannot remove %s: %s", path, strerror(errno));
	return 0;
}

int pv_catalog_list(const char *state_dir, char ***names, struct pv_err *err)
{
	char dir[PATH_MAX];
	struct dirent **list = NULL;
	char **out;
	size_t k = 0;
	int n;

	snprintf(dir, sizeof(dir), "%s/catalog", state_dir);
	n = scandir(dir, &list, NULL, alphasort);
	if (n < 0) {
		if (errno != ENOENT)
			return pv_err_set(err, -errno, PV_E_INTERNAL, "cannot list %s: %s", dir, strerror(errno));
		n = 0;
	}
	out = calloc((size_t)n + 1, sizeof(char *));
	if (!out)
		return pv_err_set(err, -ENOMEM, PV_E_RESOURCE, "out of memory");
	for (int i = 0; i < n; i++) {
		size_t len = strlen(list[i]->d_name);
		if (len > 5 && strcmp(list[i]->d_name + len - 5, ".json") == 0) {
			out[k] = strndup(list[i]->d_name, len - 5);
			if (out[k] && pv_name_valid(out[k]))
				k++;
			else
				free(out[k]), out[k] = NULL;
		}
		free(list[i]);
	}
	free(list);
	*names = out;
	return 0;
}

/* Are two PVs the same volume (what a retried create must match)? */
static bool same_volume(const struct pv *a, const struct pv *b)
{
	if (strcmp(a->driver, b->driver) != 0 || a->capacity != b->capacity ||
	    a->access_modes != b->access_modes || a->volume_mode != b->volume_mode ||
	    strcmp(a->fs_type, b->fs_type) != 0 || a->gid != b->gid ||
	    a->attributes.n != b->attributes.n)
		return false;
	for (size_t i = 0; i < a->attributes.n; i++) {
		const char *v = pv_map_get(&b->attributes, a->attributes.items[i].key);
		if (!v || strcmp(v, a->attributes.items[i].value) != 0)
			return false;
	}
	return true;
}

static int load_secrets(const char *state_dir, const struct pv *pv, const struct pv_secrets *given,
			struct pv_secrets *out, const struct pv_secrets **use, struct pv_err *err)
{
	pv_secrets_init(out);
	*use = given ? given : out;
	if (!given && pv->secret_ref)
		return pv_secrets_store_load(state_dir, pv->secret_ref, out, err);
	return 0;
}

int pv_catalog_create(const char *state_dir, const char *node_id, struct pv *pv,
		      const struct pv_secrets *secrets, bool progress, struct pv_err *err)
{
	const struct pv_driver *drv;
	struct pv existing, attempt;
	struct pv_secrets loaded;
	const struct pv_secrets *use;
	char run_dir[PATH_MAX];
	struct pv_node_ctx n = { .state_dir = state_dir, .node_id = node_id, .run_dir = run_dir, .progress = progress };
	int lock, r;

	r = pv_validate(pv, err);
	if (r < 0)
		return r;
	drv = pv_driver_find(pv->driver);
	lock = pv_lock_volume(state_dir, pv->name, true, err);
	if (lock < 0)
		return lock;
	pv_init(&existing);
	r = pv_catalog_load(state_dir, pv->name, &existing, NULL);
	if (r == 0) {
		/* A retried create: the same PV (before provisioning filled in defaults) or the
		 * stored one. Anything else is a different volume under a taken name. */
		bool same = same_volume(&existing, pv);
		if (!same) {
			pv_init(&attempt);
			if (pv_copy(&attempt, pv, NULL) == 0) {
				for (size_t i = 0; i < existing.attributes.n; i++)
					if (!pv_map_get(&attempt.attributes, existing.attributes.items[i].key))
						pv_map_set(&attempt.attributes, existing.attributes.items[i].key,
							   existing.attributes.items[i].value);
				same = same_volume(&existing, &attempt);
			}
			pv_free(&attempt);
		}
		if (!same) {
			pv_free(&existing);
			pv_unlock(lock);
			return pv_err_set(err, -EEXIST, PV_E_EXISTS,
					  "volume %s already exists with a different definition (see: pvctl get %s -o json)",
					  pv->name, pv->name);
		}
		pv_free(pv);
		*pv = existing;
		pv_unlock(lock);
		return 0;
	}
	r = load_secrets(state_dir, pv, secrets, &loaded, &use, err);
	if (r < 0)
		goto out;
	snprintf(run_dir, sizeof(run_dir), "%s/run/%s", state_dir, pv->name);
	if (!pv->created)
		pv->created = (int64_t)time(NULL);
	if (drv->provision) {
		r = drv->provision(pv, use, &n, err);
		if (r < 0) {
			pv_err_prefix(err, "volume %s: ", pv->name);
			goto out;
		}
	}
	r = pv_catalog_save(state_dir, pv, err);
	if (r < 0 && drv->remove)
		drv->remove(pv, use, &n, NULL); /* leave nothing half-done */
out:
	pv_secrets_free(&loaded);
	pv_unlock(lock);
	return r;
}

int pv_catalog_delete(const char *state_dir, const char *node_id, const char *name,
		      const struct pv_secrets *secrets, struct pv_err *err)
{
	struct pv pv;
	struct pv_secrets loaded;
	const struct pv_secrets *use;
	const struct pv_driver *drv;
	char run_dir[PATH_MAX];
	struct pv_node_ctx n = { .state_dir = state_dir, .node_id = node_id, .run_dir = run_dir };
	int lock, r;

	lock = pv_lock_volume(state_dir, name, true, err);
	if (lock < 0)
		return lock;
	pv_init(&pv);
	r = pv_catalog_load(state_dir, name, &pv, err);
	if (r < 0) {
		pv_unlock(lock);
		return r;
	}
	drv = pv_driver_find(pv.driver);
	snprintf(run_dir, sizeof(run_dir), "%s/run/%s", state_dir, name);
	r = load_secrets(state_dir, &pv, secrets, &loaded, &use, err);
	if (r == 0 && drv && drv->remove) {
		r = drv->remove(&pv, use, &n, err);
		if (r < 0)
			pv_err_prefix(err, "volume %s: ", name);
	}
	if (r == 0)
		r = pv_catalog_remove(state_dir, name, err);
	pv_secrets_free(&loaded);
	pv_free(&pv);
	pv_unlock(lock);
	return r;
}
