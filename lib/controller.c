/*
 * controller.c — the controller's use cases for both front ends (include/pvnode/
 * controller.h): create, delete, expand, publish to a node and release it, find.
 * Snapshots, restores and clones are in controller_snap.c.
 *
 * Every function holds the volume lock for its whole run (so a check and the change it
 * guards cannot be separated by another process), and reaches the driver only here.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "controller_int.h"
#include "pvnode/catalog.h"
#include "store/attachments.h"
#include "store/journal.h"

/* The lock (<state>/locks/+storage.lock: no volume is called that) under which a new
 * record is checked against the storage of every other. */
#define STORAGE_LOCK "+storage"

void ctl_secrets_free(struct ctl_secrets *c)
{
	pv_secrets_free(&c->loaded);
}

int ctl_secrets(struct pv_engine *e, const struct pv *pv, const struct pv_secrets *given, struct ctl_secrets *out,
		struct pv_err *err)
{
	pv_secrets_init(&out->loaded);
	out->use = given ? given : &out->loaded;
	if (!given && pv->secret_ref)
		return pv_secrets_store_load(e->cfg.state_dir, pv->secret_ref, &out->loaded, err);
	return 0;
}

const struct pv_driver *ctl_driver(const struct pv *pv, struct pv_err *err)
{
	const struct pv_driver *drv = pv_driver_find(pv->driver);
	if (!drv)
		pv_err_set(err, -EINVAL, PV_E_INVALID, "volume %s: driver '%s' is not built in (this build has: %s)",
			   pv->name, pv->driver, pv_driver_names());
	return drv;
}

int ctl_node(struct pv_engine *e, const char *name, struct pv_volctx *vc, struct pv_err *err)
{
	pv_engine_volctx(e, name, vc);
	return pv_mkdir_p(vc->run_dir, 0700, err);
}

/* Take the volume's lock (into *lock, released by the caller's cleanup) and load its
 * catalog record. */
static int ctl_lock_load(struct pv_engine *e, const char *name, int *lock, struct pv *pv, struct pv_err *err)
{
	pv_init(pv);
	*lock = pv_engine_lock(e, name, err);
	if (*lock < 0)
		return *lock;
	return pv_catalog_load(e->cfg.state_dir, name, pv, err);
}

static bool same_definition(const struct pv *a, const struct pv *b)
{
	if (strcmp(a->driver, b->driver) != 0 || a->capacity != b->capacity || a->access_modes != b->access_modes ||
	    a->volume_mode != b->volume_mode || strcmp(a->fs_type, b->fs_type) != 0 || a->gid != b->gid)
		return false;
	if (b->reclaim && strcmp(pv_reclaim_name(a->reclaim), pv_reclaim_name(b->reclaim)) != 0)
		return false;
	/* every attribute asked for is there with that value; the driver may have added some */
	for (size_t i = 0; i < b->attributes.n; i++) {
		const char *v = pv_map_get(&a->attributes, b->attributes.items[i].key);
		if (!v || strcmp(v, b->attributes.items[i].value) != 0)
			return false;
	}
	return true;
}

static bool same_default(const struct pv *stored, const struct pv *wanted, void *ud)
{
	(void)ud;
	return same_definition(stored, wanted);
}

/* A capacity the backend would not store exactly: refused, naming the sizes around. */
int ctl_check_granularity(const struct pv *pv, const struct pv_driver *drv, uint64_t bytes, struct pv_err *err)
{
	uint64_t g = drv->capacity_granularity, lo = g ? bytes - bytes % g : bytes;
	char want[32], down[32], up[32];

	if (!g || bytes % g == 0)
		return 0;
	pv_quantity_format(bytes, want, sizeof(want));
	pv_quantity_format(lo, down, sizeof(down));
	pv_quantity_format(lo + g, up, sizeof(up));
	return pv_err_set(err, -ERANGE, PV_E_RANGE,
			  "volume %s: capacity %s is not a multiple of %llu bytes, so driver %s would round it down to %s; "
			  "ask for %s%s%s", pv->name, want, (unsigned long long)g, drv->name, lo ? down : "0",
			  lo ? down : "", lo ? " or " : "", up);
}

