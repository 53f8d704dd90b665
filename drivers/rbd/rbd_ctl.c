/*
 * rbd_ctl.c — pvnode-rbd: RBD control operations for the driver, in their own process
 * so librbd and librados never load into pvctl or pvnode (~8 ms and ~20 MiB each).
 *
 * Reads ONE JSON request on stdin (at most 64 KiB) and writes ONE JSON reply on stdout:
 *   {"op":"create","monitors":"10.0.0.1:6789","pool":"rbd","namespace":"","image":"db",
 *    "userID":"admin","userKey":"AQ...==","osdTimeout":30,"monTimeout":30,
 *    "features":"layering,exclusive-lock","dataPool":"ec","size":1073741824}
 *   → {"ok":true,"created":true,"size":1073741824}
 *   → {"ok":false,"kind":"exists","errno":-17,"error":"image rbd/db exists with ..."}
 * kinds: pv_err_kind_name()'s: invalid not-found exists refused busy unavailable
 * out-of-range exhausted unsupported internal. Exit status 0 when the reply says ok, 1 otherwise. The key is read from
 * stdin only, given to librados in memory and wiped from our buffers; the process is
 * not dumpable. Every librados call is bounded by the request's timeouts. An operation
 * that may copy a whole image (flatten) runs detached with "background":true: the reply
 * ({"background":true,"pid":N}) comes at once, the work goes on in a child.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rbd_ctl.h"
#include "pvnode/util.h"

#define REQ_MAX (64 * 1024)

static int read_request(char *buf, size_t cap, size_t *len, struct pv_err *err)
{
	size_t n = 0;
	ssize_t r;
	while (n < cap && (r = read(0, buf + n, cap - n)) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return pv_err_set(err, -errno, PV_E_INVALID, "pvnode-rbd: cannot read the request: %s",
					  strerror(errno));
		n += (size_t)r;
	}
	if (n == cap)
		return pv_err_set(err, -E2BIG, PV_E_INVALID, "pvnode-rbd: the request is larger than %d bytes",
				  REQ_MAX - 1);
	*len = n;
	return 0;
}

static const char *str_field(json_t *req, const char *field)
{
	json_t *v = json_object_get(req, field);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Timeouts arrive as numbers (or numeric strings, as attributes are). */
static int timeout_field(json_t *req, const char *field, int *out, struct pv_err *err)
{
	json_t *v = json_object_get(req, field);
	char num[32];
	if (json_is_integer(v)) {
		snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
		return pvr_parse_timeout(field, num, out, err);
	}
	if (v && !json_is_string(v))
		return pv_err_set(err, -EINVAL, PV_E_INVALID, "request.%s: expected whole seconds", field);
	return pvr_parse_timeout(field, json_string_value(v), out, err);
}

static int parse_common(json_t *req, const struct pvr_op *op, struct pvr_target *t,
			struct pvr_cred *c, struct pv_err *err)
{
	const char *ns = str_field(req, "namespace"), *dp = str_field(req, "dataPool");
	const char *feat = str_field(req, "features"), *user = str_field(req, "userID");
	const char *key = str_field(req, "userKey");
	int r;
	memset(t, 0, sizeof(*t));
	if ((r = pvr_parse_monitors(str_field(req, "monitors"), t, err)) < 0 ||
	    (r = pvr_parse_name("pool", str_field(req, "pool"), t->pool, sizeof(t->pool), err)) < 0 ||
	    (ns && *ns && (r = pvr_parse_name("radosNamespace", ns, t->rados_namespace,
					      sizeof(t->rados_namespace), err)) < 0) ||
	    (dp && *dp && (r = pvr_parse_name("dataPool", dp, t->data_pool, sizeof(t->data_pool), err)) < 0) ||
	    (r = pvr_parse_features(feat ? feat : PVR_FEATURES_DEFAULT_TEXT, &t->features, err)) < 0 ||
	    (r = timeout_field(req, "osdTimeout", &t->osd_timeout_s, err)) < 0 ||
	    (r = timeout_field(req, "monTimeout", &t->mon_timeout_s, err)) < 0 ||
	    (r = pvr_parse_user(user ? user : "admin", c->user, sizeof(c->user), err)) < 0)
		return r;
	if ((op->needs_image || str_field(req, "image")) &&
	    (r = pvr_parse_name("image", str_field(req, "image"), t->image, sizeof(t->image), err)) < 0)
		return r;
	if (!key)
		return pv_err_set(err, -EINVAL, PV_E_INVALID, "secrets.userKey: missing from the request");
	return pvr_parse_key(key, c->key, sizeof(c->key), err);
}

