/*
 * nfs_attrs.c — the NFS driver's attributes and the kernel mounter's options.
 *
 * Pure logic, unit-tested (tests/unit/test_nfs_attrs.c): parse `server` (host or
 * address, optional port; IPv6 in brackets), `share` (absolute, clean), `subDir`
 * (relative, clean: no "..", no leading "/"), `version` (3, 4, 4.1, 4.2), `mounter`
 * (auto, kernel, userspace), `onDelete` (delete, retain, archive) and the PV's
 * mountOptions; build "host:/share/sub", the fstype and the option string for libmount.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nfs.h"

const char *const pvnfs_attribute_names[] = { "server", "share", "subDir", "version",
					      "mounter", "onDelete", NULL };
const char *const pvnfs_required_attributes[] = { "server", "share", NULL };

/* Options the attributes own: a mountOption may not contradict them. */
static const char *const owned_options[] = { "vers", "nfsvers", "port", "addr", "clientaddr",
					     "mountport", NULL };

bool pvnfs_relpath_clean(const char *s)
{
	const char *p = s;

	if (!s || !*s || *s == '/')
		return false;
	for (;;) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);

		if (n == 0 || n > 255 || (n == 1 && p[0] == '.') ||
		    (n == 2 && p[0] == '.' && p[1] == '.'))
			return false;
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f || p[i] == '\\')
				return false;
		if (!slash)
			return true;
		p = slash + 1;
	}
}

bool pvnfs_option_valid(const char *opt)
{
	size_t n = opt ? strlen(opt) : 0;

	if (n == 0 || n > 128)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)opt[i];
		if (c <= 0x20 || c >= 0x7f || c == ',' || c == '"' || c == '\'' || c == '\\')
			return false;
	}
	return true;
}

static bool host_valid(const char *h, bool v6)
{
	size_t n = strlen(h);

	if (n == 0 || n > 253)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)h[i];
		if (v6 ? !(isxdigit(c) || c == ':' || c == '.') :
			 !(isalnum(c) || c == '.' || c == '-'))
			return false;
	}
	return !v6 ? (h[0] != '-' && h[0] != '.') : strchr(h, ':') != NULL;
}

static int parse_port(const char *s, int *port)
{
	char *end;
	long v;

	if (!*s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < 1 || v > 65535)
		return -EINVAL;
	*port = (int)v;
	return 0;
}

static int parse_server(const char *s, struct pvnfs_cfg *cfg, struct pv_err *err)
{
	const char *port = NULL;
	size_t hlen;
	bool v6 = false;

	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (!close || (close[1] && close[1] != ':'))
			goto bad;
		hlen = (size_t)(close - s - 1);
		if (close[1] == ':')
			port = close + 2;
		s++;
		v6 = true;
	} else {
		const char *colon = strchr(s, ':');
		if (colon && strchr(colon + 1, ':'))
			goto bad; /* bare IPv6: needs brackets to tell the port apart */
		hlen = colon ? (size_t)(colon - s) : strlen(s);
		if (colon)
			port = colon + 1;
	}
	if (hlen >= sizeof(cfg->host))
		goto bad;
	memcpy(cfg->host, s, hlen);
	cfg->host[hlen] = '\0';
	if (!host_valid(cfg->host, v6))
		goto bad;
	cfg->port = 0;
	if (port && parse_port(port, &cfg->port) < 0)
		goto bad;
	return 0;
bad:
	return pv_err_set(err, -EINVAL, PV_E_INVALID,
			  "attributes.server: \"%s\" is not a host name or address with an optional "
			  "port (host, host:2049, [fd00::1]:2049)", s);
}

static int parse_share(const char *s, struct pvnfs_cfg *cfg, struct pv_err *err)
{
	size_t n = strlen(s);

	if (n >= sizeof(cfg->share) || s[0] != '/' ||
	    (n > 1 && (s[n - 1] == '/' || !pvnfs_relpath_clean(s + 1))))
		return pv_err_set(err, -EINVAL, PV_E_INVALID,
				  "attributes.share: \"%s\" is not a clean absolute export path "
				  "(e.g. /exports/data; no \"..\", \".\" or \"//\")", s);
	memcpy(cfg->share, s, n + 1);
	return 0;
}

