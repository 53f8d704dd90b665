/*
 * pvctl.c — the admin CLI: global options, command dispatch, exit statuses.
 *
 *   pvctl [global options] COMMAND [args]
 * Global options may appear anywhere on the line. Commands act in-process through
 * libpvnode, or over CSI with --endpoint (csi/client/remote.c).
 * Exit: 0 done, 1 failed, 2 bad usage or invalid input, 3 refused by policy or fence.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "pvctl.h"
#include "pvnode/util.h"

static const char usage_text[] =
	"usage: pvctl [global options] COMMAND [args]\n"
	"\n"
	"Catalog:\n"
	"  create -f FILE|-                 provision a PV from its JSON and record it\n"
	"  get [NAME] [-o table|json|k8s]   show PVs\n"
	"  describe NAME                    a PV with its node state (no secrets)\n"
	"  delete NAME [--force]            remove a PV and its storage (--force: unpublish and unstage first)\n"
	"  expand NAME --capacity SIZE      grow the backing storage, then the filesystem if staged\n"
	"  secret set NAME KEY=VALUE...     store secrets (VALUE '-' reads one line from standard input)\n"
	"  secret list | secret delete NAME\n"
	"Node:\n"
	"  stage NAME [--access-mode MODE] [--staging-path DIR] [--readonly] [--mount-flag OPT]...\n"
	"  publish NAME TARGET [--readonly] [--access-mode MODE] [--selinux-level LEVEL] [--pod ID]\n"
	"                      [--relabel] [--mount-flag OPT]... [-o json]\n"
	"  unpublish NAME TARGET            unstage NAME\n"
	"  fence-release NAME --node ID     break a (dead) node's fence on a block volume\n"
	"  reconcile                        compare the node journal with the mounts and helpers\n"
	"  info                             (with --endpoint) plugin info, capabilities, node info\n"
	"\n"
	"Global options (anywhere):\n"
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

int pvctl_fail(const struct pv_err *err)
{
	fprintf(stderr, "pvctl: %s\n", err && err->msg[0] ? err->msg : "failed");
	return err ? pv_err_exit_status(err) : PVCTL_FAILED;
}

int pvctl_usage(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "pvctl: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see pvctl --help)\n");
	return PVCTL_USAGE;
}

static char **original_argv; /* before the global options were taken out */

#ifndef PV_HAVE_CSI
/* --endpoint: hand the whole command line to pvctl-csi, the same program built with the
 * gRPC client, so in-process commands never load gRPC. */
int pvctl_csi_run(const struct pvctl_opts *o, int argc, char **argv)
{
	char path[4096];
	struct pv_err err = { 0 };

	(void)o;
	(void)argc;
	if (pv_helper_path("pvctl-csi", path, sizeof(path), &err) < 0) {
		fprintf(stderr, "pvctl: %s --endpoint needs pvctl-csi, which was not found: this build has no CSI support "
			"(grpc, protobuf-c)\n", argv[0]);
		return PVCTL_FAILED;
	}
	execv(path, original_argv);
	fprintf(stderr, "pvctl: cannot run %s: %s\n", path, strerror(errno));
	return PVCTL_FAILED;
}
#endif

static int set_selinux(struct pvctl_opts *o, const char *v)
{
	if (strcmp(v, "auto") == 0)
		o->cfg.selinux = PV_SELINUX_AUTO;
	else if (strcmp(v, "on") == 0)
		o->cfg.selinux = PV_SELINUX_ON;
	else if (strcmp(v, "off") == 0)
		o->cfg.selinux = PV_SELINUX_OFF;
	else
		return pvctl_usage("--selinux: '%s' is not a mode (allowed: auto, on, off)", v);
	return 0;
}

static char *allowed_store[64];

static int add_allowed(struct pvctl_opts *o, const char *p)
{
	if (o->cfg.n_allowed_paths >= 64)
		return pvctl_usage("too many --allowed-path options (at most 64)");
	allowed_store[o->cfg.n_allowed_paths++] = (char *)p;
	o->cfg.allowed_paths = allowed_store;
	return 0;
}

