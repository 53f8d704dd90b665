/*
 * pvctl_node.c — pvctl's node commands, in-process: stage, publish, unpublish,
 * unstage, fence-release, expand, reconcile. Each loads the PV from the catalog (or the
 * node journal, for a volume staged through CSI) and its secrets from the store.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "pvctl.h"
#include "pvnode/catalog.h"
#include "store/journal.h"
#include "pvnode/driver/os.h" /* interim: until the controller layer lands */

int pvctl_open_engine(struct pvctl_opts *o, struct pv_engine **e)
{
	struct pv_err err = { 0 };
	if (pv_engine_open(&o->cfg, e, &err) < 0)
		return pvctl_fail(&err);
	return 0;
}

/* PV from the catalog, else from the journal; secrets from its secretRef. */
int pvctl_load_pv(struct pvctl_opts *o, const char *name, struct pv *pv, struct pv_secrets *s)
{
	struct pv_err err = { 0 };
	struct pv_journal j;
	int r;

	pv_secrets_init(s);
	r = pv_catalog_load(o->cfg.state_dir, name, pv, &err);
	if (r == -ENOENT && pv_journal_load(o->cfg.state_dir, name, &j, NULL) == 0) {
		r = pv_copy(pv, &j.pv, &err);
		pv_journal_free(&j);
	}
	if (r < 0)
		return pvctl_fail(&err);
	if (pv->secret_ref && pv_secrets_store_load(o->cfg.state_dir, pv->secret_ref, s, &err) < 0) {
		pv_free(pv);
		return pvctl_fail(&err);
	}
	return 0;
}

static int parse_mode(const char *s, enum pv_access *a)
{
	if (pv_access_parse(s, a) < 0)
		return pvctl_usage("--access-mode: unknown access mode '%s' (allowed: %s)", s, PV_ACCESS_ALLOWED);
	return 0;
}

#define MAX_FLAGS 32

static int add_flag(const char **flags, size_t *n)
{
	if (*n >= MAX_FLAGS)
		return pvctl_usage("too many --mount-flag options (at most %d)", MAX_FLAGS);
	flags[(*n)++] = optarg;
	return 0;
}

int pvctl_cmd_stage(struct pvctl_opts *o, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "access-mode", required_argument, NULL, 'a' }, { "staging-path", required_argument, NULL, 's' },
		{ "readonly", no_argument, NULL, 'r' }, { "mount-flag", required_argument, NULL, 'm' }, { 0 } };
	struct pv_stage_req req = { 0 };
	const char *flags[MAX_FLAGS];
	struct pv_err err = { 0 };
	struct pv_secrets s;
	struct pv_engine *e;
	struct pv pv;
	int c, r;

	optind = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'a' && (r = parse_mode(optarg, &req.access)))
			return r;
		else if (c == 's')
			req.staging_path = optarg;
		else if (c == 'r')
			req.readonly = true;
		else if (c == 'm' && (r = add_flag(flags, &req.n_mount_flags)))
			return r;
		else if (c == '?')
			return PVCTL_USAGE;
	}
	if (optind + 1 != argc)
		return pvctl_usage("stage takes one volume name");
	if ((r = pvctl_load_pv(o, argv[optind], &pv, &s)))
		return r;
	if ((r = pvctl_open_engine(o, &e)) == 0) {
		req.pv = &pv;
		req.secrets = &s;
		req.block = pv.volume_mode == PV_VOLUME_BLOCK;
		req.mount_flags = flags;
		r = pv_engine_stage(e, &req, &err);
		if (r < 0)
			r = pvctl_fail(&err);
		else
			printf("volume %s staged\n", pv.name);
		pv_engine_close(e);
	}
	pv_secrets_free(&s);
	pv_free(&pv);
	return r;
}

