/* Unit tests: SELinux levels, labels and context flags (lib/os/selinux.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "engine/engine_int.h"

static void levels(void **state)
{
	(void)state;
	const char *ok[] = { "s0", "s0:c1,c2", "s0:c0", "s0:c1023", "s0:c0.c1023", "s15:c5,c9" };
	const char *bad[] = { "", "s", "s16", "s0:", "s0:c1024", "s0:c2,c1", "s0:c1,c1", "s0:c1;rm", "x0", "s0:c1,",
			      "s00", "s0:c0.c0" };
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (!pv_selinux_level_valid(ok[i]))
			fail_msg("'%s' should be valid", ok[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (pv_selinux_level_valid(bad[i]))
			fail_msg("'%s' should be invalid", bad[i]);
}

static void labels(void **state)
{
	(void)state;
	char buf[256];
	struct pv_err err = { 0 };
	assert_int_equal(pv_selinux_label("s0:c1,c2", buf, sizeof(buf), &err), 0);
	assert_string_equal(buf, "system_u:object_r:container_file_t:s0:c1,c2");
	assert_true(pv_selinux_label("s0:c9,c2", buf, sizeof(buf), &err) < 0);
	assert_int_equal(err.kind, PV_E_INVALID);
}

static void from_identity(void **state)
{
	(void)state;
	char a[64], b[64], c[64];
	pv_selinux_level_from_identity("pod-uid-1", a, sizeof(a));
	pv_selinux_level_from_identity("pod-uid-1", b, sizeof(b));
	pv_selinux_level_from_identity("pod-uid-2", c, sizeof(c));
	assert_string_equal(a, b);            /* stable */
	assert_string_not_equal(a, c);        /* distinct pods differ (for these ids) */
	assert_true(pv_selinux_level_valid(a)); /* two distinct categories in order */
	for (int i = 0; i < 2000; i++) {
		char id[32], lv[64];
		unsigned x, y;
		snprintf(id, sizeof(id), "pod-%d", i);
		pv_selinux_level_from_identity(id, lv, sizeof(lv));
		assert_int_equal(sscanf(lv, "s0:c%u,c%u", &x, &y), 2);
		assert_true(x < y && y <= 1023);
	}
}

static void context_flags(void **state)
{
	(void)state;
	char label[256];
	const char *f1[] = { "noatime", "context=\"system_u:object_r:container_file_t:s0:c3,c4\"" };
	const char *f2[] = { "noatime" };
	const char *f3[] = { "context=system_u:object_r:shadow_t:s0" };
	struct pv_err err = { 0 };
	assert_int_equal(pv_selinux_context_from_flags(f1, 2, label, sizeof(label), NULL), 1);
	assert_string_equal(label, "system_u:object_r:container_file_t:s0:c3,c4");
	assert_int_equal(pv_selinux_context_from_flags(f2, 1, label, sizeof(label), NULL), 0);
	assert_true(pv_selinux_context_from_flags(f3, 1, label, sizeof(label), &err) < 0);
	assert_int_equal(err.kind, PV_E_INVALID);
}

int main(void)
{
	const struct CMUnitTest tests[] = { cmocka_unit_test(levels), cmocka_unit_test(labels),
					    cmocka_unit_test(from_identity), cmocka_unit_test(context_flags) };
	return cmocka_run_group_tests(tests, NULL, NULL);
}
