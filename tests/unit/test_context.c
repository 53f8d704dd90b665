/* Unit tests: PV <-> CSI volume_context (lib/model/context.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "pvnode/pv.h"

static void round_trip(void **state)
{
	(void)state;
	struct pv pv, back;
	struct pv_map ctx = { 0 };
	struct pv_err err = { 0 };
	assert_int_equal(pv_parse_json("{\"name\":\"v1\",\"driver\":\"file\",\"capacity\":\"64Mi\",\"accessModes\":[\"RWO\",\"RWOP\"],"
				       "\"fsType\":\"xfs\",\"gid\":42,\"mountOptions\":[\"noatime\",\"nodev\"],"
				       "\"attributes\":{\"path\":\"/tmp/v1.img\"}}", &pv, &err), 0);
	assert_int_equal(pv_to_context(&pv, &ctx, &err), 0);
	assert_string_equal(pv_map_get(&ctx, "path"), "/tmp/v1.img");
	assert_string_equal(pv_map_get(&ctx, "pvnode.io/driver"), "file");
	pv_map_set(&ctx, "csi.storage.k8s.io/pod.name", "x"); /* sidecar keys are ignored */
	assert_int_equal(pv_from_context("v1", &ctx, &back, &err), 0);
	char *a = pv_to_json_text(&pv), *b = pv_to_json_text(&back);
	/* createdAt is not part of the context; everything else is */
	assert_string_equal(a, b);
	free(a);
	free(b);
	pv_free(&pv);
	pv_free(&back);
	pv_map_free(&ctx);
}

static void refuses(void **state)
{
	(void)state;
	struct pv_map ctx = { 0 };
	struct pv back;
	struct pv_err err = { 0 };
	assert_true(pv_from_context("v1", &ctx, &back, &err) < 0); /* no driver */
	assert_int_equal(err.kind, PV_E_INVALID);
	pv_map_set(&ctx, "pvnode.io/driver", "file");
	pv_map_set(&ctx, "pvnode.io/capacity", "1Mi");
	pv_err_clear(&err);
	assert_true(pv_from_context("../etc", &ctx, &back, &err) < 0);
	pv_map_set(&ctx, "pvnode.io/bogus", "1");
	pv_err_clear(&err);
	assert_true(pv_from_context("v1", &ctx, &back, &err) < 0);
	assert_non_null(strstr(err.msg, "bogus"));
	pv_map_free(&ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = { cmocka_unit_test(round_trip), cmocka_unit_test(refuses) };
	return cmocka_run_group_tests(tests, NULL, NULL);
}
