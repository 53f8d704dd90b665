/*
 * iscsi.c — the iSCSI driver table: block volumes on an iSCSI LUN, fenced across nodes
 * with SCSI-3 persistent reservations.
 *
 * Attributes: portal (host:port) or portals (a comma list to fail over across), iqn,
 * lun, optional initiatorName (default derived from the node id), discovery
 * (SendTargets check), initiator/mounter auto|kernel|userspace, loginTimeout. CHAP comes
 * from the secrets with open-iscsi's key names (iscsi_conn.h). The work is in
 * iscsi_attach.c (attach/detach), iscsi_conn.c (libiscsi), iscsi_kernel.c (open-iscsi)
 * and the helper program (iscsi_helper.c + iscsi_io.c + lib/blockfuse).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "iscsi_attach.h"
#include "iscsi_conn.h"
#include "pvnode/driver/os.h"

/* Key=value lookup in the helper's status file. */
static bool status_get(const char *text, const char *key, char *out, size_t len)
{
	size_t kl = strlen(key);
	for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		if (strncmp(p, key, kl) == 0 && p[kl] == '=') {
			const char *e = strchr(p + kl + 1, '\n');
			size_t n = e ? (size_t)(e - p - kl - 1) : strlen(p + kl + 1);
			snprintf(out, len, "%.*s", (int)n, p + kl + 1);
			return true;
		}
	}
	return false;
}

static int read_status(const struct pv_attachment *att, char *state, size_t slen, char *why,
		       size_t wlen, char *size, size_t zlen)
{
	char path[PATH_MAX];
	_cleanup_(pv_freep) char *text = NULL;
	size_t len;
	const char *slash = strrchr(att->backing, '/');
	if (!slash)
		return -ENOENT;
	/* backing = <run_dir>/fuse/disk → <run_dir>/helper.status */
	snprintf(path, sizeof(path), "%.*s/../helper.status", (int)(slash - att->backing), att->backing);
	if (pv_read_file(path, &text, &len, NULL) < 0)
		return -ENOENT;
	status_get(text, "state", state, slen);
	status_get(text, "why", why, wlen);
	if (size)
		status_get(text, "size", size, zlen);
	return 0;
}

static enum pv_health pvi_health(const struct pv *pv, const struct pv_attachment *att, char *why,
				   size_t why_len)
{
	char state[32] = "", reason[300] = "";
	(void)pv;
	if (pvi_attached_by_kernel(att)) {
		struct stat st;
		if (stat(att->device, &st) < 0) {
			snprintf(why, why_len, "iSCSI device %s is gone (session logged out?)", att->device);
			return PV_ABNORMAL;
		}
		return PV_HEALTHY;
	}
	if (!pv_helper_alive(&att->helper)) {
		snprintf(why, why_len, "the iSCSI helper (pid %d) is not running; stage again to restore the volume",
			 (int)att->helper.pid);
		return PV_ABNORMAL;
	}
	if (read_status(att, state, sizeof(state), reason, sizeof(reason), NULL, 0) < 0) {
		snprintf(why, why_len, "the iSCSI helper (pid %d) reports no status", (int)att->helper.pid);
		return PV_ABNORMAL;
	}
	if (strcmp(state, "up") != 0) {
		snprintf(why, why_len, "iSCSI session %s: %s", state, reason[0] ? reason : "no detail");
		return PV_ABNORMAL;
	}
	if (att->device[0] && !pv_loop_serves(att->device, att->backing)) {
		snprintf(why, why_len, "loop device %s no longer serves %s", att->device, att->backing);
		return PV_ABNORMAL;
	}
	return PV_HEALTHY;
}

/* After the LUN grew: the helper re-reads the capacity (SIGUSR1), a stat() refreshes the
 * FUSE file's size in the kernel, then the loop device takes it. */
