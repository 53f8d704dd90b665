/*
 * pvctl_catalog.c — pvctl's catalog commands: create, get, describe, delete, secret.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "pvctl.h"
#include "pvnode/catalog.h"
#include "store/journal.h"
#include "pvnode/util.h"

int pvctl_cmd_create(struct pvctl_opts *o, int argc, char **argv)
{
	static const struct option opts[] = { { "file", required_argument, NULL, 'f' }, { 0 } };
	const char *file = NULL;
	struct pv_err err = { 0 };
	struct pv pv;
	char *text = NULL, q[32];
	int c, r;

	optind = 0;
	while ((c = getopt_long(argc, argv, "f:", opts, NULL)) != -1) {
		if (c == 'f')
			file = optarg;
		else
			return PVCTL_USAGE;
	}
	if (!file || optind != argc)
		return pvctl_usage("create takes -f FILE (or -f - for standard input)");
	r = pv_read_file(strcmp(file, "-") == 0 ? "/dev/stdin" : file, &text, NULL, &err);
	if (r < 0)
		return pvctl_fail(&err);
	r = pv_parse_json(text, &pv, &err);
	free(text);
	if (r < 0) {
		fprintf(stderr, "pvctl: %s: %s\n", file, err.msg);
		return PVCTL_USAGE;
	}
	r = pv_catalog_create(o->cfg.state_dir, o->cfg.node_id, &pv, NULL, o->cfg.progress, &err);
	if (r < 0) {
		pv_free(&pv);
		return pvctl_fail(&err);
	}
	pv_quantity_format(pv.capacity, q, sizeof(q));
	printf("volume %s created (%s%s%s)\n", pv.name, pv.driver, pv.capacity ? ", " : "", pv.capacity ? q : "");
	pv_free(&pv);
	return 0;
}

int pvctl_cmd_get(struct pvctl_opts *o, int argc, char **argv)
{
	static const struct option opts[] = { { "output", required_argument, NULL, 'o' }, { 0 } };
	const char *output = "table";
	struct pv_err err = { 0 };
	char **names = NULL;
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
		if (c == 'o')
			output = optarg;
		else
			return PVCTL_USAGE;
	}
	if (strcmp(output, "table") != 0 && strcmp(output, "json") != 0 && strcmp(output, "k8s") != 0)
		return pvctl_usage("-o: unknown output '%s' (allowed: table, json, k8s)", output);
	if (argc - optind > 1)
		return pvctl_usage("get takes at most one volume name");
	if (optind < argc) {
		struct pv pv;
		if (pv_catalog_load(o->cfg.state_dir, argv[optind], &pv, &err) < 0)
			return pvctl_fail(&err);
		pv_free(&pv);
		names = calloc(2, sizeof(char *));
		names[0] = strdup(argv[optind]);
	} else if (pv_catalog_list(o->cfg.state_dir, &names, &err) < 0) {
		return pvctl_fail(&err);
	}
	if (strcmp(output, "json") == 0)
		pvctl_print_json(o, names, optind < argc);
	else if (strcmp(output, "k8s") == 0)
		pvctl_print_k8s(o, names);
	else
		pvctl_print_table(o, names);
	pv_strv_free(names);
	return 0;
}

int pvctl_cmd_describe(struct pvctl_opts *o, int argc, char **argv)
{
	struct pv_err err = { 0 };
	struct pv_journal j;
	struct pv pv;
	bool in_catalog = true;

	if (argc != 2)
		return pvctl_usage("describe takes one volume name");
	if (pv_catalog_load(o->cfg.state_dir, argv[1], &pv, &err) < 0) {
		if (err.kind != PV_E_NOT_FOUND || pv_journal_load(o->cfg.state_dir, argv[1], &j, NULL) < 0)
			return pvctl_fail(&err);
		pv_copy(&pv, &j.pv, NULL);
		pv_journal_free(&j);
		in_catalog = false;
	}
	pvctl_print_describe(o, &pv, in_catalog);
	pv_free(&pv);
	return 0;
}

int pvctl_cmd_delete(struct pvctl_opts *o, int argc, char **argv)
{
	static const struct option opts[] = { { "force", no_argument, NULL, 'f' }, { 0 } };
	struct pv_err err = { 0 };
	struct pv_journal j;
	bool force = false;
	int c, r;

	optind = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'f')
			force = true;
		else
			return PVCTL_USAGE;
	}
	if (optind + 1 != argc)
		return pvctl_usage("delete takes one volume name");
	const char *name = argv[optind];
	if (!pv_name_valid(name))
		return pvctl_usage("'%s' is not a valid volume name", name);
	if (pv_journal_load(o->cfg.state_dir, name, &j, NULL) == 0) {
		if (!force) {
			fprintf(stderr, "pvctl: volume %s is staged on node %s at %s%s%s: %s first, or delete it with --force\n",
				name, j.node_id, j.staging_path, j.n_publishes ? " and published at " : "",
				j.n_publishes ? j.publishes[0].target : "", j.n_publishes ? "unpublish and unstage it" : "unstage it");
			pv_journal_free(&j);
			return PVCTL_FAILED;
		}
		pv_journal_free(&j);
		struct pv_engine *e;
		if ((r = pvctl_open_engine(o, &e)))
			return r;
		r = pv_engine_teardown(e, name, &err);
		pv_engine_close(e);
		if (r < 0)
			return pvctl_fail(&err);
	}
	if (pv_catalog_delete(o->cfg.state_dir, o->cfg.node_id, name, NULL, &err) < 0)
		return pvctl_fail(&err);
	printf("volume %s deleted\n", name);
	return 0;
}

/* One line from standard input, without echo on a terminal. */
static char *read_secret_line(const char *key)
{
	struct termios old, quiet;
	bool tty = isatty(STDIN_FILENO);
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	if (tty) {
		fprintf(stderr, "%s: ", key);
		tcgetattr(STDIN_FILENO, &old);
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
	}
	n = getline(&line, &cap, stdin);
	if (tty) {
		tcsetattr(STDIN_FILENO, TCSANOW, &old);
		fprintf(stderr, "\n");
	}
	if (n < 0) {
		free(line);
		return NULL;
	}
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	return line;
}

