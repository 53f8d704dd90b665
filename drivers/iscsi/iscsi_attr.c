/*
 * iscsi_attr.c — the iSCSI driver's attributes and CHAP secrets → struct pvi_target.
 *
 * Pure string handling, unit-tested in tests/unit/test_iscsi_attr.c. Everything that
 * later becomes a helper argument, an iscsiadm argument or a path is checked here:
 * portals are host:port with a numeric port, IQNs follow RFC 3720's shape, LUNs are
 * 0..16383.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "iscsi_conn.h"
#include "pvnode/pv.h"
#include "pvnode/secrets.h"

const char *const pvi_attribute_names[] = {
	"portal", "portals", "iqn", "lun", "luns", "initiatorName", "discovery", "initiator",
	"mounter", "loginTimeout", "ioTimeout", "sessions", NULL,
};
/* lun, or luns to pick it from at create: parse_attrs asks for one of them */
const char *const pvi_required_attributes[] = { "iqn", NULL };

void pvi_target_wipe(struct pvi_target *t)
{
	explicit_bzero(t->user, sizeof(t->user));
	explicit_bzero(t->pass, sizeof(t->pass));
	explicit_bzero(t->user_in, sizeof(t->user_in));
	explicit_bzero(t->pass_in, sizeof(t->pass_in));
	explicit_bzero(t->disc_user, sizeof(t->disc_user));
	explicit_bzero(t->disc_pass, sizeof(t->disc_pass));
}

static bool host_valid(const char *h, size_t n)
{
	if (n == 0 || n > 100)
		return false;
	if (h[0] == '[')   /* [v6] */
		return h[n - 1] == ']' && n > 2 && strspn(h + 1, "0123456789abcdefABCDEF:.") == n - 2;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)h[i]) && h[i] != '.' && h[i] != '-')
			return false;
	return h[0] != '-';
}

/* "host:port[,host:port...]"; a missing port means 3260. */
int pvi_parse_portals(const char *list, struct pvi_target *t, struct pv_err *err)
{
	const char *p = list;
	t->n_portals = 0;
	if (!list || !*list)
		return pv_err_set(err, -EINVAL, PV_E_INVALID, "attributes.portal: empty; expected host:port");
	while (*p) {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		char item[128];
		if (n == 0 || n >= sizeof(item))
			return pv_err_set(err, -EINVAL, PV_E_INVALID,
					  "attributes.portals: bad entry in \"%s\"; expected host:port[,host:port]",
					  list);
		memcpy(item, p, n);
		item[n] = '\0';
		char *colon = strrchr(item, ':');
		if (item[0] == '[' && colon && colon < strchr(item, ']'))
			colon = NULL;
		long port = 3260;
		size_t hl = colon ? (size_t)(colon - item) : n;
		if (colon) {
			char *e;
			errno = 0;
			port = strtol(colon + 1, &e, 10);
			if (errno || *e || e == colon + 1 || port < 1 || port > 65535)
				return pv_err_set(err, -EINVAL, PV_E_INVALID,
						  "attributes.portal: bad port in \"%s\"; expected host:port with port 1-65535",
						  item);
		}
		if (!host_valid(item, hl))
			return pv_err_set(err, -EINVAL, PV_E_INVALID,
					  "attributes.portal: bad host in \"%s\"; expected a host name or address",
					  item);
		if (t->n_portals == PVI_MAX_PORTALS)
			return pv_err_set(err, -EINVAL, PV_E_INVALID,
					  "attributes.portals: more than %d portals", PVI_MAX_PORTALS);
		snprintf(t->portals[t->n_portals], sizeof(t->portals[0]), "%.*s:%ld", (int)hl, item, port);
		t->n_portals++;
		p += n;
		if (*p == ',')
			p++;
	}
	return 0;
}

int pvi_parse_lun(const char *s, int *lun, struct pv_err *err)
{
	char *e;
	long v;
	errno = 0;
	v = s ? strtol(s, &e, 10) : -1;
	if (!s || errno || *e || e == s || v < 0 || v > 16383)
		return pv_err_set(err, -EINVAL, PV_E_INVALID,
				  "attributes.lun: \"%s\" is not a LUN; expected 0-16383", s ? s : "");
	*lun = (int)v;
	return 0;
}

