/*
 * iscsi_conn.h — what pvnode's iSCSI code knows about a target, and the libiscsi
 * operations shared by the driver (fence release, discovery checks) and the helper
 * (login, capacity, persistent reservations).
 *
 * `struct pvi_target` is built from a PV's attributes and secrets (iscsi_attr.c) or from
 * the helper's arguments plus the secrets it reads on stdin. The CHAP fields are wiped
 * by pvi_target_wipe().
 */
#ifndef PVNODE_ISCSI_CONN_H
#define PVNODE_ISCSI_CONN_H

#include <stdbool.h>
#include <stdint.h>

#include "pvnode/driver/driver.h"
#include "pvnode/error.h"

#define PVI_MAX_PORTALS 8
#define PVI_NAME_MAX 224   /* iSCSI names are at most 223 bytes */
#define PVI_SECRET_MAX 256

enum pvi_initiator { PVI_INIT_AUTO = 0, PVI_INIT_KERNEL, PVI_INIT_USERSPACE };

struct pvi_target {
	char portals[PVI_MAX_PORTALS][128];   /* host:port */
	size_t n_portals;
	char iqn[PVI_NAME_MAX];
	int lun;
	char initiator_name[PVI_NAME_MAX];
	bool discovery;                        /* SendTargets check before login */
	enum pvi_initiator initiator;
	/* CHAP, open-iscsi key names in the secrets map. Never logged. */
	char user[PVI_SECRET_MAX], pass[PVI_SECRET_MAX];           /* node.session.auth.* */
	char user_in[PVI_SECRET_MAX], pass_in[PVI_SECRET_MAX];     /* ..._in (mutual) */
	char disc_user[PVI_SECRET_MAX], disc_pass[PVI_SECRET_MAX]; /* discovery.sendtargets.auth.* */
	int login_timeout_s;                   /* per portal, default 10 */
	int io_timeout_s;                      /* I/O waits this long for a lost target, default 15 */
	int sessions;                          /* userspace: sessions (I_T nexuses) carrying the I/O */
};

/* Sessions per volume (attribute `sessions`). One by default: on tgt, more sessions to one
 * LUN gave no more throughput (README, iSCSI figures) and cost a thread and a connection. */
#define PVI_DEFAULT_SESSIONS 1
#define PVI_MAX_SESSIONS 8

/* The secret keys, as open-iscsi names them. */
#define PVI_KEY_USER "node.session.auth.username"
#define PVI_KEY_PASS "node.session.auth.password"
#define PVI_KEY_USER_IN "node.session.auth.username_in"
#define PVI_KEY_PASS_IN "node.session.auth.password_in"
#define PVI_KEY_DISC_USER "discovery.sendtargets.auth.username"
#define PVI_KEY_DISC_PASS "discovery.sendtargets.auth.password"
#define PVI_KEY_DISC_USER_IN "discovery.sendtargets.auth.username_in"
#define PVI_KEY_DISC_PASS_IN "discovery.sendtargets.auth.password_in"

void pvi_target_wipe(struct pvi_target *t);

/* --- iscsi_attr.c: attributes → target (pure, unit-tested) --- */
extern const char *const pvi_attribute_names[];
extern const char *const pvi_required_attributes[];
int pvi_parse_portals(const char *list, struct pvi_target *t, struct pv_err *err);
int pvi_parse_lun(const char *s, int *lun, struct pv_err *err);
/* "1".."8" (NULL: the default) → *out. */
int pvi_parse_sessions(const char *v, int *out, struct pv_err *err);
bool pvi_iqn_valid(const char *s);
/* "iqn.2026-11.io.pvnode:<node id, lower case, '_' → '-'>". */
void pvi_default_initiator(const char *node_id, char *buf, size_t len);
int pvi_target_from_pv(const struct pv *pv, const struct pv_secrets *s, const char *node_id,
		       struct pvi_target *t, struct pv_err *err);