static int parse_options(const struct pv *pv, struct pvnfs_cfg *cfg, struct pv_err *err)
{
	cfg->timeout_ms = PVNFS_DEFAULT_TIMEOUT_MS;
	for (size_t i = 0; i < pv->n_mount_options; i++) {
		const char *o = pv->mount_options[i];
		size_t klen = strcspn(o, "=");

		if (!pvnfs_option_valid(o))
			return pv_err_set(err, -EINVAL, PV_E_INVALID,
					  "mountOptions[%zu]: \"%s\" is not a single mount option "
					  "(printable, no spaces, commas or quotes)", i, o);
		for (const char *const *ow = owned_options; *ow; ow++)
			if (strlen(*ow) == klen && strncmp(o, *ow, klen) == 0)
				return pv_err_set(err, -EINVAL, PV_E_INVALID,
						  "mountOptions[%zu]: \"%s\" is set by the NFS driver "
						  "from attributes.server / attributes.version", i, o);
		if (strncmp(o, "timeo=", 6) == 0) {
			char *end;
			long ds = strtol(o + 6, &end, 10);
			if (*end || ds < 1 || ds > 6000)
				return pv_err_set(err, -EINVAL, PV_E_INVALID,
						  "mountOptions[%zu]: \"%s\": timeo is tenths of a "
						  "second, 1 to 6000", i, o);
			cfg->timeout_ms = (int)(ds * 100 < 1000 ? 1000 : ds * 100);
		}
	}
	return 0;
}

bool pvnfs_subdir_reserved(const char *sub)
{
	size_t n = strlen(PVNFS_SNAPSHOT_DIR);

	return !strncmp(sub, PVNFS_SNAPSHOT_DIR, n) && (sub[n] == '\0' || sub[n] == '/');
}

int pvnfs_cfg_from_pv(const struct pv *pv, struct pvnfs_cfg *cfg, struct pv_err *err)
{
	const char *server = pv_map_get(&pv->attributes, "server");
	const char *share = pv_map_get(&pv->attributes, "share");
	const char *sub = pv_map_get(&pv->attributes, "subDir");
	const char *ver = pv_map_get(&pv->attributes, "version");
	const char *mounter = pv_map_get(&pv->attributes, "mounter");
	const char *ondel = pv_map_get(&pv->attributes, "onDelete");
	int r;

	memset(cfg, 0, sizeof(*cfg));
	if (!server || !*server)
		return pv_err_set(err, -EINVAL, PV_E_INVALID,
				  "attributes.server is required (the NFS server, host[:port])");
	if (!share || !*share)
		return pv_err_set(err, -EINVAL, PV_E_INVALID,
				  "attributes.share is required (the export path, e.g. /exports)");
	if ((r = parse_server(server, cfg, err)) < 0 || (r = parse_share(share, cfg, err)) < 0)
		return r;
	if (sub && *sub) {
		if (strlen(sub) >= sizeof(cfg->subdir) || !pvnfs_relpath_clean(sub))
			return pv_err_set(err, -EINVAL, PV_E_INVALID,
					  "attributes.subDir: \"%s\" must be a clean relative path "
					  "below the share (no leading \"/\", no \"..\" or \".\")", sub);
		if (pvnfs_subdir_reserved(sub))
			return pv_err_set(err, -EINVAL, PV_E_INVALID,
					  "attributes.subDir: \"%s\" is inside %s, where snapshots live; "
					  "choose another directory", sub, PVNFS_SNAPSHOT_DIR);
		snprintf(cfg->subdir, sizeof(cfg->subdir), "%s", sub);
	}
	if (!ver || !*ver)
		ver = "3";
	if (strcmp(ver, "3") != 0 && strcmp(ver, "4") != 0 && strcmp(ver, "4.0") != 0 &&
	    strcmp(ver, "4.1") != 0 && strcmp(ver, "4.2") != 0)
		return pv_err_set(err, -EINVAL, PV_E_INVALID,
				  "attributes.version: \"%s\" is not one of 3, 4, 4.1, 4.2", ver);
	snprintf(cfg->version, sizeof(cfg->version), "%s", ver);
	if (!mounter || !*mounter || !strcmp(mounter, "auto"))
		cfg->mounter = PVNFS_MOUNTER_AUTO;
	else if (!strcmp(mounter, "kernel"))
		cfg->mounter = PVNFS_MOUNTER_KERNEL;
	else if (!strcmp(mounter, "userspace"))
		cfg->mounter = PVNFS_MOUNTER_USERSPACE;
	else
		return pv_err_set(err, -EINVAL, PV_E_INVALID,
				  "attributes.mounter: \"%s\" is not one of auto, kernel, userspace",
				  mounter);
	if (cfg->mounter == PVNFS_MOUNTER_USERSPACE && ver[0] == '4')
		return pv_err_set(err, -EINVAL, PV_E_INVALID,
				  "attributes.version: %s with mounter userspace: the userspace "
				  "mounter speaks NFSv3 only (use version 3 or mounter kernel/auto)", ver);
	if (!ondel || !*ondel || !strcmp(ondel, "delete"))
		cfg->on_delete = PVNFS_DELETE;
	else if (!strcmp(ondel, "retain"))
		cfg->on_delete = PVNFS_RETAIN;
	else if (!strcmp(ondel, "archive"))
		cfg->on_delete = PVNFS_ARCHIVE;
	else
		return pv_err_set(err, -EINVAL, PV_E_INVALID,
				  "attributes.onDelete: \"%s\" is not one of delete, retain, archive",
				  ondel);
	return parse_options(pv, cfg, err);
}

