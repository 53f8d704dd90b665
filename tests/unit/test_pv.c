/* Unit tests: PV JSON validation (lib/model/pvjson.c) — every refusal names the path. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "pvnode/pv.h"

static const char *good = "{\"name\":\"web-data\",\"driver\":\"file\",\"capacity\":\"1Gi\","
			  "\"accessModes\":[\"ReadWriteOnce\",\"ROX\"],\"volumeMode\":\"Filesystem\",\"fsType\":\"xfs\","
			  "\"mountOptions\":[\"noatime\"],\"gid\":5555,\"attributes\":{\"path\":\"/tmp/x.img\"},"
			  "\"secretRef\":\"s1\"}";

static void accepts_and_round_trips(void **state)
{
	(void)state;
	struct pv pv, back;
	struct pv_err err = { 0 };
	assert_int_equal(pv_parse_json(good, &pv, &err), 0);
	assert_string_equal(pv.name, "web-data");
	assert_true(pv.capacity == (1ull << 30));
	assert_int_equal(pv.access_modes, PV_ACCESS_BIT(PV_RWO) | PV_ACCESS_BIT(PV_ROX));
	assert_int_equal(pv.gid, 5555);
	assert_string_equal(pv.fs_type, "xfs");
	assert_string_equal(pv_map_get(&pv.attributes, "path"), "/tmp/x.img");
	char *text = pv_to_json_text(&pv);
	assert_int_equal(pv_parse_json(text, &back, &err), 0);
	char *text2 = pv_to_json_text(&back);
	assert_string_equal(text, text2);
	free(text);
	free(text2);
	pv_free(&pv);
	pv_free(&back);
}

static void defaults_fs_type(void **state)
{
	(void)state;
	struct pv pv;
	assert_int_equal(pv_parse_json("{\"name\":\"a\",\"driver\":\"file\",\"capacity\":4096,\"accessModes\":[\"RWO\"]}", &pv, NULL), 0);
	assert_string_equal(pv.fs_type, "ext4");
	pv_free(&pv);
}

struct refusal {
	const char *json;
	const char *path; /* must appear in the message */
	enum pv_err_kind kind;
};

static void refuses(void **state)
{
	(void)state;
	const struct refusal r[] = {
		{ "{\"name\":\"a\",\"driver\":\"file\",\"capacity\":\"1Gi\",\"accessModes\":[\"RWO\"],\"colour\":1}", "colour", PV_E_INVALID },
		{ "{\"name\":\"a\",\"driver\":\"file\",\"capacity\":\"1GB\",\"accessModes\":[\"RWO\"]}", "capacity", PV_E_INVALID },
		{ "{\"name\":\"a\",\"driver\":\"file\",\"capacity\":\"1Gi\",\"accessModes\":[\"RWO\",\"RWZ\"]}", "accessModes[1]", PV_E_INVALID },
		{ "{\"name\":\"a\",\"driver\":\"file\",\"capacity\":\"1Gi\",\"accessModes\":[\"RWX\"]}", "ReadWriteMany", PV_E_POLICY },
		{ "{\"name\":\"a\",\"driver\":\"tape\",\"capacity\":\"1Gi\",\"accessModes\":[\"RWO\"]}", "driver", PV_E_INVALID },
		{ "{\"name\":\"a/b\",\"driver\":\"file\",\"capacity\":\"1Gi\",\"accessModes\":[\"RWO\"]}", "name", PV_E_INVALID },
		{ "{\"name\":\"..\",\"driver\":\"file\",\"capacity\":\"1Gi\",\"accessModes\":[\"RWO\"]}", "name", PV_E_INVALID },
		{ "{\"name\":\"a\",\"driver\":\"file\",\"capacity\":\"1Gi\",\"accessModes\":[]}", "accessModes", PV_E_INVALID },
		{ "{\"name\":\"a\",\"driver\":\"file\",\"accessModes\":[\"RWO\"]}", "capacity", PV_E_INVALID },
		{ "{\"name\":\"a\",\"driver\":\"file\",\"capacity\":\"1Gi\",\"accessModes\":[\"RWO\"],\"fsType\":\"ntfs\"}", "fsType", PV_E_INVALID },
		{ "{\"name\":\"a\",\"driver\":\"file\",\"capacity\":\"1Gi\",\"accessModes\":[\"RWO\"],\"volumeMode\":\"Tape\"}", "volumeMode", PV_E_INVALID },
		{ "{\"name\":\"a\",\"driver\":\"file\",\"capacity\":\"1Gi\",\"accessModes\":[\"RWO\"],\"gid\":-5}", "gid", PV_E_INVALID },
		{ "{\"name\":\"a\",\"driver\":\"file\",\"capacity\":\"1Gi\",\"accessModes\":[\"RWO\"],\"attributes\":{\"size\":\"1\"}}", "attributes.size", PV_E_INVALID },
		{ "{\"name\":\"a\",\"driver\":\"file\",\"capacity\":\"1Gi\",\"accessModes\":[\"RWO\"],\"attributes\":{\"path\":\"rel/x\"}}", "attributes.path", PV_E_INVALID },
		{ "{\"name\":\"a\",\"driver\":\"file\",\"capacity\":\"1Gi\",\"accessModes\":[\"RWO\"],\"attributes\":{\"path\":\"/a/../b\"}}", "attributes.path", PV_E_INVALID },
		{ "{\"name\":\"a\",\"driver\":\"file\",\"capacity\":\"1Gi\",\"accessModes\":[\"RWO\"],\"mountOptions\":[\"a,b\"]}", "mountOptions[0]", PV_E_INVALID },
		{ "{\"name\":\"a\",\"driver\":\"file\",\"capacity\":\"1Gi\",\"accessModes\":[\"RWO\"],\"volumeMode\":\"Block\",\"fsType\":\"ext4\"}", "fsType", PV_E_INVALID },
		{ "[1,2]", "$", PV_E_INVALID },
		{ "{\"name\":", "JSON", PV_E_INVALID },
		{ "{\"name\":\"a\",\"name\":\"b\",\"driver\":\"file\"}", "JSON", PV_E_INVALID },
		/* source: exactly one of snapshot / volume, naming something valid */
		{ "{\"name\":\"a\",\"driver\":\"file\",\"capacity\":\"1Gi\",\"accessModes\":[\"RWO\"],\"source\":\"s1\"}", "source", PV_E_INVALID },
		{ "{\"name\":\"a\",\"driver\":\"file\",\"capacity\":\"1Gi\",\"accessModes\":[\"RWO\"],\"source\":{}}", "source", PV_E_INVALID },
		{ "{\"name\":\"a\",\"driver\":\"file\",\"capacity\":\"1Gi\",\"accessModes\":[\"RWO\"],\"source\":{\"snapshot\":\"s\",\"volume\":\"v\"}}", "source", PV_E_INVALID },
		{ "{\"name\":\"a\",\"driver\":\"file\",\"capacity\":\"1Gi\",\"accessModes\":[\"RWO\"],\"source\":{\"backup\":\"b\"}}", "source.backup", PV_E_INVALID },
		{ "{\"name\":\"a\",\"driver\":\"file\",\"capacity\":\"1Gi\",\"accessModes\":[\"RWO\"],\"source\":{\"snapshot\":\"a/b\"}}", "source.snapshot", PV_E_INVALID },
		{ "{\"name\":\"a\",\"driver\":\"file\",\"capacity\":\"1Gi\",\"accessModes\":[\"RWO\"],\"source\":{\"snapshot\":7}}", "source.snapshot", PV_E_INVALID },
		{ "{\"name\":\"a\",\"driver\":\"file\",\"capacity\":\"1Gi\",\"accessModes\":[\"RWO\"],\"source\":{\"volume\":\"\"}}", "source.volume", PV_E_INVALID },
		{ "{\"name\":\"a\",\"driver\":\"file\",\"capacity\":\"1Gi\",\"accessModes\":[\"RWO\"],\"source\":{\"volume\":\"a\"}}", "itself", PV_E_INVALID },
	};
	for (size_t i = 0; i < sizeof(r) / sizeof(r[0]); i++) {
		struct pv pv;
		struct pv_err err = { 0 };
		int rc = pv_parse_json(r[i].json, &pv, &err);
		if (rc == 0 || !strstr(err.msg, r[i].path) || err.kind != r[i].kind)
			fail_msg("case %zu: rc=%d kind=%d msg='%s' (wanted '%s')", i, rc, err.kind, err.msg, r[i].path);
	}
}

