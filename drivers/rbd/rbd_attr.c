/*
 * rbd_attr.c — the RBD driver's attributes and cephx credentials (see rbd_attr.h).
 *
 * Pure string handling: what passes here is safe to hand to rados_conf_set(), to put on
 * a helper's argv, in a log line (except the key) or in the kernel's rbd "add" string.
 * The character sets are deliberately narrow: a monitor list cannot carry a second
 * config option (';', '=', whitespace and newlines are not in any set), a name cannot
 * address another object ('/', '@').
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rbd/features.h>

#include "rbd_attr.h"

const char *const pvr_attribute_names[] = {
	"monitors", "pool", "image", "radosNamespace", "dataPool", "imageFeatures", "mounter",
	"mapOptions", "osdTimeout", "monTimeout", NULL,
};
const char *const pvr_required_attributes[] = { "monitors", "pool", NULL };

#define MON_ALLOWED "host[:port][,host[:port]...] (a host name, an IPv4 address or [IPv6]; " \
		    "port 1-65535, default 6789; optional v1:/v2: prefix)"

static bool host_valid(const char *h, size_t n)
{
	if (n == 0 || n > 255)
		return false;
	if (h[0] == '[')
		return n > 2 && h[n - 1] == ']' &&
		       strspn(h + 1, "0123456789abcdefABCDEF:.") == n - 2 && memchr(h, ':', n);
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)h[i]) && h[i] != '.' && h[i] != '-')
			return false;
	return h[0] != '-' && h[0] != '.';
}

/* One monitor "[v1:|v2:]host[:port]" → "host:port" and "vN:host:port". */
static int parse_monitor(const char *item, char *plain, size_t plen, char *addr, size_t alen)
{
	const char *proto = NULL;
	if (strncmp(item, "v1:", 3) == 0 || strncmp(item, "v2:", 3) == 0) {
		proto = item[1] == '1' ? "v1" : "v2";
		item += 3;
	}
	const char *colon = strrchr(item, ':');
	if (item[0] == '[' && colon && colon < strchr(item, ']'))
		colon = NULL;               /* "[::1]": the colons are the address's */
	size_t hl = colon ? (size_t)(colon - item) : strlen(item);
	long port = 6789;
	if (colon) {
		char *e;
		errno = 0;
		port = strtol(colon + 1, &e, 10);
		if (errno || *e || e == colon + 1 || !isdigit((unsigned char)colon[1]) || port < 1 ||
		    port > 65535)
			return -EINVAL;
	}
	if (!host_valid(item, hl))
		return -EINVAL;
	if (!proto)
		proto = port == 3300 ? "v2" : "v1";
	snprintf(plain, plen, "%.*s:%ld", (int)hl, item, port);
	snprintf(addr, alen, "%s:%.*s:%ld", proto, (int)hl, item, port);
	return 0;
}

int pvr_parse_monitors(const char *s, struct pvr_target *t, struct pv_err *err)
{
	size_t po = 0, ao = 0, count = 0;
	const char *p = s;

	if (!s || !*s)
		return pv_err_set(err, -EINVAL, PV_E_INVALID,
				  "attributes.monitors: empty; expected " MON_ALLOWED);
	t->monitors[0] = t->mon_host[0] = '\0';
	while (*p) {
		size_t n = strcspn(p, ",");
		char item[300], plain[300], addr[310];
		bool ok = n > 0 && n < sizeof(item) && ++count <= PVR_MONITORS_MAX;
		if (ok) {
			memcpy(item, p, n);
			item[n] = '\0';
			ok = parse_monitor(item, plain, sizeof(plain), addr, sizeof(addr)) == 0 &&
			     po + strlen(plain) + 2 <= sizeof(t->monitors) &&
			     ao + strlen(addr) + 2 <= sizeof(t->mon_host);
		}
		p += n;
		if (ok && *p == ',' && !*++p)
			ok = false;            /* a trailing comma */
		if (!ok)
			return pv_err_set(err, -EINVAL, PV_E_INVALID,
					  "attributes.monitors: \"%.200s\" is not a list of at most %d monitors; "
					  "expected " MON_ALLOWED, s, PVR_MONITORS_MAX);
		po += (size_t)snprintf(t->monitors + po, sizeof(t->monitors) - po, "%s%s",
				       po ? "," : "", plain);
		ao += (size_t)snprintf(t->mon_host + ao, sizeof(t->mon_host) - ao, "%s%s",
				       ao ? "," : "", addr);
	}
	return 0;
}

