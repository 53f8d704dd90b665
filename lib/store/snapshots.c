/*
 * snapshots.c — snapshot records (<state>/catalog/snapshots/<name>.json): their JSON,
 * strictly parsed like a PV's, and load, save (atomic), remove, list. Making and
 * deleting a snapshot's data (through its driver, around these) is the controller's
 * (lib/controller_snap.c).
 *
 * A record:
 *   { "name": "db-monday", "source": "db", "size": "1Gi", "createdAt": 1764640000,
 *     "readyToUse": true, "origin": { the source PV as `pvctl get -o json` prints it },
 *     "attributes": { the driver's own: where the snapshot's data lives } }
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "pvnode/snapshot.h"
#include "pvnode/driver/os.h"

static const char *const snap_keys[] = {
	"name", "source", "size", "createdAt", "readyToUse", "origin", "attributes", NULL,
};
#define SNAP_KEYS_ALLOWED "name, source, size, createdAt, readyToUse, origin, attributes"
#define NAME_RULE "(allowed: 1-128 of A-Z a-z 0-9 . _ : -)"

void pv_snapshot_init(struct pv_snapshot *s)
{
	memset(s, 0, sizeof(*s));
	pv_init(&s->origin);
}

void pv_snapshot_free(struct pv_snapshot *s)
{
	pv_free(&s->origin);
	pv_map_free(&s->attributes);
	pv_snapshot_init(s);
}

void *pv_snapshot_to_json(const struct pv_snapshot *s)
{
	json_t *o = json_object(), *attrs = json_object();
	char size[32];

	json_object_set_new(o, "name", json_string(s->name));
	json_object_set_new(o, "source", json_string(s->source));
	pv_quantity_format(s->size, size, sizeof(size));
	json_object_set_new(o, "size", json_string(size));
	json_object_set_new(o, "createdAt", json_integer(s->created));
	json_object_set_new(o, "readyToUse", json_boolean(s->ready));
	json_object_set_new(o, "origin", pv_to_json(&s->origin));
	for (size_t i = 0; i < s->attributes.n; i++)
		json_object_set_new(attrs, s->attributes.items[i].key, json_string(s->attributes.items[i].value));
	json_object_set_new(o, "attributes", attrs);
	return o;
}

static int bad(struct pv_err *err, const char *path, const char *want)
{
	return pv_err_set(err, -EINVAL, PV_E_INVALID, "%s: must be %s", path, want);
}

static int name_field(json_t *v, const char *key, char *out, size_t len, struct pv_err *err)
{
	if (!json_is_string(v))
		return bad(err, key, "a string");
	if (!pv_name_valid(json_string_value(v)))
		return pv_err_set(err, -EINVAL, PV_E_INVALID, "%s: '%.200s' is not a valid name " NAME_RULE, key,
				  json_string_value(v));
	snprintf(out, len, "%s", json_string_value(v));
	return 0;
}

static int parse_size(json_t *v, uint64_t *size, struct pv_err *err)
{
	int r;

	if (json_is_integer(v) && json_integer_value(v) >= 0) {
		*size = (uint64_t)json_integer_value(v);
		return 0;
	}
	if (!json_is_string(v))
		return bad(err, "size", "a quantity string such as \"1Gi\" or a number of bytes");
	if ((r = pv_quantity_parse(json_string_value(v), size, err)) < 0)
		pv_err_prefix(err, "size: ");
	return r;
}

static int parse_origin(json_t *v, struct pv *origin, struct pv_err *err)
{
	char *text;
	int r;

	if (!json_is_object(v))
		return bad(err, "origin", "an object (the source PV)");
	if (!(text = json_dumps(v, 0)))
		return pv_err_set(err, -ENOMEM, PV_E_RESOURCE, "out of memory");
	r = pv_parse_json(text, origin, err);
	free(text);
	if (r < 0)
		pv_err_prefix(err, "origin.");
	return r;
}

static int parse_attributes(json_t *v, struct pv_map *m, struct pv_err *err)
{
	const char *key;
	json_t *av;

	if (!v)
		return 0;
	if (!json_is_object(v))
		return bad(err, "attributes", "an object of strings");
	json_object_foreach(v, key, av) {
		if (!json_is_string(av) || !pv_value_printable(json_string_value(av), 1024) ||
		    !pv_value_printable(key, 128))
			return pv_err_set(err, -EINVAL, PV_E_INVALID,
					  "attributes.%.64s: must be a string without control characters, at most 1024 bytes",
					  key);
		if (pv_map_set(m, key, json_string_value(av)) < 0)
			return pv_err_set(err, -ENOMEM, PV_E_RESOURCE, "out of memory");
	}
	return 0;
}

static int parse_snapshot(json_t *root, struct pv_snapshot *s, struct pv_err *err)
{
	const char *key;
	json_t *v;
	int r;

	if (!json_is_object(root))
		return bad(err, "$", "a JSON object");
	json_object_foreach(root, key, v) {
		bool known = false;
		for (const char *const *k = snap_keys; *k && !known; k++)
			known = strcmp(key, *k) == 0;
		if (!known)
			return pv_err_set(err, -EINVAL, PV_E_INVALID, "%.64s: unknown key (allowed: %s)", key,
					  SNAP_KEYS_ALLOWED);
	}
	if ((r = name_field(json_object_get(root, "name"), "name", s->name, sizeof(s->name), err)) < 0 ||
	    (r = name_field(json_object_get(root, "source"), "source", s->source, sizeof(s->source), err)) < 0 ||
	    (r = parse_size(json_object_get(root, "size"), &s->size, err)) < 0)
		return r;
	v = json_object_get(root, "createdAt");
	if (v && !json_is_integer(v))
		return bad(err, "createdAt", "unix seconds");
	s->created = v ? json_integer_value(v) : 0;
	v = json_object_get(root, "readyToUse");
	if (!json_is_boolean(v))
		return bad(err, "readyToUse", "true or false");
	s->ready = json_is_true(v);
	if ((r = parse_origin(json_object_get(root, "origin"), &s->origin, err)) < 0 ||
	    (r = parse_attributes(json_object_get(root, "attributes"), &s->attributes, err)) < 0)
		return r;
	if (strcmp(s->origin.name, s->source) != 0)
		return pv_err_set(err, -EINVAL, PV_E_INVALID, "origin.name: '%s' is not the source '%s'", s->origin.name,
				  s->source);
	return 0;
}

int pv_snapshot_from_json_text(const char *text, struct pv_snapshot *out, struct pv_err *err)
{
	json_error_t jerr;
	json_t *root = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
	struct pv_snapshot s;
	int r;

	if (!root)
		return pv_err_set(err, -EINVAL, PV_E_INVALID, "not valid JSON at line %d column %d: %s", jerr.line,
				  jerr.column, jerr.text);
	pv_snapshot_init(&s);
	r = parse_snapshot(root, &s, err);
	json_decref(root);
	if (r < 0) {
		pv_snapshot_free(&s);
		return r;
	}
	*out = s;
	return 0;
}

static int snap_path(const char *state_dir, const char *name, char *buf, size_t len, struct pv_err *err)
{
	if (!pv_name_valid(name))
		return pv_err_set(err, -EINVAL, PV_E_INVALID, "'%s' is not a valid snapshot name " NAME_RULE,
				  name ? name : "");
	snprintf(buf, len, "%s/catalog/snapshots/%s.json", state_dir, name);
	return 0;
}

int pv_snapshot_load(const char *state_dir, const char *name, struct pv_snapshot *out, struct pv_err *err)
{
	_cleanup_(pv_freep) char *text = NULL;
	char path[PATH_MAX];
	int r = snap_path(state_dir, name, path, sizeof(path), err);

	if (r < 0)
		return r;
	r = pv_read_file(path, &text, NULL, NULL);
	if (r == -ENOENT)
		return pv_err_set(err, r, PV_E_NOT_FOUND, "snapshot %s does not exist", name);
	if (r < 0)
		return pv_err_set(err, r, PV_E_INTERNAL, "cannot read the record of snapshot %s: %s", name, strerror(-r));
	if ((r = pv_snapshot_from_json_text(text, out, err)) < 0) {
		/* the file is there but cannot be used: the node's fault, not the caller's */
		if (err)
			err->kind = PV_E_INTERNAL;
		pv_err_prefix(err, "snapshot record %s: ", name);
		return r;
	}
	if (strcmp(out->name, name) != 0) {
		r = pv_err_set(err, -EINVAL, PV_E_INTERNAL,
			       "snapshot record %s.json names snapshot '%s': fix or remove the file", name, out->name);
		pv_snapshot_free(out);
	}
	return r;
}

