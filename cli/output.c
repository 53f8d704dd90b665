/*
 * pvctl_output.c — what pvctl prints: the PV table, JSON, Kubernetes manifests, and
 * describe (the PV plus this node's state). Secrets are never printed, only the name of
 * the secret a PV refers to.
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
#include "store/journal.h"
#include "pvnode/driver/os.h" /* interim: until the controller layer lands */

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

static void status_of(const struct pvctl_opts *o, const char *name, char *status, size_t slen, char *node, size_t nlen)
{
	struct pv_journal j;
	snprintf(status, slen, "Available");
	snprintf(node, nlen, "-");
	if (pv_journal_load(o->cfg.state_dir, name, &j, NULL) < 0)
		return;
	if (j.lost)
		snprintf(status, slen, "Lost");
	else if (j.phase == PV_PHASE_STAGED)
		snprintf(status, slen, j.n_publishes ? "Published" : "Staged");
	else
		snprintf(status, slen, "%s", j.phase == PV_PHASE_STAGING ? "Staging" : "Unstaging");
	snprintf(node, nlen, "%s", j.node_id);
	pv_journal_free(&j);
}

void pvctl_print_table(struct pvctl_opts *o, char **names)
{
	printf("%-24s %-7s %-9s %-14s %-11s %-10s %-16s %s\n", "NAME", "DRIVER", "CAPACITY", "ACCESS MODES",
	       "VOLUME MODE", "STATUS", "NODE", "AGE");
	for (char **n = names; n && *n; n++) {
		struct pv pv;
		char cap[32], modes[64], st[32], node[PV_NAME_MAX + 1], a[16];
		if (pv_catalog_load(o->cfg.state_dir, *n, &pv, NULL) < 0) {
			printf("%-24s (unreadable catalog entry)\n", *n);
			continue;
		}
		pv_quantity_format(pv.capacity, cap, sizeof(cap));
		modes_short(&pv, modes, sizeof(modes));
		status_of(o, *n, st, sizeof(st), node, sizeof(node));
		age(pv.created, a, sizeof(a));
		printf("%-24s %-7s %-9s %-14s %-11s %-10s %-16s %s\n", pv.name, pv.driver, pv.capacity ? cap : "-", modes,
		       pv.volume_mode == PV_VOLUME_BLOCK ? "Block" : "Filesystem", st, node, a);
		pv_free(&pv);
	}
}

