/*
 * output.c — what pvctl prints: the PV table, JSON, Kubernetes manifests, snapshots, describe (the
 * PV plus this node's state, from the engine's query) and publish results. Secrets are
 * never printed, only the name of the secret set a PV refers to.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <jansson.h>

#include "pvctl.h"
#include "pvnode/catalog.h"
#include "pvnode/util.h"

static void modes_short(const struct pv *pv, char *buf, size_t len)
{
	size_t used = 0;
	buf[0] = '\0';
	for (int a = PV_RWO; a <= PV_RWOP; a++)
		if (pv->access_modes & PV_ACCESS_BIT(a))
			used += (size_t)snprintf(buf + used, len - used, "%s%s", used ? "," : "", pv_access_short((enum pv_access)a));
}

static void age(int64_t created, char *buf, size_t len)
{
	int64_t s = created ? (int64_t)time(NULL) - created : -1;
	if (s < 0)
		snprintf(buf, len, "-");
	else if (s < 120)
		snprintf(buf, len, "%llds", (long long)s);
	else if (s < 7200)
		snprintf(buf, len, "%lldm", (long long)(s / 60));
	else if (s < 172800)
		snprintf(buf, len, "%lldh", (long long)(s / 3600));
	else
		snprintf(buf, len, "%lldd", (long long)(s / 86400));
}

static void status_of(struct pvctl *p, const char *name, char *status, size_t slen, char *node, size_t nlen)
{
	struct pv_volume_state st;

	snprintf(status, slen, "Available");
	snprintf(node, nlen, "-");
	if (pv_engine_state(p->engine, name, &st, NULL) < 0)
		return;
	snprintf(status, slen, "%s", pv_volume_status(&st));
	snprintf(node, nlen, "%s", st.node_id[0] ? st.node_id : p->cfg.node_id);
	pv_volume_state_free(&st);
}

void pvctl_print_table(struct pvctl *p, char **names)
{
	printf("%-24s %-7s %-9s %-14s %-11s %-7s %-10s %-16s %s\n", "NAME", "DRIVER", "CAPACITY", "ACCESS MODES",
	       "VOLUME MODE", "RECLAIM", "STATUS", "NODE", "AGE");
	for (char **n = names; n && *n; n++) {
		struct pv pv;
		char cap[32], modes[64], st[32], node[PV_NAME_MAX + 1], a[16];
		if (pv_catalog_load(p->cfg.state_dir, *n, &pv, NULL) < 0) {
			printf("%-24s (unreadable catalog entry)\n", *n);
			continue;
		}
		pv_quantity_format(pv.capacity, cap, sizeof(cap));
		modes_short(&pv, modes, sizeof(modes));
		status_of(p, *n, st, sizeof(st), node, sizeof(node));
		age(pv.created, a, sizeof(a));
		printf("%-24s %-7s %-9s %-14s %-11s %-7s %-10s %-16s %s\n", pv.name, pv.driver, pv.capacity ? cap : "-",
		       modes, pv.volume_mode == PV_VOLUME_BLOCK ? "Block" : "Filesystem", pv_reclaim_name(pv.reclaim), st,
		       node, a);
		pv_free(&pv);
	}
}

void pvctl_print_json(struct pvctl *p, char **names, bool single)
{
	json_t *items = json_array(), *out;
	for (char **n = names; n && *n; n++) {
		struct pv pv;
		if (pv_catalog_load(p->cfg.state_dir, *n, &pv, NULL) == 0) {
			json_array_append_new(items, pv_to_json(&pv));
			pv_free(&pv);
		}
	}
	if (single && json_array_size(items) == 1)
		out = json_incref(json_array_get(items, 0));
	else
		out = json_pack("{s:O}", "items", items);
	json_dumpf(out, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	printf("\n");
	json_decref(out);
	json_decref(items);
}

/* spec.nodeAffinity of a node-local volume: the topology key of the node it lives on. */
static json_t *node_affinity(const char *node)
{
	return json_pack("{s:{s:[{s:[{s:s, s:s, s:[s]}]}]}}", "required", "nodeSelectorTerms", "matchExpressions", "key",
			 PV_TOPOLOGY_NODE_KEY, "operator", "In", "values", node);
}

static json_t *secret_ref(const char *name)
{
	return json_pack("{s:s, s:s}", "name", name, "namespace", "pvnode");   /* where deploy/ keeps them */
}

