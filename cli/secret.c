/*
 * secret.c — pvctl secret set|list|delete: secret sets in the local store. A value given
 * as '-' is read from standard input without echo, and values given on the command line
 * are wiped from it (out of /proc/PID/cmdline) as soon as they are read. Values are
 * never printed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "pvctl.h"
#include "pvnode/secrets.h"

int pvctl_secret(struct pvctl *p, const struct pvctl_req *req);

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

int pvctl_secret(struct pvctl *p, const struct pvctl_req *req)
{
	struct pv_err err = { 0 };
	struct pv_secrets s;
	int argc = req->n_args + 2, r = 0;
	char **argv = req->args - 2; /* argv[1] is set/list/delete, argv[2] the name */

	if (argc >= 2 && strcmp(argv[1], "list") == 0 && argc == 2) {
		printf("%-24s %s\n", "NAME", "KEYS");
		if (pv_secrets_store_list(p->cfg.state_dir, print_secret, NULL, &err) < 0)
			return pvctl_fail(&err);
		return 0;
	}
	if (argc == 3 && strcmp(argv[1], "delete") == 0) {
		if (pv_secrets_store_delete(p->cfg.state_dir, argv[2], &err) < 0)
			return pvctl_fail(&err);
		printf("secret %s deleted\n", argv[2]);
		return 0;
	}
	if (argc < 4 || strcmp(argv[1], "set") != 0)
		return pvctl_usage("secret takes: set NAME KEY=VALUE..., list, or delete NAME");
	if (!pv_name_valid(argv[2]))
		return pvctl_usage("'%s' is not a valid secret name", argv[2]);
	if (pv_secrets_store_load(p->cfg.state_dir, argv[2], &s, NULL) < 0)
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
	if (r == 0 && pv_secrets_store_save(p->cfg.state_dir, argv[2], &s, &err) < 0)
		r = pvctl_fail(&err);
	if (r == 0)
		printf("secret %s stored (%zu key%s)\n", argv[2], s.map.n, s.map.n == 1 ? "" : "s");
	pv_secrets_free(&s);
	return r;
}