void pvctl_print_json(struct pvctl_opts *o, char **names, bool single)
{
	json_t *items = json_array(), *out;
	for (char **n = names; n && *n; n++) {
		struct pv pv;
		if (pv_catalog_load(o->cfg.state_dir, *n, &pv, NULL) == 0) {
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

static json_t *k8s_manifest(const struct pv *pv)
{
	json_t *meta = json_pack("{s:s, s:{s:s}}", "name", pv->name, "labels", "app.kubernetes.io/managed-by", "pvnode");
	json_t *spec = json_object(), *modes = json_array(), *csi, *attrs = json_object();
	struct pv_map ctx = { 0 };
	char q[32];

	if (pv->gid > 0) {
		char g[24];
		snprintf(g, sizeof(g), "%ld", pv->gid);
		json_object_set_new(meta, "annotations", json_pack("{s:s}", "pv.beta.kubernetes.io/gid", g));
	}
	pv_quantity_format(pv->capacity, q, sizeof(q));
	if (pv->capacity)
		json_object_set_new(spec, "capacity", json_pack("{s:s}", "storage", q));
	for (int a = PV_RWO; a <= PV_RWOP; a++)
		if (pv->access_modes & PV_ACCESS_BIT(a))
			json_array_append_new(modes, json_string(pv_access_name((enum pv_access)a)));
	json_object_set_new(spec, "accessModes", modes);
	json_object_set_new(spec, "volumeMode", json_string(pv->volume_mode == PV_VOLUME_BLOCK ? "Block" : "Filesystem"));
	json_object_set_new(spec, "persistentVolumeReclaimPolicy", json_string("Retain"));
	if (pv->n_mount_options) {
		json_t *mo = json_array();
		for (size_t i = 0; i < pv->n_mount_options; i++)
			json_array_append_new(mo, json_string(pv->mount_options[i]));
		json_object_set_new(spec, "mountOptions", mo);
	}
	pv_to_context(pv, &ctx, NULL);
	for (size_t i = 0; i < ctx.n; i++)
		json_object_set_new(attrs, ctx.items[i].key, json_string(ctx.items[i].value));
	pv_map_free(&ctx);
	csi = json_pack("{s:s, s:s, s:o}", "driver", PV_CSI_DRIVER_NAME, "volumeHandle", pv->name, "volumeAttributes", attrs);
	if (pv->fs_type[0])
		json_object_set_new(csi, "fsType", json_string(pv->fs_type));
	if (pv->secret_ref)
		json_object_set_new(csi, "nodeStageSecretRef", json_pack("{s:s, s:s}", "name", pv->secret_ref, "namespace", "default"));
	json_object_set_new(spec, "csi", csi);
	return json_pack("{s:s, s:s, s:o, s:o}", "apiVersion", "v1", "kind", "PersistentVolume", "metadata", meta, "spec", spec);
}

void pvctl_print_k8s(struct pvctl_opts *o, char **names)
{
	json_t *items = json_array(), *out;
	for (char **n = names; n && *n; n++) {
		struct pv pv;
		if (pv_catalog_load(o->cfg.state_dir, *n, &pv, NULL) == 0) {
			json_array_append_new(items, k8s_manifest(&pv));
			pv_free(&pv);
		}
	}
	if (json_array_size(items) == 1)
		out = json_incref(json_array_get(items, 0));
	else
		out = json_pack("{s:s, s:s, s:O}", "apiVersion", "v1", "kind", "List", "items", items);
	json_dumpf(out, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	printf("\n");
	json_decref(out);
	json_decref(items);
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

void pvctl_print_describe(struct pvctl_opts *o, const struct pv *pv, bool in_catalog)
{
	struct pv_journal j;
	char q[32], modes[64];
	struct pv_engine *e = NULL;
	struct pv_err err = { 0 };

	pv_quantity_format(pv->capacity, q, sizeof(q));
	modes_short(pv, modes, sizeof(modes));
	printf("Name:           %s%s\n", pv->name, in_catalog ? "" : "  (not in this catalog: staged through CSI)");
	printf("Driver:         %s\n", pv->driver);
	printf("Capacity:       %s\n", pv->capacity ? q : "-");
	printf("Access modes:   %s\n", modes);
	printf("Volume mode:    %s\n", pv->volume_mode == PV_VOLUME_BLOCK ? "Block" : "Filesystem");
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
	if (pv_journal_load(o->cfg.state_dir, pv->name, &j, NULL) < 0) {
		printf("Node state:     not staged on node %s\n", o->cfg.node_id);
		return;
	}
	printf("Node state (node %s):\n", j.node_id);
	printf("  Phase:        %s%s\n", pv_phase_name(j.phase), j.lost ? " (staging mount lost)" : "");
	printf("  Access:       %s%s\n", pv_access_name(j.access), j.readonly ? ", read-only" : "");
	printf("  Staging path: %s\n", j.staging_path);
	if (j.att.device[0])
		printf("  Device:       %s%s%s\n", j.att.device, j.att.backing[0] ? " on " : "", j.att.backing);
	if (j.att.source[0])
		printf("  Source:       %s (%s)\n", j.att.source, j.att.fstype);
	if (j.att.summary[0])
		printf("  Backend:      %s\n", j.att.summary);
	if (j.att.helper.pid)
		printf("  Helper:       pid %d (%s)\n", (int)j.att.helper.pid,
		       pv_proc_alive(j.att.helper.pid, j.att.helper.start) ? "running" : "not running");
	printf("  Fence:        %s\n", j.att.fence[0] ? j.att.fence : "none");
	printf("  Published at:%s\n", j.n_publishes ? "" : " -");
	for (size_t i = 0; i < j.n_publishes; i++) {
		const struct pv_publish_rec *p = &j.publishes[i];
		printf("    %s (%s%s)\n", p->target, p->readonly ? "read-only" : "read-write", p->lost ? ", mount lost" : "");
		printf("      SELinux label: %s\n", p->selinux_label[0] ? p->selinux_label : "-");
		printf("      Supplemental groups:");
		for (size_t g = 0; g < p->n_groups; g++)
			printf(" %u", (unsigned)p->groups[g]);
		printf("%s\n", p->n_groups ? "" : " -");
	}
	if (j.phase == PV_PHASE_STAGED && pv_engine_open(&o->cfg, &e, &err) == 0) {
		struct pv_volume_stats st;
		if (pv_engine_stats(e, pv->name, NULL, &st, &err) == 0) {
			char used[32], total[32];
			human(st.bytes_used, used, sizeof(used));
			human(st.bytes_total, total, sizeof(total));
			if (!st.block && st.bytes_total)
				printf("  Usage:        %s of %s (%.0f%%), inodes %llu of %llu\n", used, total,
				       100.0 * (double)st.bytes_used / (double)st.bytes_total,
				       (unsigned long long)st.inodes_used, (unsigned long long)st.inodes_total);
			else if (st.block)
				printf("  Size:         %s (raw block device)\n", total);
			printf("  Condition:    %s\n", st.abnormal ? st.condition : "healthy");
		}
		pv_engine_close(e);
	}
	printf("  Last error:   %s\n", j.last_error[0] ? j.last_error : "-");
	pv_journal_free(&j);
}
