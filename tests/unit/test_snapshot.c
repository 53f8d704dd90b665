/* Unit tests: snapshot records (lib/store/snapshots.c) — strict JSON, round trip, and
 * load / save / list / remove in a temporary state directory. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include <jansson.h>

#include "pvnode/snapshot.h"
#include "pvnode/util.h"

#define ORIGIN(name) "{\"name\":\"" name "\",\"driver\":\"file\",\"capacity\":\"1Gi\",\"accessModes\":[\"RWO\"]}"

static const char *good = "{\"name\":\"monday\",\"source\":\"db\",\"size\":\"1Gi\",\"createdAt\":1764640000,"
			  "\"readyToUse\":true,\"origin\":" ORIGIN("db") ",\"attributes\":{\"image\":\"monday.img\"}}";

static char *dump(const struct pv_snapshot *s)
{
	json_t *o = pv_snapshot_to_json(s);
	char *t = json_dumps(o, JSON_PRESERVE_ORDER);
	json_decref(o);
	return t;
}

static void parses_and_round_trips(void **state)
{
	(void)state;
	struct pv_snapshot s, back;
	struct pv_err err = { 0 };

	assert_int_equal(pv_snapshot_from_json_text(good, &s, &err), 0);
	assert_string_equal(s.name, "monday");
	assert_string_equal(s.source, "db");
	assert_true(s.size == 1ull << 30);
	assert_true(s.created == 1764640000);
	assert_true(s.ready);
	assert_string_equal(s.origin.name, "db");
	assert_string_equal(s.origin.driver, "file");
	assert_string_equal(pv_map_get(&s.attributes, "image"), "monday.img");
	char *t1 = dump(&s);
	assert_int_equal(pv_snapshot_from_json_text(t1, &back, &err), 0);
	char *t2 = dump(&back);
	assert_string_equal(t1, t2);
	free(t1);
	free(t2);
	pv_snapshot_free(&s);
	pv_snapshot_free(&back);
}

static void refuses(void **state)
{
	(void)state;
	const struct {
		const char *json, *path;
	} r[] = {
		{ "[]", "$" },
		{ "{\"name\":", "JSON" },
		{ "{\"name\":\"a/b\",\"source\":\"db\",\"size\":1,\"readyToUse\":true,\"origin\":" ORIGIN("db") "}", "name" },
		{ "{\"name\":\"a\",\"source\":\"..\",\"size\":1,\"readyToUse\":true,\"origin\":" ORIGIN("db") "}", "source" },
		{ "{\"name\":\"a\",\"source\":\"db\",\"size\":\"1GB\",\"readyToUse\":true,\"origin\":" ORIGIN("db") "}", "size" },
		{ "{\"name\":\"a\",\"source\":\"db\",\"size\":1,\"readyToUse\":\"yes\",\"origin\":" ORIGIN("db") "}", "readyToUse" },
		{ "{\"name\":\"a\",\"source\":\"db\",\"size\":1,\"readyToUse\":true}", "origin" },
		{ "{\"name\":\"a\",\"source\":\"db\",\"size\":1,\"readyToUse\":true,\"origin\":" ORIGIN("other") "}", "origin.name" },
		{ "{\"name\":\"a\",\"source\":\"db\",\"size\":1,\"readyToUse\":true,\"origin\":{\"name\":\"db\"}}", "origin." },
		{ "{\"name\":\"a\",\"source\":\"db\",\"size\":1,\"readyToUse\":true,\"origin\":" ORIGIN("db") ",\"colour\":1}", "colour" },
		{ "{\"name\":\"a\",\"source\":\"db\",\"size\":1,\"readyToUse\":true,\"origin\":" ORIGIN("db") ",\"attributes\":{\"k\":1}}", "attributes.k" },
		{ "{\"name\":\"a\",\"source\":\"db\",\"size\":1,\"readyToUse\":true,\"createdAt\":\"now\",\"origin\":" ORIGIN("db") "}", "createdAt" },
	};
	for (size_t i = 0; i < sizeof(r) / sizeof(r[0]); i++) {
		struct pv_snapshot s;
		struct pv_err err = { 0 };
		int rc = pv_snapshot_from_json_text(r[i].json, &s, &err);
		if (rc == 0 || !strstr(err.msg, r[i].path) || err.kind != PV_E_INVALID)
			fail_msg("case %zu: rc=%d kind=%d msg='%s' (wanted '%s')", i, rc, err.kind, err.msg, r[i].path);
	}
}

static void records(void **state)
{
	(void)state;
	char dir[] = "/tmp/test_snapshot.XXXXXX", path[256];
	struct pv_snapshot s, t;
	struct pv_err err = { 0 };
	char **names = NULL;

	assert_non_null(mkdtemp(dir));
	assert_int_equal(pv_snapshot_from_json_text(good, &s, &err), 0);
	assert_int_equal(pv_snapshot_save(dir, &s, &err), 0);
	snprintf(s.name, sizeof(s.name), "tuesday");
	assert_int_equal(pv_snapshot_save(dir, &s, &err), 0);
	/* one of another volume */
	snprintf(s.name, sizeof(s.name), "web-1");
	snprintf(s.source, sizeof(s.source), "web");
	snprintf(s.origin.name, sizeof(s.origin.name), "web");
	assert_int_equal(pv_snapshot_save(dir, &s, &err), 0);
	/* a source that is not its origin is never written */
	snprintf(s.source, sizeof(s.source), "db");
	err = (struct pv_err){ 0 };
	assert_true(pv_snapshot_save(dir, &s, &err) < 0);
	pv_snapshot_free(&s);

	err = (struct pv_err){ 0 };
	assert_int_equal(pv_snapshot_load(dir, "tuesday", &t, &err), 0);
	assert_string_equal(t.source, "db");
	pv_snapshot_free(&t);
	err = (struct pv_err){ 0 };
	assert_int_equal(pv_snapshot_load(dir, "wednesday", &t, &err), -ENOENT);
	assert_int_equal(err.kind, PV_E_NOT_FOUND);
	err = (struct pv_err){ 0 };
	assert_int_equal(pv_snapshot_load(dir, "../x", &t, &err), -EINVAL);
	assert_int_equal(err.kind, PV_E_INVALID);

	assert_int_equal(pv_snapshot_list(dir, NULL, &names, &err), 0);
	assert_string_equal(names[0], "monday");
	assert_string_equal(names[1], "tuesday");
	assert_string_equal(names[2], "web-1");
	assert_null(names[3]);
	pv_strv_free(names);
	assert_int_equal(pv_snapshot_list(dir, "web", &names, &err), 0);
	assert_string_equal(names[0], "web-1");
	assert_null(names[1]);
	pv_strv_free(names);
	assert_int_equal(pv_snapshot_list(dir, "none", &names, &err), 0);
	assert_null(names[0]);
	pv_strv_free(names);

	/* a record renamed by hand is refused, not taken for another snapshot */
	snprintf(path, sizeof(path), "cp %s/catalog/snapshots/monday.json %s/catalog/snapshots/copied.json", dir, dir);
	assert_int_equal(system(path), 0);
	err = (struct pv_err){ 0 };
	assert_true(pv_snapshot_load(dir, "copied", &t, &err) < 0);
	assert_int_equal(err.kind, PV_E_INTERNAL);

	assert_int_equal(pv_snapshot_remove(dir, "monday", &err), 0);
	assert_int_equal(pv_snapshot_remove(dir, "monday", &err), 0); /* gone is success */
	err = (struct pv_err){ 0 };
	assert_int_equal(pv_snapshot_load(dir, "monday", &t, &err), -ENOENT);
	snprintf(path, sizeof(path), "rm -rf %s", dir);
	assert_int_equal(system(path), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parses_and_round_trips),
		cmocka_unit_test(refuses),
		cmocka_unit_test(records),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