int pvr_parse_name(const char *attr, const char *s, char *out, size_t len, struct pv_err *err)
{
	size_t n = s ? strlen(s) : 0;
	bool ok = n >= 1 && n <= PVR_NAME_MAX && n < len && s[0] != '-' && s[0] != '.';
	for (size_t i = 0; ok && i < n; i++)
		/* ',' and '=' would split or add options of the kernel's map string */
		ok = s[i] > ' ' && s[i] < 0x7f && !strchr("/@,=\\\"'", s[i]);
	if (!ok)
		return pv_err_set(err, -EINVAL, PV_E_INVALID,
				  "attributes.%s: \"%.*s\" is not a valid Ceph name; expected 1-%d printable "
				  "ASCII characters without / @ , = \\ quotes or spaces, and no leading '-' or '.'",
				  attr, n > 200 ? 200 : (int)n, s ? s : "", PVR_NAME_MAX);
	memcpy(out, s, n + 1);
	return 0;
}

static const struct {
	const char *name;
	uint64_t bit;
	uint64_t needs;   /* features this one depends on */
} pvr_features[] = {
	{ RBD_FEATURE_NAME_LAYERING, RBD_FEATURE_LAYERING, 0 },
	{ RBD_FEATURE_NAME_EXCLUSIVE_LOCK, RBD_FEATURE_EXCLUSIVE_LOCK, 0 },
	{ RBD_FEATURE_NAME_OBJECT_MAP, RBD_FEATURE_OBJECT_MAP, RBD_FEATURE_EXCLUSIVE_LOCK },
	{ RBD_FEATURE_NAME_FAST_DIFF, RBD_FEATURE_FAST_DIFF, RBD_FEATURE_OBJECT_MAP },
	{ RBD_FEATURE_NAME_DEEP_FLATTEN, RBD_FEATURE_DEEP_FLATTEN, 0 },
	{ RBD_FEATURE_NAME_JOURNALING, RBD_FEATURE_JOURNALING, RBD_FEATURE_EXCLUSIVE_LOCK },
};
#define N_FEATURES (sizeof(pvr_features) / sizeof(pvr_features[0]))
#define FEATURES_ALLOWED "layering, exclusive-lock, object-map, fast-diff, deep-flatten, journaling"

static const char *feature_name(uint64_t bit)
{
	for (size_t i = 0; i < N_FEATURES; i++)
		if (pvr_features[i].bit == bit)
			return pvr_features[i].name;
	return "?";
}

int pvr_parse_features(const char *s, uint64_t *features, struct pv_err *err)
{
	uint64_t f = 0;
	const char *p = s ? s : "";
	while (*p) {
		size_t n = strcspn(p, ","), i;
		if (n == 0 || (p[n] == ',' && !p[n + 1]))
			return pv_err_set(err, -EINVAL, PV_E_INVALID,
					  "attributes.imageFeatures: \"%.200s\" has an empty entry; expected "
					  "feature names separated by commas (" FEATURES_ALLOWED ")", s);
		for (i = 0; i < N_FEATURES; i++)
			if (strlen(pvr_features[i].name) == n && strncmp(p, pvr_features[i].name, n) == 0)
				break;
		if (i == N_FEATURES)
			return pv_err_set(err, -EINVAL, PV_E_INVALID,
					  "attributes.imageFeatures: \"%.*s\" in \"%.200s\" is not a feature pvnode "
					  "knows; allowed: " FEATURES_ALLOWED, n > 64 ? 64 : (int)n, p, s);
		f |= pvr_features[i].bit;
		p += n;
		if (*p == ',')
			p++;
	}
	for (size_t i = 0; i < N_FEATURES; i++)
		if ((f & pvr_features[i].bit) && (f & pvr_features[i].needs) != pvr_features[i].needs)
			return pv_err_set(err, -EINVAL, PV_E_INVALID,
					  "attributes.imageFeatures: \"%.200s\" has %s without %s, which it needs",
					  s, pvr_features[i].name, feature_name(pvr_features[i].needs));
	*features = f;
	return 0;
}

void pvr_features_text(uint64_t features, char *buf, size_t len)
{
	size_t o = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < N_FEATURES && o < len; i++)
		if (features & pvr_features[i].bit)
			o += (size_t)snprintf(buf + o, len - o, "%s%s", o ? "," : "", pvr_features[i].name);
}

int pvr_parse_mounter(const char *s, enum pvr_mounter *out, struct pv_err *err)
{
	if (!s || strcmp(s, "auto") == 0)
		*out = PVR_MOUNTER_AUTO;
	else if (strcmp(s, "userspace") == 0)
		*out = PVR_MOUNTER_USERSPACE;
	else if (strcmp(s, "kernel") == 0)
		*out = PVR_MOUNTER_KERNEL;
	else
		return pv_err_set(err, -EINVAL, PV_E_INVALID,
				  "attributes.mounter: \"%.64s\" is not a mounter; expected auto, userspace or kernel", s);
	return 0;
}

