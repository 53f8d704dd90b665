/*
 * attachments.c — which nodes a volume is published to by the controller (CSI
 * ControllerPublishVolume) and with which capability, so that a second node asking for
 * a single-node volume gets FAILED_PRECONDITION, a repeat with another capability gets
 * ALREADY_EXISTS, a node's count can be held to its limit, and ControllerUnpublishVolume
 * without a node id knows whom to release.
 *
 * One small text file per volume, <state>/attachments/<volume>, one line per node:
 * "NODE<TAB>ACCESS<TAB>mount|block<TAB>rw|ro" (a line of the node id alone, as written
 * before capabilities were kept, is a node whose capability is unknown), written
 * atomically; no file means published nowhere. Callers hold the volume lock.
 */
#include <dirent.h>
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
	free(a->caps);
	a->nodes = NULL;
	a->caps = NULL;
	a->n = 0;
}

/* "NODE[\tACCESS\tTYPE\tRO]" → node (in place) and its capability; false: not a record. */
static bool parse_line(char *line, struct pv_attach_cap *cap)
{
	char *save = NULL, *node = strtok_r(line, "\t", &save);
	char *mode = strtok_r(NULL, "\t", &save), *type = strtok_r(NULL, "\t", &save);
	char *ro = strtok_r(NULL, "\t", &save);

	memset(cap, 0, sizeof(*cap));
	if (!node || !pv_name_valid(node))
		return false;
	if (mode && type && ro && pv_access_parse(mode, &cap->access) == 0) {
		cap->known = true;
		cap->block = strcmp(type, "block") == 0;
		cap->readonly = strcmp(ro, "ro") == 0;
	}
	return true;
}

static int add_node(struct pv_attachments *a, const char *node, const struct pv_attach_cap *cap)
{
	char **v = realloc(a->nodes, (a->n + 1) * sizeof(*v));
	if (v)
		a->nodes = v;
	struct pv_attach_cap *c = v ? realloc(a->caps, (a->n + 1) * sizeof(*c)) : NULL;
	if (c)
		a->caps = c;
	if (!v || !c || !(a->nodes[a->n] = strdup(node)))
		return -ENOMEM;
	a->caps[a->n++] = *cap;
	return 0;
}

int pv_attachments_load(const char *state, const char *volume, struct pv_attachments *a,
			struct pv_err *err)
{
	char path[PATH_MAX];
	_cleanup_(pv_freep) char *text = NULL;
	char *save = NULL;
	size_t len;
	memset(a, 0, sizeof(*a));
	int r = att_path(state, volume, path, sizeof(path), err);
	if (r < 0)
		return r;
	if (access(path, F_OK) < 0)
		return 0;
	r = pv_read_file(path, &text, &len, err);
	if (r < 0)
		return r;
	for (char *t = strtok_r(text, "\n", &save); t; t = strtok_r(NULL, "\n", &save)) {
		struct pv_attach_cap cap;
		if (!parse_line(t, &cap))
			continue;
		if (add_node(a, t, &cap) < 0) {
			pv_attachments_free(a);
			return pv_err_set(err, -ENOMEM, PV_E_INTERNAL, "out of memory");
		}
	}
	return 0;
}

const struct pv_attach_cap *pv_attachments_cap(const struct pv_attachments *a, const char *node)
{
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->nodes[i], node) == 0)
			return &a->caps[i];
	return NULL;
}

bool pv_attachments_has(const struct pv_attachments *a, const char *node)
{
	return pv_attachments_cap(a, node) != NULL;
}

static void write_line(FILE *m, const char *node, const struct pv_attach_cap *cap)
{
	if (!cap || !cap->known)
		fprintf(m, "%s\n", node);
	else
		fprintf(m, "%s\t%s\t%s\t%s\n", node, pv_access_short(cap->access), cap->block ? "block" : "mount",
			cap->readonly ? "ro" : "rw");
}

int pv_attachments_save(const char *state, const char *volume, const struct pv_attachments *a,
			const char *add, const struct pv_attach_cap *cap, const char *drop,
			struct pv_err *err)
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
			write_line(m, a->nodes[i], &a->caps[i]);
	if (add && !pv_attachments_has(a, add))
		write_line(m, add, cap);
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

int pv_attachments_count_node(const char *state, const char *node, size_t *count, struct pv_err *err)
{
	char dir[PATH_MAX];
	struct dirent *de;
	DIR *d;

	*count = 0;
	snprintf(dir, sizeof(dir), "%s/attachments", state);
	if (!(d = opendir(dir)))
		return errno == ENOENT ? 0 : pv_err_set(err, -errno, PV_E_INTERNAL, "cannot read %s: %s", dir,
							  strerror(errno));
	while ((de = readdir(d))) {
		struct pv_attachments a;
		if (!pv_name_valid(de->d_name) || strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
		    pv_temp_name(de->d_name))
			continue;   /* the directory itself, temp files of an atomic write */
		if (pv_attachments_load(state, de->d_name, &a, NULL) < 0)
			continue;
		*count += pv_attachments_has(&a, node);
		pv_attachments_free(&a);
	}
	closedir(d);
	return 0;
}

static void pv_file(const char *state, const char *volume, char *buf, size_t len)
{
	snprintf(buf, len, "%s/attachments/@pv/%s.json", state, volume);
}

int pv_attachments_save_pv(const char *state, const struct pv *pv, struct pv_err *err)
{
	char path[PATH_MAX];
	_cleanup_(pv_freep) char *text = pv_to_json_text(pv);
	int r;

	if (!text)
		return pv_err_set(err, -ENOMEM, PV_E_INTERNAL, "out of memory");
	snprintf(path, sizeof(path), "%s/attachments/@pv", state);
	if ((r = pv_mkdir_p(path, 0700, err)) < 0)
		return r;
	pv_file(state, pv->name, path, sizeof(path));
	return pv_write_atomic(path, text, strlen(text), 0600, err);
}

int pv_attachments_load_pv(const char *state, const char *volume, struct pv *pv, struct pv_err *err)
{
	char path[PATH_MAX];
	_cleanup_(pv_freep) char *text = NULL;
	int r;

	pv_init(pv);
	pv_file(state, volume, path, sizeof(path));
	if (access(path, F_OK) < 0)
		return -ENOENT;
	if ((r = pv_read_file(path, &text, NULL, err)) < 0)
		return r;
	return pv_parse_json(text, pv, err);
}

void pv_attachments_forget_pv(const char *state, const char *volume)
{
	char path[PATH_MAX];
	pv_file(state, volume, path, sizeof(path));
	unlink(path);
}

int pv_attachments_lock_nodes(const char *state, struct pv_err *err)
{
	/* '@' is not a volume id character: this lock cannot be a volume's */
	return pv_lock_volume(state, "@attachments", true, err);
}
