/*
 * test_rbd_krbd.c — the kernel RBD path's strings (drivers/rbd/rbd_krbd.c): the
 * add_single_major request never carries the key, options follow the access mode and
 * the PV, remove strings, matching a mapped device. (The kernel path itself cannot run
 * on the development machines: no rbd module.)
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <rbd/features.h>

#include "rbd_krbd.h"

#define KEY "AQBNvBBhAAAAABAAwm8yGWcT9Z61Kel+XEOwRw=="

static void target(struct pvr_target *t, const char *mons)
{
	struct pv_err err = { 0 };
	memset(t, 0, sizeof(*t));
	assert_int_equal(pvr_parse_monitors(mons, t, &err), 0);
	snprintf(t->pool, sizeof(t->pool), "rbd");
	snprintf(t->image, sizeof(t->image), "vol1");
	t->features = RBD_FEATURES_DEFAULT;
	t->osd_timeout_s = 30;
	t->mon_timeout_s = 20;
}

static void test_add_string(void **state)
{
	struct pvr_target t;
	struct pvr_cred c = { .user = "csi", .key = KEY };
	char desc[256], buf[2048];
	struct pv_err err = { 0 };
	(void)state;
	target(&t, "10.0.0.1,10.0.0.2:6790");
	pvr_krbd_key_desc(&t, &c, desc, sizeof(desc));
	assert_string_equal(desc, "pvnode:client.csi:rbd/vol1");
	assert_int_equal(pvr_krbd_add_string(&t, &c, desc, false, true, buf, sizeof(buf), &err), 0);
	assert_string_equal(buf, "10.0.0.1:6789,10.0.0.2:6790 name=csi,key=pvnode:client.csi:rbd/vol1,"
				 "osd_request_timeout=30,mount_timeout=20,exclusive rbd vol1 -");
	assert_null(strstr(buf, KEY));
	assert_null(strstr(buf, "secret="));

	/* read-only: no exclusive lock; a namespace and the PV's options */
	snprintf(t.rados_namespace, sizeof(t.rados_namespace), "ns");
	snprintf(t.map_options, sizeof(t.map_options), "queue_depth=128");
	pvr_krbd_key_desc(&t, &c, desc, sizeof(desc));
	assert_string_equal(desc, "pvnode:client.csi:rbd/ns/vol1");
	assert_int_equal(pvr_krbd_add_string(&t, &c, desc, true, true, buf, sizeof(buf), &err), 0);
	assert_string_equal(buf, "10.0.0.1:6789,10.0.0.2:6790 name=csi,key=pvnode:client.csi:rbd/ns/vol1,"
				 "osd_request_timeout=30,mount_timeout=20,read_only,_pool_ns=ns,"
				 "queue_depth=128 rbd vol1 -");

	/* msgr2 monitors need ms_mode; mixing is refused */
	target(&t, "[::1]:3300");
	assert_int_equal(pvr_krbd_add_string(&t, &c, desc, false, false, buf, sizeof(buf), &err), 0);
	assert_non_null(strstr(buf, "[::1]:3300 name=csi,"));
	assert_non_null(strstr(buf, ",ms_mode=prefer-crc "));
	target(&t, "h1:3300,h2:6789");
	assert_int_equal(pvr_krbd_add_string(&t, &c, desc, false, false, buf, sizeof(buf), &err), -EINVAL);
	assert_non_null(strstr(err.msg, "mixes msgr1 and msgr2"));

	/* journaling is userspace-only; a tiny buffer is refused, not truncated */
	target(&t, "h1");
	t.features |= RBD_FEATURE_JOURNALING;
	memset(&err, 0, sizeof(err));
	assert_true(pvr_krbd_add_string(&t, &c, desc, false, false, buf, sizeof(buf), &err) < 0);
	assert_non_null(strstr(err.msg, "journaling"));
	t.features = RBD_FEATURE_LAYERING;
	memset(&err, 0, sizeof(err));
	assert_int_equal(pvr_krbd_add_string(&t, &c, desc, false, false, buf, 20, &err), -ENAMETOOLONG);
}

static void test_remove_and_match(void **state)
{
	struct pvr_target t;
	char buf[32];
	(void)state;
	assert_int_equal(pvr_krbd_remove_string(3, false, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "3");
	assert_int_equal(pvr_krbd_remove_string(12, true, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "12 force");
	assert_int_equal(pvr_krbd_remove_string(-1, true, buf, sizeof(buf)), -EINVAL);

	target(&t, "h1");
	assert_true(pvr_krbd_device_matches(&t, "rbd\n", "\n", "vol1\n", "-\n"));
	assert_true(pvr_krbd_device_matches(&t, "rbd\n", NULL, "vol1\n", "-\n"));
	assert_false(pvr_krbd_device_matches(&t, "rbd\n", "\n", "vol10\n", "-\n"));
	assert_false(pvr_krbd_device_matches(&t, "rbd\n", "\n", "vol1\n", "snap1\n"));
	assert_false(pvr_krbd_device_matches(&t, "rbd2\n", "\n", "vol1\n", "-\n"));
	snprintf(t.rados_namespace, sizeof(t.rados_namespace), "ns");
	assert_false(pvr_krbd_device_matches(&t, "rbd\n", "\n", "vol1\n", "-\n"));
	assert_true(pvr_krbd_device_matches(&t, "rbd\n", "ns\n", "vol1\n", "-\n"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_string),
		cmocka_unit_test(test_remove_and_match),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