/* Options pvnode sets itself in the krbd add string, or that would carry a secret. */
static bool map_option_reserved(const char *name, size_t n)
{
	static const char *const reserved[] = { "name", "secret", "key", "keyring", "ro",
						"read_only", "rw", "read_write", "fsid", NULL };
	for (size_t i = 0; reserved[i]; i++)
		if (strlen(reserved[i]) == n && strncmp(name, reserved[i], n) == 0)
			return true;
	return false;
}

int pvr_parse_map_options(const char *s, char *out, size_t len, struct pv_err *err)
{
	const char *p = s ? s : "";
	if (strlen(p) >= len)
		return pv_err_set(err, -EINVAL, PV_E_INVALID,
				  "attributes.mapOptions: longer than %zu bytes", len - 1);
	while (*p) {
		size_t n = strcspn(p, ","), nl = strspn(p, "abcdefghijklmnopqrstuvwxyz_");
		bool ok = nl > 0 && (nl == n || (p[nl] == '=' && n > nl + 1));
		for (size_t i = nl + 1; ok && i < n; i++)
			ok = isalnum((unsigned char)p[i]) || strchr("._:-", p[i]);
		if (!ok)
			return pv_err_set(err, -EINVAL, PV_E_INVALID,
					  "attributes.mapOptions: \"%.*s\" is not a krbd option; expected "
					  "option[=value] separated by commas (value of A-Z a-z 0-9 . _ : -)",
					  n > 64 ? 64 : (int)n, p);
		if (map_option_reserved(p, nl))
			return pv_err_set(err, -EINVAL, PV_E_INVALID,
					  "attributes.mapOptions: \"%.*s\" is set by pvnode itself (credentials "
					  "come from the secret, read-only from the access mode); remove it",
					  (int)nl, p);
		p += n;
		if (*p == ',' && !*++p)
			return pv_err_set(err, -EINVAL, PV_E_INVALID,
					  "attributes.mapOptions: \"%.200s\" ends with a comma", s);
	}
	snprintf(out, len, "%s", s ? s : "");
	return 0;
}

int pvr_parse_timeout(const char *attr, const char *s, int *out, struct pv_err *err)
{
	char *e;
	long v;
	if (!s) {
		*out = PVR_TIMEOUT_DEFAULT;
		return 0;
	}
	errno = 0;
	v = strtol(s, &e, 10);
	if (errno || *e || e == s || !isdigit((unsigned char)s[0]) || v < 1 || v > PVR_TIMEOUT_MAX)
		return pv_err_set(err, -EINVAL, PV_E_INVALID,
				  "attributes.%s: \"%.64s\" is not a timeout; expected whole seconds 1-%d (default %d)",
				  attr, s, PVR_TIMEOUT_MAX, PVR_TIMEOUT_DEFAULT);
	*out = (int)v;
	return 0;
}

static int target_names(const struct pv *pv, struct pvr_target *t, struct pv_err *err)
{
	const struct pv_map *a = &pv->attributes;
	const char *v;
	int r = pvr_parse_name("pool", pv_map_get(a, "pool"), t->pool, sizeof(t->pool), err);
	if (r < 0)
		return r;
	v = pv_map_get(a, "image");
	r = pvr_parse_name("image", v ? v : pv->name, t->image, sizeof(t->image), err);
	if (r < 0)
		return r;
	v = pv_map_get(a, "radosNamespace");
	if (v && *v && (r = pvr_parse_name("radosNamespace", v, t->rados_namespace,
					   sizeof(t->rados_namespace), err)) < 0)
		return r;
	v = pv_map_get(a, "dataPool");
	if (v && *v && (r = pvr_parse_name("dataPool", v, t->data_pool, sizeof(t->data_pool), err)) < 0)
		return r;
	return 0;
}

int pvr_target_from_pv(const struct pv *pv, struct pvr_target *t, struct pv_err *err)
{
	const struct pv_map *a = &pv->attributes;
	const char *feat = pv_map_get(a, "imageFeatures");
	int r;

	memset(t, 0, sizeof(*t));
	if ((r = pvr_parse_monitors(pv_map_get(a, "monitors"), t, err)) < 0 ||
	    (r = target_names(pv, t, err)) < 0 ||
	    (r = pvr_parse_features(feat ? feat : PVR_FEATURES_DEFAULT_TEXT, &t->features, err)) < 0 ||
	    (r = pvr_parse_mounter(pv_map_get(a, "mounter"), &t->mounter, err)) < 0 ||
	    (r = pvr_parse_map_options(pv_map_get(a, "mapOptions"), t->map_options,
				       sizeof(t->map_options), err)) < 0 ||
	    (r = pvr_parse_timeout("osdTimeout", pv_map_get(a, "osdTimeout"), &t->osd_timeout_s, err)) < 0 ||
	    (r = pvr_parse_timeout("monTimeout", pv_map_get(a, "monTimeout"), &t->mon_timeout_s, err)) < 0)
		return r;
	unsigned single = PV_ACCESS_BIT(PV_RWO) | PV_ACCESS_BIT(PV_RWOP);
	if ((pv->access_modes & single) && !(t->features & RBD_FEATURE_EXCLUSIVE_LOCK))
		return pv_err_set(err, -EINVAL, PV_E_INVALID,
				  "attributes.imageFeatures: \"%.200s\" lacks exclusive-lock, which ReadWriteOnce "
				  "and ReadWriteOncePod need: pvnode fences the image with its exclusive lock so "
				  "a second node cannot write to it; add exclusive-lock", feat ? feat : "");
	return 0;
}