static int pvi_refresh(const struct pv *pv, struct pv_attachment *att, const struct pv_node_ctx *n,
			 struct pv_err *err)
{
	char state[32], why[300], size[32] = "", before[32] = "";
	struct stat st;
	(void)pv;
	(void)n;
	if (pvi_attached_by_kernel(att))
		return 0;   /* the kernel's SCSI layer sees the new capacity on rescan */
	if (!pv_helper_alive(&att->helper))
		return pv_err_set(err, -ESRCH, PV_E_UNAVAILABLE,
				  "the iSCSI helper is not running; stage again first");
	read_status(att, state, sizeof(state), why, sizeof(why), before, sizeof(before));
	kill(att->helper.pid, SIGUSR1);
	for (int i = 0; i < 50; i++) {
		struct timespec ts = { 0, 100 * 1000 * 1000 };
		nanosleep(&ts, NULL);
		if (read_status(att, state, sizeof(state), why, sizeof(why), size, sizeof(size)) == 0 &&
		    strcmp(size, before) != 0)
			break;
	}
	stat(att->backing, &st);   /* attr_timeout 0: the kernel asks the helper for the size */
	return att->device[0] ? pv_loop_set_capacity(att->device, err) : 0;
}

static int pvi_release_node(const struct pv *pv, const struct pv_secrets *s, const char *node_id,
			       const struct pv_node_ctx *n, struct pv_err *err)
{
	struct pvi_target t;
	char self[PV_NAME_MAX + 16];
	int r = pvi_target_from_pv(pv, s, n->node_id, &t, err);
	if (r < 0)
		return r;
	/* a separate initiator name and key, so this short session never looks like ours */
	snprintf(self, sizeof(self), "%s-fence", n->node_id);
	pvi_default_initiator(self, t.initiator_name, sizeof(t.initiator_name));
	uint64_t victim = pv_node_key(node_id), own = pv_node_key(self);
	r = pvi_fence_release(&t, victim, own, err);
	pvi_target_wipe(&t);
	if (r < 0)
		pv_err_prefix(err, "fence release of node %s: ", node_id);
	else
		pv_info("volume %s: reservation key %016llx of node %s preempted on %s lun %d", pv->name,
			(unsigned long long)victim, node_id, t.iqn, t.lun);
	return r;
}

/* A short session of the controller's own to t (its own initiator name, so it never
 * looks like a node's session); portal: the one that answered (NULL: not wanted). */
static int ctl_login(const struct pv_node_ctx *n, struct pvi_target *t, struct iscsi_context **c, char *portal,
		     size_t plen, struct pv_err *err)
{
	char self[PV_NAME_MAX + 16];
	snprintf(self, sizeof(self), "%s-ctl", n->node_id);
	pvi_default_initiator(self, t->initiator_name, sizeof(t->initiator_name));
	return pvi_login(t, c, portal, plen, err);
}

/* The LUN's size, from a short read-only session of the controller's own. */
static int lun_size(const struct pv *pv, const struct pv_secrets *s, const struct pv_node_ctx *n,
		    uint64_t *size, char *where, size_t wlen, struct pv_err *err)
{
	struct pvi_target t;
	struct iscsi_context *c = NULL;
	char portal[128] = "";
	uint32_t bs = 0;
	int r = pvi_target_from_pv(pv, s, n->node_id, &t, err);
	if (r < 0)
		return r;
	if ((r = ctl_login(n, &t, &c, portal, sizeof(portal), err)) == 0)
		r = pvi_capacity(c, &t, size, &bs, err);
	pvi_logout(c);
	snprintf(where, wlen, "LUN %d of %s at %s", t.lun, t.iqn, portal[0] ? portal : t.portals[0]);
	pvi_target_wipe(&t);
	return r;
}

/* Create from a pool: the first free LUN that holds the capacity (a capacity of 0
 * takes the LUN's size). The sizes come over one short session of the controller's own,
 * opened at the first free LUN (the pick runs under the catalog-wide storage lock). */
struct pick {
	const struct pv *pv;
	const struct pv_secrets *s;
	const struct pv_node_ctx *n;
	struct pvi_target t;      /* with its secrets once c is open */
	struct iscsi_context *c;  /* NULL until the first free LUN */
	uint64_t size;            /* of the LUN that fits */
};

static int lun_fits(void *ud, int lun, char *why, size_t wlen, struct pv_err *err)
{
	struct pick *p = ud;
	char have[32], want[32];
	uint32_t bs = 0;
	uint64_t size = 0;
	int r;
	if (!p->c) {
		if ((r = pvi_target_for_pick(p->pv, p->s, &p->t, err)) < 0)
			return r;
		p->t.lun = lun;   /* the login checks that the target has it */
		if ((r = ctl_login(p->n, &p->t, &p->c, NULL, 0, err)) < 0) {
			pvi_target_wipe(&p->t);
			return r;
		}
	}
	p->t.lun = lun;
	if ((r = pvi_capacity(p->c, &p->t, &size, &bs, err)) < 0)
		return r;
	if (size >= p->pv->capacity) {
		p->size = size;
		return 1;
	}
	pv_quantity_format(size, have, sizeof(have));
	pv_quantity_format(p->pv->capacity, want, sizeof(want));
	snprintf(why, wlen, "LUN %d holds %s, less than %s", lun, have, want);
	return 0;
}