int pvnfs_volume_path(const struct pvnfs_cfg *cfg, char *buf, size_t len)
{
	int n;

	if (!cfg->subdir[0])
		n = snprintf(buf, len, "%s", cfg->share);
	else
		n = snprintf(buf, len, "%s/%s", strcmp(cfg->share, "/") ? cfg->share : "",
			     cfg->subdir);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static bool has_option(const struct pv *pv, const char *key)
{
	size_t k = strlen(key);

	for (size_t i = 0; i < pv->n_mount_options; i++) {
		const char *o = pv->mount_options[i];
		if (strncmp(o, key, k) == 0 && (o[k] == '\0' || o[k] == '='))
			return true;
	}
	return false;
}

static int append(char *buf, size_t len, size_t *used, const char *opt)
{
	int n = snprintf(buf + *used, len - *used, "%s%s", *used ? "," : "", opt);

	if (n < 0 || (size_t)n >= len - *used)
		return -ENAMETOOLONG;
	*used += (size_t)n;
	return 0;
}

int pvnfs_kernel_spec(const struct pv *pv, const struct pvnfs_cfg *cfg, bool readonly,
		      char *source, size_t slen, char *fstype, size_t flen, char *options,
		      size_t olen, struct pv_err *err)
{
	char path[1100], tmp[64];
	size_t used = 0;
	int n, r = 0;

	if (pvnfs_volume_path(cfg, path, sizeof(path)) < 0)
		goto toolong;
	n = snprintf(source, slen, strchr(cfg->host, ':') ? "[%s]:%s" : "%s:%s", cfg->host, path);
	if (n < 0 || (size_t)n >= slen)
		goto toolong;
	snprintf(fstype, flen, "%s", strcmp(cfg->version, "3") ? "nfs4" : "nfs");
	options[0] = '\0';
	snprintf(tmp, sizeof(tmp), "vers=%s", strcmp(cfg->version, "4.0") ? cfg->version : "4");
	r |= append(options, olen, &used, tmp);
	if (cfg->port) {
		snprintf(tmp, sizeof(tmp), "port=%d", cfg->port);
		r |= append(options, olen, &used, tmp);
	}
	if (!has_option(pv, "proto") && !has_option(pv, "udp") && !has_option(pv, "tcp"))
		r |= append(options, olen, &used, "proto=tcp");
	if (!has_option(pv, "soft") && !has_option(pv, "hard") && !has_option(pv, "softerr"))
		r |= append(options, olen, &used, "hard");
	if (!has_option(pv, "timeo"))
		r |= append(options, olen, &used, "timeo=600");
	if (!has_option(pv, "retrans"))
		r |= append(options, olen, &used, "retrans=2");
	for (size_t i = 0; i < pv->n_mount_options; i++) {
		const char *o = pv->mount_options[i];
		if (!pvnfs_option_valid(o))
			return pv_err_set(err, -EINVAL, PV_E_INVALID,
					  "mountOptions[%zu]: \"%s\" is not a single mount option", i, o);
		if (readonly && (!strcmp(o, "rw") || !strcmp(o, "ro")))
			continue;
		r |= append(options, olen, &used, o);
	}
	if (readonly)
		r |= append(options, olen, &used, "ro");
	if (r)
		goto toolong;
	return 0;
toolong:
	return pv_err_set(err, -ENAMETOOLONG, PV_E_INVALID,
			  "the NFS mount source or options are too long");
}

bool pvnfs_kernel_has_nfs(const char *path)
{
	FILE *f = fopen(path ? path : "/proc/filesystems", "re");
	char line[128];
	bool found = false;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		char *name = strrchr(line, '\t');
		name = name ? name + 1 : line;
		name[strcspn(name, "\n")] = '\0';
		found = !strcmp(name, "nfs") || !strcmp(name, "nfs4");
	}
	fclose(f);
	return found;
}