int pv_snapshot_save(const char *state_dir, const struct pv_snapshot *s, struct pv_err *err)
{
	_cleanup_(pv_freep) char *text = NULL;
	char path[PATH_MAX], dir[PATH_MAX];
	json_t *o;
	int r;

	if (strcmp(s->origin.name, s->source) != 0 || !pv_name_valid(s->source))
		return pv_err_set(err, -EINVAL, PV_E_INTERNAL, "snapshot %s: its source '%s' is not its origin '%s'",
				  s->name, s->source, s->origin.name);
	if ((r = snap_path(state_dir, s->name, path, sizeof(path), err)) < 0)
		return r;
	snprintf(dir, sizeof(dir), "%s/catalog/snapshots", state_dir);
	if ((r = pv_mkdir_p(dir, 0755, err)) < 0)
		return r;
	o = pv_snapshot_to_json(s);
	text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (!text)
		return pv_err_set(err, -ENOMEM, PV_E_RESOURCE, "out of memory");
	return pv_write_atomic(path, text, strlen(text), 0644, err);
}

int pv_snapshot_remove(const char *state_dir, const char *name, struct pv_err *err)
{
	char path[PATH_MAX], dir[PATH_MAX];
	int r = snap_path(state_dir, name, path, sizeof(path), err);

	if (r < 0)
		return r;
	if (unlink(path) < 0 && errno != ENOENT)
		return pv_err_set(err, -errno, PV_E_INTERNAL, "cannot remove %s: %s", path, strerror(errno));
	snprintf(dir, sizeof(dir), "%s/catalog/snapshots", state_dir);
	_cleanup_(pv_closep) int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0)
		fsync(fd); /* the removal survives a power cut, as a save does */
	return 0;
}