static json_t *k8s_csi(const struct pv *pv)
{
	const char *driver = pv_driver_csi_name(pv->driver);
	json_t *csi, *attrs = json_object();
	struct pv_map ctx = { 0 };

	pv_to_context(pv, &ctx, NULL);
	for (size_t i = 0; i < ctx.n; i++)
		json_object_set_new(attrs, ctx.items[i].key, json_string(ctx.items[i].value));
	pv_map_free(&ctx);
	csi = json_pack("{s:s, s:s, s:o}", "driver", driver ? driver : PV_CSI_DRIVER_NAME, "volumeHandle", pv->name,
			"volumeAttributes", attrs);
	if (pv->fs_type[0])
		json_object_set_new(csi, "fsType", json_string(pv->fs_type));
	if (pv->secret_ref) {
		json_object_set_new(csi, "nodeStageSecretRef", secret_ref(pv->secret_ref));
		json_object_set_new(csi, "controllerPublishSecretRef", secret_ref(pv->secret_ref));
		json_object_set_new(csi, "controllerExpandSecretRef", secret_ref(pv->secret_ref));
	}
	return csi;
}

static json_t *k8s_manifest(const struct pv *pv, const char *storage_class, const char *node)
{
	json_t *meta = json_pack("{s:s, s:{s:s}}", "name", pv->name, "labels", "app.kubernetes.io/managed-by", "pvnode");
	json_t *spec = json_object(), *modes = json_array();
	char q[32];

	if (pv->created) { /* informational for Kubernetes; pvctl import takes it back */
		time_t t = (time_t)pv->created;
		struct tm tm;
		char ts[32];
		strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
		json_object_set_new(meta, "creationTimestamp", json_string(ts));
	}
	json_t *notes = json_object();
	if (pv->gid > 0) {
		char g[24];
		snprintf(g, sizeof(g), "%ld", pv->gid);
		json_object_set_new(notes, "pv.beta.kubernetes.io/gid", json_string(g));
	}
	if (pv->source_kind != PV_SOURCE_NONE) {
		/* where its data came from, in the shape of a PVC's spec.dataSource (a PV has no
		 * such field): the pvnode snapshot or volume, for people and scripts to act on */
		json_t *ds = json_pack("{s:s, s:s}", "kind",
				       pv->source_kind == PV_SOURCE_SNAPSHOT ? "VolumeSnapshot" : "PersistentVolume",
				       "name", pv->source);
		char *text = json_dumps(ds, JSON_COMPACT | JSON_PRESERVE_ORDER);
		json_decref(ds);
		if (text)
			json_object_set_new(notes, "pvnode.io/dataSource", json_string(text));
		free(text);
	}
	if (json_object_size(notes))
		json_object_set_new(meta, "annotations", notes);
	else
		json_decref(notes);
	json_object_set_new(spec, "storageClassName", json_string(storage_class ? storage_class : ""));
	pv_quantity_format(pv->capacity, q, sizeof(q));
	if (pv->capacity)
		json_object_set_new(spec, "capacity", json_pack("{s:s}", "storage", q));
	for (int a = PV_RWO; a <= PV_RWOP; a++)
		if (pv->access_modes & PV_ACCESS_BIT(a))
			json_array_append_new(modes, json_string(pv_access_name((enum pv_access)a)));
	json_object_set_new(spec, "accessModes", modes);
	json_object_set_new(spec, "volumeMode", json_string(pv->volume_mode == PV_VOLUME_BLOCK ? "Block" : "Filesystem"));
	json_object_set_new(spec, "persistentVolumeReclaimPolicy", json_string(pv_reclaim_name(pv->reclaim)));
	if (pv->n_mount_options) {
		json_t *mo = json_array();
		for (size_t i = 0; i < pv->n_mount_options; i++)
			json_array_append_new(mo, json_string(pv->mount_options[i]));
		json_object_set_new(spec, "mountOptions", mo);
	}
	json_object_set_new(spec, "csi", k8s_csi(pv));
	if (pv_driver_node_local(pv->driver) && node && *node)
		json_object_set_new(spec, "nodeAffinity", node_affinity(node));
	return json_pack("{s:s, s:s, s:o, s:o}", "apiVersion", "v1", "kind", "PersistentVolume", "metadata", meta, "spec", spec);
}

