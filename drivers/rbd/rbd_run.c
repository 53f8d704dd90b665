/*
 * rbd_run.c — how the RBD driver inside pvctl/pvnode reaches a Ceph cluster: it runs
 * the control program pvnode-rbd (which links librbd, so they need not) with one JSON
 * request on a pipe as its stdin and reads one JSON reply from its stdout (see
 * rbd_ctl.c for the protocol). The request carries the cephx key, so it lives only in
 * buffers this file wipes and in the pipe; it is never on an argv, in the environment
 * or in a file. Also: the secrets a node-side operation uses, and blocklisting a dead
 * helper's client (remembered for remove when the cluster cannot be reached).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rbd_driver.h"

#define REQUEST_MAX 65536    /* what pvnode-rbd reads; also fits a pipe's buffer */
#define DEAD_CLIENTS "dead-clients"

int pvr_prepare(const struct pv *pv, const struct pv_secrets *s, struct pvr_target *t,
		struct pvr_cred *c, struct pv_err *err)
{
	int r = pvr_target_from_pv(pv, t, err);
	if (r == 0)
		r = pvr_cred_from_map(&s->map, c, err);
	return r;
}

bool pvr_access_fenced(enum pv_access a, bool readonly)
{
	return !readonly && (a == PV_RWO || a == PV_RWOP);
}

/* The request as text; the key is wiped from the JSON object before it is freed. */
static char *request_text(const struct pvr_target *t, const struct pvr_cred *c, const char *op,
			  json_t *req)
{
	char features[256];
	pvr_features_text(t->features, features, sizeof(features));
	json_object_set_new(req, "op", json_string(op));
	json_object_set_new(req, "monitors", json_string(t->mon_host));
	json_object_set_new(req, "pool", json_string(t->pool));
	if (t->rados_namespace[0])
		json_object_set_new(req, "namespace", json_string(t->rados_namespace));
	if (t->image[0])
		json_object_set_new(req, "image", json_string(t->image));
	if (t->data_pool[0])
		json_object_set_new(req, "dataPool", json_string(t->data_pool));
	json_object_set_new(req, "features", json_string(features));
	json_object_set_new(req, "osdTimeout", json_integer(t->osd_timeout_s));
	json_object_set_new(req, "monTimeout", json_integer(t->mon_timeout_s));
	json_object_set_new(req, "userID", json_string(c->user));
	json_object_set_new(req, "userKey", json_string(c->key));
	char *text = json_dumps(req, JSON_COMPACT);
	json_t *k = json_object_get(req, "userKey");
	explicit_bzero((char *)json_string_value(k), json_string_length(k));
	return text;
}

/* Spawn pvnode-rbd with `text` on its stdin; *out gets everything it printed. A `long_op`
 * (a whole-image copy) has no overall deadline: killed at a fixed one, a restore of a big
 * image was cut off at every retry and could never finish; each librados call in it is
 * still bounded by the timeouts, so an unreachable cluster still fails it. */
static int spawn_ctl(const struct pvr_target *t, const char *op, const char *text, bool long_op, bool progress,
		     char **out, struct pv_err *err)
{
	char path[PATH_MAX];
	_cleanup_(pv_closep) int rd = -1;
	int fds[2], r = pv_helper_path("pvnode-rbd", path, sizeof(path), err);
	size_t len = strlen(text);
	if (r < 0)
		return r;
	if (len >= REQUEST_MAX)
		return pv_err_set(err, -E2BIG, PV_E_INVALID, "the RBD request for %s is too large", op);
	if (pipe2(fds, O_CLOEXEC) < 0)
		return pv_err_set(err, -errno, PV_E_INTERNAL, "cannot create a pipe for pvnode-rbd: %s",
				  strerror(errno));
	rd = fds[0];
	bool written = write(fds[1], text, len) == (ssize_t)len;
	close(fds[1]);
	if (!written)
		return pv_err_set(err, -EIO, PV_E_INTERNAL, "cannot pass the request to pvnode-rbd");
	const char *argv[] = { path, NULL };
	/* every librados call is bounded by the timeouts; an operation makes a few */
	struct pv_spawn_opts o = { .stdin_fd = rd, .stdout_fd = -2, .stderr_fd = progress ? 2 : -2,
				   .timeout_ms = long_op ? 0 : (2 * (t->mon_timeout_s + t->osd_timeout_s) + 15) * 1000 };
	r = pv_spawn_run(argv, &o, out, err);
	return r < 0 ? r : 0;
}