/* A filesystem smaller than mkfs makes would fail at the first stage: refused now. */
int ctl_check_fs_minimum(const struct pv *pv, const struct pv_driver *drv, struct pv_err *err)
{
	char source[128], have[32], need[32];
	uint64_t min;

	if (drv->storage != PV_BLOCKDEV || pv->volume_mode != PV_VOLUME_FILESYSTEM || !pv->fs_type[0])
		return 0;
	pv_fs_minimum(pv->fs_type, &min, source, sizeof(source));
	if (!min || pv->capacity >= min)
		return 0;
	pv_quantity_format(pv->capacity, have, sizeof(have));
	pv_quantity_format(min, need, sizeof(need));
	return pv_err_set(err, -ERANGE, PV_E_RANGE,
			  "volume %s: capacity %s is below the smallest %s filesystem, %s (%s); ask for at least %s "
			  "or another fsType", pv->name, have, pv->fs_type, need, source, need);
}

/* The storage keys (driver.h) of every other catalog volume of the driver, each with
 * the volume that holds it: keys[i] is volumes[i]'s. */
struct held_keys {
	char **keys, **volumes;
	size_t n;
};

static void held_keys_free(struct held_keys *h)
{
	for (size_t i = 0; i < h->n; i++) {
		free(h->keys[i]);
		free(h->volumes[i]);
	}
	free(h->keys);
	free(h->volumes);
	memset(h, 0, sizeof(*h));
}

static int held_keys_collect(struct pv_engine *e, const struct pv_driver *drv, const char *self, struct held_keys *h,
			     struct pv_err *err)
{
	char keys[PV_STORAGE_KEYS_MAX][PV_STORAGE_KEY_MAX];
	char **names = NULL;

	memset(h, 0, sizeof(*h));
	int r = pv_catalog_list(e->cfg.state_dir, &names, err);
	/* a record that cannot be read may hold the very storage asked for: refused, never
	 * passed over (two volumes on one LUN overwrite each other) */
	for (char **other = names; r == 0 && *other; other++) {
		struct pv_err why = { 0 };
		struct pv o;
		if (strcmp(*other, self) == 0)
			continue;
		if (pv_catalog_load(e->cfg.state_dir, *other, &o, &why) < 0) {
			r = pv_err_set(err, -EIO, PV_E_INTERNAL,
				       "catalog entry %s cannot be read (%s), so it cannot be told whether it uses the "
				       "storage asked for; fix or remove %s/catalog/%s.json first", *other, why.msg,
				       e->cfg.state_dir, *other);
			break;
		}
		int m = strcmp(o.driver, drv->name) == 0 ? drv->storage_keys(&o, keys, PV_STORAGE_KEYS_MAX) : 0;
		for (int k = 0; k < m && r == 0; k++) {
			char **nk = realloc(h->keys, (h->n + 2) * sizeof(char *));
			char **nv = nk ? realloc(h->volumes, (h->n + 2) * sizeof(char *)) : NULL;
			if (nk)
				h->keys = nk;
			if (nv)
				h->volumes = nv;
			if (!nk || !nv || !(h->keys[h->n] = strdup(keys[k])) || !(h->volumes[h->n] = strdup(o.name))) {
				if (nk && nv && h->keys[h->n])
					free(h->keys[h->n]);
				r = pv_err_set(err, -ENOMEM, PV_E_RESOURCE, "out of memory");
				break;
			}
			h->n++;
			h->keys[h->n] = NULL;   /* NULL-terminated, for the driver */
		}
		pv_free(&o);
	}
	pv_strv_free(names);
	if (r < 0)
		held_keys_free(h);
	return r;
}

/* Does another catalog volume point at the storage `pv` points at (a storage key in
 * common, driver.h)? PV_E_EXISTS naming it: two volumes on one LUN would write over
 * each other's filesystem. */