int pvi_parse_luns(const char *s, int *luns, size_t max, struct pv_err *err)
{
	size_t n = 0;
	const char *p = s;

	if (!s || !*s)
		return pv_err_set(err, -EINVAL, PV_E_INVALID, "attributes.luns: empty; expected e.g. 1-8 or 1,3,5-9");
	while (*p) {
		char *e;
		long a = strtol(p, &e, 10), b = a;
		if (e == p || !(*p >= '0' && *p <= '9'))
			break;
		if (*e == '-') {
			const char *q = e + 1;
			b = strtol(q, &e, 10);
			if (e == q || !(*q >= '0' && *q <= '9'))
				break;
		}
		if (a < 0 || b > 16383 || a > b || (*e && *e != ','))
			break;
		for (long v = a; v <= b; v++) {
			if (n == max)
				return pv_err_set(err, -EINVAL, PV_E_INVALID,
						  "attributes.luns: \"%s\" names more than %zu LUNs", s, max);
			if (luns)
				luns[n] = (int)v;
			n++;
		}
		p = *e ? e + 1 : e;
		if (*e == ',' && !*p) {
			p = e;   /* a trailing comma */
			break;
		}
	}
	if (*p || n == 0)
		return pv_err_set(err, -EINVAL, PV_E_INVALID,
				  "attributes.luns: \"%s\" is not a LUN list; expected LUNs 0-16383 and ranges, "
				  "e.g. 1-8 or 1,3,5-9", s);
	return (int)n;
}

/* iqn.yyyy-mm.reversed.domain[:anything] or eui.<16 hex>; lower case, [a-z0-9.:-]. */
bool pvi_iqn_valid(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n < 5 || n > 223)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!islower((unsigned char)s[i]) && !isdigit((unsigned char)s[i]) &&
		    !strchr(".:-", s[i]))
			return false;
	if (strncmp(s, "eui.", 4) == 0)
		return n == 20 && strspn(s + 4, "0123456789abcdef") == 16;
	if (strncmp(s, "iqn.", 4) != 0 || n < 12)
		return false;
	return isdigit((unsigned char)s[4]) && isdigit((unsigned char)s[5]) &&
	       isdigit((unsigned char)s[6]) && isdigit((unsigned char)s[7]) && s[8] == '-' &&
	       isdigit((unsigned char)s[9]) && isdigit((unsigned char)s[10]) && s[11] == '.';
}

void pvi_default_initiator(const char *node_id, char *buf, size_t len)
{
	size_t o = (size_t)snprintf(buf, len, "iqn.2026-11.io.pvnode:");
	for (const char *p = node_id; *p && o + 1 < len; p++) {
		char c = (char)tolower((unsigned char)*p);
		buf[o++] = (isalnum((unsigned char)c) || c == '.' || c == '-' || c == ':') ? c : '-';
	}
	buf[o < len ? o : len - 1] = '\0';
}

static int copy_secret(char *dst, const struct pv_secrets *s, const char *key, struct pv_err *err)
{
	const char *v = s ? pv_secrets_get(s, key) : NULL;
	if (!v)
		return 0;
	if (strlen(v) >= PVI_SECRET_MAX || strchr(v, '\n'))
		return pv_err_set(err, -EINVAL, PV_E_INVALID,
				  "secret %s: too long or contains a newline", key);
	strcpy(dst, v);
	return 0;
}

static int parse_bool(const char *what, const char *v, bool *out, struct pv_err *err)
{
	if (!v || !strcmp(v, "false") || !strcmp(v, "0") || !strcmp(v, "no"))
		*out = false;
	else if (!strcmp(v, "true") || !strcmp(v, "1") || !strcmp(v, "yes"))
		*out = true;
	else
		return pv_err_set(err, -EINVAL, PV_E_INVALID,
				  "attributes.%s: \"%s\" is not a boolean; expected true or false", what, v);
	return 0;
}

static int parse_seconds(const char *what, const char *v, int dflt, int *out, struct pv_err *err)
{
	char *e;
	long n;
	*out = dflt;
	if (!v)
		return 0;
	n = strtol(v, &e, 10);
	if (*e || e == v || n < 1 || n > 300)
		return pv_err_set(err, -EINVAL, PV_E_INVALID,
				  "attributes.%s: \"%s\"; expected seconds 1-300", what, v);
	*out = (int)n;
	return 0;
}

