/*
 * catalog.c — the PV catalog (<state>/catalog/<name>.json): load, save, remove, list.
 * Creating and deleting volumes (provisioning through the driver around these) is the
 * controller layer's (lib/controller.c).
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
	if (r == 0 && strcmp(out->name, name) != 0) {
		/* a file renamed or copied by hand: which volume it means is not clear */
		r = pv_err_set(err, -EINVAL, PV_E_INTERNAL, "catalog entry %s.json names volume '%s': fix or remove the file",
			       name, out->name);
		pv_free(out);
	}
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