static int print_secret(const char *name, const struct pv_secrets *s, void *ud)
{
	(void)ud;
	printf("%-24s", name);
	for (size_t i = 0; i < s->map.n; i++)
		printf("%s%s", i ? "," : " ", s->map.items[i].key);
	printf("\n");
	return 0;
}

int pvctl_cmd_secret(struct pvctl_opts *o, int argc, char **argv)
{
	struct pv_err err = { 0 };
	struct pv_secrets s;
	int r = 0;

	if (argc >= 2 && strcmp(argv[1], "list") == 0 && argc == 2) {
		printf("%-24s %s\n", "NAME", "KEYS");
		if (pv_secrets_store_list(o->cfg.state_dir, print_secret, NULL, &err) < 0)
			return pvctl_fail(&err);
		return 0;
	}
	if (argc == 3 && strcmp(argv[1], "delete") == 0) {
		if (pv_secrets_store_delete(o->cfg.state_dir, argv[2], &err) < 0)
			return pvctl_fail(&err);
		printf("secret %s deleted\n", argv[2]);
		return 0;
	}
	if (argc < 4 || strcmp(argv[1], "set") != 0)
		return pvctl_usage("secret takes: set NAME KEY=VALUE..., list, or delete NAME");
	if (!pv_name_valid(argv[2]))
		return pvctl_usage("'%s' is not a valid secret name", argv[2]);
	if (pv_secrets_store_load(o->cfg.state_dir, argv[2], &s, NULL) < 0)
		pv_secrets_init(&s);
	for (int i = 3; i < argc && r == 0; i++) {
		char *eq = strchr(argv[i], '=');
		if (!eq || eq == argv[i]) {
			r = pvctl_usage("'%s' is not KEY=VALUE", argv[i][0] && !eq ? "(a value without a key)" : argv[i]);
			break;
		}
		*eq = '\0';
		if (!pv_value_printable(argv[i], 128)) {
			r = pvctl_usage("secret key '%s' has control characters", argv[i]);
			break;
		}
		if (strcmp(eq + 1, "-") == 0) {
			char *v = read_secret_line(argv[i]);
			if (!v) {
				r = pvctl_usage("no value for %s on standard input", argv[i]);
				break;
			}
			pv_secrets_set(&s, argv[i], v);
			explicit_bzero(v, strlen(v));
			free(v);
		} else {
			pv_secrets_set(&s, argv[i], eq + 1);
			explicit_bzero(eq + 1, strlen(eq + 1)); /* out of /proc/PID/cmdline */
		}
	}
	if (r == 0 && pv_secrets_store_save(o->cfg.state_dir, argv[2], &s, &err) < 0)
		r = pvctl_fail(&err);
	if (r == 0)
		printf("secret %s stored (%zu key%s)\n", argv[2], s.map.n, s.map.n == 1 ? "" : "s");
	pv_secrets_free(&s);
	return r;
}