/* Does the record `name` say it was taken of `source`? Records that cannot be read are
 * left out (and logged): a listing should not fail for one broken file. */
static bool of_source(const char *state_dir, const char *name, const char *source)
{
	struct pv_snapshot s;
	struct pv_err err = { 0 };
	bool match;

	if (pv_snapshot_load(state_dir, name, &s, &err) < 0) {
		pv_warn("%s", err.msg);
		return false;
	}
	match = strcmp(s.source, source) == 0;
	pv_snapshot_free(&s);
	return match;
}

int pv_snapshot_list(const char *state_dir, const char *source, char ***names, struct pv_err *err)
{
	char dir[PATH_MAX];
	struct dirent **list = NULL;
	char **out;
	size_t k = 0;
	int n;

	*names = NULL;
	if (source && !pv_name_valid(source))
		return pv_err_set(err, -EINVAL, PV_E_INVALID, "'%s' is not a valid volume name " NAME_RULE, source);
	snprintf(dir, sizeof(dir), "%s/catalog/snapshots", state_dir);
	n = scandir(dir, &list, NULL, alphasort);
	if (n < 0) {
		if (errno != ENOENT)
			return pv_err_set(err, -errno, PV_E_INTERNAL, "cannot list %s: %s", dir, strerror(errno));
		n = 0;
	}
	out = calloc((size_t)n + 1, sizeof(char *));
	for (int i = 0; i < n; i++) {
		size_t len = strlen(list[i]->d_name);
		if (out && len > 5 && strcmp(list[i]->d_name + len - 5, ".json") == 0) {
			out[k] = strndup(list[i]->d_name, len - 5);
			if (out[k] && pv_name_valid(out[k]) && (!source || of_source(state_dir, out[k], source)))
				k++;
			else
				free(out[k]), out[k] = NULL;
		}
		free(list[i]);
	}
	free(list);
	if (!out)
		return pv_err_set(err, -ENOMEM, PV_E_RESOURCE, "out of memory");
	*names = out;
	return 0;
}