static int check_storage_unused(struct pv_engine *e, const struct pv_driver *drv, const struct pv *pv,
				struct pv_err *err)
{
	char mine[PV_STORAGE_KEYS_MAX][PV_STORAGE_KEY_MAX];
	struct held_keys h;
	int n = drv->storage_keys ? drv->storage_keys(pv, mine, PV_STORAGE_KEYS_MAX) : 0, r;

	if (n <= 0)
		return 0;
	if ((r = held_keys_collect(e, drv, pv->name, &h, err)) < 0)
		return r;
	for (int i = 0; i < n && r == 0; i++)
		for (size_t k = 0; k < h.n && r == 0; k++)
			if (strcmp(mine[i], h.keys[k]) == 0)
				r = pv_err_set(err, -EEXIST, PV_E_EXISTS,
					       "volume %s: its storage (%s) is already volume %s's; two volumes on "
					       "the same storage would overwrite each other: use %s, or delete it first",
					       pv->name, mine[i], h.volumes[k], h.volumes[k]);
	held_keys_free(&h);
	return r;
}

/* The catalog-wide lock under which new records are checked against the storage of
 * every other (and a pool pick is made). */
static int storage_lock(struct pv_engine *e, const struct pv *pv, struct pv_err *err)
{
	int lock = pv_lock_volume_for(e->cfg.state_dir, STORAGE_LOCK, 10000, err);
	if (lock < 0 && err && err->kind == PV_E_BUSY)
		pv_err_set(err, -EBUSY, PV_E_BUSY, "volume %s: other volumes are being created; try again", pv->name);
	return lock;
}

/* Record a new PV; for a driver with storage keys, only while no other record shares
 * one, checked and saved under the storage lock (taken here unless `locked`) so two
 * creates of one LUN at once cannot both pass the check. */
static int record_new(struct pv_engine *e, const struct pv_driver *drv, const struct pv *pv, bool locked,
		      struct pv_err *err)
{
	_cleanup_(pv_unlockp) int lock = -1;
	int r;

	if (!drv->storage_keys)
		return pv_catalog_save(e->cfg.state_dir, pv, err);
	if (!locked && (lock = storage_lock(e, pv, err)) < 0)
		return lock;
	r = check_storage_unused(e, drv, pv, err);
	return r < 0 ? r : pv_catalog_save(e->cfg.state_dir, pv, err);
}

/* How a create reaches the storage. */
enum ctl_make { CTL_PROVISION, CTL_REGISTER, CTL_REGISTER_UNCHECKED };

/* Provision (or check) through the driver, then record; nothing is left behind when
 * either fails. */
static int make_and_record(struct pv_engine *e, const struct pv_driver *drv, struct pv *pv,
			   const struct pv_secrets *given, enum ctl_make how, struct pv_err *err)
{
	struct ctl_secrets sec = { .use = &sec.loaded };
	_cleanup_(pv_unlockp) int slock = -1;
	struct held_keys held = { 0 };
	struct pv_volctx vc;
	int r = 0;

	pv_secrets_init(&sec.loaded);
	/* A driver with storage keys may pick its storage from a pool at provision: it
	 * picks, and the record is checked and written, under the storage lock, knowing
	 * what the others hold. Such a provision must stay short (no backend round trip):
	 * every other create of the driver waits for it. */
	bool pick = how == CTL_PROVISION && drv->provision && drv->storage_keys;
	if (pick && ((slock = storage_lock(e, pv, err)) < 0 || (r = held_keys_collect(e, drv, pv->name, &held, err)) < 0))
		return slock < 0 ? slock : r;
	/* refused before the storage is touched; checked again when recorded */
	if ((r = check_storage_unused(e, drv, pv, err)) < 0)
		goto out;
	if (how != CTL_REGISTER_UNCHECKED && (r = ctl_secrets(e, pv, given, &sec, err)) < 0)
		pv_err_prefix(err, "volume %s: ", pv->name); /* unchecked: an import whose secrets are to come */
	if (r == 0)
		r = ctl_node(e, pv->name, &vc, err);
	if (r < 0)
		goto out;
	if (!pv->created)
		pv->created = (int64_t)time(NULL);
	if (!pv->reclaim)
		pv->reclaim = how == CTL_PROVISION ? PV_RECLAIM_DELETE : PV_RECLAIM_RETAIN;
	static const char *const none[] = { NULL };
	if (pick)
		vc.n.storage_in_use = held.n ? (const char *const *)held.keys : none;
	if (how == CTL_PROVISION && drv->provision)
		r = drv->provision(pv, sec.use, &vc.n, err);
	else if (how == CTL_REGISTER)
		r = drv->check_existing(pv, sec.use, &vc.n, err);
	if (r < 0) {
		pv_err_prefix(err, "volume %s: ", pv->name);
		rmdir(vc.run_dir); /* made above, empty unless the volume is staged here */
		goto out;
	}
	r = record_new(e, drv, pv, pick, err);
	if (r < 0 && how == CTL_PROVISION && drv->remove)
		drv->remove(pv, sec.use, &vc.n, NULL); /* leave nothing half-done */
out:
	held_keys_free(&held);
	ctl_secrets_free(&sec);
	return r;
}

