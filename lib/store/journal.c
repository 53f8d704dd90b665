/*
 * journal.c — the node journal (<state>/journal/<volume>.json): the phase of the volume
 * on this node, its staging path and attachment (device, helper pid, fence), its
 * publish targets, the last error. Atomic writes; no secrets.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "store/journal.h"
#include "pvnode/driver/os.h"

static const char *const phase_names[] = {
	[PV_PHASE_NONE] = "none", [PV_PHASE_STAGING] = "staging",
	[PV_PHASE_STAGED] = "staged", [PV_PHASE_UNSTAGING] = "unstaging",
};

const char *pv_phase_name(enum pv_phase p)
{
	return (unsigned)p < 4 ? phase_names[p] : "unknown";
}

void pv_journal_init(struct pv_journal *j)
{
	memset(j, 0, sizeof(*j));
	pv_init(&j->pv);
}

void pv_journal_free(struct pv_journal *j)
{
	pv_free(&j->pv);
	pv_attachment_free(&j->att);
	free(j->publishes);
	pv_journal_init(j);
}

static void jpath(const char *state_dir, const char *volume, char *buf, size_t len)
{
	snprintf(buf, len, "%s/journal/%s.json", state_dir, volume);
}

static void get_str(json_t *o, const char *key, char *dst, size_t len)
{
	const char *s = json_string_value(json_object_get(o, key));
	snprintf(dst, len, "%s", s ? s : "");
}

static json_t *groups_json(const gid_t *g, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_integer(g[i]));
	return a;
}

static size_t groups_load(json_t *a, gid_t *g)
{
	size_t n = 0;
	for (size_t i = 0; i < json_array_size(a) && n < PV_MAX_GROUPS; i++)
		g[n++] = (gid_t)json_integer_value(json_array_get(a, i));
	return n;
}

int pv_journal_save(const char *state_dir, const struct pv_journal *j, struct pv_err *err)
{
	char path[PATH_MAX], dir[PATH_MAX], *text;
	const struct pv_attachment *a = &j->att;
	json_t *o, *att, *pubs;
	int r;

	snprintf(dir, sizeof(dir), "%s/journal", state_dir);
	r = pv_mkdir_p(dir, 0700, err);
	if (r < 0)
		return r;
	json_t *priv = json_object();
	for (size_t i = 0; i < a->priv.n; i++)
		json_object_set_new(priv, a->priv.items[i].key, json_string(a->priv.items[i].value));
	att = json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:I, s:I, s:s, s:b, s:s, s:o}",
			"device", a->device, "backing", a->backing, "source", a->source, "fstype", a->fstype,
			"options", a->options, "mountedByDriver", a->mounted_by_driver,
			"helperPid", (json_int_t)a->helper.pid, "helperStart", (json_int_t)a->helper.start,
			"fence", a->fence, "readonly", a->readonly, "summary", a->summary, "driver", priv);
	pubs = json_array();
	for (size_t i = 0; i < j->n_publishes; i++) {
		const struct pv_publish_rec *p = &j->publishes[i];
		static const char *const states[] = { "done", "publishing", "unpublishing" };
		json_array_append_new(pubs, json_pack("{s:s, s:b, s:b, s:s, s:s, s:o, s:s, s:b, s:s, s:s}",
			"target", p->target, "readonly", p->readonly, "block", p->block,
			"access", pv_access_short(p->access), "selinuxLabel", p->selinux_label,
			"groups", groups_json(p->groups, p->n_groups), "mountFlags", p->mount_flags, "lost", p->lost,
			"device", p->device, "state", states[p->state % 3]));
	}
	o = json_pack("{s:s, s:s, s:s, s:o, s:s, s:s, s:b, s:b, s:s, s:s, s:o, s:o, s:b, s:s, s:I}",
		      "volume", j->volume, "nodeId", j->node_id, "phase", pv_phase_name(j->phase),
		      "pv", (json_t *)pv_to_json(&j->pv), "stagingPath", j->staging_path,
		      "access", pv_access_short(j->access), "block", j->block, "readonly", j->readonly,
		      "fsType", j->fs_type, "mountFlags", j->mount_flags, "attachment", att,
		      "publishes", pubs, "lost", j->lost, "lastError", j->last_error,
		      "updated", (json_int_t)time(NULL));
	if (!o)
		return pv_err_set(err, -ENOMEM, PV_E_INTERNAL, "cannot encode the journal of %s", j->volume);
	text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (!text)
		return pv_err_set(err, -ENOMEM, PV_E_RESOURCE, "out of memory");
	jpath(state_dir, j->volume, path, sizeof(path));
	r = pv_write_atomic(path, text, strlen(text), 0600, err);
	free(text);
	return r;
}

static void load_attachment(json_t *att, struct pv_attachment *a)
{
	const char *k;
	json_t *v;

	get_str(att, "device", a->device, sizeof(a->device));
	get_str(att, "backing", a->backing, sizeof(a->backing));
	get_str(att, "source", a->source, sizeof(a->source));
	get_str(att, "fstype", a->fstype, sizeof(a->fstype));
	get_str(att, "options", a->options, sizeof(a->options));
	get_str(att, "fence", a->fence, sizeof(a->fence));
	get_str(att, "summary", a->summary, sizeof(a->summary));
	json_object_foreach(json_object_get(att, "driver"), k, v)
		if (json_is_string(v))
			pv_map_set(&a->priv, k, json_string_value(v));
	a->mounted_by_driver = json_is_true(json_object_get(att, "mountedByDriver"));
	a->readonly = json_is_true(json_object_get(att, "readonly"));
	a->helper.pid = (pid_t)json_integer_value(json_object_get(att, "helperPid"));
	a->helper.start = (unsigned long long)json_integer_value(json_object_get(att, "helperStart"));
}

static int load_publishes(json_t *pubs, struct pv_journal *j, struct pv_err *err)
{
	enum pv_access acc;

	if (!json_array_size(pubs))
		return 0;
	j->publishes = calloc(json_array_size(pubs), sizeof(*j->publishes));
	if (!j->publishes)
		return pv_err_set(err, -ENOMEM, PV_E_RESOURCE, "out of memory");
	for (size_t i = 0; i < json_array_size(pubs); i++) {
		json_t *p = json_array_get(pubs, i);
		struct pv_publish_rec *rec = &j->publishes[j->n_publishes++];
		get_str(p, "target", rec->target, sizeof(rec->target));
		get_str(p, "selinuxLabel", rec->selinux_label, sizeof(rec->selinux_label));
		get_str(p, "mountFlags", rec->mount_flags, sizeof(rec->mount_flags));
		get_str(p, "device", rec->device, sizeof(rec->device));
		rec->readonly = json_is_true(json_object_get(p, "readonly"));
		rec->block = json_is_true(json_object_get(p, "block"));
		rec->lost = json_is_true(json_object_get(p, "lost"));
		if (pv_access_parse(json_string_value(json_object_get(p, "access")) ?: "", &acc) == 0)
			rec->access = acc;
		rec->n_groups = groups_load(json_object_get(p, "groups"), rec->groups);
		const char *state = json_string_value(json_object_get(p, "state")) ?: "done";
		rec->state = strcmp(state, "publishing") == 0 ? PV_PUB_PUBLISHING :
			     strcmp(state, "unpublishing") == 0 ? PV_PUB_UNPUBLISHING : PV_PUB_DONE;
	}
	return 0;
}

/* The stored PV is trusted data we wrote; parse it without re-validating the driver's
 * attributes (a driver may have been rebuilt without that backend). */