/* Pulls global options out of argv wherever they are; the rest stays in order. */
static int parse_globals(struct pvctl_opts *o, int *argc, char **argv)
{
	int out = 1, r;
	bool have_allowed = false;

	for (int i = 1; i < *argc; i++) {
		const char *a = argv[i], *val = NULL;
		const char *names[] = { "--state-dir", "--node-id", "--selinux", "--allowed-path", "--endpoint" };
		int which = -1;
		for (int k = 0; k < 5; k++) {
			size_t n = strlen(names[k]);
			if (strncmp(a, names[k], n) == 0 && (a[n] == '\0' || a[n] == '=')) {
				which = k;
				if (a[n] == '=')
					val = a + n + 1;
				else if (i + 1 < *argc)
					val = argv[++i];
				else
					return pvctl_usage("%s needs a value", names[k]);
				break;
			}
		}
		if (which < 0) {
			if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0)
				pv_log_setup(PV_LOG_INFO, false, "pvctl");
			else if (strcmp(a, "--") == 0) {
				while (i < *argc)
					argv[out++] = argv[i++];
				break;
			} else
				argv[out++] = argv[i];
			continue;
		}
		switch (which) {
		case 0:
			snprintf(o->cfg.state_dir, sizeof(o->cfg.state_dir), "%s", val);
			break;
		case 1:
			snprintf(o->cfg.node_id, sizeof(o->cfg.node_id), "%s", val);
			break;
		case 2:
			if ((r = set_selinux(o, val)))
				return r;
			break;
		case 3:
			if (!have_allowed)
				o->cfg.n_allowed_paths = 0;
			have_allowed = true;
			if ((r = add_allowed(o, val)))
				return r;
			break;
		case 4:
			o->endpoint = val;
			break;
		}
	}
	*argc = out;
	argv[out] = NULL;
	return 0;
}

static int defaults(struct pvctl_opts *o)
{
	const char *env;
	char host[256];
	static char envpaths[4096];

	memset(o, 0, sizeof(*o));
	env = getenv("PVNODE_STATE_DIR");
	snprintf(o->cfg.state_dir, sizeof(o->cfg.state_dir), "%s", env && *env ? env : "/var/lib/pvnode");
	env = getenv("PVNODE_NODE_ID");
	if (env && *env) {
		snprintf(o->cfg.node_id, sizeof(o->cfg.node_id), "%s", env);
	} else {
		if (gethostname(host, sizeof(host)) < 0)
			snprintf(host, sizeof(host), "localhost");
		host[sizeof(host) - 1] = '\0';
		snprintf(o->cfg.node_id, sizeof(o->cfg.node_id), "%s", host);
	}
	env = getenv("PVNODE_SELINUX");
	if (env && *env && set_selinux(o, env))
		return PVCTL_USAGE;
	env = getenv("PVNODE_ALLOWED_PATHS");
	if (env && *env) {
		char *save = NULL;
		snprintf(envpaths, sizeof(envpaths), "%s", env);
		for (char *t = strtok_r(envpaths, ":", &save); t; t = strtok_r(NULL, ":", &save))
			if (add_allowed(o, t))
				return PVCTL_USAGE;
	} else {
		add_allowed(o, "/var/lib/kubelet");
	}
	o->cfg.progress = isatty(STDERR_FILENO);
	o->cfg.wait_for_lock = true;
	return 0;
}

static const struct {
	const char *name;
	int (*fn)(struct pvctl_opts *o, int argc, char **argv);
	bool over_csi;
} commands[] = {
	{ "create", pvctl_cmd_create, true },   { "get", pvctl_cmd_get, true },
	{ "describe", pvctl_cmd_describe, false }, { "delete", pvctl_cmd_delete, true },
	{ "secret", pvctl_cmd_secret, false },  { "stage", pvctl_cmd_stage, true },
	{ "publish", pvctl_cmd_publish, true }, { "unpublish", pvctl_cmd_unpublish, true },
	{ "unstage", pvctl_cmd_unstage, true }, { "fence-release", pvctl_cmd_fence_release, true },
	{ "expand", pvctl_cmd_expand, true },   { "reconcile", pvctl_cmd_reconcile, false },
};

int main(int argc, char **argv)
{
	struct pvctl_opts o;
	int r;

	original_argv = calloc((size_t)argc + 1, sizeof(char *));
	for (int i = 0; original_argv && i < argc; i++)
		original_argv[i] = argv[i];
	pv_log_setup(PV_LOG_WARN, false, "pvctl");
	pv_process_harden(); /* secrets pass through: secret set, CHAP for stage */
	if ((r = defaults(&o)))
		return r;
	if ((r = parse_globals(&o, &argc, argv)))
		return r;
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
		fputs(usage_text, argc < 2 ? stderr : stdout);
		return argc < 2 ? PVCTL_USAGE : PVCTL_OK;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("pvctl %s (drivers: %s)\n", PV_VERSION, pv_driver_names());
		return PVCTL_OK;
	}
	if (o.endpoint) {
		if (strcmp(argv[1], "secret") == 0 || strcmp(argv[1], "describe") == 0 || strcmp(argv[1], "reconcile") == 0)
			return pvctl_usage("%s acts on the local state directory: run it without --endpoint", argv[1]);
		return pvctl_csi_run(&o, argc - 1, argv + 1);
	}
	if (strcmp(argv[1], "info") == 0)
		return pvctl_usage("info needs --endpoint unix:///path/to/csi.sock");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].fn(&o, argc - 1, argv + 1);
	return pvctl_usage("unknown command '%s'", argv[1]);
}
