/*
 * test_rbd_attr.c — the RBD driver's attributes and cephx credentials
 * (drivers/rbd/rbd_attr.c): monitors, Ceph names, image features, mounter, krbd map
 * options, timeouts, the exclusive-lock rule for RWO/RWOP, userID and userKey.
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

#include "rbd_attr.h"

#define KEY "AQBNvBBhAAAAABAAwm8yGWcT9Z61Kel+XEOwRw=="

static void expect_invalid(int r, const struct pv_err *err, const char *needle)
{
	assert_int_equal(r, -EINVAL);
	assert_int_equal(err->kind, PV_E_INVALID);
	if (!strstr(err->msg, needle))
		fail_msg("\"%s\" does not mention \"%s\"", err->msg, needle);
}

static void test_monitors(void **state)
{
	struct pvr_target t;
	struct pv_err err = { 0 };
	(void)state;
	assert_int_equal(pvr_parse_monitors("10.0.0.1:6789,10.0.0.2", &t, &err), 0);
	assert_string_equal(t.monitors, "10.0.0.1:6789,10.0.0.2:6789");
	assert_string_equal(t.mon_host, "v1:10.0.0.1:6789,v1:10.0.0.2:6789");
	assert_int_equal(pvr_parse_monitors("[::1]:3300,mon-a.example.com:40000", &t, &err), 0);
	assert_string_equal(t.monitors, "[::1]:3300,mon-a.example.com:40000");
	assert_string_equal(t.mon_host, "v2:[::1]:3300,v1:mon-a.example.com:40000");
	assert_int_equal(pvr_parse_monitors("v2:127.0.0.1:5000,[fe80::1]", &t, &err), 0);
	assert_string_equal(t.mon_host, "v2:127.0.0.1:5000,v1:[fe80::1]:6789");
	const char *bad[] = {
		"", "10.0.0.1:6789;debug_ms=20", "h:1\nkey=x", "h 1", "a:1,,b:2", "a:1,", ",a:1",
		"h:0", "h:65536", "h:x", "h:+1", "-h:1", "[::1", "[zz::1]:1", "h=1", "v3:h:1",
		"mon_host=h", "a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q", "h:1:2", NULL,
	};
	for (int i = 0; bad[i]; i++) {
		memset(&err, 0, sizeof(err));
		expect_invalid(pvr_parse_monitors(bad[i], &t, &err), &err, "attributes.monitors");
		assert_non_null(strstr(err.msg, "host[:port]"));
	}
	memset(&err, 0, sizeof(err));
	assert_int_equal(pvr_parse_monitors(NULL, &t, &err), -EINVAL);
}

static void test_names(void **state)
{
	char out[PVR_NAME_MAX + 1], big[PVR_NAME_MAX + 2];
	struct pv_err err = { 0 };
	(void)state;
	assert_int_equal(pvr_parse_name("pool", "rbd", out, sizeof(out), &err), 0);
	assert_string_equal(out, "rbd");
	assert_int_equal(pvr_parse_name("image", "csi-vol_1.a:b", out, sizeof(out), &err), 0);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	const char *bad[] = { "", "a/b", "img@snap", "a b", "a\nb", "a\tb", "-x", ".x", "\x7f", big,
			      "x,read_write", "a=b", "a\\b", "a\"b", NULL };
	for (int i = 0; bad[i]; i++) {
		memset(&err, 0, sizeof(err));
		expect_invalid(pvr_parse_name("image", bad[i], out, sizeof(out), &err), &err,
			       "attributes.image");
	}
	big[PVR_NAME_MAX] = '\0';   /* exactly the maximum */
	assert_int_equal(pvr_parse_name("pool", big, out, sizeof(out), &err), 0);
}