static void load_pv(json_t *pvo, struct pv *pv)
{
	_cleanup_(pv_freep) char *text = json_dumps(pvo, 0);

	if (text && pv_parse_json(text, pv, NULL) == 0)
		return;
	get_str(pvo, "name", pv->name, sizeof(pv->name));
	get_str(pvo, "driver", pv->driver, sizeof(pv->driver));
}

int pv_journal_load(const char *state_dir, const char *volume, struct pv_journal *j, struct pv_err *err)
{
	_cleanup_(pv_json_decrefp) json_t *o = NULL;
	char path[PATH_MAX], *text = NULL;
	enum pv_access acc;
	int r;

	pv_journal_init(j);
	if (!pv_name_valid(volume))
		return pv_err_set(err, -EINVAL, PV_E_INVALID, "'%s' is not a valid volume id", volume);
	jpath(state_dir, volume, path, sizeof(path));
	r = pv_read_file(path, &text, NULL, NULL);
	if (r < 0)
		return r == -ENOENT ? -ENOENT
				    : pv_err_set(err, r, PV_E_INTERNAL, "cannot read journal %s: %s", path, strerror(-r));
	o = json_loads(text, 0, NULL);
	free(text);
	if (!json_is_object(o))
		return pv_err_set(err, -EINVAL, PV_E_INTERNAL, "journal %s is damaged", path);
	get_str(o, "volume", j->volume, sizeof(j->volume));
	get_str(o, "nodeId", j->node_id, sizeof(j->node_id));
	for (int p = 0; p < 4; p++)
		if (strcmp(phase_names[p], json_string_value(json_object_get(o, "phase")) ?: "") == 0)
			j->phase = (enum pv_phase)p;
	load_pv(json_object_get(o, "pv"), &j->pv);
	get_str(o, "stagingPath", j->staging_path, sizeof(j->staging_path));
	if (pv_access_parse(json_string_value(json_object_get(o, "access")) ?: "", &acc) == 0)
		j->access = acc;
	j->block = json_is_true(json_object_get(o, "block"));
	j->readonly = json_is_true(json_object_get(o, "readonly"));
	j->lost = json_is_true(json_object_get(o, "lost"));
	get_str(o, "fsType", j->fs_type, sizeof(j->fs_type));
	get_str(o, "mountFlags", j->mount_flags, sizeof(j->mount_flags));
	get_str(o, "lastError", j->last_error, sizeof(j->last_error));
	j->updated = json_integer_value(json_object_get(o, "updated"));
	load_attachment(json_object_get(o, "attachment"), &j->att);
	return load_publishes(json_object_get(o, "publishes"), j, err);
}

