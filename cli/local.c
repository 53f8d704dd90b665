/*
 * local.c — pvctl's in-process backend: each command through the controller layer
 * (create, delete, expand, fence-release, snapshots) or the node engine (stage, publish, unpublish,
 * unstage, stats, reconcile), on this node's state directory. pvctl.c opens the engine
 * (p->engine) before any of these runs.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pvctl.h"
#include "pvnode/catalog.h"
#include "pvnode/controller.h"
#include "pvnode/util.h"

/* The PV a command names and its secrets: the catalog's, else the one staged here. */
struct found {
	struct pv pv;
	struct pv_secrets s;
	bool in_catalog;
};

static void found_free(struct found *f)
{
	pv_secrets_free(&f->s);
	pv_free(&f->pv);
}

static int find(struct pvctl *p, const char *name, struct found *f)
{
	struct pv_err err = { 0 };

	if (pv_ctl_find(p->engine, name, &f->pv, &f->s, &f->in_catalog, &err) < 0)
		return pvctl_fail(&err);
	return 0;
}

static int l_create(struct pvctl *p, const struct pvctl_req *r)
{
	struct pv_err err = { 0 };
	struct pv pv;
	char q[32];
	int rc = 0;

	if (pvctl_read_pv(r->file, &pv, &err) < 0) {
		fprintf(stderr, "pvctl: %s: %s\n", r->file, err.msg);
		return PVCTL_USAGE;
	}
	if ((r->existing ? pv_ctl_register(p->engine, &pv, NULL, true, &err) :
			   pv_ctl_create(p->engine, &pv, NULL, NULL, NULL, &err)) < 0)
		rc = pvctl_fail(&err);
	if (rc == 0 && pvctl_json(r)) {
		_cleanup_(pv_freep) char *text = pv_to_json_text(&pv);
		fputs(text ? text : "{}\n", stdout);
	} else if (rc == 0) {
		char from[PV_NAME_MAX + 32] = "";
		if (pv.source_kind != PV_SOURCE_NONE)
			snprintf(from, sizeof(from), " from %s %s", pv_source_kind_name(pv.source_kind), pv.source);
		pv_quantity_format(pv.capacity, q, sizeof(q));
		printf("volume %s %s%s (%s%s%s, reclaimPolicy %s)\n", pv.name,
		       r->existing ? "registered" : pv.source_kind == PV_SOURCE_SNAPSHOT ? "restored"
						   : pv.source_kind == PV_SOURCE_VOLUME ? "cloned" : "created",
		       from, pv.driver, pv.capacity ? ", " : "", pv.capacity ? q : "", pv_reclaim_name(pv.reclaim));
	}
	pv_free(&pv);
	return rc;
}

static int l_get(struct pvctl *p, const struct pvctl_req *r)
{
	_cleanup_(pv_strv_freep) char **all = NULL;
	char *one[] = { (char *)r->name, NULL }, **names = one;
	struct pv_err err = { 0 };
	const char *out = r->output ? r->output : "table";

	if (r->name) {
		struct pv pv;
		if (pv_catalog_load(p->cfg.state_dir, r->name, &pv, &err) < 0)
			return pvctl_fail(&err);
		pv_free(&pv);
	} else if (pv_catalog_list(p->cfg.state_dir, &all, &err) < 0) {
		return pvctl_fail(&err);
	} else {
		names = all;
	}
	if (strcmp(out, "json") == 0)
		pvctl_print_json(p, names, r->name != NULL);
	else if (strcmp(out, "k8s") == 0)
		pvctl_print_k8s(p, names, r->storage_class);
	else
		pvctl_print_table(p, names);
	return 0;
}

static int l_describe(struct pvctl *p, const struct pvctl_req *r)
{
	_cleanup_(found_free) struct found f = { 0 };
	int rc = find(p, r->name, &f);

	if (rc == 0)
		pvctl_print_describe(p, &f.pv, f.in_catalog);
	return rc;
}

static int l_delete(struct pvctl *p, const struct pvctl_req *r)
{
	struct pv_err err = { 0 };
	struct pv pv;
	bool retain = false;

	if (pv_catalog_load(p->cfg.state_dir, r->name, &pv, NULL) == 0) { /* for the message only */
		retain = pv.reclaim == PV_RECLAIM_RETAIN;
		pv_free(&pv);
	}
	if (pv_ctl_delete(p->engine, r->name, NULL, r->force, &err) < 0)
		return pvctl_fail(&err);
	printf("volume %s deleted%s\n", r->name, retain ? " (reclaimPolicy Retain: its storage is kept as it was)" : "");
	return 0;
}