static int pvi_provision(struct pv *pv, const struct pv_secrets *s, const struct pv_node_ctx *n, struct pv_err *err)
{
	struct pick p = { .pv = pv, .s = s, .n = n };
	int r = pvi_provision_pick(pv, n, lun_fits, &p, err);
	if (p.c) {
		pvi_logout(p.c);
		pvi_target_wipe(&p.t);
	}
	if (r == 0 && !pv->capacity && p.size)
		pv->capacity = p.size;
	return r;
}

/* A volume whose LUN a create picked from a pool (`luns`) goes back to the pool: its
 * ends are zeroed, so the next volume picked onto it is a blank device (format.c never
 * formats over a filesystem, and would hand the next tenant this one's files). A LUN
 * the PV named itself is the operator's: left as it is. */
static int pvi_remove(const struct pv *pv, const struct pv_secrets *s, const struct pv_node_ctx *n,
		      struct pv_err *err)
{
	struct pvi_target t;
	struct iscsi_context *c = NULL;

	if (!pv_map_get(&pv->attributes, "luns") || !pv_map_get(&pv->attributes, "lun"))
		return 0;
	int r = pvi_target_from_pv(pv, s, n->node_id, &t, err);
	if (r < 0)
		return r;
	if ((r = ctl_login(n, &t, &c, NULL, 0, err)) == 0)
		r = pvi_zero_ends(c, &t, err);
	pvi_logout(c);
	pvi_target_wipe(&t);
	return r;
}

/* The LUN is grown on the target (pvnode does not administer targets): check that it
 * now holds `bytes` and record the size. */
static int pvi_expand(struct pv *pv, uint64_t bytes, const struct pv_secrets *s,
			const struct pv_node_ctx *n, struct pv_err *err)
{
	char where[400], have[32], want[32];
	uint64_t size = 0;
	int r = lun_size(pv, s, n, &size, where, sizeof(where), err);

	if (r == 0 && size < bytes) {
		pv_quantity_format(size, have, sizeof(have));
		pv_quantity_format(bytes, want, sizeof(want));
		r = pv_err_set(err, -ERANGE, PV_E_RANGE, "%s holds %s, less than %s; grow the LUN on the target first",
			       where, have, want);
	}
	if (r == 0)
		pv->capacity = bytes;
	return r;
}

/* Registration (create --existing): the LUN answers (CHAP from the secrets) and holds
 * at least the PV's capacity. Nothing is written to it. */
static int pvi_check_existing(struct pv *pv, const struct pv_secrets *s, const struct pv_node_ctx *n,
			      struct pv_err *err)
{
	char where[400], have[32], want[32];
	uint64_t size = 0;
	int r = lun_size(pv, s, n, &size, where, sizeof(where), err);

	if (r == 0 && size < pv->capacity) {
		pv_quantity_format(size, have, sizeof(have));
		pv_quantity_format(pv->capacity, want, sizeof(want));
		r = pv_err_set(err, -ERANGE, PV_E_RANGE,
			       "%s holds %s, less than the capacity %s: set capacity to at most %s, or grow the LUN",
			       where, have, want, have);
	}
	return r;
}

const struct pv_driver pv_driver_iscsi = {
	.name = "iscsi",
	.storage = PV_BLOCKDEV,
	.attribute_names = pvi_attribute_names,
	.required_attributes = pvi_required_attributes,
	.validate = pvi_validate,
	.provision = pvi_provision,
	.remove = pvi_remove,
	.expand = pvi_expand,
	.check_existing = pvi_check_existing,
	.storage_keys = pvi_storage_keys,
	.attach = pvi_attach,
	.detach = pvi_detach,
	.health = pvi_health,
	.reattach = pvi_reattach,
	.refresh = pvi_refresh,
	.fence_release = pvi_release_node,
};