int pvctl_cmd_publish(struct pvctl_opts *o, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "access-mode", required_argument, NULL, 'a' }, { "readonly", no_argument, NULL, 'r' },
		{ "selinux-level", required_argument, NULL, 'l' }, { "pod", required_argument, NULL, 'p' },
		{ "relabel", no_argument, NULL, 'R' }, { "mount-flag", required_argument, NULL, 'm' },
		{ "output", required_argument, NULL, 'o' }, { 0 } };
	struct pv_publish_req req = { 0 };
	struct pv_publish_result res;
	const char *flags[MAX_FLAGS], *output = "text";
	struct pv_err err = { 0 };
	struct pv_secrets s;
	struct pv_engine *e;
	struct pv pv;
	int c, r;

	optind = 0;
	while ((c = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
		if (c == 'a' && (r = parse_mode(optarg, &req.access)))
			return r;
		else if (c == 'r')
			req.readonly = true;
		else if (c == 'l')
			req.selinux_level = optarg;
		else if (c == 'p')
			req.pod_identity = optarg;
		else if (c == 'R')
			req.relabel = true;
		else if (c == 'o')
			output = optarg;
		else if (c == 'm' && (r = add_flag(flags, &req.n_mount_flags)))
			return r;
		else if (c == '?')
			return PVCTL_USAGE;
	}
	if (strcmp(output, "text") != 0 && strcmp(output, "json") != 0)
		return pvctl_usage("-o: unknown output '%s' (allowed: text, json)", output);
	if (optind + 2 != argc)
		return pvctl_usage("publish takes a volume name and a target path");
	if ((r = pvctl_load_pv(o, argv[optind], &pv, &s)))
		return r;
	if ((r = pvctl_open_engine(o, &e)) == 0) {
		req.pv = &pv;
		req.secrets = &s;
		req.target = argv[optind + 1];
		req.block = pv.volume_mode == PV_VOLUME_BLOCK;
		req.mount_flags = flags;
		r = pv_engine_publish(e, &req, &res, &err);
		if (r < 0) {
			r = pvctl_fail(&err);
		} else if (strcmp(output, "json") == 0) {
			json_t *g = json_array();
			for (size_t i = 0; i < res.n_groups; i++)
				json_array_append_new(g, json_integer(res.groups[i]));
			json_t *out = json_pack("{s:s, s:s, s:b}", "volume", pv.name, "target", req.target,
						"readonly", res.readonly);
			if (res.selinux_label[0])
				json_object_set_new(out, "selinuxLabel", json_string(res.selinux_label));
			json_object_set_new(out, "supplementalGroups", g);
			json_dumpf(out, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
			printf("\n");
			json_decref(out);
		} else {
			printf("volume %s published at %s (%s%s%s)\n", pv.name, req.target,
			       res.readonly ? "read-only" : "read-write", res.selinux_label[0] ? ", label " : "",
			       res.selinux_label);
		}
		pv_engine_close(e);
	}
	pv_secrets_free(&s);
	pv_free(&pv);
	return r;
}

static int simple(struct pvctl_opts *o, int argc, char **argv, int nargs, const char *what)
{
	struct pv_err err = { 0 };
	struct pv_engine *e;
	int r;

	if (argc != nargs + 1)
		return pvctl_usage("%s takes %s", argv[0], what);
	if ((r = pvctl_open_engine(o, &e)))
		return r;
	if (strcmp(argv[0], "unpublish") == 0)
		r = pv_engine_unpublish(e, argv[1], argv[2], &err);
	else
		r = pv_engine_unstage(e, argv[1], NULL, &err);
	pv_engine_close(e);
	if (r < 0)
		return pvctl_fail(&err);
	printf("volume %s %s\n", argv[1], strcmp(argv[0], "unpublish") == 0 ? "unpublished" : "unstaged");
	return 0;
}

int pvctl_cmd_unpublish(struct pvctl_opts *o, int argc, char **argv)
{
	return simple(o, argc, argv, 2, "a volume name and a target path");
}

int pvctl_cmd_unstage(struct pvctl_opts *o, int argc, char **argv)
{
	return simple(o, argc, argv, 1, "one volume name");
}

int pvctl_cmd_fence_release(struct pvctl_opts *o, int argc, char **argv)
{
	static const struct option opts[] = { { "node", required_argument, NULL, 'n' }, { 0 } };
	const struct pv_driver *drv;
	const char *node = NULL;
	struct pv_err err = { 0 };
	struct pv_secrets s;
	struct pv pv;
	char run_dir[4200];
	int c, r;

	optind = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'n')
			node = optarg;
		else
			return PVCTL_USAGE;
	}
	if (optind + 1 != argc || !node)
		return pvctl_usage("fence-release takes a volume name and --node ID");
	if (!pv_name_valid(node))
		return pvctl_usage("--node: '%s' is not a valid node id", node);
	if ((r = pvctl_load_pv(o, argv[optind], &pv, &s)))
		return r;
	drv = pv_driver_find(pv.driver);
	snprintf(run_dir, sizeof(run_dir), "%s/run/%s", o->cfg.state_dir, pv.name);
	struct pv_node_ctx n = { .state_dir = o->cfg.state_dir, .node_id = o->cfg.node_id, .run_dir = run_dir };
	if (!drv->fence_release) {
		printf("volume %s: driver %s holds no fence across nodes: nothing to release\n", pv.name, drv->name);
	} else if ((r = drv->fence_release(&pv, &s, node, &n, &err)) < 0) {
		r = pvctl_fail(&err);
	} else {
		printf("volume %s: fence of node %s released\n", pv.name, node);
	}
	pv_secrets_free(&s);
	pv_free(&pv);
	return r;
}

