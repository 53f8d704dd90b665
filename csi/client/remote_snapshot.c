/*
 * remote_snapshot.c — pvctl's snapshot commands over CSI (pvctl --endpoint ... snapshot):
 *
 *   snapshot create VOLUME NAME [-o json]   CreateSnapshot
 *   snapshot list [VOLUME] [-o table|json]  ListSnapshots (every page; by source volume)
 *   snapshot delete NAME                    DeleteSnapshot
 *
 * Same output and exit statuses as in-process: the table is cli/output.c's; a volume
 * that is not there is NOT_FOUND for list (ListVolumes says), and so is a snapshot that
 * is not there for delete (CSI DeleteSnapshot answers OK for one, so ListSnapshots asks
 * first). NAME goes to pvnode as the CSI name: a valid id is kept as it is. No secrets
 * travel: pvnode uses the volume's secretRef from its own store, as it does for a CO's
 * call without secrets. CSI carries no origin PV and no driver attributes of a snapshot,
 * so -o json over CSI holds the fields it does carry.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "remote.h"

/* A CSI Snapshot as a record (no origin, no attributes: CSI carries neither). */
static void snapshot_in(const Csi__V1__Snapshot *c, struct pv_snapshot *s)
{
	pv_snapshot_init(s);
	if (!c)
		return;
	snprintf(s->name, sizeof(s->name), "%s", c->snapshot_id);
	snprintf(s->source, sizeof(s->source), "%s", c->source_volume_id);
	s->size = c->size_bytes > 0 ? (uint64_t)c->size_bytes : 0;
	s->created = c->creation_time ? c->creation_time->seconds : 0;
	s->ready = c->ready_to_use;
}

/* The keys of pv_snapshot_to_json that CSI carries. */
static json_t *snapshot_json(const struct pv_snapshot *s)
{
	char size[32];
	pv_quantity_format(s->size, size, sizeof(size));
	return json_pack("{s:s, s:s, s:s, s:I, s:b}", "name", s->name, "source", s->source, "size", size,
			 "createdAt", (json_int_t)s->created, "readyToUse", s->ready);
}

