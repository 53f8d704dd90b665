/*
 * snapshot.c — the CSI Controller service's snapshots over the controller layer:
 * CreateSnapshot, DeleteSnapshot, ListSnapshots, and what CreateVolume needs of a
 * volume_content_source (the snapshot or volume it names, checked and loaded).
 *
 * A snapshot id is the snapshot's record name (pvnode/snapshot.h): the CreateSnapshot
 * name itself when it is a valid id, else the id CreateVolume would derive from that
 * name (csi_volume_id_for_name), so both kinds of object follow one rule. The drivers
 * do the work (pv_ctl_snapshot_*); a driver that cannot snapshot (iscsi) is refused
 * with INVALID_ARGUMENT naming it, as the spec's "not supported" source is. A pvnode
 * serving one CSI driver name (or a --drivers list) sees only the snapshots of the
 * drivers it serves, as it sees only their volumes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "csi.h"
#include "pvnode/catalog.h"
#include "pvnode/controller.h"
#include "pvnode/snapshot.h"
#include "pvnode/util.h"

/* Parameters CSI sidecars add (external-snapshotter --extra-create-metadata). */
#define K8S_PARAM_PREFIX "csi.storage.k8s.io/"

static Csi__V1__Snapshot *snapshot_out(struct csi_ctx *ctx, const struct pv_snapshot *s)
{
	Csi__V1__Snapshot *o = CSI_NEW(ctx, snapshot);
	o->snapshot_id = csi_strdup(&ctx->arena, s->name);
	o->source_volume_id = csi_strdup(&ctx->arena, s->source);
	o->size_bytes = (int64_t)s->size;
	o->ready_to_use = s->ready;
	Google__Protobuf__Timestamp *t = csi_new(ctx, &google__protobuf__timestamp__descriptor);
	t->seconds = s->created;
	o->creation_time = t;
	return o;
}

/* The snapshot record's driver must be one this pvnode serves. */
static int check_served_snapshot(const struct csi_service *svc, const struct pv_snapshot *s, struct pv_err *err)
{
	int r = csi_check_served(svc, &s->origin, err);
	if (r < 0)
		pv_err_prefix(err, "snapshot %s: ", s->name);
	return r;
}

/* CreateSnapshot takes no parameters of its own; the sidecars' metadata is ignored. */
static int check_parameters(const Csi__V1__CreateSnapshotRequest *q, struct pv_err *err)
{
	for (size_t i = 0; i < q->n_parameters; i++) {
		const char *k = q->parameters[i]->key;
		if (strncmp(k, K8S_PARAM_PREFIX, strlen(K8S_PARAM_PREFIX)) != 0)
			return pv_err_set(err, -EINVAL, PV_E_INVALID,
					  "snapshot %.128s: parameter '%.64s' is not known (CreateSnapshot takes "
					  "none; a snapshot is made by the driver of its volume)", q->name, k);
	}
	return 0;
}

/* The volume to snapshot: from the catalog (a controller call), of a served driver. */
static int load_source(const struct csi_service *svc, const char *id, struct pv *pv, struct pv_err *err)
{
	int r = pv_catalog_load(svc->cfg->state_dir, id, pv, err);
	if (r == -ENOENT) {
		pv_err_clear(err);
		return pv_err_set(err, -ENOENT, PV_E_NOT_FOUND, "source_volume_id %s: no such volume", id);
	}
	return r < 0 ? r : csi_check_served(svc, pv, err);
}

/* What a dry run (the fuzzer) answers: the snapshot as it would be made. */
static void dry_snapshot(const struct pv *pv, const char *id, struct pv_snapshot *s)
{
	snprintf(s->name, sizeof(s->name), "%s", id);
	snprintf(s->source, sizeof(s->source), "%s", pv->name);
	s->size = pv->capacity;
	s->created = (int64_t)time(NULL);
	s->ready = true;
}

