/*
 * test_iscsi_attr.c — the iSCSI driver's attribute and secret handling
 * (drivers/iscsi/iscsi_attr.c): portals, IQNs, LUNs, initiator names, CHAP keys.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "iscsi_conn.h"
#include "pvnode/pv.h"
#include "pvnode/secrets.h"

/* Each call gets an empty error: setting one twice is a bug the debug build aborts on. */
static struct pv_err *fresh(struct pv_err *e)
{
	pv_err_clear(e);
	return e;
}

static void test_portals(void **state)
{
	struct pvi_target t = { 0 };
	struct pv_err err = { 0 };
	(void)state;
	assert_int_equal(pvi_parse_portals("127.0.0.1:13001", &t, fresh(&err)), 0);
	assert_int_equal(t.n_portals, 1);
	assert_string_equal(t.portals[0], "127.0.0.1:13001");
	assert_int_equal(pvi_parse_portals("a.example:1,b.example", &t, fresh(&err)), 0);
	assert_int_equal(t.n_portals, 2);
	assert_string_equal(t.portals[1], "b.example:3260");
	assert_int_equal(pvi_parse_portals("[::1]:3261", &t, fresh(&err)), 0);
	assert_string_equal(t.portals[0], "[::1]:3261");
	const char *bad[] = { "", "host:0", "host:70000", "host:x", "ho st:1", "a:1,,b:2", "-x:1",
			      "h;rm -rf:1", NULL };
	for (int i = 0; bad[i]; i++) {
		memset(&err, 0, sizeof(err));
		assert_int_equal(pvi_parse_portals(bad[i], &t, fresh(&err)), -EINVAL);
		assert_int_equal(err.kind, PV_E_INVALID);
		assert_non_null(strstr(err.msg, "portal"));
	}
}

static void test_iqn_lun(void **state)
{
	int lun = -1;
	struct pv_err err = { 0 };
	(void)state;
	assert_true(pvi_iqn_valid("iqn.2026-11.example:web"));
	assert_true(pvi_iqn_valid("iqn.2001-04.com.example"));
	assert_true(pvi_iqn_valid("eui.02004567a425678d"));
	assert_false(pvi_iqn_valid("iqn.2026-11.Example:web"));
	assert_false(pvi_iqn_valid("iqn.26-11.example"));
	assert_false(pvi_iqn_valid("iqn.2026-11.ex ample"));
	assert_false(pvi_iqn_valid("target1"));
	assert_false(pvi_iqn_valid(NULL));
	assert_int_equal(pvi_parse_lun("1", &lun, fresh(&err)), 0);
	assert_int_equal(lun, 1);
	assert_int_equal(pvi_parse_lun("-1", &lun, fresh(&err)), -EINVAL);
	assert_int_equal(pvi_parse_lun("16384", &lun, fresh(&err)), -EINVAL);
	assert_int_equal(pvi_parse_lun("1x", &lun, fresh(&err)), -EINVAL);
}

static void test_default_initiator(void **state)
{
	char a[PVI_NAME_MAX], b[PVI_NAME_MAX];
	(void)state;
	pvi_default_initiator("Node_A1", a, sizeof(a));
	pvi_default_initiator("Node_A1", b, sizeof(b));
	assert_string_equal(a, b);  /* stable */
	assert_string_equal(a, "iqn.2026-11.io.pvnode:node-a1");
	assert_true(pvi_iqn_valid(a));
}

static void set_attrs(struct pv *pv, const char *const *kv)
{
	pv_init(pv);
	snprintf(pv->name, sizeof(pv->name), "vol1");
	snprintf(pv->driver, sizeof(pv->driver), "iscsi");
	for (int i = 0; kv[i]; i += 2)
		pv_map_set(&pv->attributes, kv[i], kv[i + 1]);
}