static int ctl_create(struct pv_engine *e, struct pv *pv, const struct pv_secrets *s, pv_ctl_same_fn same,
		      void *ud, enum ctl_make how, struct pv_err *err)
{
	_cleanup_(pv_unlockp) int lock = -1;
	const struct pv_driver *drv;
	struct pv stored;
	int r;

	_cleanup_(pv_unlockp) int lock2 = -1;
	const char *first = pv->name, *second = NULL;
	bool sized = pv->capacity != 0;

	if ((r = pv_validate(pv, err)) < 0)
		return r;
	if (!(drv = ctl_driver(pv, err)))
		return -EINVAL;
	if (how != CTL_PROVISION && !drv->check_existing)
		return pv_err_set(err, -EOPNOTSUPP, PV_E_UNSUPPORTED,
				  "volume %s: driver %s cannot register existing storage (create it without --existing)",
				  pv->name, drv->name);
	if (how != CTL_PROVISION && pv->source_kind != PV_SOURCE_NONE)
		return pv_err_set(err, -EINVAL, PV_E_INVALID,
				  "volume %s: source: storage that exists already has its data (leave out --existing to "
				  "restore or clone)", pv->name);
	/* from a source: checked once its size is known (ctl_make_from_source) */
	if (pv->source_kind == PV_SOURCE_NONE &&
	    ((r = ctl_check_granularity(pv, drv, pv->capacity, err)) < 0 ||
	     (how == CTL_PROVISION && (r = ctl_check_fs_minimum(pv, drv, err)) < 0)))
		return r;
	/* a clone holds its source's lock too: both taken in name order, so two creates that
	 * name each other cannot wait for each other */
	if (pv->source_kind == PV_SOURCE_VOLUME) {
		bool source_first = strcmp(pv->source, pv->name) < 0;
		first = source_first ? pv->source : pv->name;
		second = source_first ? pv->name : pv->source;
	}
	lock = pv_engine_lock(e, first, err);
	if (lock < 0)
		return lock;
	if (second && (lock2 = pv_engine_lock(e, second, err)) < 0)
		return lock2;
	pv_init(&stored);
	r = pv_catalog_load(e->cfg.state_dir, pv->name, &stored, err);
	if (r == -ENOENT) {
		pv_err_clear(err);
		if (pv->source_kind != PV_SOURCE_NONE)
			return ctl_make_from_source(e, drv, pv, s, second && strcmp(second, pv->source) == 0 ? lock2 : lock,
						    err);
		return make_and_record(e, drv, pv, s, how, err);
	}
	if (r < 0)
		return r;
	if (!sized && pv->source_kind != PV_SOURCE_NONE)
		pv->capacity = stored.capacity; /* left out: the size it took from its source */
	if (!ctl_same_source(&stored, pv)) {
		char had[160] = "no source";
		if (stored.source_kind != PV_SOURCE_NONE)
			snprintf(had, sizeof(had), "%s %s", pv_source_kind_name(stored.source_kind), stored.source);
		pv_free(&stored);
		return pv_err_set(err, -EEXIST, PV_E_EXISTS,
				  "volume %s already exists, made from %s (see: pvctl get %s -o json)", pv->name, had,
				  pv->name);
	}
	if (!(same ? same : same_default)(&stored, pv, ud)) {
		pv_free(&stored);
		return pv_err_set(err, -EEXIST, PV_E_EXISTS,
				  "volume %s already exists with a different definition (see: pvctl get %s -o json)",
				  pv->name, pv->name);
	}
	pv_free(pv);
	*pv = stored; /* a retried create: the volume as it was made */
	return 0;
}