static void source_round_trips(void **state)
{
	(void)state;
	const char *snap = "{\"name\":\"r\",\"driver\":\"file\",\"capacity\":\"2Gi\",\"accessModes\":[\"RWO\"],"
			   "\"source\":{\"snapshot\":\"monday\"}}";
	const char *vol = "{\"name\":\"c\",\"driver\":\"file\",\"accessModes\":[\"RWO\"],\"source\":{\"volume\":\"db\"}}";
	struct pv pv, back, copy;
	struct pv_err err = { 0 };

	assert_int_equal(pv_parse_json(snap, &pv, &err), 0);
	assert_int_equal(pv.source_kind, PV_SOURCE_SNAPSHOT);
	assert_string_equal(pv.source, "monday");
	char *text = pv_to_json_text(&pv);
	assert_non_null(strstr(text, "\"source\": {\n    \"snapshot\": \"monday\"\n  }"));
	assert_int_equal(pv_parse_json(text, &back, &err), 0);
	assert_int_equal(back.source_kind, PV_SOURCE_SNAPSHOT);
	assert_string_equal(back.source, "monday");
	assert_int_equal(pv_copy(&copy, &back, &err), 0);
	assert_int_equal(copy.source_kind, PV_SOURCE_SNAPSHOT);
	assert_string_equal(copy.source, "monday");
	free(text);
	pv_free(&pv);
	pv_free(&back);
	pv_free(&copy);

	/* a block volume from a source may leave out its capacity: it gets its source's */
	assert_int_equal(pv_parse_json(vol, &pv, &err), 0);
	assert_int_equal(pv.source_kind, PV_SOURCE_VOLUME);
	assert_string_equal(pv.source, "db");
	assert_true(pv.capacity == 0);
	text = pv_to_json_text(&pv);
	assert_non_null(strstr(text, "\"volume\": \"db\""));
	assert_null(strstr(text, "capacity"));
	free(text);
	pv_free(&pv);

	/* no source: no key */
	assert_int_equal(pv_parse_json(good, &pv, &err), 0);
	assert_int_equal(pv.source_kind, PV_SOURCE_NONE);
	text = pv_to_json_text(&pv);
	assert_null(strstr(text, "source"));
	free(text);
	pv_free(&pv);
}

static void names(void **state)
{
	(void)state;
	assert_true(pv_name_valid("pvc-1234.a_b:c"));
	assert_false(pv_name_valid(""));
	assert_false(pv_name_valid("a/b"));
	assert_false(pv_name_valid("a b"));
	assert_false(pv_name_valid("."));
	char longname[200];
	memset(longname, 'a', 129);
	longname[129] = '\0';
	assert_false(pv_name_valid(longname));
	longname[128] = '\0';
	assert_true(pv_name_valid(longname));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(accepts_and_round_trips), cmocka_unit_test(defaults_fs_type),
		cmocka_unit_test(refuses), cmocka_unit_test(names), cmocka_unit_test(source_round_trips),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
