/*
 * rbd_attr.h — the RBD driver's attributes and cephx credentials, checked and turned
 * into a `struct pvr_target` (where the image is, how to reach it) and a
 * `struct pvr_cred` (who we are). Pure string handling (no librbd), unit-tested in
 * tests/unit/test_rbd_attr.c, shared by the driver inside pvctl/pvnode, the control
 * program pvnode-rbd and the helper pvnode-rbd-fuse.
 *
 * Every value that later becomes a librados config value, a Ceph name, a helper
 * argument or part of the kernel's rbd "add" string is validated here, and every refusal
 * names the attribute, the value (never a secret) and what is allowed. Attribute names
 * follow ceph-csi's, so StorageClasses carry over.
 */
#ifndef PVNODE_RBD_ATTR_H
#define PVNODE_RBD_ATTR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pvnode/error.h"
#include "pvnode/pv.h"

#define PVR_MONITORS_MAX 16      /* entries in `monitors` */
#define PVR_MON_HOST_MAX 1280    /* the librados mon_host string we build */
#define PVR_NAME_MAX 128         /* pool, image, namespace names (bytes) */
#define PVR_USER_MAX 64          /* userID, without "client." */
#define PVR_KEY_MAX 128          /* base64 cephx key */
#define PVR_MAP_OPTIONS_MAX 512
#define PVR_TIMEOUT_DEFAULT 30   /* seconds: osdTimeout, monTimeout */
#define PVR_TIMEOUT_MAX 600

#define PVR_FEATURES_DEFAULT_TEXT "layering,exclusive-lock,object-map,fast-diff,deep-flatten"

enum pvr_mounter { PVR_MOUNTER_AUTO = 0, PVR_MOUNTER_USERSPACE, PVR_MOUNTER_KERNEL };

struct pvr_target {
	char monitors[PVR_MON_HOST_MAX];  /* normalised: "10.0.0.1:6789,[::1]:3300" */
	char mon_host[PVR_MON_HOST_MAX];  /* for librados: "v1:10.0.0.1:6789,v2:[::1]:3300" */
	char pool[PVR_NAME_MAX + 1];
	char rados_namespace[PVR_NAME_MAX + 1]; /* "": the default namespace */
	char image[PVR_NAME_MAX + 1];
	char data_pool[PVR_NAME_MAX + 1];       /* "": none */
	uint64_t features;                      /* RBD_FEATURE_* bits */
	enum pvr_mounter mounter;
	char map_options[PVR_MAP_OPTIONS_MAX];  /* krbd options from the PV, "" none */
	int osd_timeout_s;
	int mon_timeout_s;
};

/* Secrets: userID (default "admin") and userKey. Wipe with pvr_cred_wipe(). */
struct pvr_cred {
	char user[PVR_USER_MAX + 1];  /* without "client." */
	char key[PVR_KEY_MAX + 1];
};

extern const char *const pvr_attribute_names[];   /* NULL-terminated */
extern const char *const pvr_required_attributes[];

/* `monitors`: "host[:port][,host[:port]...]", host a name, an IPv4 address or an IPv6
 * address in brackets, port default 6789; an optional "v1:" / "v2:" prefix picks the
 * messenger (else port 3300 is msgr2 and every other port msgr1: Ceph would try both on
 * an unusual port). Fills t->monitors and t->mon_host. */
int pvr_parse_monitors(const char *s, struct pvr_target *t, struct pv_err *err);
/* Pool, image and namespace names: 1..PVR_NAME_MAX printable ASCII bytes without
 * '/', '@', whitespace, control characters, a leading '-' or '.'. `attr` names the
 * attribute in the refusal. */
int pvr_parse_name(const char *attr, const char *s, char *out, size_t len, struct pv_err *err);
/* `imageFeatures`: known feature names, comma-separated, with their dependencies. */
int pvr_parse_features(const char *s, uint64_t *features, struct pv_err *err);
/* The features as text, in librbd's order: "layering,exclusive-lock,...". */
void pvr_features_text(uint64_t features, char *buf, size_t len);
int pvr_parse_mounter(const char *s, enum pvr_mounter *out, struct pv_err *err);
/* `mapOptions`: krbd options "opt[=value],..."; options pvnode sets itself (name,
 * secret, key, read_only, ...) are refused. */
int pvr_parse_map_options(const char *s, char *out, size_t len, struct pv_err *err);
/* `osdTimeout` / `monTimeout`: whole seconds 1..PVR_TIMEOUT_MAX. */
int pvr_parse_timeout(const char *attr, const char *s, int *out, struct pv_err *err);

/* Every attribute of a PV → *t (defaults filled: image = PV name, features, timeouts),
 * plus the access-mode rule: RWO/RWOP need exclusive-lock. */
int pvr_target_from_pv(const struct pv *pv, struct pvr_target *t, struct pv_err *err);

/* `userID`: [A-Za-z0-9._-], 1..64, a "client." prefix is dropped. */
int pvr_parse_user(const char *s, char *out, size_t len, struct pv_err *err);
/* `userKey`: the shape of a cephx key (base64 of a version-1 CryptoKey with a 16-byte
 * AES secret). The refusal never shows the value. */
int pvr_parse_key(const char *s, char *out, size_t len, struct pv_err *err);
/* The binary CryptoKey in a base64 key (what the kernel's "ceph" key type takes):
 * its length (28) or -EINVAL. The caller wipes `out`. */
int pvr_key_decode(const char *key, unsigned char *out, size_t cap);
/* userID (default "admin") and userKey (required) from a secrets map. */
int pvr_cred_from_map(const struct pv_map *secrets, struct pvr_cred *c, struct pv_err *err);
void pvr_cred_wipe(struct pvr_cred *c);

#endif