int csi_controller_create_snapshot(struct csi_ctx *ctx, const ProtobufCMessage *req,
				   ProtobufCMessage **resp, struct pv_err *err)
{
	const Csi__V1__CreateSnapshotRequest *q = (const void *)req;
	char id[PV_NAME_MAX + 1];
	struct pv_secrets sec;
	struct pv_snapshot snap;
	struct pv pv;
	int r;

	if ((r = csi_check_name(q->name, err)) < 0 ||
	    (r = csi_check_id("source_volume_id", q->source_volume_id, err)) < 0 ||
	    (r = check_parameters(q, err)) < 0)
		return r;
	csi_volume_id_for_name(q->name, id);
	if ((r = csi_secrets_in((void *const *)q->secrets, q->n_secrets, &sec, err)) < 0)
		return r;
	pv_init(&pv);
	pv_snapshot_init(&snap);
	/* a volume gone since is no refusal yet: a repeat is answered by the record (the
	 * spec's idempotence), which pv_ctl_snapshot_create looks at first */
	r = load_source(ctx->svc, q->source_volume_id, &pv, err);
	if (r == -ENOENT && !ctx->svc->dry_run) {
		pv_err_clear(err);
		r = 0;
	}
	if (r == 0 && ctx->svc->dry_run)
		dry_snapshot(&pv, id, &snap);
	else if (r == 0)
		r = pv_ctl_snapshot_create(ctx->svc->engine, q->source_volume_id, id, q->n_secrets ? &sec : NULL,
					   &snap, err);
	if (r == 0 && !pv.name[0])   /* answered from the record alone: of a driver we serve? */
		r = check_served_snapshot(ctx->svc, &snap, err);
	csi_unsupported_is_invalid(err);
	if (r == 0) {
		Csi__V1__CreateSnapshotResponse *o = CSI_NEW(ctx, create_snapshot_response);
		o->snapshot = snapshot_out(ctx, &snap);
		*resp = &o->base;
	}
	pv_snapshot_free(&snap);
	pv_free(&pv);
	pv_secrets_free(&sec);
	return r;
}

int csi_controller_delete_snapshot(struct csi_ctx *ctx, const ProtobufCMessage *req,
				   ProtobufCMessage **resp, struct pv_err *err)
{
	const Csi__V1__DeleteSnapshotRequest *q = (const void *)req;
	struct pv_secrets sec;
	struct pv_snapshot s;
	int r;

	if ((r = csi_check_id("snapshot_id", q->snapshot_id, err)) < 0)
		return r;
	if ((r = csi_secrets_in((void *const *)q->secrets, q->n_secrets, &sec, err)) < 0)
		return r;
	pv_snapshot_init(&s);
	if (pv_snapshot_load(ctx->svc->cfg->state_dir, q->snapshot_id, &s, NULL) == 0)
		r = check_served_snapshot(ctx->svc, &s, err);
	pv_snapshot_free(&s);
	if (r == 0 && !ctx->svc->dry_run)
		r = pv_ctl_snapshot_delete(ctx->svc->engine, q->snapshot_id, q->n_secrets ? &sec : NULL, err);
	if (r == -ENOENT && err->kind == PV_E_NOT_FOUND) {   /* gone already: the spec's OK */
		pv_err_clear(err);
		r = 0;
	}
	pv_secrets_free(&sec);
	if (r < 0)
		return r;
	*resp = CSI_NEW(ctx, delete_snapshot_response);
	return 0;
}

/* The snapshots a ListSnapshots asks for, in name order: one id, one volume's, or all,
 * of the drivers this pvnode serves. A record that does not load is left out (and
 * logged): an entry without its source or creation time would break the caller. */
struct snap_list {
	struct pv_snapshot *items;
	size_t n;
};

static void snap_list_free(struct snap_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		pv_snapshot_free(&l->items[i]);
	free(l->items);
}

