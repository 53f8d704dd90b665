/*
 * args.c — pvctl's one command-line parser: a table of commands with the positional
 * arguments and options each takes, and getopt over all of them. Both backends
 * (in-process and CSI) get the same `struct pvctl_req`, so the two cannot disagree on
 * what a command accepts. `--` ends the options: names that begin with '-' follow it.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pvctl.h"
#include "pvnode/util.h"

enum opt_bit {
	O_FILE = 1 << 0, O_OUTPUT = 1 << 1, O_ACCESS = 1 << 2, O_STAGING = 1 << 3, O_READONLY = 1 << 4,
	O_FLAG = 1 << 5, O_LEVEL = 1 << 6, O_POD = 1 << 7, O_RELABEL = 1 << 8, O_CAPACITY = 1 << 9,
	O_NODE = 1 << 10, O_FORCE = 1 << 11, O_REPAIR = 1 << 12, O_EXISTING = 1 << 13, O_DRY_RUN = 1 << 14,
	O_CLASS = 1 << 15,
};

static const struct option long_opts[] = {
	{ "file", required_argument, NULL, 'f' },          { "output", required_argument, NULL, 'o' },
	{ "access-mode", required_argument, NULL, 'a' },   { "staging-path", required_argument, NULL, 's' },
	{ "readonly", no_argument, NULL, 'r' },            { "mount-flag", required_argument, NULL, 'm' },
	{ "selinux-level", required_argument, NULL, 'l' }, { "pod", required_argument, NULL, 'p' },
	{ "relabel", no_argument, NULL, 'R' },             { "capacity", required_argument, NULL, 'c' },
	{ "node", required_argument, NULL, 'n' },          { "force", no_argument, NULL, 'F' },
	{ "repair", no_argument, NULL, 'P' },              { "existing", no_argument, NULL, 'E' },
	{ "dry-run", no_argument, NULL, 'D' },             { "storage-class", required_argument, NULL, 'C' },
	{ 0 },
};

struct command {
	const char *name;
	int min, max;          /* positional arguments */
	unsigned opts;         /* what it takes */
	unsigned required;     /* what it must have */
	const char *outputs;   /* -o values, "" none */
	const char *usage;     /* arguments, for messages and --help */
	const char *help;
};

static const struct command commands[] = {
	{ "create", 0, 0, O_FILE | O_OUTPUT | O_EXISTING, O_FILE, "text json", "-f FILE|- [--existing]",
	  "provision a PV from its JSON and record it (--existing: register storage that is there, changing nothing)" },
	{ "import", 0, 0, O_FILE | O_DRY_RUN, O_FILE, "", "-f FILE|- [--dry-run]",
	  "register Kubernetes PersistentVolumes (YAML or JSON) as existing PVs (--dry-run: print them)" },
	{ "get", 0, 1, O_OUTPUT | O_CLASS, 0, "table json k8s", "[NAME] [-o table|json|k8s] [--storage-class NAME]",
	  "show PVs (k8s: PersistentVolume manifests, storageClassName \"\" unless --storage-class)" },
	{ "describe", 1, 1, 0, 0, "", "NAME", "a PV with its node state (no secrets)" },
	{ "delete", 1, 1, O_FORCE, 0, "", "NAME [--force]", "remove a PV and its storage (--force: unpublish and unstage first)" },
	{ "expand", 1, 1, O_CAPACITY | O_STAGING, O_CAPACITY, "", "NAME --capacity SIZE", "grow the backing storage, then the filesystem if staged" },
	{ "secret", 1, -1, 0, 0, "", "set NAME KEY=VALUE... | secret list | secret delete NAME",
	  "secret sets (VALUE '-' reads one line from standard input)" },
	{ "snapshot", 1, 3, O_OUTPUT, 0, "table json",
	  "create VOLUME NAME [-o json] | snapshot list [VOLUME] [-o table|json] | snapshot delete NAME",
	  "point-in-time copies of a volume (pvctl create with \"source\": {\"snapshot\": NAME} restores one)" },
	{ "stage", 1, 1, O_ACCESS | O_STAGING | O_READONLY | O_FLAG, 0, "",
	  "NAME [--access-mode MODE] [--staging-path DIR] [--readonly] [--mount-flag OPT]...", "stage a volume on this node" },
	{ "publish", 2, 2, O_ACCESS | O_STAGING | O_READONLY | O_FLAG | O_LEVEL | O_POD | O_RELABEL | O_OUTPUT, 0, "text json",
	  "NAME TARGET [--readonly] [--access-mode MODE] [--selinux-level LEVEL] [--pod ID] [--relabel] [--mount-flag OPT]... [-o json]",
	  "publish a staged volume at TARGET" },
	{ "unpublish", 2, 2, 0, 0, "", "NAME TARGET", "undo a publish" },
	{ "unstage", 1, 1, O_STAGING, 0, "", "NAME [--staging-path DIR]", "undo a stage" },
	{ "stats", 1, 2, O_STAGING | O_OUTPUT, 0, "text json", "NAME [PATH] [-o json]", "usage and condition of a staged volume" },
	{ "fence-release", 1, 1, O_NODE, O_NODE, "", "NAME --node ID", "break a (dead) node's fence on a block volume" },
	{ "reconcile", 0, 0, O_REPAIR, 0, "", "[--repair]",
	  "compare the node journal with the mounts and helpers (--repair: rebuild damaged journals)" },
	{ "info", 0, 0, O_OUTPUT, 0, "text json", "[-o json]", "(with --endpoint) plugin info, capabilities, node info" },
};

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

