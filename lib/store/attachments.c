/*
 * attachments.c — which nodes a volume is published to by the controller (CSI
 * ControllerPublishVolume), so that a second node asking for a single-node volume gets
 * FAILED_PRECONDITION and ControllerUnpublishVolume without a node id knows whom to
 * release.
 *
 * One small text file per volume, <state>/attachments/<volume>, one node id a line,
 * written atomically; no file means published nowhere. Callers hold the volume lock.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/attachments.h"
#include "pvnode/driver/os.h"
#include "pvnode/pv.h"
#include "pvnode/util.h"

static int att_path(const char *state, const char *volume, char *buf, size_t len, struct pv_err *err)
{
	if ((size_t)snprintf(buf, len, "%s/attachments/%s", state, volume) >= len)
		return pv_err_set(err, -ENAMETOOLONG, PV_E_INVALID,
				  "volume %s: the attachments path is too long", volume);
	return 0;
}

void pv_attachments_free(struct pv_attachments *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->nodes[i]);
	free(a->nodes);
	a->nodes = NULL;
	a->n = 0;
}

int pv_attachments_load(const char *state, const char *volume, struct pv_attachments *a,
			 struct pv_err *err)
{
	char path[PATH_MAX];
	char *text = NULL, *save = NULL;
	size_t len;
	a->nodes = NULL;
	a->n = 0;
	int r = att_path(state, volume, path, sizeof(path), err);
	if (r < 0)
		return r;
	if (access(path, F_OK) < 0)
		return 0;
	r = pv_read_file(path, &text, &len, err);
	if (r < 0)
		return r;
	for (char *t = strtok_r(text, "\n", &save); t; t = strtok_r(NULL, "\n", &save)) {
		if (!pv_name_valid(t))
			continue;
		char **v = realloc(a->nodes, (a->n + 1) * sizeof(*v));
		if (!v || !(v[a->n] = strdup(t))) {
			free(v ? v : a->nodes);
			a->nodes = NULL;
			free(text);
			return pv_err_set(err, -ENOMEM, PV_E_INTERNAL, "out of memory");
		}
		a->nodes = v;
		a->n++;
	}
	free(text);
	return 0;
}

bool pv_attachments_has(const struct pv_attachments *a, const char *node)
{
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->nodes[i], node) == 0)
			return true;
	return false;
}

/* Write the list with `add` appended (may be NULL) and `drop` left out (may be NULL). */
int pv_attachments_save(const char *state, const char *volume, const struct pv_attachments *a,
			 const char *add, const char *drop, struct pv_err *err)
{
	char path[PATH_MAX], dir[PATH_MAX];
	char *buf = NULL;
	size_t len = 0;
	int r = att_path(state, volume, path, sizeof(path), err);
	if (r < 0)
		return r;
	FILE *m = open_memstream(&buf, &len);
	if (!m)
		return pv_err_set(err, -ENOMEM, PV_E_INTERNAL, "out of memory");
	for (size_t i = 0; i < a->n; i++)
		if (!drop || strcmp(a->nodes[i], drop) != 0)
			fprintf(m, "%s\n", a->nodes[i]);
	if (add && !pv_attachments_has(a, add))
		fprintf(m, "%s\n", add);
	fclose(m);
	if (len == 0) {
		free(buf);
		if (unlink(path) < 0 && errno != ENOENT)
			return pv_err_set(err, -errno, PV_E_INTERNAL, "cannot remove %s: %s", path,
					  strerror(errno));
		return 0;
	}
	snprintf(dir, sizeof(dir), "%s/attachments", state);
	r = pv_mkdir_p(dir, 0700, err);
	if (r == 0)
		r = pv_write_atomic(path, buf, len, 0600, err);
	free(buf);
	return r;
}