static const struct pvr_op *find_op(const char *name)
{
	const struct pvr_op *tables[] = { pvr_image_ops, pvr_snap_ops, pvr_clone_ops, pvr_lock_ops };
	for (size_t i = 0; name && i < 4; i++)
		for (const struct pvr_op *o = tables[i]; o->name; o++)
			if (strcmp(o->name, name) == 0)
				return o;
	return NULL;
}

/* Overwrite the key inside the parsed request before it is freed. */
static void wipe_request(json_t *req, char *text, size_t len)
{
	json_t *k = json_object_get(req, "userKey");
	if (json_is_string(k)) {
		explicit_bzero((char *)json_string_value(k), json_string_length(k));
	}
	explicit_bzero(text, len);
}

/* request.background of an operation that allows it (a flatten, which may copy a whole
 * image): fork while still single-threaded (librados is not connected yet), the parent
 * replies {"ok":true,"background":true,"pid":N} at once and exits; the child, in its own
 * session with no stdio (the reply pipe is closed, so the caller's read ends), connects
 * and runs the operation. The key is in the child's memory only, like the data-path
 * helper's, in a process that is not dumpable. 1 in the parent, 0 in the child. */
static int go_background(struct pvr_req *q, struct pv_err *err)
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0)
		return pv_err_set(err, -errno, PV_E_RESOURCE, "pvnode-rbd: cannot fork for a background operation: %s",
				  strerror(errno));
	if (pid > 0) {
		json_object_set_new(q->reply, "background", json_true());
		json_object_set_new(q->reply, "pid", json_integer(pid));
		return 1;
	}
	setsid();
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	for (int i = 0; fd >= 0 && i < 3; i++)
		dup2(fd, i);
	if (fd > 2)
		close(fd);
	return 0;
}

static int run(struct pvr_req *q, char *text, size_t len, struct pv_err *err)
{
	bool replied = false;
	json_error_t je;
	struct pvr_cred cred = { 0 };
	int r;

	q->json = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (!json_is_object(q->json))
		return pv_err_set(err, -EINVAL, PV_E_INVALID, "pvnode-rbd: the request is not a JSON object (%s)",
				  je.text);
	const char *name = str_field(q->json, "op");
	const struct pvr_op *op = find_op(name);
	if (!op)
		r = pv_err_set(err, -EINVAL, PV_E_INVALID, "request.op: \"%.64s\" is not an operation of pvnode-rbd",
			       name ? name : "");
	else if ((r = parse_common(q->json, op, &q->t, &cred, err)) == 0 && op->background &&
		 json_is_true(json_object_get(q->json, "background")) && (r = go_background(q, err)) > 0) {
		replied = true;
		r = 0;
	}
	if (r == 0 && op && !replied)
		r = pvr_connect(&q->t, &cred, NULL, &q->conn, err);
	pvr_cred_wipe(&cred);
	wipe_request(q->json, text, len);
	if (r == 0 && op && !replied)
		r = op->run(q, err);
	return r;
}

static void write_reply(json_t *reply, const struct pv_err *err, int r)
{
	json_t *out = r == 0 ? reply : json_object();
	json_object_set_new(out, "ok", json_boolean(r == 0));
	if (r < 0) {
		json_object_set_new(out, "kind", json_string(pv_err_kind_name(err->kind ? err->kind : PV_E_INTERNAL)));
		json_object_set_new(out, "errno", json_integer(err->code ? err->code : r));
		json_object_set_new(out, "error", json_string(err->msg[0] ? err->msg : strerror(-r)));
	}
	char *s = json_dumps(out, JSON_COMPACT | JSON_SORT_KEYS);
	if (s) {
		fputs(s, stdout);
		fputc('\n', stdout);
		free(s);
	}
	fflush(stdout);
	if (out != reply)
		json_decref(out);
}

int main(void)
{
	static char text[REQ_MAX];
	struct pvr_req q = { .reply = json_object() };
	struct pv_err err = { 0 };
	size_t len = 0;
	int r;

	pv_process_harden();
	signal(SIGPIPE, SIG_IGN);
	r = read_request(text, sizeof(text), &len, &err);
	if (r == 0)
		r = run(&q, text, len, &err);
	explicit_bzero(text, sizeof(text));
	write_reply(q.reply, &err, r);
	pvr_disconnect(&q.conn);
	json_decref(q.json);
	json_decref(q.reply);
	return r == 0 ? 0 : 1;
}