static void print_json(const struct pv_snapshot *s, size_t n, bool single)
{
	json_t *items = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(items, snapshot_json(&s[i]));
	json_t *out = single && n == 1 ? json_incref(json_array_get(items, 0)) : json_pack("{s:O}", "items", items);
	json_dumpf(out, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	printf("\n");
	json_decref(out);
	json_decref(items);
}

int pcsi_snapshot_create(struct pvctl *p, const struct pvctl_req *r)
{
	struct cli cl0, *cl = &cl0;
	int rc = pcsi_open(cl, p);
	if (rc)
		return rc;
	Csi__V1__CreateSnapshotRequest q = CSI__V1__CREATE_SNAPSHOT_REQUEST__INIT;
	_msg_ Csi__V1__CreateSnapshotResponse *resp = NULL;
	q.source_volume_id = (char *)r->name;
	q.name = r->args[0];
	rc = pcsi_call(cl, "/csi.v1.Controller/CreateSnapshot", &q, &csi__v1__create_snapshot_response__descriptor,
		       &resp);
	if (rc == 0 && !resp->snapshot)
		rc = pv_err_set(&cl->err, -EIO, PV_E_INTERNAL, "CreateSnapshot answered without a snapshot");
	if (rc == 0) {
		struct pv_snapshot s;
		char q2[32];
		snapshot_in(resp->snapshot, &s);
		pv_quantity_format(s.size, q2, sizeof(q2));
		if (pvctl_json(r))
			print_json(&s, 1, true);
		else
			printf("snapshot %s of volume %s created (%s)\n", s.name, s.source, q2);
		pv_snapshot_free(&s);
	}
	return pcsi_finish(cl, rc);
}

struct snaps {
	struct pv_snapshot *items;
	size_t n;
};

static int snaps_add(struct snaps *l, const Csi__V1__Snapshot *c, struct pv_err *err)
{
	struct pv_snapshot *items = realloc(l->items, (l->n + 1) * sizeof(*items));
	if (!items)
		return pv_err_set(err, -ENOMEM, PV_E_INTERNAL, "out of memory");
	l->items = items;
	snapshot_in(c, &l->items[l->n++]);
	return 0;
}

static void snaps_free(struct snaps *l)
{
	for (size_t i = 0; i < l->n; i++)
		pv_snapshot_free(&l->items[i]);
	free(l->items);
}

/* Every page of ListSnapshots (of `volume`, of one `id`; NULL: any). */
static int list_all(struct cli *cl, const char *volume, const char *id, struct snaps *l)
{
	char token[CSI_PAGE_TOKEN_MAX] = "";
	for (;;) {
		Csi__V1__ListSnapshotsRequest q = CSI__V1__LIST_SNAPSHOTS_REQUEST__INIT;
		_msg_ Csi__V1__ListSnapshotsResponse *resp = NULL;
		q.starting_token = token;
		q.source_volume_id = (char *)(volume ? volume : "");
		q.snapshot_id = (char *)(id ? id : "");
		int r = pcsi_call(cl, "/csi.v1.Controller/ListSnapshots", &q,
				  &csi__v1__list_snapshots_response__descriptor, &resp);
		for (size_t i = 0; r == 0 && i < resp->n_entries; i++)
			if (resp->entries[i]->snapshot)
				r = snaps_add(l, resp->entries[i]->snapshot, &cl->err);
		if (r < 0)
			return r;
		if (!*resp->next_token)
			return 0;
		if (strlen(resp->next_token) >= sizeof(token))
			return pv_err_set(&cl->err, -EIO, PV_E_INTERNAL, "ListSnapshots returned an oversize next_token");
		snprintf(token, sizeof(token), "%s", resp->next_token);
	}
}

int pcsi_snapshot_list(struct pvctl *p, const struct pvctl_req *r)
{
	struct cli cl0, *cl = &cl0;
	struct snaps l = {0};
	int rc = pcsi_open(cl, p);
	if (rc)
		return rc;
	rc = list_all(cl, r->name, NULL, &l);
	if (rc == 0 && r->name && !l.n) {   /* no snapshots, no volume: an error, not an empty list */
		struct found f;
		rc = pcsi_find_volume(cl, r->name, &f);
		pcsi_found_free(&f);
	}
	if (rc == 0 && pvctl_json(r))
		print_json(l.items, l.n, false);
	else if (rc == 0)
		pvctl_print_snapshots(l.items, l.n, false, false);
	snaps_free(&l);
	return pcsi_finish(cl, rc);
}

int pcsi_snapshot_delete(struct pvctl *p, const struct pvctl_req *r)
{
	struct cli cl0, *cl = &cl0;
	struct snaps l = {0};
	int rc = pcsi_open(cl, p);
	if (rc)
		return rc;
	rc = list_all(cl, NULL, r->name, &l);
	if (rc == 0 && !l.n)
		rc = pv_err_set(&cl->err, -ENOENT, PV_E_NOT_FOUND, "snapshot %s: no such snapshot on %s", r->name,
				p->endpoint);
	snaps_free(&l);
	if (rc == 0) {
		Csi__V1__DeleteSnapshotRequest q = CSI__V1__DELETE_SNAPSHOT_REQUEST__INIT;
		_msg_ Csi__V1__DeleteSnapshotResponse *resp = NULL;
		q.snapshot_id = (char *)r->name;
		rc = pcsi_call(cl, "/csi.v1.Controller/DeleteSnapshot", &q,
			       &csi__v1__delete_snapshot_response__descriptor, &resp);
	}
	if (rc == 0)
		printf("snapshot %s deleted\n", r->name);
	return pcsi_finish(cl, rc);
}