static void test_features(void **state)
{
	uint64_t f = 0;
	char text[256];
	struct pv_err err = { 0 };
	(void)state;
	assert_int_equal(pvr_parse_features(PVR_FEATURES_DEFAULT_TEXT, &f, &err), 0);
	assert_true(f == RBD_FEATURES_DEFAULT);
	pvr_features_text(f, text, sizeof(text));
	assert_string_equal(text, PVR_FEATURES_DEFAULT_TEXT);
	assert_int_equal(pvr_parse_features("layering", &f, &err), 0);
	assert_true(f == RBD_FEATURE_LAYERING);
	assert_int_equal(pvr_parse_features("", &f, &err), 0);
	assert_true(f == 0);
	assert_int_equal(pvr_parse_features("exclusive-lock,journaling,layering", &f, &err), 0);
	expect_invalid(pvr_parse_features("layering,striping", &f, &err), &err, "\"striping\"");
	assert_non_null(strstr(err.msg, "allowed: layering"));
	memset(&err, 0, sizeof(err));
	expect_invalid(pvr_parse_features("layering,object-map", &f, &err), &err,
		       "object-map without exclusive-lock");
	memset(&err, 0, sizeof(err));
	expect_invalid(pvr_parse_features("exclusive-lock,fast-diff", &f, &err), &err,
		       "fast-diff without object-map");
	memset(&err, 0, sizeof(err));
	expect_invalid(pvr_parse_features("layering,", &f, &err), &err, "empty entry");
	memset(&err, 0, sizeof(err));
	expect_invalid(pvr_parse_features("layering,,deep-flatten", &f, &err), &err, "empty entry");
}

static void test_mounter_options_timeouts(void **state)
{
	enum pvr_mounter m;
	char opts[PVR_MAP_OPTIONS_MAX];
	int to = 0;
	struct pv_err err = { 0 };
	(void)state;
	assert_int_equal(pvr_parse_mounter(NULL, &m, &err), 0);
	assert_int_equal(m, PVR_MOUNTER_AUTO);
	assert_int_equal(pvr_parse_mounter("kernel", &m, &err), 0);
	assert_int_equal(m, PVR_MOUNTER_KERNEL);
	assert_int_equal(pvr_parse_mounter("userspace", &m, &err), 0);
	assert_int_equal(m, PVR_MOUNTER_USERSPACE);
	expect_invalid(pvr_parse_mounter("nbd", &m, &err), &err, "attributes.mounter");

	memset(&err, 0, sizeof(err));
	assert_int_equal(pvr_parse_map_options("queue_depth=128,notrim,ms_mode=crc", opts, sizeof(opts), &err), 0);
	assert_string_equal(opts, "queue_depth=128,notrim,ms_mode=crc");
	assert_int_equal(pvr_parse_map_options(NULL, opts, sizeof(opts), &err), 0);
	assert_string_equal(opts, "");
	const char *bad[] = { "secret=AQB", "name=admin", "key=x", "read_only", "ro", "a b", "x=1;y",
			      "x=\n", "=1", "x=", "noshare,", "Queue=1", NULL };
	for (int i = 0; bad[i]; i++) {
		memset(&err, 0, sizeof(err));
		expect_invalid(pvr_parse_map_options(bad[i], opts, sizeof(opts), &err), &err,
			       "attributes.mapOptions");
	}

	memset(&err, 0, sizeof(err));
	assert_int_equal(pvr_parse_timeout("osdTimeout", NULL, &to, &err), 0);
	assert_int_equal(to, 30);
	assert_int_equal(pvr_parse_timeout("osdTimeout", "5", &to, &err), 0);
	assert_int_equal(to, 5);
	const char *badt[] = { "0", "-1", "601", "5s", "", " 5", "+5", NULL };
	for (int i = 0; badt[i]; i++) {
		memset(&err, 0, sizeof(err));
		expect_invalid(pvr_parse_timeout("monTimeout", badt[i], &to, &err), &err,
			       "attributes.monTimeout");
	}
}

static void mkpv(struct pv *pv, unsigned modes, const char *const *kv)
{
	pv_init(pv);
	snprintf(pv->name, sizeof(pv->name), "vol-1");
	snprintf(pv->driver, sizeof(pv->driver), "rbd");
	pv->access_modes = modes;
	for (int i = 0; kv[i]; i += 2)
		pv_map_set(&pv->attributes, kv[i], kv[i + 1]);
}

