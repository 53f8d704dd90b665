/*
 * pvctl.c — the admin CLI: global options, command dispatch, exit statuses.
 *
 *   pvctl [global options] COMMAND [args]
 * Global options may appear anywhere on the line (before a `--`). The command line is
 * parsed once (cli/args.c) and carried out by a backend: in-process (cli/local.c) or,
 * with --endpoint, over CSI (pvctl-csi, csi/client/remote.c).
 * Exit: 0 done, 1 failed, 2 bad usage or invalid input, 3 refused by policy or fence.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "pvctl.h"
#include "pvnode/util.h"

static const char usage_head[] =
	"usage: pvctl [global options] COMMAND [args]\n"
	"\n"
	"Commands:\n";
static const char usage_tail[] =
	"\n"
	"Global options (anywhere before --):\n"
	"  --state-dir DIR        state directory (env PVNODE_STATE_DIR, default /var/lib/pvnode)\n"
	"  --node-id ID           this node's id (env PVNODE_NODE_ID, default the hostname)\n"
	"  --selinux auto|on|off  labelling mode (env PVNODE_SELINUX, default auto)\n"
	"  --allowed-path PREFIX  allowed prefix for staging/target paths, repeatable\n"
	"                         (env PVNODE_ALLOWED_PATHS, colon-separated; default /var/lib/kubelet)\n"
	"  --endpoint unix:///PATH  act through a running pvnode over CSI\n"
	"  -v, --verbose          log what is done\n"
	"  --version\n"
	"\n"
	"Exit status: 0 done, 1 failed, 2 bad usage or invalid input, 3 refused by the access-mode policy or a fence.\n";

static void usage(FILE *f)
{
	fputs(usage_head, f);
	pvctl_print_commands(f);
	fputs(usage_tail, f);
}

static char **original_argv; /* before the global options were taken out */

/* --endpoint in plain pvctl: hand the whole command line to pvctl-csi, the same program
 * built with the gRPC client, so in-process commands never load gRPC. */
#ifndef PV_HAVE_CSI
static int exec_remote(void)
{
	char path[4096];
	struct pv_err err = { 0 };

	if (pv_helper_path("pvctl-csi", path, sizeof(path), &err) < 0) {
		fprintf(stderr, "pvctl: --endpoint needs pvctl-csi, which was not found: this build has no CSI "
			"support (grpc, protobuf-c)\n");
		return PVCTL_FAILED;
	}
	execv(path, original_argv);
	fprintf(stderr, "pvctl: cannot run %s: %s\n", path, strerror(errno));
	return PVCTL_FAILED;
}
#endif

/* Pulls global options out of argv wherever they are (before `--`); the rest stays in
 * order. */
static int parse_globals(struct pvctl *p, int *argc, char **argv)
{
	struct pv_err err = { 0 };
	int out = 1;

	for (int i = 1; i < *argc; i++) {
		const char *a = argv[i], *eq = strchr(a, '=');
		char name[32];
		size_t n = eq ? (size_t)(eq - a) : strlen(a);
		snprintf(name, sizeof(name), "%.*s", (int)(n < sizeof(name) ? n : sizeof(name) - 1), a);
		bool known = strcmp(name, "--endpoint") == 0;
		for (const char *const *o = pv_config_options; !known && *o; o++)
			known = strcmp(name, *o) == 0;
		if (strcmp(a, "--") == 0) {
			while (i < *argc)
				argv[out++] = argv[i++];
			break;
		}
		if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
			pv_log_setup(PV_LOG_INFO, false, "pvctl");
			continue;
		}
		if (!known) {
			argv[out++] = argv[i];
			continue;
		}
		const char *val = eq ? eq + 1 : (i + 1 < *argc ? argv[++i] : NULL);
		if (!val)
			return pvctl_usage("%s needs a value", name);
		if (strcmp(name, "--endpoint") == 0)
			p->endpoint = val;
		else if (pv_config_option(&p->cfg, name, val, &err) < 0)
			return pvctl_usage("%s", err.msg);
	}
	*argc = out;
	argv[out] = NULL;
	return 0;
}

typedef int (*op_fn)(struct pvctl *, const struct pvctl_req *);

static op_fn backend_op(const struct pvctl_backend *b, const char *cmd, const char *sub)
{
	if (strcmp(cmd, "snapshot") == 0)
		return strcmp(sub, "create") == 0 ? b->snapshot_create
		       : strcmp(sub, "list") == 0 ? b->snapshot_list
						 : b->snapshot_delete;
	const struct { const char *name; op_fn fn; } ops[] = {
		{ "info", b->info }, { "create", b->create }, { "import", b->import }, { "get", b->get },
		{ "describe", b->describe },
		{ "delete", b->delete_volume }, { "expand", b->expand }, { "stage", b->stage },
		{ "publish", b->publish }, { "unpublish", b->unpublish }, { "unstage", b->unstage },
		{ "stats", b->stats }, { "fence-release", b->fence_release }, { "reconcile", b->reconcile },
		{ "secret", b->secret },
	};
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (strcmp(ops[i].name, cmd) == 0)
			return ops[i].fn;
	return NULL;
}

static int run(struct pvctl *p, int argc, char **argv)
{
	const struct pvctl_backend *b = &pvctl_local;
	struct pvctl_req req;
	int r = pvctl_parse(argc, argv, &req);

	if (r)
		return r;
	if (p->endpoint) {
#ifdef PV_HAVE_CSI
		b = &pvctl_remote;
#else
		return exec_remote();
#endif
	}
	if (p->endpoint && req.existing)
		return pvctl_usage("create --existing registers in the local catalog: run it without --endpoint");
	op_fn fn = backend_op(b, req.cmd, req.sub);
	if (!fn && p->endpoint)
		return pvctl_usage("%s acts on the local state directory: run it without --endpoint", req.cmd);
	if (!fn)
		return pvctl_usage("%s needs --endpoint unix:///path/to/csi.sock", req.cmd);
	if (!p->endpoint && strcmp(req.cmd, "secret") != 0) {
		struct pv_err err = { 0 };
		if (pv_engine_open(&p->cfg, &p->engine, &err) < 0)
			return pvctl_fail(&err);
	}
	return fn(p, &req);
}

int main(int argc, char **argv)
{
	struct pvctl p = { 0 };
	struct pv_err err = { 0 };
	int r;

	original_argv = calloc((size_t)argc + 1, sizeof(char *));
	for (int i = 0; original_argv && i < argc; i++)
		original_argv[i] = argv[i];
	pv_log_setup(PV_LOG_WARN, false, "pvctl");
	pv_process_harden(); /* secrets pass through: secret set, CHAP for stage */
	if (pv_config_init(&p.cfg, &err) < 0)
		return pvctl_usage("%s", err.msg);
	p.cfg.wait_for_lock = true; /* an administrator waits for a busy volume */
	if ((r = parse_globals(&p, &argc, argv)))
		return r;
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
		usage(argc < 2 ? stderr : stdout);
		r = argc < 2 ? PVCTL_USAGE : PVCTL_OK;
	} else if (strcmp(argv[1], "--version") == 0) {
		printf("pvctl %s (drivers: %s)\n", PV_VERSION, pv_driver_names());
#ifdef PV_FAULT_INJECTION
		printf("built with fault injection (PVNODE_FAULT) for crash tests\n");
#endif
		r = PVCTL_OK;
	} else {
		r = run(&p, argc - 1, argv + 1);
	}
	pv_engine_close(p.engine);
	free(original_argv);
	return r;
}