/* Attribute checks only (no secrets, no node): catalog create and every stage. */
static int parse_attrs(const struct pv *pv, struct pvi_target *t, struct pv_err *err)
{
	const struct pv_map *m = &pv->attributes;
	const char *portal = pv_map_get(m, "portal"), *portals = pv_map_get(m, "portals");
	const char *iqn = pv_map_get(m, "iqn"), *init = pv_map_get(m, "initiatorName");
	const char *mode = pv_map_get(m, "initiator");
	const char *lt = pv_map_get(m, "loginTimeout");
	int r;

	if (!mode)
		mode = pv_map_get(m, "mounter");
	if (portal && portals)
		return pv_err_set(err, -EINVAL, PV_E_INVALID,
				  "attributes: give either portal or portals, not both");
	if (!portal && !portals)
		return pv_err_set(err, -EINVAL, PV_E_INVALID,
				  "attributes.portal: missing; expected host:port (or portals: a comma list)");
	r = pvi_parse_portals(portal ? portal : portals, t, err);
	if (r < 0)
		return r;
	if (!pvi_iqn_valid(iqn))
		return pv_err_set(err, -EINVAL, PV_E_INVALID,
				  "attributes.iqn: \"%s\" is not an iSCSI name; expected iqn.yyyy-mm.domain[:id] or eui.<16 hex>",
				  iqn ? iqn : "");
	snprintf(t->iqn, sizeof(t->iqn), "%s", iqn);
	const char *lun = pv_map_get(m, "lun"), *luns = pv_map_get(m, "luns");
	if (luns && (r = pvi_parse_luns(luns, NULL, PVI_MAX_LUNS, err)) < 0)
		return r;
	if (!lun && !luns)
		return pv_err_set(err, -EINVAL, PV_E_INVALID,
				  "attributes.lun: missing; expected a LUN 0-16383 (or luns, the LUNs a create picks "
				  "a free one from)");
	t->lun = -1;   /* luns only: a create picks one (pvi_provision) */
	if (lun && (r = pvi_parse_lun(lun, &t->lun, err)) < 0)
		return r;
	if (init) {
		if (!pvi_iqn_valid(init))
			return pv_err_set(err, -EINVAL, PV_E_INVALID,
					  "attributes.initiatorName: \"%s\" is not an iSCSI name; expected iqn.yyyy-mm.domain[:id]",
					  init);
		snprintf(t->initiator_name, sizeof(t->initiator_name), "%s", init);
	}
	r = parse_bool("discovery", pv_map_get(m, "discovery"), &t->discovery, err);
	if (r < 0)
		return r;
	if (!mode || !strcmp(mode, "auto"))
		t->initiator = PVI_INIT_AUTO;
	else if (!strcmp(mode, "kernel"))
		t->initiator = PVI_INIT_KERNEL;
	else if (!strcmp(mode, "userspace"))
		t->initiator = PVI_INIT_USERSPACE;
	else
		return pv_err_set(err, -EINVAL, PV_E_INVALID,
				  "attributes.initiator: \"%s\"; expected auto, kernel or userspace", mode);
	r = parse_seconds("loginTimeout", lt, 10, &t->login_timeout_s, err);
	if (r == 0)
		r = parse_seconds("ioTimeout", pv_map_get(m, "ioTimeout"), 15, &t->io_timeout_s, err);
	if (r == 0)
		r = pvi_parse_sessions(pv_map_get(m, "sessions"), &t->sessions, err);
	return r;
}

int pvi_parse_sessions(const char *v, int *out, struct pv_err *err)
{
	char *e;
	long n;
	*out = PVI_DEFAULT_SESSIONS;
	if (!v)
		return 0;
	n = strtol(v, &e, 10);
	if (*e || e == v || n < 1 || n > PVI_MAX_SESSIONS)
		return pv_err_set(err, -EINVAL, PV_E_INVALID,
				  "attributes.sessions: \"%s\"; expected 1-%d (iSCSI sessions per volume)", v,
				  PVI_MAX_SESSIONS);
	*out = (int)n;
	return 0;
}

int pvi_validate(const struct pv *pv, struct pv_err *err)
{
	struct pvi_target t = { 0 };
	return parse_attrs(pv, &t, err);
}

int pvi_target_secrets(struct pvi_target *t, const struct pv_secrets *s, struct pv_err *err)
{
	int r;
	if ((r = copy_secret(t->user, s, PVI_KEY_USER, err)) < 0 ||
	    (r = copy_secret(t->pass, s, PVI_KEY_PASS, err)) < 0 ||
	    (r = copy_secret(t->user_in, s, PVI_KEY_USER_IN, err)) < 0 ||
	    (r = copy_secret(t->pass_in, s, PVI_KEY_PASS_IN, err)) < 0 ||
	    (r = copy_secret(t->disc_user, s, PVI_KEY_DISC_USER, err)) < 0 ||
	    (r = copy_secret(t->disc_pass, s, PVI_KEY_DISC_PASS, err)) < 0)
		return r;
	if (!t->user[0] != !t->pass[0] || !t->user_in[0] != !t->pass_in[0])
		return pv_err_set(err, -EINVAL, PV_E_INVALID,
				  "secrets: CHAP needs both %s and %s (and both _in keys for mutual CHAP)",
				  PVI_KEY_USER, PVI_KEY_PASS);
	if (t->user_in[0] && !t->user[0])
		return pv_err_set(err, -EINVAL, PV_E_INVALID,
				  "secrets: mutual CHAP (%s) needs one-way CHAP (%s) too", PVI_KEY_USER_IN,
				  PVI_KEY_USER);
	return 0;
}