int pv_ctl_create(struct pv_engine *e, struct pv *pv, const struct pv_secrets *s, pv_ctl_same_fn same, void *ud,
		  struct pv_err *err)
{
	return ctl_create(e, pv, s, same, ud, CTL_PROVISION, err);
}

int pv_ctl_register(struct pv_engine *e, struct pv *pv, const struct pv_secrets *s, bool check, struct pv_err *err)
{
	return ctl_create(e, pv, s, NULL, NULL, check ? CTL_REGISTER : CTL_REGISTER_UNCHECKED, err);
}

/* Refuse (or with force, undo) a stage of the volume on this node. */
static int ctl_not_staged(struct pv_engine *e, const char *name, bool force, struct pv_err *err)
{
	struct pv_volume_state st;
	char what[128];
	int r = pv_engine_state(e, name, &st, err);

	if (r == -ENOENT && pv_engine_attached_unrecorded(e, name, what, sizeof(what), NULL) > 0)
		return pv_err_set(err, -EBUSY, PV_E_IN_USE,
				  "volume %s is still attached on this node (%s) although no stage is recorded; "
				  "run pvctl reconcile --repair (it detaches it once nothing has it mounted)", name, what);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	if (st.phase == PV_NODE_DAMAGED)
		r = pv_err_set(err, -EBUSY, PV_E_IN_USE,
			       "volume %s: its node journal is damaged (%s), so it may still be mounted here; "
			       "run pvctl reconcile --repair first", name, st.last_error);
	else if (force)
		r = pv_engine_teardown_locked(e, name, err);
	else
		r = pv_err_set(err, -EBUSY, PV_E_IN_USE, "volume %s is still %s on node %s at %s%s%s; %s first%s", name,
			       pv_node_phase_name(st.phase), st.node_id, st.staging_path,
			       st.n_targets ? " and published at " : "", st.n_targets ? st.targets[0].target : "",
			       st.n_targets ? "unpublish and unstage it" : "unstage it", " (or pvctl delete --force)");
	pv_volume_state_free(&st);
	return r;
}

int pv_ctl_delete(struct pv_engine *e, const char *name, const struct pv_secrets *s, bool force, struct pv_err *err)
{
	_cleanup_(pv_unlockp) int lock = -1;
	const struct pv_driver *drv;
	struct ctl_secrets sec = { 0 };
	struct pv_volctx vc;
	struct pv pv;
	int r;

	if ((r = ctl_lock_load(e, name, &lock, &pv, err)) < 0)
		return r;
	r = ctl_not_staged(e, name, force, err);
	if (r == 0)
		r = ctl_secrets(e, &pv, s, &sec, err);
	if (r == 0)
		r = ctl_node(e, name, &vc, err);
	drv = pv_driver_find(pv.driver);
	if (pv.reclaim == PV_RECLAIM_RETAIN)
		drv = NULL; /* the record goes, the storage stays as it is */
	if (r == 0 && drv && drv->remove && (r = drv->remove(&pv, sec.use, &vc.n, err)) < 0)
		pv_err_prefix(err, "volume %s: ", name);
	if (r == 0)
		r = pv_catalog_remove(e->cfg.state_dir, name, err);
	if (r == 0) { /* forget where it was published */
		struct pv_attachments none = { 0 };
		pv_attachments_save(e->cfg.state_dir, name, &none, NULL, NULL, NULL, NULL);
	}
	ctl_secrets_free(&sec);
	pv_free(&pv);
	return r;
}