static int l_expand(struct pvctl *p, const struct pvctl_req *r)
{
	struct pv_expand_result res;
	struct pv_err err = { 0 };
	char q[32];
	if (pv_ctl_expand(p->engine, r->name, r->capacity, 0, NULL, true, &res, &err) < 0)
		return pvctl_fail(&err);
	pv_quantity_format(res.capacity, q, sizeof(q));
	printf("volume %s expanded to %s\n", r->name, q);
	return 0;
}

static int l_stage(struct pvctl *p, const struct pvctl_req *r)
{
	_cleanup_(found_free) struct found f = { 0 };
	struct pv_err err = { 0 };
	int rc = find(p, r->name, &f);

	if (rc)
		return rc;
	struct pv_stage_req req = {
		.pv = &f.pv, .secrets = &f.s, .access = r->access, .block = f.pv.volume_mode == PV_VOLUME_BLOCK,
		.staging_path = r->staging, .mount_flags = r->flags, .n_mount_flags = r->n_flags,
		.readonly = r->readonly,
	};
	if (pv_engine_stage(p->engine, &req, &err) < 0)
		return pvctl_fail(&err);
	printf("volume %s staged\n", f.pv.name);
	return 0;
}

static int l_publish(struct pvctl *p, const struct pvctl_req *r)
{
	_cleanup_(found_free) struct found f = { 0 };
	struct pv_publish_result res = { 0 };
	struct pv_err err = { 0 };
	int rc = find(p, r->name, &f);

	if (rc)
		return rc;
	struct pv_publish_req req = {
		.pv = &f.pv, .secrets = &f.s, .access = r->access, .block = f.pv.volume_mode == PV_VOLUME_BLOCK,
		.staging_path = r->staging, .target = r->target, .readonly = r->readonly,
		.selinux_level = r->selinux_level, .pod_identity = r->pod, .mount_flags = r->flags,
		.n_mount_flags = r->n_flags, .relabel = r->relabel,
	};
	if (pv_engine_publish(p->engine, &req, &res, &err) < 0)
		return pvctl_fail(&err);
	pvctl_print_publish(f.pv.name, r->target, pvctl_json(r), res.readonly, res.selinux_label, res.groups,
			    res.n_groups);
	return 0;
}

static int l_unpublish(struct pvctl *p, const struct pvctl_req *r)
{
	struct pv_err err = { 0 };
	if (pv_engine_unpublish(p->engine, r->name, r->target, &err) < 0)
		return pvctl_fail(&err);
	printf("volume %s unpublished from %s\n", r->name, r->target);
	return 0;
}

static int l_unstage(struct pvctl *p, const struct pvctl_req *r)
{
	struct pv_err err = { 0 };
	if (pv_engine_unstage(p->engine, r->name, r->staging, &err) < 0)
		return pvctl_fail(&err);
	printf("volume %s unstaged\n", r->name);
	return 0;
}

static int l_stats(struct pvctl *p, const struct pvctl_req *r)
{
	struct pv_volume_stats st;
	struct pv_err err = { 0 };
	if (pv_engine_stats(p->engine, r->name, r->target ? r->target : r->staging, &st, &err) < 0)
		return pvctl_fail(&err);
	if (pvctl_json(r)) {
		printf("{\"bytes\": {\"total\": %llu, \"used\": %llu, \"available\": %llu}, \"abnormal\": %s, "
		       "\"condition\": \"%s\"}\n", (unsigned long long)st.bytes_total, (unsigned long long)st.bytes_used,
		       (unsigned long long)st.bytes_available, st.abnormal ? "true" : "false", st.condition);
		return 0;
	}
	printf("bytes   total %llu used %llu available %llu\n", (unsigned long long)st.bytes_total,
	       (unsigned long long)st.bytes_used, (unsigned long long)st.bytes_available);
	if (!st.block)
		printf("inodes  total %llu used %llu available %llu\n", (unsigned long long)st.inodes_total,
		       (unsigned long long)st.inodes_used, (unsigned long long)st.inodes_free);
	printf("condition: %s%s%s\n", st.abnormal ? "abnormal" : "healthy", st.abnormal ? ": " : "",
	       st.abnormal ? st.condition : "");
	return 0;
}