int pvctl_cmd_expand(struct pvctl_opts *o, int argc, char **argv)
{
	static const struct option opts[] = { { "capacity", required_argument, NULL, 'c' }, { 0 } };
	const struct pv_driver *drv;
	const char *cap = NULL;
	struct pv_err err = { 0 };
	struct pv_journal j;
	struct pv_secrets s;
	struct pv_engine *e;
	struct pv pv;
	uint64_t bytes, now;
	char run_dir[4200], q[32];
	int c, r, lock;

	optind = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'c')
			cap = optarg;
		else
			return PVCTL_USAGE;
	}
	if (optind + 1 != argc || !cap)
		return pvctl_usage("expand takes a volume name and --capacity SIZE");
	if (pv_quantity_parse(cap, &bytes, &err) < 0)
		return pvctl_fail(&err);
	if ((r = pvctl_load_pv(o, argv[optind], &pv, &s)))
		return r;
	drv = pv_driver_find(pv.driver);
	snprintf(run_dir, sizeof(run_dir), "%s/run/%s", o->cfg.state_dir, pv.name);
	struct pv_node_ctx n = { .state_dir = o->cfg.state_dir, .node_id = o->cfg.node_id, .run_dir = run_dir };
	if (bytes < pv.capacity) {
		r = pv_err_set(&err, -EINVAL, PV_E_RANGE, "volume %s is %s: volumes only grow", pv.name, cap);
		goto out;
	}
	if (!drv->expand) {
		r = pv_err_set(&err, -ENOTSUP, PV_E_UNSUPPORTED, "driver %s cannot grow volumes", drv->name);
		goto out;
	}
	lock = pv_lock_volume(o->cfg.state_dir, pv.name, true, &err);
	r = lock < 0 ? lock : drv->expand(&pv, bytes, &s, &n, &err);
	if (r == 0)
		r = pv_catalog_save(o->cfg.state_dir, &pv, &err);
	pv_unlock(lock);
	if (r == 0 && pv_journal_load(o->cfg.state_dir, pv.name, &j, NULL) == 0) {
		pv_journal_free(&j);
		if ((r = pvctl_open_engine(o, &e)) != 0)
			goto out_done;
		now = pv.capacity;
		r = pv_engine_expand(e, pv.name, NULL, &now, &err);
		pv_engine_close(e);
	}
	pv_quantity_format(pv.capacity, q, sizeof(q));
	if (r == 0)
		printf("volume %s expanded to %s\n", pv.name, q);
out:
	if (r < 0)
		r = pvctl_fail(&err);
out_done:
	pv_secrets_free(&s);
	pv_free(&pv);
	return r;
}

static void report_line(const char *line, bool problem, void *ud)
{
	(void)ud;
	(void)problem;
	printf("%s\n", line);
}

int pvctl_cmd_reconcile(struct pvctl_opts *o, int argc, char **argv)
{
	struct pv_err err = { 0 };
	struct pv_engine *e;
	int r;

	(void)argv;
	if (argc != 1)
		return pvctl_usage("reconcile takes no arguments");
	if ((r = pvctl_open_engine(o, &e)))
		return r;
	r = pv_engine_reconcile(e, report_line, NULL, &err);
	pv_engine_close(e);
	if (r < 0)
		return pvctl_fail(&err);
	return 0;
}