void pvctl_print_commands(FILE *f)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %s %s\n      %s\n", commands[i].name, commands[i].usage, commands[i].help);
}

static const struct command *find_command(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

static unsigned bit_of(int c)
{
	switch (c) {
	case 'f': return O_FILE;
	case 'o': return O_OUTPUT;
	case 'a': return O_ACCESS;
	case 's': return O_STAGING;
	case 'r': return O_READONLY;
	case 'm': return O_FLAG;
	case 'l': return O_LEVEL;
	case 'p': return O_POD;
	case 'R': return O_RELABEL;
	case 'c': return O_CAPACITY;
	case 'n': return O_NODE;
	case 'F': return O_FORCE;
	case 'P': return O_REPAIR;
	case 'E': return O_EXISTING;
	case 'D': return O_DRY_RUN;
	case 'C': return O_CLASS;
	default: return 0;
	}
}

static const char *opt_name(unsigned bit)
{
	for (const struct option *o = long_opts; o->name; o++)
		if (bit_of(o->val) == bit)
			return o->name;
	return "?";
}

static bool word_in(const char *word, const char *list)
{
	size_t n = strlen(word);
	for (const char *p = list; p && *p;) {
		const char *sp = strchr(p, ' ');
		size_t len = sp ? (size_t)(sp - p) : strlen(p);
		if (len == n && strncmp(p, word, n) == 0)
			return true;
		p = sp ? sp + 1 : NULL;
	}
	return false;
}

/* One option's value into the request. */
static int take(struct pvctl_req *r, int c, const char *v)
{
	struct pv_err err = { 0 };

	switch (c) {
	case 'f': r->file = v; break;
	case 'o': r->output = v; break;
	case 's': r->staging = v; break;
	case 'r': r->readonly = true; break;
	case 'l': r->selinux_level = v; break;
	case 'p': r->pod = v; break;
	case 'R': r->relabel = true; break;
	case 'n': r->node = v; break;
	case 'F': r->force = true; break;
	case 'P': r->repair = true; break;
	case 'E': r->existing = true; break;
	case 'D': r->dry_run = true; break;
	case 'C': r->storage_class = v; break;
	case 'a':
		if (pv_access_parse(v, &r->access) < 0)
			return pvctl_usage("--access-mode: unknown access mode '%s' (allowed: %s)", v, PV_ACCESS_ALLOWED);
		break;
	case 'm':
		if (r->n_flags >= PVCTL_MAX_FLAGS)
			return pvctl_usage("too many --mount-flag options (at most %d)", PVCTL_MAX_FLAGS);
		r->flags[r->n_flags++] = v;
		break;
	case 'c':
		if (pv_quantity_parse(v, &r->capacity, &err) < 0)
			return pvctl_fail(&err);
		break;
	}
	return 0;
}

/* A Kubernetes object name (DNS subdomain): 1-253 of a-z 0-9 '-' '.', alphanumeric ends. */
static bool k8s_name_valid(const char *s)
{
	size_t n = strlen(s);
	if (!n || n > 253)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
		if (!alnum && ((c != '-' && c != '.') || i == 0 || i == n - 1))
			return false;
	}
	return true;
}

static int check_request(const struct command *cmd, struct pvctl_req *r, unsigned given, int npos)
{
	if ((cmd->required & given) != cmd->required)
		return pvctl_usage("%s takes %s", cmd->name, cmd->usage);
	if (npos < cmd->min || (cmd->max >= 0 && npos > cmd->max))
		return pvctl_usage("%s takes %s", cmd->name, cmd->usage);
	if (r->output && !word_in(r->output, cmd->outputs))
		return pvctl_usage("-o: unknown output '%s' (allowed: %s)", r->output, cmd->outputs);
	if (r->staging && !pv_path_clean(r->staging))
		return pvctl_usage("--staging-path %s: expected a clean absolute path", r->staging);
	if (r->node && !pv_name_valid(r->node))
		return pvctl_usage("--node: '%s' is not a valid node id", r->node);
	if (r->storage_class && !k8s_name_valid(r->storage_class))
		return pvctl_usage("--storage-class: '%s' is not a Kubernetes object name (lower-case letters, digits, '-', '.')",
				   r->storage_class);
	if (r->storage_class && (!r->output || strcmp(r->output, "k8s") != 0))
		return pvctl_usage("--storage-class goes with -o k8s");
	return 0;
}