static int l_fence_release(struct pvctl *p, const struct pvctl_req *r)
{
	_cleanup_(found_free) struct found f = { 0 };
	struct pv_err err = { 0 };
	int rc = find(p, r->name, &f);

	if (rc)
		return rc;
	if (!pv_driver_fences(f.pv.driver))
		printf("volume %s: driver %s holds no fence across nodes: nothing to release\n", f.pv.name, f.pv.driver);
	else if (pv_ctl_release(p->engine, r->name, r->node, NULL, &err) < 0)
		return pvctl_fail(&err);
	else
		printf("volume %s: fence of node %s released\n", f.pv.name, r->node);
	return 0;
}

static void report_line(const char *line, bool problem, void *ud)
{
	(void)ud;
	(void)problem;
	printf("%s\n", line);
}

static int l_reconcile(struct pvctl *p, const struct pvctl_req *r)
{
	struct pv_err err = { 0 };
	if ((r->repair ? pv_engine_repair_all : pv_engine_reconcile)(p->engine, report_line, NULL, &err) < 0)
		return pvctl_fail(&err);
	return 0;
}

static int l_snapshot_create(struct pvctl *p, const struct pvctl_req *r)
{
	struct pv_snapshot snap;
	struct pv_err err = { 0 };
	char q[32];

	if (pv_ctl_snapshot_create(p->engine, r->name, r->args[0], NULL, &snap, &err) < 0)
		return pvctl_fail(&err);
	if (pvctl_json(r)) {
		pvctl_print_snapshots(&snap, 1, true, true);
	} else {
		const char *how = pv_map_get(&snap.attributes, PV_SNAPSHOT_ATTR_HOW);
		pv_quantity_format(snap.size, q, sizeof(q));
		printf("snapshot %s of volume %s created (%s%s%s)\n", snap.name, snap.source, q, how ? ", " : "",
		       how ? how : "");
	}
	pv_snapshot_free(&snap);
	return 0;
}

static int l_snapshot_list(struct pvctl *p, const struct pvctl_req *r)
{
	_cleanup_(pv_strv_freep) char **names = NULL;
	struct pv_snapshot *snaps;
	struct pv_err err = { 0 };
	size_t n = 0, k = 0;

	if (pv_snapshot_list(p->cfg.state_dir, r->name, &names, &err) < 0)
		return pvctl_fail(&err);
	while (names[n])
		n++;
	/* a volume that is not there, with no snapshots, is an error, not an empty list;
	 * the snapshots of a volume deleted since are listed (they outlive it) */
	if (r->name && !n) {
		struct pv pv;
		if (pv_catalog_load(p->cfg.state_dir, r->name, &pv, &err) < 0)
			return pvctl_fail(&err);
		pv_free(&pv);
	}
	snaps = calloc(n ? n : 1, sizeof(*snaps));
	if (!snaps) {
		pv_err_set(&err, -ENOMEM, PV_E_RESOURCE, "out of memory");
		return pvctl_fail(&err);
	}
	for (size_t i = 0; i < n; i++) {
		struct pv_err one = { 0 };
		if (pv_snapshot_load(p->cfg.state_dir, names[i], &snaps[k], &one) == 0)
			k++;
		else
			fprintf(stderr, "pvctl: %s\n", one.msg); /* one broken record does not hide the others */
	}
	pvctl_print_snapshots(snaps, k, pvctl_json(r), false);
	for (size_t i = 0; i < k; i++)
		pv_snapshot_free(&snaps[i]);
	free(snaps);
	return 0;
}

static int l_snapshot_delete(struct pvctl *p, const struct pvctl_req *r)
{
	struct pv_err err = { 0 };

	if (pv_ctl_snapshot_delete(p->engine, r->name, NULL, &err) < 0)
		return pvctl_fail(&err);
	printf("snapshot %s deleted\n", r->name);
	return 0;
}

int pvctl_secret(struct pvctl *p, const struct pvctl_req *r);

const struct pvctl_backend pvctl_local = {
	.name = "in-process",
	.create = l_create,
	.import = pvctl_import,
	.get = l_get,
	.describe = l_describe,
	.delete_volume = l_delete,
	.expand = l_expand,
	.stage = l_stage,
	.publish = l_publish,
	.unpublish = l_unpublish,
	.unstage = l_unstage,
	.stats = l_stats,
	.fence_release = l_fence_release,
	.reconcile = l_reconcile,
	.secret = pvctl_secret,
	.snapshot_create = l_snapshot_create,
	.snapshot_list = l_snapshot_list,
	.snapshot_delete = l_snapshot_delete,
};