static int ctl_grow(struct pv_engine *e, struct pv *pv, uint64_t bytes, const struct pv_secrets *s,
		    struct pv_err *err)
{
	const struct pv_driver *drv = ctl_driver(pv, err);
	struct ctl_secrets sec;
	struct pv_volctx vc;
	int r;

	if (!drv)
		return -EINVAL;
	if (!drv->expand)
		return pv_err_set(err, -EOPNOTSUPP, PV_E_UNSUPPORTED, "volume %s: driver %s cannot grow volumes",
				  pv->name, drv->name);
	if ((r = ctl_check_granularity(pv, drv, bytes, err)) < 0)
		return r;
	r = ctl_secrets(e, pv, s, &sec, err);
	if (r == 0)
		r = ctl_node(e, pv->name, &vc, err);
	if (r == 0 && (r = drv->expand(pv, bytes, sec.use, &vc.n, err)) < 0)
		pv_err_prefix(err, "volume %s: ", pv->name);
	ctl_secrets_free(&sec);
	if (r < 0)
		return r;
	if (pv->capacity < bytes)
		pv->capacity = bytes;
	return pv_catalog_save(e->cfg.state_dir, pv, err);
}

static bool staged_here(struct pv_engine *e, const char *name)
{
	struct pv_volume_state st;
	if (pv_engine_state(e, name, &st, NULL) < 0)
		return false;
	pv_volume_state_free(&st);
	return true;
}

int pv_ctl_expand(struct pv_engine *e, const char *name, uint64_t bytes, uint64_t limit, const struct pv_secrets *s,
		  bool on_node, struct pv_expand_result *res, struct pv_err *err)
{
	_cleanup_(pv_unlockp) int lock = -1;
	char have[32];
	struct pv pv;
	int r;

	memset(res, 0, sizeof(*res));
	if ((r = ctl_lock_load(e, name, &lock, &pv, err)) < 0)
		return r;
	pv_quantity_format(pv.capacity, have, sizeof(have));
	if (limit && pv.capacity > limit)
		r = pv_err_set(err, -ERANGE, PV_E_RANGE, "volume %s is already %s, above the limit of %llu bytes "
			       "(volumes only grow)", name, have, (unsigned long long)limit);
	else if (bytes < pv.capacity && on_node)
		r = pv_err_set(err, -ERANGE, PV_E_RANGE, "volume %s is %s: volumes only grow", name, have);
	else if (bytes > pv.capacity)
		r = ctl_grow(e, &pv, bytes, s, err);
	res->capacity = pv.capacity;
	res->node_expansion_required = pv.volume_mode == PV_VOLUME_FILESYSTEM;
	if (r == 0 && on_node && staged_here(e, name)) {
		uint64_t now = pv.capacity;
		r = pv_engine_expand_locked(e, name, NULL, &now, err);
		res->node_expansion_required = false;
	}
	pv_free(&pv);
	return r;
}

/* The PV a publish is about: the catalog's or this node's, else the caller's own
 * description (a static PV the CO describes in volume_context). */
static int publish_find(struct pv_engine *e, const char *name, const struct pv_ctl_publish_req *r, struct pv *pv,
			bool *given, struct pv_err *err)
{
	int rc = pv_ctl_find(e, name, pv, NULL, NULL, err);

	*given = false;
	if (rc == -ENOENT && r->pv && strcmp(r->pv->name, name) == 0) {
		pv_err_clear(err);
		*given = true;
		rc = pv_copy(pv, r->pv, err);
	}
	return rc;
}

static const char *cap_text(enum pv_access a, bool block, bool ro, char *buf, size_t len)
{
	snprintf(buf, len, "%s %s %s", pv_access_name(a), block ? "block" : "mount", ro ? "read-only" : "read-write");
	return buf;
}

/* A repeat for a node the volume is published to: the same capability, or PV_E_EXISTS. */
static int publish_repeat(const char *name, const struct pv_ctl_publish_req *r, const struct pv_attach_cap *had,
			  struct pv_err *err)
{
	char a[96], b[96];

