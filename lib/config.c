/*
 * config.c — the configuration pvctl and pvnode share (see include/pvnode/config.h):
 * defaults, then the environment, then command-line options, each checked the same way
 * in both programs.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pvnode/config.h"
#include "pvnode/util.h"

const char *const pv_config_options[] = { "--state-dir", "--node-id", "--selinux", "--allowed-path", NULL };

int pv_selinux_mode_parse(const char *s, enum pv_selinux_mode *m)
{
	if (strcmp(s, "auto") == 0)
		*m = PV_SELINUX_AUTO;
	else if (strcmp(s, "on") == 0)
		*m = PV_SELINUX_ON;
	else if (strcmp(s, "off") == 0)
		*m = PV_SELINUX_OFF;
	else
		return -EINVAL;
	return 0;
}

static int set_state_dir(struct pv_config *c, const char *v, const char *from, struct pv_err *err)
{
	if (!pv_path_clean(v) || strlen(v) >= sizeof(c->state_dir))
		return pv_err_set(err, -EINVAL, PV_E_INVALID,
				  "%s: state directory '%s' must be an absolute path without '..'", from, v);
	snprintf(c->state_dir, sizeof(c->state_dir), "%s", v);
	return 0;
}

static int set_node_id(struct pv_config *c, const char *v, const char *from, struct pv_err *err)
{
	if (!pv_name_valid(v))
		return pv_err_set(err, -EINVAL, PV_E_INVALID,
				  "%s: node id '%s' is not valid (allowed: 1-128 of A-Z a-z 0-9 . _ : -)", from, v);
	snprintf(c->node_id, sizeof(c->node_id), "%s", v);
	return 0;
}

static int set_selinux(struct pv_config *c, const char *v, const char *from, struct pv_err *err)
{
	if (pv_selinux_mode_parse(v, &c->selinux) < 0)
		return pv_err_set(err, -EINVAL, PV_E_INVALID, "%s: '%s' is not a SELinux mode (allowed: auto, on, off)",
				  from, v);
	return 0;
}

static int add_allowed(struct pv_config *c, const char *v, const char *from, struct pv_err *err)
{
	if (!pv_path_clean(v) || strcmp(v, "/") == 0 || strlen(v) >= sizeof(c->allowed_paths[0]))
		return pv_err_set(err, -EINVAL, PV_E_INVALID,
				  "%s: allowed path '%s' must be an absolute path without '..', other than /", from, v);
	if (c->n_allowed_paths >= PV_MAX_ALLOWED_PATHS)
		return pv_err_set(err, -E2BIG, PV_E_INVALID, "%s: at most %d allowed paths", from,
				  PV_MAX_ALLOWED_PATHS);
	snprintf(c->allowed_paths[c->n_allowed_paths++], sizeof(c->allowed_paths[0]), "%s", v);
	return 0;
}

static int env_allowed(struct pv_config *c, const char *env, struct pv_err *err)
{
	char buf[4096], *save = NULL;
	int r = 0;

	if (strlen(env) >= sizeof(buf))
		return pv_err_set(err, -E2BIG, PV_E_INVALID, "PVNODE_ALLOWED_PATHS is too long");
	snprintf(buf, sizeof(buf), "%s", env);
	for (char *t = strtok_r(buf, ":", &save); t && r == 0; t = strtok_r(NULL, ":", &save))
		r = add_allowed(c, t, "PVNODE_ALLOWED_PATHS", err);
	return r;
}

int pv_config_init(struct pv_config *c, struct pv_err *err)
{
	const char *env;
	char host[256];
	int r = 0;

	memset(c, 0, sizeof(*c));
	snprintf(c->state_dir, sizeof(c->state_dir), "%s", PV_DEFAULT_STATE_DIR);
	if (gethostname(host, sizeof(host)) < 0 || !host[0])
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	if (pv_name_valid(host))
		snprintf(c->node_id, sizeof(c->node_id), "%s", host);
	else
		snprintf(c->node_id, sizeof(c->node_id), "localhost");
	if ((env = getenv("PVNODE_STATE_DIR")) && *env)
		r = set_state_dir(c, env, "PVNODE_STATE_DIR", err);
	if (r == 0 && (env = getenv("PVNODE_NODE_ID")) && *env)
		r = set_node_id(c, env, "PVNODE_NODE_ID", err);
	if (r == 0 && (env = getenv("PVNODE_SELINUX")) && *env)
		r = set_selinux(c, env, "PVNODE_SELINUX", err);
	if (r == 0 && (env = getenv("PVNODE_ALLOWED_PATHS")) && *env)
		r = env_allowed(c, env, err);
	else if (r == 0)
		r = add_allowed(c, PV_DEFAULT_ALLOWED_PATH, "default", err);
	c->progress = isatty(STDERR_FILENO);
	return r;
}

int pv_config_option(struct pv_config *c, const char *name, const char *value, struct pv_err *err)
{
	int r;

	if (strcmp(name, "--state-dir") == 0)
		r = set_state_dir(c, value, name, err);
	else if (strcmp(name, "--node-id") == 0)
		r = set_node_id(c, value, name, err);
	else if (strcmp(name, "--selinux") == 0)
		r = set_selinux(c, value, name, err);
	else if (strcmp(name, "--allowed-path") == 0) {
		if (!c->allowed_from_option)
			c->n_allowed_paths = 0; /* the option's list replaces the environment's */
		c->allowed_from_option = true;
		r = add_allowed(c, value, name, err);
	} else
		return 0;
	return r < 0 ? r : 1;
}