static void test_target_from_pv(void **state)
{
	struct pv pv;
	struct pvr_target t;
	struct pv_err err = { 0 };
	(void)state;
	const char *min[] = { "monitors", "127.0.0.1:40000", "pool", "rbd", NULL };
	mkpv(&pv, PV_ACCESS_BIT(PV_RWO), min);
	assert_int_equal(pvr_target_from_pv(&pv, &t, &err), 0);
	assert_string_equal(t.image, "vol-1");           /* default: the PV name */
	assert_string_equal(t.rados_namespace, "");
	assert_string_equal(t.data_pool, "");
	assert_true(t.features == RBD_FEATURES_DEFAULT);
	assert_int_equal(t.osd_timeout_s, 30);
	assert_int_equal(t.mon_timeout_s, 30);
	assert_int_equal(t.mounter, PVR_MOUNTER_AUTO);
	pv_free(&pv);

	const char *all[] = { "monitors", "[::1]:3300", "pool", "p1", "image", "img",
			      "radosNamespace", "ns1", "dataPool", "ec", "imageFeatures", "layering",
			      "mounter", "userspace", "osdTimeout", "5", "monTimeout", "7", NULL };
	mkpv(&pv, PV_ACCESS_BIT(PV_ROX), all);
	assert_int_equal(pvr_target_from_pv(&pv, &t, &err), 0);
	assert_string_equal(t.image, "img");
	assert_string_equal(t.rados_namespace, "ns1");
	assert_string_equal(t.data_pool, "ec");
	assert_int_equal(t.osd_timeout_s, 5);
	assert_int_equal(t.mon_timeout_s, 7);
	pv_free(&pv);

	/* RWO / RWOP without exclusive-lock: refused with the reason */
	mkpv(&pv, PV_ACCESS_BIT(PV_RWOP), all);
	expect_invalid(pvr_target_from_pv(&pv, &t, &err), &err, "lacks exclusive-lock");
	assert_non_null(strstr(err.msg, "fences"));
	pv_free(&pv);

	const char *nopool[] = { "monitors", "h", NULL };
	mkpv(&pv, PV_ACCESS_BIT(PV_RWO), nopool);
	memset(&err, 0, sizeof(err));
	expect_invalid(pvr_target_from_pv(&pv, &t, &err), &err, "attributes.pool");
	pv_free(&pv);
	const char *badns[] = { "monitors", "h", "pool", "rbd", "radosNamespace", "a/b", NULL };
	mkpv(&pv, PV_ACCESS_BIT(PV_RWO), badns);
	memset(&err, 0, sizeof(err));
	expect_invalid(pvr_target_from_pv(&pv, &t, &err), &err, "attributes.radosNamespace");
	pv_free(&pv);
}

static void test_credentials(void **state)
{
	struct pv_map m = { 0 };
	struct pvr_cred c;
	char out[PVR_KEY_MAX + 1];
	unsigned char raw[64];
	struct pv_err err = { 0 };
	(void)state;
	assert_int_equal(pvr_parse_key(KEY, out, sizeof(out), &err), 0);
	assert_int_equal(pvr_key_decode(KEY, raw, sizeof(raw)), 28);
	assert_int_equal(raw[0], 1);
	const char *bad[] = { "", "secret", "AQBNvBBhAAAAABAAwm8yGWcT9Z61Kel+XEOwRw=",
			      "AQBNvBBhAAAAABAAwm8yGWcT9Z61Kel+XEOwRw==\n",
			      "AQBNvBBhAAAAABAAwm8yGWcT9Z61Kel+XEOwR===",
			      "AgBNvBBhAAAAABAAwm8yGWcT9Z61Kel+XEOwRw==", /* type 2 */
			      "AQBNvBBhAAAAABEAwm8yGWcT9Z61Kel+XEOwRw==", /* length 17 */
			      "AQBN*BBhAAAAABAAwm8yGWcT9Z61Kel+XEOwRw==", NULL };
	for (int i = 0; bad[i]; i++) {
		memset(&err, 0, sizeof(err));
		expect_invalid(pvr_parse_key(bad[i], out, sizeof(out), &err), &err, "secrets.userKey");
		if (strlen(bad[i]) > 8 && strstr(err.msg, bad[i]))
			fail_msg("the refusal shows the key: %s", err.msg);
	}
	memset(&err, 0, sizeof(err));
	assert_int_equal(pvr_parse_user("client.csi-rbd", out, sizeof(out), &err), 0);
	assert_string_equal(out, "csi-rbd");
	expect_invalid(pvr_parse_user("a b", out, sizeof(out), &err), &err, "secrets.userID");

	memset(&err, 0, sizeof(err));
	expect_invalid(pvr_cred_from_map(&m, &c, &err), &err, "secrets.userKey: missing");
	pv_map_set(&m, "userKey", KEY);
	memset(&err, 0, sizeof(err));
	assert_int_equal(pvr_cred_from_map(&m, &c, &err), 0);
	assert_string_equal(c.user, "admin");
	assert_string_equal(c.key, KEY);
	pvr_cred_wipe(&c);
	assert_int_equal(c.key[0], 0);
	pv_map_free_secure(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_monitors),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_features),
		cmocka_unit_test(test_mounter_options_timeouts),
		cmocka_unit_test(test_target_from_pv),
		cmocka_unit_test(test_credentials),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