static int snap_list_load(const struct csi_service *svc, const Csi__V1__ListSnapshotsRequest *q,
			  struct snap_list *l, struct pv_err *err)
{
	_cleanup_(pv_strv_freep) char **listed = NULL;
	char *one[2] = { (char *)q->snapshot_id, NULL }, **names = one;
	const char *source = *q->source_volume_id ? q->source_volume_id : NULL;
	size_t n = 0;

	if (!*q->snapshot_id) {
		int r = pv_snapshot_list(svc->cfg->state_dir, source, &listed, err);
		if (r < 0)
			return r;
		names = listed;
	}
	while (names && names[n])
		n++;
	l->items = calloc(n ? n : 1, sizeof(*l->items));
	if (!l->items)
		return pv_err_set(err, -ENOMEM, PV_E_INTERNAL, "out of memory listing snapshots");
	for (size_t i = 0; i < n; i++) {
		struct pv_snapshot *s = &l->items[l->n];
		struct pv_err e = {0};
		pv_snapshot_init(s);
		int r = pv_snapshot_load(svc->cfg->state_dir, names[i], s, &e);
		if (r < 0 && !(*q->snapshot_id && r == -ENOENT))
			pv_warn("ListSnapshots: snapshot %s left out: %s", names[i], e.msg);
		if (r == 0 && (!source || strcmp(s->source, source) == 0) &&
		    csi_serves_driver(svc, s->origin.driver)) {
			l->n++;
			continue;
		}
		pv_snapshot_free(s);
	}
	return 0;
}

int csi_controller_list_snapshots(struct csi_ctx *ctx, const ProtobufCMessage *req,
				  ProtobufCMessage **resp, struct pv_err *err)
{
	const Csi__V1__ListSnapshotsRequest *q = (const void *)req;
	struct snap_list l = {0};
	struct pv_secrets sec;
	size_t start = 0;
	int r;

	if (q->max_entries < 0)
		return pv_err_set(err, -EINVAL, PV_E_INVALID, "max_entries is negative");
	if ((*q->snapshot_id && (r = csi_check_id("snapshot_id", q->snapshot_id, err)) < 0) ||
	    (*q->source_volume_id && (r = csi_check_id("source_volume_id", q->source_volume_id, err)) < 0))
		return r;
	if ((r = csi_secrets_in((void *const *)q->secrets, q->n_secrets, &sec, err)) < 0)
		return r;
	pv_secrets_free(&sec);   /* records are local: listing needs no backend */
	r = snap_list_load(ctx->svc, q, &l, err);
	if (r == 0)
		r = csi_page_start("ListSnapshots", q->starting_token, l.n, &start, err);
	if (r < 0) {
		snap_list_free(&l);
		return r;
	}
	size_t count = csi_page_count(q->max_entries, l.n, start);
	Csi__V1__ListSnapshotsResponse *o = CSI_NEW(ctx, list_snapshots_response);
	o->entries = csi_alloc(&ctx->arena, (count ? count : 1) * sizeof(*o->entries));
	for (size_t i = 0; l.items && i < count; i++) {
		Csi__V1__ListSnapshotsResponse__Entry *e = CSI_NEW(ctx, list_snapshots_response__entry);
		e->snapshot = snapshot_out(ctx, &l.items[start + i]);
		o->entries[o->n_entries++] = e;
	}
	char tok[CSI_PAGE_TOKEN_MAX];
	csi_page_next(start + count, l.n, tok);
	if (*tok)
		o->next_token = csi_strdup(&ctx->arena, tok);
	snap_list_free(&l);
	*resp = &o->base;
	return 0;
}

/* ---- CreateVolume's volume_content_source ---- */

static int source_snapshot(const struct csi_service *svc, const char *id, const char *volume,
			   struct csi_source *out, struct pv_err *err)
{
	struct pv_snapshot s;
	int r;