int pvr_parse_user(const char *s, char *out, size_t len, struct pv_err *err)
{
	if (s && strncmp(s, "client.", 7) == 0)
		s += 7;
	size_t n = s ? strlen(s) : 0;
	bool ok = n >= 1 && n <= PVR_USER_MAX && n < len && s[0] != '-' && s[0] != '.';
	for (size_t i = 0; ok && i < n; i++)
		ok = isalnum((unsigned char)s[i]) || strchr("._-", s[i]);
	if (!ok)
		return pv_err_set(err, -EINVAL, PV_E_INVALID,
				  "secrets.userID: \"%.64s\" is not a Ceph user name; expected 1-%d of "
				  "A-Z a-z 0-9 . _ - (without \"client.\")", s ? s : "", PVR_USER_MAX);
	memcpy(out, s, n + 1);
	return 0;
}

static int b64_value(char c)
{
	static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const char *p = c ? strchr(alphabet, c) : NULL;
	return p ? (int)(p - alphabet) : -1;
}

/* Decode standard base64 with padding into out (at most cap bytes); -1 if malformed. */
static int b64_decode(const char *s, size_t n, unsigned char *out, size_t cap)
{
	size_t o = 0;
	if (n == 0 || n % 4)
		return -1;
	for (size_t i = 0; i < n; i += 4) {
		int v[4], pad = 0;
		for (int j = 0; j < 4; j++) {
			v[j] = b64_value(s[i + j]);
			if (s[i + j] == '=' && i + 4 == n && j >= 2 && (j == 3 || s[i + 3] == '='))
				v[j] = 0, pad++;
			else if (v[j] < 0)
				return -1;
		}
		unsigned w = (unsigned)v[0] << 18 | (unsigned)v[1] << 12 | (unsigned)v[2] << 6 | (unsigned)v[3];
		for (int j = 0; j < 3 - pad; j++) {
			if (o == cap)
				return -1;
			out[o++] = (unsigned char)(w >> (16 - 8 * j));
		}
	}
	return (int)o;
}

int pvr_key_decode(const char *key, unsigned char *out, size_t cap)
{
	size_t n = key ? strlen(key) : 0;
	int got = n <= PVR_KEY_MAX ? b64_decode(key, n, out, cap) : -1;
	/* CryptoKey: u16 type (1 = AES), utime_t created (8 bytes), u16 secret length, secret */
	bool ok = got >= 12 && out[0] == 1 && out[1] == 0 && out[10] == 16 && out[11] == 0 &&
		  got == 12 + 16;
	if (!ok && got > 0)
		explicit_bzero(out, (size_t)got);
	return ok ? got : -EINVAL;
}

int pvr_parse_key(const char *s, char *out, size_t len, struct pv_err *err)
{
	unsigned char raw[96];
	size_t n = s ? strlen(s) : 0;
	bool ok = n < len && pvr_key_decode(s, raw, sizeof(raw)) > 0;
	explicit_bzero(raw, sizeof(raw));
	if (!ok)
		return pv_err_set(err, -EINVAL, PV_E_INVALID,
				  "secrets.userKey: not a cephx key (%zu characters); expected the base64 key "
				  "that `ceph auth get-key client.<user>` prints, e.g. AQ...== (40 characters)", n);
	memcpy(out, s, n + 1);
	return 0;
}

int pvr_cred_from_map(const struct pv_map *secrets, struct pvr_cred *c, struct pv_err *err)
{
	const char *user = pv_map_get(secrets, "userID");
	const char *key = pv_map_get(secrets, "userKey");
	int r;
	memset(c, 0, sizeof(*c));
	r = pvr_parse_user(user ? user : "admin", c->user, sizeof(c->user), err);
	if (r < 0)
		return r;
	if (!key)
		return pv_err_set(err, -EINVAL, PV_E_INVALID,
				  "secrets.userKey: missing; the RBD driver needs the cephx key of client.%s "
				  "(pvctl secret set NAME userID=%s userKey=-)", c->user, c->user);
	return pvr_parse_key(key, c->key, sizeof(c->key), err);
}

void pvr_cred_wipe(struct pvr_cred *c)
{
	explicit_bzero(c, sizeof(*c));
}
