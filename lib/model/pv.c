/*
 * pv.c — the PV value type: init/free/copy, the string map, access-mode names, and the
 * name rules every id from a request is held to.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pvnode/pv.h"

void pv_init(struct pv *pv)
{
	memset(pv, 0, sizeof(*pv));
	pv->gid = -1;
}

void pv_free(struct pv *pv)
{
	for (size_t i = 0; i < pv->n_mount_options; i++)
		free(pv->mount_options[i]);
	free(pv->mount_options);
	pv_map_free(&pv->attributes);
	free(pv->secret_ref);
	pv_init(pv);
}

int pv_copy(struct pv *dst, const struct pv *src, struct pv_err *err)
{
	struct pv tmp = *src;

	tmp.mount_options = NULL;
	tmp.n_mount_options = 0;
	tmp.attributes.items = NULL;
	tmp.attributes.n = 0;
	tmp.secret_ref = NULL;
	if (src->secret_ref && !(tmp.secret_ref = strdup(src->secret_ref)))
		goto oom;
	if (src->n_mount_options) {
		tmp.mount_options = calloc(src->n_mount_options, sizeof(char *));
		if (!tmp.mount_options)
			goto oom;
		for (size_t i = 0; i < src->n_mount_options; i++) {
			tmp.mount_options[i] = strdup(src->mount_options[i]);
			tmp.n_mount_options++;
			if (!tmp.mount_options[i])
				goto oom;
		}
	}
	for (size_t i = 0; i < src->attributes.n; i++)
		if (pv_map_set(&tmp.attributes, src->attributes.items[i].key, src->attributes.items[i].value) < 0)
			goto oom;
	*dst = tmp;
	return 0;
oom:
	pv_free(&tmp);
	return pv_err_set(err, -ENOMEM, PV_E_RESOURCE, "out of memory");
}

const char *pv_map_get(const struct pv_map *m, const char *key)
{
	for (size_t i = 0; i < m->n; i++)
		if (strcmp(m->items[i].key, key) == 0)
			return m->items[i].value;
	return NULL;
}

int pv_map_set(struct pv_map *m, const char *key, const char *value)
{
	size_t i;
	char *v = strdup(value);

	if (!v)
		return -ENOMEM;
	for (i = 0; i < m->n; i++) {
		int c = strcmp(m->items[i].key, key);
		if (c == 0) {
			free(m->items[i].value);
			m->items[i].value = v;
			return 0;
		}
		if (c > 0)
			break;
	}
	struct pv_kv *items = realloc(m->items, (m->n + 1) * sizeof(*items));
	char *k = strdup(key);
	if (!items || !k) {
		if (items)
			m->items = items;
		free(k);
		free(v);
		return -ENOMEM;
	}
	m->items = items;
	memmove(&items[i + 1], &items[i], (m->n - i) * sizeof(*items));
	items[i].key = k;
	items[i].value = v;
	m->n++;
	return 0;
}

static void map_free(struct pv_map *m, bool secure)
{
	for (size_t i = 0; i < m->n; i++) {
		if (secure && m->items[i].value)
			explicit_bzero(m->items[i].value, strlen(m->items[i].value));
		free(m->items[i].key);
		free(m->items[i].value);
	}
	free(m->items);
	m->items = NULL;
	m->n = 0;
}

void pv_map_free(struct pv_map *m)
{
	map_free(m, false);
}

void pv_map_free_secure(struct pv_map *m)
{
	map_free(m, true);
}

static const struct {
	const char *name, *shortname;
} access_names[] = {
	[PV_RWO] = { "ReadWriteOnce", "RWO" },
	[PV_ROX] = { "ReadOnlyMany", "ROX" },
	[PV_RWX] = { "ReadWriteMany", "RWX" },
	[PV_RWOP] = { "ReadWriteOncePod", "RWOP" },
};

int pv_access_parse(const char *s, enum pv_access *out)
{
	for (int a = PV_RWO; a <= PV_RWOP; a++)
		if (strcmp(s, access_names[a].name) == 0 || strcmp(s, access_names[a].shortname) == 0) {
			*out = (enum pv_access)a;
			return 0;
		}
	return -EINVAL;
}

const char *pv_access_name(enum pv_access a)
{
	return a >= PV_RWO && a <= PV_RWOP ? access_names[a].name : "None";
}

const char *pv_access_short(enum pv_access a)
{
	return a >= PV_RWO && a <= PV_RWOP ? access_names[a].shortname : "-";
}

enum pv_access pv_access_first(const struct pv *pv)
{
	for (int a = PV_RWO; a <= PV_RWOP; a++)
		if (pv->access_modes & PV_ACCESS_BIT(a))
			return (enum pv_access)a;
	return PV_RWO;
}

bool pv_name_valid(const char *s)
{
	size_t n = 0;

	if (!s)
		return false;
	for (; s[n]; n++) {
		char c = s[n];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == ':' || c == '-'))
			return false;
		if (n >= PV_NAME_MAX)
			return false;
	}
	/* "." and ".." would be path components */
	return n > 0 && strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

bool pv_value_printable(const char *s, size_t max)
{
	size_t n = 0;
	if (!s)
		return false;
	for (; s[n]; n++)
		if ((unsigned char)s[n] < 0x20 || (unsigned char)s[n] == 0x7f || n >= max)
			return false;
	return true;
}

int pv_reclaim_parse(const char *s, enum pv_reclaim *out)
{
	if (s && strcmp(s, "Delete") == 0)
		*out = PV_RECLAIM_DELETE;
	else if (s && strcmp(s, "Retain") == 0)
		*out = PV_RECLAIM_RETAIN;
	else
		return -EINVAL;
	return 0;
}

const char *pv_reclaim_name(enum pv_reclaim r)
{
	return r == PV_RECLAIM_RETAIN ? "Retain" : "Delete";
}

const char *pv_source_kind_name(enum pv_source_kind k)
{
	return k == PV_SOURCE_SNAPSHOT ? "snapshot" : k == PV_SOURCE_VOLUME ? "volume" : "none";
}
