/* Unit tests: DESIGN.md's access-mode matrix (lib/engine/policy.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "engine/engine_int.h"

static struct pv mkpv(unsigned modes, enum pv_volume_mode vm)
{
	struct pv pv;
	pv_init(&pv);
	strcpy(pv.name, "v");
	strcpy(pv.driver, "file");
	pv.access_modes = modes;
	pv.volume_mode = vm;
	return pv;
}

#define ALL (PV_ACCESS_BIT(PV_RWO) | PV_ACCESS_BIT(PV_ROX) | PV_ACCESS_BIT(PV_RWX) | PV_ACCESS_BIT(PV_RWOP))

static void stage_matrix(void **state)
{
	(void)state;
	struct pv fs = mkpv(ALL, PV_VOLUME_FILESYSTEM), blk = mkpv(ALL, PV_VOLUME_BLOCK);
	struct pv_err err = { 0 };
	/* shared storage: everything allowed */
	for (int a = PV_RWO; a <= PV_RWOP; a++)
		assert_int_equal(pv_policy_stage(&fs, PV_SHARED, (enum pv_access)a, false, NULL), 0);
	/* block storage, filesystem: RWX refused, the rest allowed */
	assert_int_equal(pv_policy_stage(&fs, PV_BLOCKDEV, PV_RWO, false, NULL), 0);
	assert_int_equal(pv_policy_stage(&fs, PV_BLOCKDEV, PV_ROX, false, NULL), 0);
	assert_int_equal(pv_policy_stage(&fs, PV_BLOCKDEV, PV_RWOP, false, NULL), 0);
	assert_true(pv_policy_stage(&fs, PV_BLOCKDEV, PV_RWX, false, &err) < 0);
	assert_int_equal(err.kind, PV_E_POLICY);
	/* block storage, volumeMode Block: RWX allowed */
	assert_int_equal(pv_policy_stage(&blk, PV_BLOCKDEV, PV_RWX, true, NULL), 0);
	/* a mode the PV does not offer */
	struct pv rwo = mkpv(PV_ACCESS_BIT(PV_RWO), PV_VOLUME_FILESYSTEM);
	pv_err_clear(&err);
	assert_true(pv_policy_stage(&rwo, PV_BLOCKDEV, PV_ROX, false, &err) < 0);
	assert_int_equal(err.kind, PV_E_POLICY);
	assert_non_null(strstr(err.msg, "ReadWriteOnce"));
	/* access type must match volumeMode */
	pv_err_clear(&err);
	assert_true(pv_policy_stage(&fs, PV_BLOCKDEV, PV_RWO, true, &err) < 0);
	assert_int_equal(err.kind, PV_E_INVALID);
}

static void fence_and_readonly(void **state)
{
	(void)state;
	assert_true(pv_policy_needs_fence(PV_BLOCKDEV, PV_RWO));
	assert_true(pv_policy_needs_fence(PV_BLOCKDEV, PV_RWOP));
	assert_false(pv_policy_needs_fence(PV_BLOCKDEV, PV_ROX));
	assert_false(pv_policy_needs_fence(PV_BLOCKDEV, PV_RWX));
	assert_false(pv_policy_needs_fence(PV_SHARED, PV_RWO));
	assert_true(pv_policy_stage_readonly(PV_ROX, false));
	assert_false(pv_policy_stage_readonly(PV_RWO, false));
	assert_true(pv_policy_stage_readonly(PV_RWO, true));
}

static void publish(void **state)
{
	(void)state;
	bool ro;
	struct pv_err err = { 0 };
	assert_int_equal(pv_policy_publish("v", PV_RWO, false, PV_RWO, false, 3, &ro, NULL), 0);
	assert_false(ro);
	assert_int_equal(pv_policy_publish("v", PV_RWO, false, PV_RWO, true, 0, &ro, NULL), 0);
	assert_true(ro);
	assert_int_equal(pv_policy_publish("v", PV_ROX, true, PV_ROX, false, 0, &ro, NULL), 0);
	assert_true(ro);
	/* RWOP: exactly one publish */
	assert_int_equal(pv_policy_publish("v", PV_RWOP, false, PV_RWOP, false, 0, &ro, NULL), 0);
	assert_true(pv_policy_publish("v", PV_RWOP, false, PV_RWOP, false, 1, &ro, &err) < 0);
	assert_int_equal(err.kind, PV_E_POLICY);
	/* staged read-only: a read-write publish becomes read-only, never writable */
	assert_int_equal(pv_policy_publish("v", PV_RWO, true, PV_RWO, false, 0, &ro, NULL), 0);
	assert_true(ro);
	/* staged ROX, publish RWO: refused */
	pv_err_clear(&err);
	assert_true(pv_policy_publish("v", PV_ROX, true, PV_RWO, false, 0, &ro, &err) < 0);
	assert_int_equal(err.kind, PV_E_POLICY);
}

int main(void)
{
	const struct CMUnitTest tests[] = { cmocka_unit_test(stage_matrix), cmocka_unit_test(fence_and_readonly),
					    cmocka_unit_test(publish) };
	return cmocka_run_group_tests(tests, NULL, NULL);
}