static void test_target_from_pv(void **state)
{
	struct pv pv;
	struct pv_secrets s;
	struct pvi_target t;
	struct pv_err err = { 0 };
	(void)state;
	const char *ok[] = { "portal", "127.0.0.1:13005", "iqn", "iqn.2026-11.test:a", "lun", "1",
			     "discovery", "true", NULL };
	set_attrs(&pv, ok);
	pv_secrets_init(&s);
	pv_secrets_set(&s, PVI_KEY_USER, "u1");
	pv_secrets_set(&s, PVI_KEY_PASS, "secretpass12");
	assert_int_equal(pvi_target_from_pv(&pv, &s, "n1", &t, fresh(&err)), 0);
	assert_string_equal(t.iqn, "iqn.2026-11.test:a");
	assert_int_equal(t.lun, 1);
	assert_true(t.discovery);
	assert_string_equal(t.user, "u1");
	assert_string_equal(t.initiator_name, "iqn.2026-11.io.pvnode:n1");
	assert_int_equal(t.sessions, PVI_DEFAULT_SESSIONS);

	/* the secrets as they travel to the helper (JSON on its stdin) and back */
	char *text = pv_secrets_to_json(&s, false);
	assert_non_null(text);
	struct pv_secrets s2;
	assert_int_equal(pv_secrets_from_json(text, &s2, fresh(&err)), 0);
	pv_secret_text_free(text);
	struct pvi_target t2 = { 0 };
	assert_int_equal(pvi_target_secrets(&t2, &s2, fresh(&err)), 0);
	assert_string_equal(t2.pass, "secretpass12");
	pv_secrets_free(&s2);
	pvi_target_wipe(&t2);
	pvi_target_wipe(&t);
	assert_int_equal(t.pass[0], 0);

	/* half a CHAP pair */
	pv_secrets_free(&s);
	pv_secrets_init(&s);
	pv_secrets_set(&s, PVI_KEY_USER, "u1");
	memset(&err, 0, sizeof(err));
	assert_int_equal(pvi_target_from_pv(&pv, &s, "n1", &t, fresh(&err)), -EINVAL);
	assert_non_null(strstr(err.msg, PVI_KEY_PASS));
	pv_secrets_free(&s);
	pv_free(&pv);

	const char *both[] = { "portal", "h:1", "portals", "h:2", "iqn", "iqn.2026-11.test:a", "lun", "1", NULL };
	set_attrs(&pv, both);
	memset(&err, 0, sizeof(err));
	assert_int_equal(pvi_validate(&pv, fresh(&err)), -EINVAL);
	pv_free(&pv);
	const char *mode[] = { "portal", "h:1", "iqn", "iqn.2026-11.test:a", "lun", "1", "initiator", "magic", NULL };
	set_attrs(&pv, mode);
	memset(&err, 0, sizeof(err));
	assert_int_equal(pvi_validate(&pv, fresh(&err)), -EINVAL);
	assert_non_null(strstr(err.msg, "auto, kernel or userspace"));
	pv_free(&pv);
	/* sessions per volume: 1-8 */
	const char *ns[] = { "portal", "h:1", "iqn", "iqn.2026-11.test:a", "lun", "1", "sessions", "4", NULL };
	set_attrs(&pv, ns);
	pv_secrets_init(&s);
	assert_int_equal(pvi_target_from_pv(&pv, &s, "n1", &t, fresh(&err)), 0);
	assert_int_equal(t.sessions, 4);
	pv_secrets_free(&s);
	pv_free(&pv);
	const char *bad_ns[] = { "0", "9", "2x", "", NULL };
	for (int i = 0; bad_ns[i]; i++) {
		int n = 0;
		assert_int_equal(pvi_parse_sessions(bad_ns[i], &n, fresh(&err)), -EINVAL);
		assert_non_null(strstr(err.msg, "attributes.sessions"));
	}
	const char *nolun[] = { "portal", "h:1", "iqn", "iqn.2026-11.test:a", NULL };
	set_attrs(&pv, nolun);
	assert_int_equal(pvi_validate(&pv, fresh(&err)), -EINVAL);
	assert_non_null(strstr(err.msg, "luns"));
	pv_free(&pv);
	/* a pool: valid for a create, not for anything that logs in */
	const char *pool[] = { "portal", "h:1", "iqn", "iqn.2026-11.test:a", "luns", "1-3", NULL };
	set_attrs(&pv, pool);
	assert_int_equal(pvi_validate(&pv, fresh(&err)), 0);
	pv_secrets_init(&s);
	assert_int_equal(pvi_target_from_pv(&pv, &s, "n1", &t, fresh(&err)), -EINVAL);
	assert_non_null(strstr(err.msg, "names only luns"));
	char keys[PV_STORAGE_KEYS_MAX][PV_STORAGE_KEY_MAX];
	assert_int_equal(pvi_storage_keys(&pv, keys, PV_STORAGE_KEYS_MAX), 0);
	pv_secrets_free(&s);
	pv_free(&pv);
}

static void test_luns(void **state)
{
	struct pv_err err = { 0 };
	int l[16];
	(void)state;
	assert_int_equal(pvi_parse_luns("1-3", l, 16, fresh(&err)), 3);
	assert_int_equal(l[0], 1);
	assert_int_equal(l[2], 3);
	assert_int_equal(pvi_parse_luns("7,1,3-4", l, 16, fresh(&err)), 4);
	assert_int_equal(l[0], 7);
	assert_int_equal(l[3], 4);
	assert_int_equal(pvi_parse_luns("0", NULL, 16, fresh(&err)), 1);
	assert_int_equal(pvi_parse_luns("16383", NULL, 16, fresh(&err)), 1);
	const char *bad[] = { "", "-1", "3-1", "1-", "1,", ",1", "1-16384", "a", "1 2", "1--2", "1-2-3", NULL };
	for (int i = 0; bad[i]; i++)
		assert_int_equal(pvi_parse_luns(bad[i], NULL, 16, fresh(&err)), -EINVAL);
	assert_int_equal(pvi_parse_luns("0-16", l, 16, fresh(&err)), -EINVAL);   /* more than max */
	assert_non_null(strstr(err.msg, "more than 16"));
}