int pv_journal_delete(const char *state_dir, const char *volume, struct pv_err *err)
{
	char path[PATH_MAX];

	jpath(state_dir, volume, path, sizeof(path));
	if (unlink(path) < 0 && errno != ENOENT)
		return pv_err_set(err, -errno, PV_E_INTERNAL, "cannot remove journal %s: %s", path, strerror(errno));
	return 0;
}

int pv_journal_list(const char *state_dir, int (*cb)(const char *volume, void *ud), void *ud, struct pv_err *err)
{
	char dir[PATH_MAX];
	struct dirent **list = NULL;
	int n, r = 0;

	snprintf(dir, sizeof(dir), "%s/journal", state_dir);
	n = scandir(dir, &list, NULL, alphasort);
	if (n < 0)
		return errno == ENOENT ? 0 : pv_err_set(err, -errno, PV_E_INTERNAL, "cannot list %s: %s", dir, strerror(errno));
	for (int i = 0; i < n; i++) {
		size_t len = strlen(list[i]->d_name);
		if (r == 0 && len > 5 && strcmp(list[i]->d_name + len - 5, ".json") == 0) {
			char *name = strndup(list[i]->d_name, len - 5);
			if (name && pv_name_valid(name))
				r = cb(name, ud);
			free(name);
		}
		free(list[i]);
	}
	free(list);
	return r;
}