	pv_snapshot_init(&s);
	r = pv_snapshot_load(svc->cfg->state_dir, id, &s, err);
	if (r == -ENOENT) {
		pv_err_clear(err);
		r = pv_err_set(err, -ENOENT, PV_E_NOT_FOUND,
			       "volume %s: volume_content_source snapshot %s does not exist", volume, id);
	}
	if (r == 0)
		r = check_served_snapshot(svc, &s, err);
	/* not ready yet: pv_ctl_create says so, under the snapshot's lock */
	if (r == 0) {
		out->size = s.size;
		r = pv_copy(&out->pv, &s.origin, err);
	}
	pv_snapshot_free(&s);
	return r;
}

static int source_volume(const struct csi_service *svc, const char *id, const char *volume,
			 struct csi_source *out, struct pv_err *err)
{
	int r = pv_catalog_load(svc->cfg->state_dir, id, &out->pv, err);
	if (r == -ENOENT) {
		pv_err_clear(err);
		return pv_err_set(err, -ENOENT, PV_E_NOT_FOUND,
				  "volume %s: volume_content_source volume %s does not exist", volume, id);
	}
	if (r == 0)
		r = csi_check_served(svc, &out->pv, err);
	out->size = out->pv.capacity;
	return r;
}

int csi_source_in(struct csi_ctx *ctx, const Csi__V1__VolumeContentSource *src, const char *volume,
		  struct csi_source *out, struct pv_err *err)
{
	int r;

	memset(out, 0, sizeof(*out));
	pv_init(&out->pv);
	switch (src->type_case) {
	case CSI__V1__VOLUME_CONTENT_SOURCE__TYPE_SNAPSHOT:
		if ((r = csi_check_id("volume_content_source.snapshot.snapshot_id", src->snapshot->snapshot_id,
				      err)) < 0)
			return r;
		out->kind = PV_SOURCE_SNAPSHOT;
		snprintf(out->id, sizeof(out->id), "%s", src->snapshot->snapshot_id);
		return source_snapshot(ctx->svc, out->id, volume, out, err);
	case CSI__V1__VOLUME_CONTENT_SOURCE__TYPE_VOLUME:
		if ((r = csi_check_id("volume_content_source.volume.volume_id", src->volume->volume_id, err)) < 0)
			return r;
		if (strcmp(src->volume->volume_id, volume) == 0)
			return pv_err_set(err, -EINVAL, PV_E_INVALID,
					  "volume %s: volume_content_source names the volume itself", volume);
		out->kind = PV_SOURCE_VOLUME;
		snprintf(out->id, sizeof(out->id), "%s", src->volume->volume_id);
		return source_volume(ctx->svc, out->id, volume, out, err);
	default:
		return pv_err_set(err, -EINVAL, PV_E_INVALID,
				  "volume %s: volume_content_source names neither a snapshot nor a volume", volume);
	}
}

void csi_source_free(struct csi_source *s)
{
	pv_free(&s->pv);
}

Csi__V1__VolumeContentSource *csi_source_out(struct csi_ctx *ctx, const struct pv *pv)
{
	Csi__V1__VolumeContentSource *o;

	switch (pv->source_kind) {
	case PV_SOURCE_SNAPSHOT:
		o = CSI_NEW(ctx, volume_content_source);
		o->type_case = CSI__V1__VOLUME_CONTENT_SOURCE__TYPE_SNAPSHOT;
		o->snapshot = CSI_NEW(ctx, volume_content_source__snapshot_source);
		o->snapshot->snapshot_id = csi_strdup(&ctx->arena, pv->source);
		return o;
	case PV_SOURCE_VOLUME:
		o = CSI_NEW(ctx, volume_content_source);
		o->type_case = CSI__V1__VOLUME_CONTENT_SOURCE__TYPE_VOLUME;
		o->volume = CSI_NEW(ctx, volume_content_source__volume_source);
		o->volume->volume_id = csi_strdup(&ctx->arena, pv->source);
		return o;
	case PV_SOURCE_NONE:
	default:
		return NULL;
	}
}