int pvi_validate(const struct pv *pv, struct pv_err *err);
/* "iscsi:<host:port>/<iqn>/<lun>" per portal, lower case (iSCSI names and host names
 * compare without case): the driver's storage_keys. */
int pvi_storage_keys(const struct pv *pv, char (*keys)[PV_STORAGE_KEY_MAX], size_t max);
/* "1-8", "1,3,5-9" → the LUNs in order into luns (NULL: only check; at most max);
 * their count, or -EINVAL. */
#define PVI_MAX_LUNS 16384
int pvi_parse_luns(const char *s, int *luns, size_t max, struct pv_err *err);
/* Create: with `luns` and no `lun`, pick the first LUN of luns no other volume uses
 * (n->storage_in_use) and that `fits` (NULL: any) and record it as `lun`;
 * PV_E_RESOURCE when every one is taken, PV_E_RANGE when the free ones are all too
 * small. fits(ud, lun, why, wlen, err): 1 fits, 0 does not (why says so), <0 error. */
/* The target of a PV that names only `luns` (t->lun -1), with its CHAP secrets. */
int pvi_target_for_pick(const struct pv *pv, const struct pv_secrets *s, struct pvi_target *t, struct pv_err *err);
typedef int pvi_fits_fn(void *ud, int lun, char *why, size_t wlen, struct pv_err *err);
int pvi_provision_pick(struct pv *pv, const struct pv_node_ctx *n, pvi_fits_fn *fits, void *ud,
		       struct pv_err *err);
/* The CHAP fields from a secret set (open-iscsi key names), checked for consistency. */
int pvi_target_secrets(struct pvi_target *t, const struct pv_secrets *s, struct pv_err *err);

/* --- iscsi_conn.c: libiscsi sessions (link with libiscsi) --- */
struct iscsi_context;
/* Log in to the first reachable portal (TCP check bounded by login_timeout_s), report
 * unreachable portals, wrong CHAP, unknown IQN as distinct errors naming portal and
 * target; then check the LUN exists. *portal_used (may be NULL) gets the portal. */
int pvi_login(const struct pvi_target *t, struct iscsi_context **out, char *portal_used,
	      size_t plen, struct pv_err *err);
void pvi_logout(struct iscsi_context *iscsi);
/* SendTargets against the portals: is t->iqn offered? */
int pvi_discover(const struct pvi_target *t, struct pv_err *err);
/* How a READ/WRITE of len bytes (whole blocks of bs) goes out as commands of at most
 * split bytes (0: whole), never more than max_parts: returns the number of commands and
 * sets *part to the bytes of each but the last (which has the rest). */
unsigned pvi_split_parts(size_t len, size_t split, size_t bs, unsigned max_parts, size_t *part);
/* READ CAPACITY(16). */
int pvi_capacity(struct iscsi_context *iscsi, const struct pvi_target *t, uint64_t *bytes,
		 uint32_t *block_size, struct pv_err *err);
/* Write zeros over the first and the last MiB of the LUN (filesystem and partition
 * signatures: a LUN handed out again from a pool then stages as a blank device, never
 * with the filesystem of the volume that had it before). */
int pvi_zero_ends(struct iscsi_context *iscsi, const struct pvi_target *t, struct pv_err *err);

/* Persistent reservations (SPC-3) on t->lun in this session.
 * The userspace path takes WRITE EXCLUSIVE – REGISTRANTS ONLY: every session registered
 * with the node's key writes, others (other nodes, unregistered sessions) only read, and
 * a PREEMPT of the key by another node removes the registration of every session of
 * ours at once. So one volume can use several sessions, each registered with the same
 * key; the rule that keeps fencing exact: a session writes only after it registered AND
 * then read the reservation held by our key (a preempt before the register shows in the
 * read, one after it removed the registration). The kernel path (one session, sg_persist)
 * takes WRITE EXCLUSIVE. */