static void print_items(json_t *items)
{
	json_t *out;
	if (json_array_size(items) == 1)
		out = json_incref(json_array_get(items, 0));
	else
		out = json_pack("{s:s, s:s, s:O}", "apiVersion", "v1", "kind", "List", "items", items);
	json_dumpf(out, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	printf("\n");
	json_decref(out);
	json_decref(items);
}

void pvctl_print_k8s(struct pvctl *p, char **names, const char *storage_class)
{
	json_t *items = json_array();
	for (char **n = names; n && *n; n++) {
		struct pv pv;
		if (pv_catalog_load(p->cfg.state_dir, *n, &pv, NULL) == 0) {
			/* a node-local volume of this catalog lives on this node */
			json_array_append_new(items, k8s_manifest(&pv, storage_class, p->cfg.node_id));
			pv_free(&pv);
		}
	}
	print_items(items);
}

void pvctl_print_k8s_pvs(const struct pv *pvs, const char *const *nodes, size_t n, const char *storage_class)
{
	json_t *items = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(items, k8s_manifest(&pvs[i], storage_class, nodes ? nodes[i] : NULL));
	print_items(items);
}

void pvctl_print_snapshots(const struct pv_snapshot *s, size_t n, bool json, bool single)
{
	if (json) {
		json_t *items = json_array(), *out;
		for (size_t i = 0; i < n; i++)
			json_array_append_new(items, pv_snapshot_to_json(&s[i]));
		out = single && n == 1 ? json_incref(json_array_get(items, 0)) : json_pack("{s:O}", "items", items);
		json_dumpf(out, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		printf("\n");
		json_decref(out);
		json_decref(items);
		return;
	}
	printf("%-32s %-24s %-9s %-6s %s\n", "NAME", "SOURCE", "SIZE", "READY", "AGE");
	for (size_t i = 0; i < n; i++) {
		char size[32], a[16];
		pv_quantity_format(s[i].size, size, sizeof(size));
		age(s[i].created, a, sizeof(a));
		printf("%-32s %-24s %-9s %-6s %s\n", s[i].name, s[i].source, size, s[i].ready ? "true" : "false", a);
	}
}

static void human(uint64_t b, char *buf, size_t len)
{
	const char *u[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	double v = (double)b;
	int i = 0;
	while (v >= 1024 && i < 5) {
		v /= 1024;
		i++;
	}
	snprintf(buf, len, i ? "%.1f %s" : "%.0f %s", v, u[i]);
}

static void print_pv(const struct pv *pv, bool in_catalog)
{
	char q[32], modes[64];

	pv_quantity_format(pv->capacity, q, sizeof(q));
	modes_short(pv, modes, sizeof(modes));
	printf("Name:           %s%s\n", pv->name, in_catalog ? "" : "  (not in this catalog: staged through CSI)");
	printf("Driver:         %s\n", pv->driver);
	printf("Capacity:       %s\n", pv->capacity ? q : "-");
	printf("Access modes:   %s\n", modes);
	printf("Volume mode:    %s\n", pv->volume_mode == PV_VOLUME_BLOCK ? "Block" : "Filesystem");
	printf("Reclaim policy: %s%s\n", pv_reclaim_name(pv->reclaim),
	       pv->reclaim == PV_RECLAIM_RETAIN ? " (delete removes the record only)" : "");
	if (pv->fs_type[0])
		printf("FS type:        %s\n", pv->fs_type);
	if (pv->n_mount_options) {
		printf("Mount options:  ");
		for (size_t i = 0; i < pv->n_mount_options; i++)
			printf("%s%s", i ? "," : "", pv->mount_options[i]);
		printf("\n");
	}
	if (pv->gid > 0)
		printf("GID:            %ld (supplemental group of the workload)\n", pv->gid);
	printf("Attributes:\n");
	for (size_t i = 0; i < pv->attributes.n; i++)
		printf("  %s: %s\n", pv->attributes.items[i].key, pv->attributes.items[i].value);
	if (pv->secret_ref)
		printf("Secret:         %s (values not shown)\n", pv->secret_ref);
	if (pv->source_kind != PV_SOURCE_NONE)
		printf("Source:         %s %s\n", pv_source_kind_name(pv->source_kind), pv->source);
}

static void print_targets(const struct pv_volume_state *st)
{
	printf("  Published at:%s\n", st->n_targets ? "" : " -");
	for (size_t i = 0; i < st->n_targets; i++) {
		const struct pv_target_state *t = &st->targets[i];
		printf("    %s (%s%s)\n", t->target, t->readonly ? "read-only" : "read-write", t->lost ? ", mount lost" : "");
		printf("      SELinux label: %s\n", t->selinux_label[0] ? t->selinux_label : "-");
		printf("      Supplemental groups:");
		for (size_t g = 0; g < t->n_groups; g++)
			printf(" %u", (unsigned)t->groups[g]);
		printf("%s\n", t->n_groups ? "" : " -");
	}
}

static void print_usage(struct pvctl *p, const char *name)
{
	struct pv_volume_stats st;
	char used[32], total[32];

	if (pv_engine_stats(p->engine, name, NULL, &st, NULL) < 0)
		return;
	human(st.bytes_used, used, sizeof(used));
	human(st.bytes_total, total, sizeof(total));
	if (!st.block && st.bytes_total)
		printf("  Usage:        %s of %s (%.0f%%), inodes %llu of %llu\n", used, total,
		       100.0 * (double)st.bytes_used / (double)st.bytes_total, (unsigned long long)st.inodes_used,
		       (unsigned long long)st.inodes_total);
	else if (st.block)
		printf("  Size:         %s (raw block device)\n", total);
	printf("  Condition:    %s\n", st.abnormal ? st.condition : "healthy");
}

/* The helper and what its data path moved (its counters file, pvnode/driver/helper_stats.h). */
static void print_helper(struct pvctl *p, const char *name, const struct pv_volume_state *st)
{
	struct pv_volume_io io;
	char rss[32], anon[32], rd[32], wr[32];

	if (pv_engine_volume_io(p->engine, name, st, &io) < 0) {
		printf("  Helper:       pid %d (%s)\n", (int)st->helper_pid, st->helper_running ? "running" : "not running");
		return;
	}
	human(io.helper_rss, rss, sizeof(rss));
	human(io.read_bytes, rd, sizeof(rd));
	human(io.write_bytes, wr, sizeof(wr));
	human(io.helper_anon, anon, sizeof(anon));
	printf("  Helper:       pid %d (running), %s resident (%s its own)\n", (int)st->helper_pid,
	       io.helper_rss ? rss : "? B", io.helper_rss ? anon : "? B");
	printf("  Data path:    read %s (%llu B) in %llu requests, written %s (%llu B) in %llu requests,\n"
	       "                %llu flushes, %llu discards, %llu errors\n",
	       rd, (unsigned long long)io.read_bytes, (unsigned long long)io.reads, wr,
	       (unsigned long long)io.write_bytes, (unsigned long long)io.writes, (unsigned long long)io.flushes,
	       (unsigned long long)io.discards, (unsigned long long)io.errors);
}

void pvctl_print_describe(struct pvctl *p, const struct pv *pv, bool in_catalog)
{
	struct pv_volume_state st;
	char **snaps = NULL;

	print_pv(pv, in_catalog);
	if (pv_snapshot_list(p->cfg.state_dir, pv->name, &snaps, NULL) == 0 && snaps[0]) {
		printf("Snapshots:     ");
		for (char **n = snaps; *n; n++)
			printf(" %s", *n);
		printf("\n");
	}
	pv_strv_free(snaps);
	if (pv_engine_state(p->engine, pv->name, &st, NULL) < 0) {
		printf("Node state:     not staged on node %s\n", p->cfg.node_id);
		return;
	}
	if (st.phase == PV_NODE_DAMAGED) {
		printf("Node state:     Damaged: %s\n", st.last_error);
		printf("  What to do:   nothing may be assumed about its mounts; run pvctl reconcile, or stage it again\n");
		pv_volume_state_free(&st);
		return;
	}
	printf("Node state (node %s):\n", st.node_id);
	printf("  Phase:        %s%s\n", pv_node_phase_name(st.phase), st.lost ? " (staging mount lost)" : "");
	printf("  Access:       %s%s\n", pv_access_name(st.access), st.readonly ? ", read-only" : "");
	printf("  Staging path: %s\n", st.staging_path);
	if (st.device[0])
		printf("  Device:       %s%s%s\n", st.device, st.backing[0] ? " on " : "", st.backing);
	if (st.source[0])
		printf("  Source:       %s (%s)\n", st.source, st.source_type);
	if (st.summary[0])
		printf("  Backend:      %s\n", st.summary);
	if (st.helper_pid)
		print_helper(p, pv->name, &st);
	printf("  Fence:        %s\n", st.fence[0] ? st.fence : "none");
	print_targets(&st);
	if (st.phase == PV_NODE_STAGED)
		print_usage(p, pv->name);
	printf("  Last error:   %s\n", st.last_error[0] ? st.last_error : "-");
	pv_volume_state_free(&st);
}

void pvctl_print_publish(const char *volume, const char *target, bool json, bool readonly, const char *label,
			 const gid_t *groups, size_t n_groups)
{
	if (!json) {
		printf("volume %s published at %s (%s%s%s)\n", volume, target, readonly ? "read-only" : "read-write",
		       label && label[0] ? ", label " : "", label ? label : "");
		return;
	}
	json_t *g = json_array();
	for (size_t i = 0; i < n_groups; i++)
		json_array_append_new(g, json_integer(groups[i]));
	json_t *out = json_pack("{s:s, s:s, s:b}", "volume", volume, "target", target, "readonly", readonly);
	if (label && label[0])
		json_object_set_new(out, "selinuxLabel", json_string(label));
	json_object_set_new(out, "supplementalGroups", g);
	json_dumpf(out, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	printf("\n");
	json_decref(out);
}