	if (!had->known || (had->access == r->access && had->block == r->block && had->readonly == r->readonly))
		return 0;
	return pv_err_set(err, -EEXIST, PV_E_EXISTS,
			  "volume %s is already published to node %s as %s, not %s: unpublish it from that node first",
			  name, r->node, cap_text(had->access, had->block, had->readonly, a, sizeof(a)),
			  cap_text(r->access, r->block, r->readonly, b, sizeof(b)));
}

/* A node new to the volume: may it have it? */
static int publish_check_new(struct pv_engine *e, const struct pv *pv, const struct pv_ctl_publish_req *r,
			     const struct pv_attachments *att, struct pv_err *err)
{
	const char *name = pv->name;

	if (att->n && (r->access == PV_RWO || r->access == PV_RWOP)) {
		pv_engine_count(e, fence_refusals_publish);
		return pv_err_set(err, -EBUSY, PV_E_POLICY, "volume %s is already published to node %s and %s allows one node",
				  name, att->nodes[0], pv_access_name(r->access));
	}
	if (!e->cfg.any_node && strcmp(r->node, e->cfg.node_id) != 0)
		return pv_err_set(err, -ENOENT, PV_E_NOT_FOUND, "node %s is not known to this plugin (it serves node %s)",
				  r->node, e->cfg.node_id);
	if (pv_driver_node_local(pv->driver) && strcmp(r->node, e->cfg.node_id) != 0)
		return pv_err_set(err, -EPERM, PV_E_POLICY,
				  "volume %s lives on node %s (driver %s keeps it on that node's disk): it cannot be "
				  "published to node %s", name, e->cfg.node_id, pv->driver, r->node);
	if (!(pv->access_modes & PV_ACCESS_BIT(r->access)))
		return pv_err_set(err, -EPERM, PV_E_POLICY, "volume %s does not allow access mode %s", name,
				  pv_access_name(r->access));
	return 0;
}

/* Record the node, within its limit (the count and the save under the node lock), and
 * the description of a volume the caller described (so a release can break its fence). */
static int publish_record(struct pv_engine *e, const struct pv *pv, bool given, const struct pv_ctl_publish_req *r,
			  const struct pv_attachments *att, struct pv_err *err)
{
	const char *name = pv->name;
	_cleanup_(pv_unlockp) int nodes = -1;
	struct pv_attach_cap cap = { .known = true, .access = r->access, .block = r->block, .readonly = r->readonly };
	size_t count = 0;
	int rc;

	if (r->max_per_node) {
		if ((nodes = pv_attachments_lock_nodes(e->cfg.state_dir, err)) < 0)
			return nodes;
		if ((rc = pv_attachments_count_node(e->cfg.state_dir, r->node, &count, err)) < 0)
			return rc;
		if (count >= r->max_per_node)
			return pv_err_set(err, -ENOSPC, PV_E_RESOURCE,
					  "volume %s: node %s already has %zu volumes published, its limit "
					  "(max_volumes_per_node); unpublish one first", name, r->node, count);
	}
	if (given && (rc = pv_attachments_save_pv(e->cfg.state_dir, pv, err)) < 0)
		return rc;
	return pv_attachments_save(e->cfg.state_dir, name, att, r->node, &cap, NULL, err);
}

int pv_ctl_publish(struct pv_engine *e, const char *name, const struct pv_ctl_publish_req *r, struct pv_err *err)
{
	_cleanup_(pv_unlockp) int lock = -1;
	struct pv_attachments att = { 0 };
	const struct pv_attach_cap *had;
	struct pv pv;
	bool given;
	int rc;

	if (!pv_name_valid(r->node))
		return pv_err_set(err, -EINVAL, PV_E_INVALID, "volume %s: node id '%s' is not valid", name, r->node);
	lock = pv_engine_lock(e, name, err);
	if (lock < 0)
		return lock;
	pv_init(&pv);
	rc = publish_find(e, name, r, &pv, &given, err);
	if (rc == 0)
		rc = pv_attachments_load(e->cfg.state_dir, name, &att, err);
	if (rc == 0 && (had = pv_attachments_cap(&att, r->node)))
		rc = publish_repeat(name, r, had, err);
	else if (rc == 0 && (rc = publish_check_new(e, &pv, r, &att, err)) == 0)
		rc = publish_record(e, &pv, given, r, &att, err);
	pv_attachments_free(&att);
	pv_free(&pv);
	return rc;
}