/* The last line that is a JSON object: the reply (anything before it went to stderr). */
static json_t *find_reply(char *out)
{
	char *line = NULL;
	for (char *p = out; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (*p == '{')
			line = p;
	if (!line)
		return NULL;
	line[strcspn(line, "\n")] = '\0';
	return json_loads(line, 0, NULL);
}

static int parse_reply(const char *op, char *out, json_t **reply, struct pv_err *err)
{
	json_t *j = find_reply(out);
	if (!json_is_object(j)) {
		json_decref(j);
		out[strcspn(out, "\n")] = '\0';
		return pv_err_set(err, -EIO, PV_E_INTERNAL, "pvnode-rbd %s gave no reply%s%.200s", op,
				  out[0] ? ": " : "", out);
	}
	if (json_is_true(json_object_get(j, "ok"))) {
		if (reply)
			*reply = j;
		else
			json_decref(j);
		return 0;
	}
	const char *msg = json_string_value(json_object_get(j, "error"));
	json_int_t code = json_integer_value(json_object_get(j, "errno"));
	enum pv_err_kind kind = pv_err_kind_from_name(json_string_value(json_object_get(j, "kind")));
	int r = pv_err_set(err, code < 0 && code > -4096 ? (int)code : -EIO, kind, "%s",
			   msg ? msg : "pvnode-rbd failed");
	json_decref(j);
	return r;
}

static int run_ctl(const struct pvr_target *t, const struct pvr_cred *c, const char *op, json_t *members,
		   bool long_op, bool progress, json_t **reply, struct pv_err *err)
{
	json_t *req = members ? members : json_object();
	_cleanup_(pv_freep) char *out = NULL;
	char *text = request_text(t, c, op, req);
	json_decref(req);
	if (!text)
		return pv_err_set(err, -ENOMEM, PV_E_RESOURCE, "out of memory");
	int r = spawn_ctl(t, op, text, long_op, progress, &out, err);
	pv_secret_text_free(text);
	if (r < 0)
		return r;
	return parse_reply(op, out, reply, err);
}

int pvr_run(const struct pvr_target *t, const struct pvr_cred *c, const char *op, json_t *members,
	    json_t **reply, struct pv_err *err)
{
	return run_ctl(t, c, op, members, false, false, reply, err);
}

int pvr_run_progress(const struct pvr_target *t, const struct pvr_cred *c, const char *op, json_t *members,
		     bool progress, json_t **reply, struct pv_err *err)
{
	return run_ctl(t, c, op, members, true, progress, reply, err);
}

void pvr_node_secrets(const struct pv *pv, const struct pv_node_ctx *n, struct pv_secrets *out)
{
	pv_secrets_init(out);
	if (pv->secret_ref)
		pv_secrets_store_load(n->state_dir, pv->secret_ref, out, NULL);
	else
		pv_secrets_stage_load(n->state_dir, pv->name, out);
}

/* Remember addresses that could not be blocklisted, for remove (one per line). */
static void remember_dead(const struct pv_node_ctx *n, const char *const *clients, size_t count)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/" DEAD_CLIENTS, n->run_dir);
	FILE *f = fopen(path, "ae");
	for (size_t i = 0; f && i < count; i++)
		fprintf(f, "%s\n", clients[i]);
	if (f)
		fclose(f);
}

int pvr_blocklist_dead(const struct pv *pv, const struct pv_node_ctx *n, const char *const *clients,
		       size_t count, struct pv_err *err)
{
	struct pv_secrets s;
	struct pvr_target t;
	struct pvr_cred c;
	int r;
	if (count == 0)
		return 0;
	pvr_node_secrets(pv, n, &s);
	r = pvr_prepare(pv, &s, &t, &c, err);
	pv_secrets_free(&s);
	if (r == 0) {
		json_t *list = json_array();
		for (size_t i = 0; i < count; i++)
			json_array_append_new(list, json_string(clients[i]));
		t.image[0] = '\0';
		r = pvr_run(&t, &c, "blocklist", json_pack("{s:o}", "blocklist", list), NULL, err);
	}
	pvr_cred_wipe(&c);
	if (r < 0)
		remember_dead(n, clients, count);
	return r;
}