/* fits: LUNs below *ud are too small */
static int below(void *ud, int lun, char *why, size_t wlen, struct pv_err *err)
{
	(void)err;
	if (lun >= *(int *)ud)
		return 1;
	snprintf(why, wlen, "LUN %d is small", lun);
	return 0;
}

static void test_keys(void **state)
{
	struct pv pv;
	struct pv_err err = { 0 };
	char keys[PV_STORAGE_KEYS_MAX][PV_STORAGE_KEY_MAX];
	(void)state;
	const char *two[] = { "portals", "Host-A:3260,10.0.0.2", "iqn", "iqn.2026-11.test:a", "lun", "4", NULL };
	set_attrs(&pv, two);
	assert_int_equal(pvi_storage_keys(&pv, keys, PV_STORAGE_KEYS_MAX), 2);
	assert_string_equal(keys[0], "iscsi:host-a:3260/iqn.2026-11.test:a/4");
	assert_string_equal(keys[1], "iscsi:10.0.0.2:3260/iqn.2026-11.test:a/4");
	pv_free(&pv);
	/* a pick from a pool skips the LUNs in use at any of the portals */
	const char *pool[] = { "portal", "10.0.0.2", "iqn", "iqn.2026-11.test:a", "luns", "3-5", NULL };
	set_attrs(&pv, pool);
	const char *used[] = { "iscsi:10.0.0.2:3260/iqn.2026-11.test:a/3", "iscsi:10.0.0.2:3260/iqn.2026-11.test:a/4",
			       NULL };
	struct pv_node_ctx n = { .node_id = "n1", .storage_in_use = used };
	assert_int_equal(pvi_provision_pick(&pv, &n, NULL, NULL, fresh(&err)), 0);
	assert_string_equal(pv_map_get(&pv.attributes, "lun"), "5");
	pv_free(&pv);
	const char *all[] = { "iscsi:10.0.0.2:3260/iqn.2026-11.test:a/3", "iscsi:10.0.0.2:3260/iqn.2026-11.test:a/4",
			      "iscsi:10.0.0.2:3260/iqn.2026-11.test:a/5", NULL };
	set_attrs(&pv, pool);
	n.storage_in_use = all;
	assert_int_equal(pvi_provision_pick(&pv, &n, NULL, NULL, fresh(&err)), -ENOSPC);
	assert_int_equal(err.kind, PV_E_RESOURCE);
	assert_null(pv_map_get(&pv.attributes, "lun"));
	pv_free(&pv);
	/* a free LUN too small for the capacity is passed over; all of them: PV_E_RANGE */
	const char *one[] = { "iscsi:10.0.0.2:3260/iqn.2026-11.test:a/4", NULL };
	int smaller_than = 5;
	set_attrs(&pv, pool);
	n.storage_in_use = one;
	assert_int_equal(pvi_provision_pick(&pv, &n, below, &smaller_than, fresh(&err)), 0);
	assert_string_equal(pv_map_get(&pv.attributes, "lun"), "5");
	pv_free(&pv);
	smaller_than = 6;
	set_attrs(&pv, pool);
	assert_int_equal(pvi_provision_pick(&pv, &n, below, &smaller_than, fresh(&err)), -ERANGE);
	assert_int_equal(err.kind, PV_E_RANGE);
	assert_non_null(strstr(err.msg, "LUN 3 is small; LUN 5 is small"));
	assert_null(pv_map_get(&pv.attributes, "lun"));
	pv_free(&pv);
}

/* Every way of cutting a request: parts of whole blocks, in order, covering it exactly,
 * none empty, none past its end, at most the maximum. */
static void test_split_parts(void **state)
{
	(void)state;
	size_t part;
	assert_int_equal(pvi_split_parts(1 << 20, 0, 512, 8, &part), 1);
	assert_int_equal(part, 1 << 20);
	assert_int_equal(pvi_split_parts(1 << 20, 256 << 10, 512, 8, &part), 4);
	assert_int_equal(part, 256 << 10);
	/* the case that wrote past the request: 33 blocks of 4 KiB, 16 KiB parts, at most 8 */
	assert_int_equal(pvi_split_parts(33 * 4096, 16384, 4096, 8, &part), 7);
	assert_int_equal(part, 5 * 4096);
	for (size_t bs = 512; bs <= 65536; bs *= 2)
		for (size_t blocks = 1; blocks <= 300; blocks++)
			for (size_t split = bs; split <= 64 * bs; split += bs) {
				size_t len = blocks * bs;
				unsigned n = pvi_split_parts(len, split, bs, 8, &part);
				assert_true(n >= 1 && n <= 8);
				assert_true(part % bs == 0 && part > 0);
				assert_true((size_t)(n - 1) * part < len);   /* the last part is not empty */
				assert_true((size_t)n * part >= len);        /* and they cover it */
				if (len <= split)
					assert_int_equal(n, 1);
			}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_portals),
		cmocka_unit_test(test_iqn_lun),
		cmocka_unit_test(test_default_initiator),
		cmocka_unit_test(test_target_from_pv),
		cmocka_unit_test(test_luns),
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_split_parts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