/* One node: its backend fence (driver fence_release), then its record. */
static int release_one(struct pv_engine *e, const struct pv *pv, const struct pv_secrets *s,
		       const struct pv_attachments *att, const char *node, struct pv_err *err)
{
	const struct pv_driver *drv = pv_driver_find(pv->driver);
	struct pv_volctx vc;
	int r = 0;

	if (drv && drv->fence_release) {
		r = ctl_node(e, pv->name, &vc, err);
		if (r == 0 && (r = drv->fence_release(pv, s, node, &vc.n, err)) < 0)
			pv_err_prefix(err, "volume %s: ", pv->name);
	}
	if (r == 0 && pv_attachments_has(att, node))
		r = pv_attachments_save(e->cfg.state_dir, pv->name, att, NULL, NULL, node, err);
	return r;
}

int pv_ctl_release(struct pv_engine *e, const char *name, const char *node, const struct pv_secrets *s,
		   struct pv_err *err)
{
	_cleanup_(pv_unlockp) int lock = -1;
	struct pv_attachments att = { 0 };
	struct ctl_secrets sec = { 0 };
	struct pv pv;
	int r;

	if (node && !pv_name_valid(node))
		return pv_err_set(err, -EINVAL, PV_E_INVALID, "volume %s: node id '%s' is not valid", name, node);
	lock = pv_engine_lock(e, name, err);
	if (lock < 0)
		return lock;
	pv_init(&pv);
	r = pv_catalog_load(e->cfg.state_dir, name, &pv, err);
	if (r == -ENOENT) {   /* a volume the CO described at publish (static PV)? */
		pv_err_clear(err);
		r = pv_attachments_load_pv(e->cfg.state_dir, name, &pv, err);
	}
	if (r == -ENOENT)
		return 0; /* gone: nothing can be held for it */
	if (r < 0)
		return r;
	r = ctl_secrets(e, &pv, s, &sec, err);
	if (r == 0)
		r = pv_attachments_load(e->cfg.state_dir, name, &att, err);
	if (r == 0 && node)
		r = release_one(e, &pv, sec.use, &att, node, err);
	while (r == 0 && !node && att.n) {
		char *first = strdup(att.nodes[0]);
		r = first ? release_one(e, &pv, sec.use, &att, first, err) : -ENOMEM;
		free(first);
		pv_attachments_free(&att);
		if (r == 0)
			r = pv_attachments_load(e->cfg.state_dir, name, &att, err);
	}
	pv_attachments_free(&att);
	if (r == 0 && pv_attachments_load(e->cfg.state_dir, name, &att, NULL) == 0 && !att.n)
		pv_attachments_forget_pv(e->cfg.state_dir, name);
	pv_attachments_free(&att);
	ctl_secrets_free(&sec);
	pv_free(&pv);
	return r;
}

int pv_ctl_find(struct pv_engine *e, const char *name, struct pv *pv, struct pv_secrets *s, bool *in_catalog,
		struct pv_err *err)
{
	struct pv_volume_state st;
	int r;

	if (s)
		pv_secrets_init(s);
	if (in_catalog)
		*in_catalog = true;
	pv_init(pv);
	r = pv_catalog_load(e->cfg.state_dir, name, pv, err);
	if (r == -ENOENT && pv_engine_state(e, name, &st, NULL) == 0 && st.phase != PV_NODE_DAMAGED) {
		pv_err_clear(err);
		if (in_catalog)
			*in_catalog = false;
		r = pv_copy(pv, &st.pv, err);
		pv_volume_state_free(&st);
	}
	if (r == 0 && s && pv->secret_ref && (r = pv_secrets_store_load(e->cfg.state_dir, pv->secret_ref, s, err)) < 0) {
		pv_err_prefix(err, "volume %s: ", name); /* e.g. an imported PV whose secret set is still to be made */
		pv_free(pv);
	}
	return r;
}