/* "iscsi:<host:port>/<iqn>/<lun>" per portal, lower case. */
static size_t lun_keys(const struct pvi_target *t, int lun, char (*keys)[PV_STORAGE_KEY_MAX], size_t max)
{
	size_t n = 0;
	for (size_t i = 0; i < t->n_portals && n < max; i++, n++) {
		snprintf(keys[n], PV_STORAGE_KEY_MAX, "iscsi:%s/%s/%d", t->portals[i], t->iqn, lun);
		for (char *c = keys[n]; *c; c++)
			*c = (char)tolower((unsigned char)*c);
	}
	return n;
}

int pvi_storage_keys(const struct pv *pv, char (*keys)[PV_STORAGE_KEY_MAX], size_t max)
{
	struct pvi_target t = { 0 };

	if (parse_attrs(pv, &t, NULL) < 0)
		return -EINVAL;
	if (t.lun < 0)
		return 0;   /* not chosen yet */
	return (int)lun_keys(&t, t.lun, keys, max);
}

int pvi_provision_pick(struct pv *pv, const struct pv_node_ctx *n, pvi_fits_fn *fits, void *ud,
		       struct pv_err *err)
{
	char keys[PV_STORAGE_KEYS_MAX][PV_STORAGE_KEY_MAX], lun[16], small[512] = "";
	struct pvi_target t = { 0 };
	const char *luns = pv_map_get(&pv->attributes, "luns");
	int r = parse_attrs(pv, &t, err);
	size_t ns = 0;

	if (r < 0 || t.lun >= 0)
		return r;   /* a LUN named: nothing to make (pvnode does not create LUNs) */
	if (!n->storage_in_use)
		return pv_err_set(err, -EINVAL, PV_E_INTERNAL, "volume %s: no list of the LUNs in use to pick from",
				  pv->name);
	_cleanup_(pv_freep) int *pool = malloc(PVI_MAX_LUNS * sizeof(int));
	if (!pool)
		return pv_err_set(err, -ENOMEM, PV_E_RESOURCE, "out of memory");
	int count = pvi_parse_luns(luns, pool, PVI_MAX_LUNS, err);
	for (int i = 0; i < count; i++) {
		size_t k = lun_keys(&t, pool[i], keys, PV_STORAGE_KEYS_MAX);
		bool used = false;
		for (size_t j = 0; j < k && !used; j++)
			for (const char *const *u = n->storage_in_use; *u && !used; u++)
				used = strcmp(*u, keys[j]) == 0;
		if (used)
			continue;
		char why[128] = "";
		if (fits && (r = fits(ud, pool[i], why, sizeof(why), err)) <= 0) {
			if (r < 0)
				return r;
			if (ns < sizeof(small))
				ns += (size_t)snprintf(small + ns, sizeof(small) - ns, "%s%s", ns ? "; " : "", why);
			continue;
		}
		snprintf(lun, sizeof(lun), "%d", pool[i]);
		return pv_map_set(&pv->attributes, "lun", lun) < 0
			       ? pv_err_set(err, -ENOMEM, PV_E_RESOURCE, "out of memory") : 0;
	}
	if (small[0])
		return pv_err_set(err, -ERANGE, PV_E_RANGE,
				  "no free LUN of luns \"%s\" of %s holds the capacity asked for (%s); add larger "
				  "LUNs to the target and to luns, or ask for less", luns, t.iqn, small);
	return pv_err_set(err, -ENOSPC, PV_E_RESOURCE,
			  "every LUN of luns \"%s\" of %s at %s is another volume's; add LUNs to the target "
			  "and to luns, or delete a volume", luns, t.iqn, t.portals[0]);
}

/* t's CHAP fields from s; t wiped when they do not fit together. */
static int with_secrets(struct pvi_target *t, const struct pv_secrets *s, struct pv_err *err)
{
	int r = pvi_target_secrets(t, s, err);
	if (r < 0)
		pvi_target_wipe(t);
	return r;
}

int pvi_target_for_pick(const struct pv *pv, const struct pv_secrets *s, struct pvi_target *t, struct pv_err *err)
{
	int r;
	memset(t, 0, sizeof(*t));
	if ((r = parse_attrs(pv, t, err)) < 0)
		return r;
	return with_secrets(t, s, err);
}

int pvi_target_from_pv(const struct pv *pv, const struct pv_secrets *s, const char *node_id,
		       struct pvi_target *t, struct pv_err *err)
{
	int r;
	memset(t, 0, sizeof(*t));
	r = parse_attrs(pv, t, err);
	if (r < 0)
		return r;
	if (t->lun < 0)
		return pv_err_set(err, -EINVAL, PV_E_INVALID,
				  "attributes.lun: missing: volume %s names only luns, from which a create picks one; "
				  "register or import storage with its lun", pv->name);
	if (!t->initiator_name[0])
		pvi_default_initiator(node_id, t->initiator_name, sizeof(t->initiator_name));
	return with_secrets(t, s, err);
}
