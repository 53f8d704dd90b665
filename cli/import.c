/*
 * import.c — pvctl import -f FILE|- [--dry-run]: Kubernetes PersistentVolume manifests
 * registered as existing PVs.
 *
 * Each PersistentVolume the converter (k8s_import.c) maps is validated as `create -f`
 * validates a PV, then registered through the controller (pv_ctl_register: the driver
 * checks the storage is there and changes nothing on it). A source pvnode does not
 * serve is reported by name and skipped; one PV that fails does not stop the others.
 * Secrets are not in a PV: for each secretRef whose set does not exist here the report
 * names the `pvctl secret set` to run, and that PV is registered without contacting its
 * storage (stage refuses until the set exists). --dry-run prints the PVs instead, as
 * `pvctl get -o json` would, and registers nothing; the report then goes to stderr.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k8s_import.h"
#include "pvctl.h"
#include "pvnode/controller.h"
#include "pvnode/secrets.h"
#include "pvnode/util.h"

struct import_run {
	struct pvctl *p;
	bool dry_run;
	FILE *report;        /* stdout, or stderr when stdout carries the JSON */
	json_t *would;       /* --dry-run: the PVs */
	size_t registered, skipped, failed;
	int rc;              /* the first failure's exit status */
};

static void failed(struct import_run *run, const struct pvk_item *it, const struct pv_err *err, const char *why)
{
	fprintf(stderr, "pvctl: PersistentVolume %s%s%s%s: %s\n", it->name, it->source[0] ? " (" : "", it->source,
		it->source[0] ? ")" : "", err ? err->msg : why);
	run->failed++;
	if (!run->rc)
		run->rc = err ? pv_err_exit_status(err) : PVCTL_USAGE;
}

static bool secret_set_exists(struct pvctl *p, const char *name)
{
	struct pv_secrets s;
	int r = pv_secrets_store_load(p->cfg.state_dir, name, &s, NULL);

	if (r == 0)
		pv_secrets_free(&s);
	return r == 0;
}

/* What the operator must do for the PV's secrets, if anything. */
static void report_secret(struct import_run *run, const struct pvk_item *it, const struct pv *pv)
{
	if (!pv->secret_ref || secret_set_exists(run->p, pv->secret_ref))
		return;
	fprintf(run->report, "  volume %s needs secret set %s before it can be staged: pvctl secret set %s %s\n",
		pv->name, pv->secret_ref, pv->secret_ref, it->secret_keys[0] ? it->secret_keys : "KEY=VALUE...");
}

static void import_one(struct import_run *run, struct pvk_item *it)
{
	struct pv_err err = { 0 };
	struct pv pv = it->pv;
	char q[32];

	pv_init(&it->pv); /* pv owns it now */
	if (pv_complete(&pv, 0, &pv, &err) < 0) {
		failed(run, it, &err, NULL);
		return;
	}
	bool missing = pv.secret_ref && !secret_set_exists(run->p, pv.secret_ref);
	if (!run->dry_run && pv_ctl_register(run->p->engine, &pv, NULL, !missing, &err) < 0) {
		failed(run, it, &err, NULL);
		pv_free(&pv);
		return;
	}
	if (run->dry_run) {
		if (!pv.reclaim)
			pv.reclaim = PV_RECLAIM_RETAIN; /* what registration would record */
		json_array_append_new(run->would, pv_to_json(&pv));
	}
	pv_quantity_format(pv.capacity, q, sizeof(q));
	fprintf(run->report, "volume %s %s from its %s source (driver %s%s%s, reclaimPolicy %s)%s\n", pv.name,
		run->dry_run ? "would be registered" : "registered", it->source, pv.driver, pv.capacity ? ", " : "",
		pv.capacity ? q : "", pv_reclaim_name(pv.reclaim),
		missing && !run->dry_run ? ": storage not checked until its secret set exists" : "");
	if (it->note[0])
		fprintf(run->report, "  note: %s\n", it->note);
	report_secret(run, it, &pv);
	run->registered++;
	pv_free(&pv);
}

static void print_would(json_t *would)
{
	json_t *out = json_array_size(would) == 1 ? json_incref(json_array_get(would, 0))
						  : json_pack("{s:O}", "items", would);
	json_dumpf(out, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	printf("\n");
	json_decref(out);
}

int pvctl_import(struct pvctl *p, const struct pvctl_req *r)
{
	_cleanup_(pv_freep) char *text = NULL;
	struct import_run run = { .p = p, .dry_run = r->dry_run, .report = r->dry_run ? stderr : stdout };
	struct pvk_list list;
	struct pv_err err = { 0 };
	size_t len = 0;

	if (pv_read_file(strcmp(r->file, "-") == 0 ? "/dev/stdin" : r->file, &text, &len, &err) < 0 ||
	    pvk_parse(text, len, &list, &err) < 0) {
		fprintf(stderr, "pvctl: %s: %s\n", r->file, err.msg);
		return PVCTL_USAGE;
	}
	run.would = json_array();
	for (size_t i = 0; i < list.n; i++) {
		struct pvk_item *it = &list.items[i];
		if (it->outcome == PVK_SKIPPED) {
			fprintf(run.report, "skipped %s: %s\n", it->name, it->why);
			run.skipped++;
		} else if (it->outcome == PVK_INVALID) {
			failed(&run, it, NULL, it->why);
		} else {
			import_one(&run, it);
		}
	}
	if (r->dry_run)
		print_would(run.would);
	fprintf(run.report, "%zu PersistentVolume%s: %zu %s, %zu skipped, %zu failed\n", list.n, list.n == 1 ? "" : "s",
		run.registered, r->dry_run ? "would be registered" : "registered", run.skipped, run.failed);
	json_decref(run.would);
	size_t n = list.n;
	pvk_list_free(&list);
	if (!n && !run.rc)
		return pvctl_usage("%s holds no Kubernetes manifest", r->file);
	return run.rc;
}