#define PVI_PR_TYPE_WE 1      /* WRITE EXCLUSIVE */
#define PVI_PR_TYPE_WE_RO 5   /* WRITE EXCLUSIVE – REGISTRANTS ONLY */
int pvi_pr_read(struct iscsi_context *iscsi, int lun, bool *held, uint64_t *holder, int *type);
int pvi_pr_keys(struct iscsi_context *iscsi, int lun, uint64_t *keys, size_t max, size_t *n);
/* Register `key` in this session and hold the reservation (WE-RO). A reservation held by
 * another key → PV_E_POLICY naming it. A reservation held by our own key from an earlier
 * session (a dead helper) is preempted: that removes every other registration of our key
 * (the dead helper's sessions) and makes this session the holder. */
int pvi_pr_acquire(struct iscsi_context *iscsi, const struct pvi_target *t, uint64_t key,
		   struct pv_err *err);
/* Another session of a holder that is up, or a session logging in again: register `key`,
 * then the reservation must be ours (not held at all, as after a target restart: take
 * it). Never preempts: the other sessions' registrations stay. Held by another key:
 * unregister, PV_E_POLICY. */
int pvi_pr_join(struct iscsi_context *iscsi, const struct pvi_target *t, uint64_t key,
		struct pv_err *err);
/* Release the reservation and unregister `key`, and every other registration of `key`
 * (other sessions of ours, stale ones of lost connections) with it. */
int pvi_pr_release(struct iscsi_context *iscsi, int lun, uint64_t key);
/* Preempt every registration of `victim` (and its reservation) using a short session
 * registered with `own`, then leave nothing behind. */
int pvi_fence_release(const struct pvi_target *t, uint64_t victim, uint64_t own,
		      struct pv_err *err);

/* --- iscsi_kernel.c: open-iscsi command building (pure, unit-tested) --- */
#define PVI_ARGV_MAX 24
struct pvi_argv {
	const char *argv[PVI_ARGV_MAX];
	size_t n;
	char buf[2048];      /* storage for composed arguments */
	size_t used;
};
/* iscsiadm -m node -T iqn -p portal -o new / login / logout. Secrets are never in
 * these: the CHAP settings go into the node record file (iscsiadm's database, 0600)
 * written by the driver from pvi_kernel_auth_lines(). */
int pvi_kernel_cmd_new(const struct pvi_target *t, size_t portal, struct pvi_argv *a);
int pvi_kernel_cmd_login(const struct pvi_target *t, size_t portal, struct pvi_argv *a);
int pvi_kernel_cmd_logout(const struct pvi_target *t, size_t portal, struct pvi_argv *a);
int pvi_kernel_cmd_discover(const struct pvi_target *t, size_t portal, struct pvi_argv *a);
/* /dev/disk/by-path/ip-<portal>-iscsi-<iqn>-lun-<lun> */
int pvi_kernel_device_path(const struct pvi_target *t, size_t portal, char *buf, size_t len);
/* The directory holding the node record: <db>/nodes/<iqn>/<host>,<port>,<tpgt>. */
int pvi_kernel_record_glob(const struct pvi_target *t, size_t portal, const char *db, char *buf,
			   size_t len);
/* "node.session.auth.authmethod = CHAP\nnode.session.auth.username = ...\n" lines to
 * append to the record (contains secrets: caller wipes buf). */
int pvi_kernel_auth_lines(const struct pvi_target *t, char *buf, size_t len);
/* sg_persist (sg3-utils) on the kernel's device: the reservation lives in the kernel's
 * session, the one doing the I/O. op: "register" (REGISTER AND IGNORE EXISTING KEY),
 * "reserve", "preempt" (sa_key = key: take over our own), "release", "unregister". */
int pvi_kernel_cmd_pr(const char *op, const char *device, uint64_t key, struct pvi_argv *a);
bool pvi_kernel_available(void);
enum pvi_initiator pvi_choose_initiator(enum pvi_initiator wanted, bool kernel_available);

#endif