/* snapshot create VOLUME NAME | list [VOLUME] | delete NAME (pos: what getopt left). */
static int parse_snapshot(char **pos, int npos, struct pvctl_req *r)
{
	static const struct {
		const char *sub;
		int min, max;
		const char *usage;
	} subs[] = {
		{ "create", 3, 3, "snapshot create VOLUME NAME [-o json]" },
		{ "list", 1, 2, "snapshot list [VOLUME] [-o table|json]" },
		{ "delete", 2, 2, "snapshot delete NAME" },
	};
	size_t i;

	for (i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
		if (strcmp(pos[0], subs[i].sub) == 0)
			break;
	if (i == sizeof(subs) / sizeof(subs[0]))
		return pvctl_usage("snapshot: unknown subcommand '%s' (allowed: create, list, delete)", pos[0]);
	if (npos < subs[i].min || npos > subs[i].max)
		return pvctl_usage("%s takes %s", "snapshot", subs[i].usage);
	r->sub = subs[i].sub;
	if (r->output && strcmp(r->output, "table") == 0 && strcmp(r->sub, "list") != 0)
		return pvctl_usage("-o table goes with snapshot list");
	r->name = npos >= 2 ? pos[1] : NULL;
	if (npos >= 3) {
		r->args = pos + 2;
		r->n_args = 1;
	}
	for (int k = 1; k < npos; k++)
		if (!pv_name_valid(pos[k]))
			return pvctl_usage("'%s' is not a valid %s name (allowed: 1-128 of A-Z a-z 0-9 . _ : -)", pos[k],
					   k == 1 && strcmp(r->sub, "delete") != 0 ? "volume" : "snapshot");
	return 0;
}

int pvctl_parse(int argc, char **argv, struct pvctl_req *r)
{
	const struct command *cmd = find_command(argv[0]);
	unsigned given = 0;
	int c, rc;

	memset(r, 0, sizeof(*r));
	if (!cmd)
		return pvctl_usage("unknown command '%s'", argv[0]);
	r->cmd = cmd->name;
	if (strcmp(cmd->name, "secret") == 0) {
		/* KEY=VALUE arguments are not options: no getopt here */
		if (argc < 2)
			return pvctl_usage("secret takes %s", cmd->usage);
		r->name = argv[1];
		r->args = argv + 2;
		r->n_args = argc - 2;
		return 0;
	}
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "f:o:", long_opts, NULL)) != -1) {
		unsigned bit = bit_of(c);
		if (c == '?' || c == ':' || !bit)
			return pvctl_usage("%s: unknown option or missing value '%s'", cmd->name, argv[optind - 1]);
		if (!(cmd->opts & bit))
			return pvctl_usage("%s does not take --%s", cmd->name, opt_name(bit));
		given |= bit;
		if ((rc = take(r, c, optarg)))
			return rc;
	}
	int npos = argc - optind;
	if ((rc = check_request(cmd, r, given, npos)))
		return rc;
	if (strcmp(cmd->name, "snapshot") == 0)
		return parse_snapshot(argv + optind, npos, r);
	if (npos >= 1)
		r->name = argv[optind];
	if (npos >= 2)
		r->target = argv[optind + 1];
	if (r->name && !pv_name_valid(r->name))
		return pvctl_usage("'%s' is not a valid volume name (allowed: 1-128 of A-Z a-z 0-9 . _ : -)", r->name);
	return 0;
}

bool pvctl_json(const struct pvctl_req *r)
{
	return r->output && strcmp(r->output, "json") == 0;
}

int pvctl_fail(const struct pv_err *err)
{
	fprintf(stderr, "pvctl: %s\n", err && err->msg[0] ? err->msg : "failed");
	return err ? pv_err_exit_status(err) : PVCTL_FAILED;
}

int pvctl_read_pv(const char *file, struct pv *pv, struct pv_err *err)
{
	_cleanup_(pv_freep) char *text = NULL;
	int r = pv_read_file(strcmp(file, "-") == 0 ? "/dev/stdin" : file, &text, NULL, err);

	pv_init(pv);
	return r < 0 ? r : pv_parse_json(text, pv, err);
}

void pvctl_default_staging(const struct pvctl *p, const char *name, char *buf, size_t len)
{
	const char *root = p->cfg.n_allowed_paths ? p->cfg.allowed_paths[0] : PV_DEFAULT_ALLOWED_PATH;
	snprintf(buf, len, "%s/plugins/%s/staging/%s", root, PV_CSI_DRIVER_NAME, name);
}
