/*
 * test_csi_units.c — cmocka tests of the CSI layer's pure logic: the error-kind →
 * status-code table (and back, for pvctl), request redaction in logs, volume id and
 * volume capability checks, the method table, CreateVolume names and the ids they map
 * to, the CSI driver name of each driver and what a pvnode of one name (and of a
 * --drivers list) serves, list paging tokens, and id fields named in their refusals.
 */
#include <errno.h>
#include <grpc/status.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "csi.h"

static void test_status_table(void **state)
{
	(void)state;
	static const struct {
		enum pv_err_kind kind;
		int code;
	} t[] = {
		{PV_E_INVALID, GRPC_STATUS_INVALID_ARGUMENT},
		{PV_E_NOT_FOUND, GRPC_STATUS_NOT_FOUND},
		{PV_E_EXISTS, GRPC_STATUS_ALREADY_EXISTS},
		{PV_E_POLICY, GRPC_STATUS_FAILED_PRECONDITION},
		{PV_E_BUSY, GRPC_STATUS_ABORTED},
		{PV_E_UNAVAILABLE, GRPC_STATUS_UNAVAILABLE},
		{PV_E_RANGE, GRPC_STATUS_OUT_OF_RANGE},
		{PV_E_RESOURCE, GRPC_STATUS_RESOURCE_EXHAUSTED},
		{PV_E_UNSUPPORTED, GRPC_STATUS_UNIMPLEMENTED},
		{PV_E_INTERNAL, GRPC_STATUS_INTERNAL},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct pv_err e = {.code = -EIO, .kind = t[i].kind};
		assert_int_equal(csi_status_from_err(&e), t[i].code);
		assert_int_equal(csi_kind_from_status(t[i].code), t[i].kind);
	}
	struct pv_err none = {0};
	assert_int_equal(csi_status_from_err(&none), GRPC_STATUS_OK);
	assert_string_equal(csi_status_name(GRPC_STATUS_ABORTED), "ABORTED");
	assert_string_equal(csi_status_name(99), "UNKNOWN");
}

static void test_redaction(void **state)
{
	(void)state;
	Csi__V1__NodeStageVolumeRequest q = CSI__V1__NODE_STAGE_VOLUME_REQUEST__INIT;
	Csi__V1__NodeStageVolumeRequest__SecretsEntry se =
		CSI__V1__NODE_STAGE_VOLUME_REQUEST__SECRETS_ENTRY__INIT;
	Csi__V1__NodeStageVolumeRequest__SecretsEntry *sv[1] = {&se};
	Csi__V1__VolumeCapability cap = CSI__V1__VOLUME_CAPABILITY__INIT;
	Csi__V1__VolumeCapability__MountVolume mv = CSI__V1__VOLUME_CAPABILITY__MOUNT_VOLUME__INIT;
	char *flags[] = {"noatime", "password=hunter2", "secret=k3y"};
	se.key = "chapPassword";
	se.value = "hunter2";
	q.volume_id = "v1";
	q.secrets = sv;
	q.n_secrets = 1;
	mv.mount_flags = flags;
	mv.n_mount_flags = 3;
	cap.access_type_case = CSI__V1__VOLUME_CAPABILITY__ACCESS_TYPE_MOUNT;
	cap.mount = &mv;
	q.volume_capability = &cap;
	char *s = csi_msg_to_json(&q.base, false);
	assert_non_null(s);
	assert_null(strstr(s, "hunter2"));
	assert_null(strstr(s, "k3y"));
	assert_null(strstr(s, "chapPassword"));
	assert_non_null(strstr(s, "\"secrets\":\"<redacted>\""));
	assert_non_null(strstr(s, "noatime"));
	assert_non_null(strstr(s, "\"volume_id\":\"v1\""));
	free(s);
}

static void test_volume_id(void **state)
{
	(void)state;
	struct pv_err e = {0};
	char long_id[200];
	assert_int_equal(csi_check_volume_id("pvc-0a1b.c_d:e", &e), 0);
	assert_true(csi_check_volume_id("", &e) < 0);
	assert_int_equal(e.kind, PV_E_INVALID);
	pv_err_clear(&e);
	assert_true(csi_check_volume_id("a/b", &e) < 0);
	pv_err_clear(&e);
	assert_true(csi_check_volume_id("../x", &e) < 0);
	pv_err_clear(&e);
	memset(long_id, 'a', sizeof(long_id) - 1);
	long_id[sizeof(long_id) - 1] = '\0';
	assert_true(csi_check_volume_id(long_id, &e) < 0);
	pv_err_clear(&e);
	long_id[PV_NAME_MAX] = '\0';
	assert_int_equal(csi_check_volume_id(long_id, &e), 0);
}

static void test_capability(void **state)
{
	(void)state;
	static const struct {
		int mode;
		enum pv_access access;
	} t[] = {
		{1, PV_RWO}, {2, PV_ROX}, {3, PV_ROX}, {4, PV_RWX}, {5, PV_RWX}, {6, PV_RWOP}, {7, PV_RWO},
	};
	Csi__V1__VolumeCapability cap = CSI__V1__VOLUME_CAPABILITY__INIT;
	Csi__V1__VolumeCapability__AccessMode am = CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__INIT;
	Csi__V1__VolumeCapability__BlockVolume bv = CSI__V1__VOLUME_CAPABILITY__BLOCK_VOLUME__INIT;
	Csi__V1__VolumeCapability__MountVolume mv = CSI__V1__VOLUME_CAPABILITY__MOUNT_VOLUME__INIT;
	struct csi_cap c;
	struct pv_err e = {0};

	assert_true(csi_check_capability("v", NULL, &c, &e) < 0);
	pv_err_clear(&e);
	assert_true(csi_check_capability("v", &cap, &c, &e) < 0);   /* no access mode */
	pv_err_clear(&e);
	cap.access_mode = &am;
	am.mode = 1;
	assert_true(csi_check_capability("v", &cap, &c, &e) < 0);   /* no access type */
	pv_err_clear(&e);
	cap.access_type_case = CSI__V1__VOLUME_CAPABILITY__ACCESS_TYPE_BLOCK;
	cap.block = &bv;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		am.mode = t[i].mode;
		assert_int_equal(csi_check_capability("v", &cap, &c, &e), 0);
		assert_int_equal(c.access, t[i].access);
		assert_true(c.block);
	}
	am.mode = 42;
	assert_true(csi_check_capability("v", &cap, &c, &e) < 0);
	assert_int_equal(e.kind, PV_E_INVALID);
	pv_err_clear(&e);

	am.mode = 1;
	cap.access_type_case = CSI__V1__VOLUME_CAPABILITY__ACCESS_TYPE_MOUNT;
	cap.mount = &mv;
	mv.fs_type = "ext4";
	assert_int_equal(csi_check_capability("v", &cap, &c, &e), 0);
	assert_false(c.block);
	assert_string_equal(c.fs_type, "ext4");
	mv.fs_type = "ext4;rm -rf";
	assert_true(csi_check_capability("v", &cap, &c, &e) < 0);
	pv_err_clear(&e);
	mv.fs_type = "";
	char big[5000];
	memset(big, 'o', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	char *flags[] = {big};
	mv.mount_flags = flags;
	mv.n_mount_flags = 1;
	assert_true(csi_check_capability("v", &cap, &c, &e) < 0);   /* > 4 KiB */
	pv_err_clear(&e);
	char *bad[] = {"ro,bind"};
	char *space[] = {"a b"};
	mv.mount_flags = space;
	assert_true(csi_check_capability("v", &cap, &c, &e) < 0);
	pv_err_clear(&e);
	mv.mount_flags = bad;
	assert_int_equal(csi_check_capability("v", &cap, &c, &e), 0);
	assert_int_equal(c.mount_group, 0);
	/* volume_mount_group: a group id, else INVALID_ARGUMENT */
	mv.volume_mount_group = "2000";
	assert_int_equal(csi_check_capability("v", &cap, &c, &e), 0);
	assert_int_equal(c.mount_group, 2000);
	const char *groups[] = {"0", "-5", "+5", "12x", "2147483648", "99999999999999999999"};
	for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++) {
		mv.volume_mount_group = (char *)groups[i];
		assert_true(csi_check_capability("v", &cap, &c, &e) < 0);
		assert_int_equal(e.kind, PV_E_INVALID);
		pv_err_clear(&e);
	}
	/* mount and block share a oneof: a block capability has no mount group to read */
	cap.access_type_case = CSI__V1__VOLUME_CAPABILITY__ACCESS_TYPE_BLOCK;
	cap.block = &bv;
	assert_int_equal(csi_check_capability("v", &cap, &c, &e), 0);
	assert_int_equal(c.mount_group, 0);
}

static void test_methods(void **state)
{
	(void)state;
	size_t n;
	const struct csi_method *m = csi_methods(&n);
	assert_int_equal(n, 23);
	for (size_t i = 0; i < n; i++) {
		assert_ptr_equal(csi_method_find(m[i].path), &m[i]);
		assert_non_null(m[i].input);
		assert_non_null(m[i].output);
	}
	/* the snapshot methods come last: earlier indices are fuzz corpus bytes */
	assert_string_equal(m[20].path, "/csi.v1.Controller/CreateSnapshot");
	assert_string_equal(m[21].path, "/csi.v1.Controller/DeleteSnapshot");
	assert_string_equal(m[22].path, "/csi.v1.Controller/ListSnapshots");
	assert_int_equal(m[22].service, CSI_SVC_CONTROLLER);
	assert_null(csi_method_find("/csi.v1.Controller/GetSnapshot"));
	assert_string_equal(csi_endpoint_path("unix:///run/x.sock"), "/run/x.sock");
	assert_string_equal(csi_endpoint_path("unix:/run/x.sock"), "/run/x.sock");
	assert_null(csi_endpoint_path("tcp://127.0.0.1:1"));
}

static void test_names(void **state)
{
	(void)state;
	struct pv_err e = {0};
	char id[PV_NAME_MAX + 1], id2[PV_NAME_MAX + 1];
	char long_name[200];

	assert_int_equal(csi_check_name("pvc-0d1f", &e), 0);
	assert_int_equal(csi_check_name("a b/c+d\t\n\r", NULL), 0);      /* tab, LF, CR are allowed */
	assert_int_equal(csi_check_name("\xc3\xbcml", NULL), 0);          /* UTF-8 */
	assert_int_equal(csi_check_name("a\x01", NULL), -EINVAL);
	assert_int_equal(csi_check_name("a\x7f", NULL), -EINVAL);
	assert_int_equal(csi_check_name("a\xc2\x85", NULL), -EINVAL);     /* U+0085 */
	assert_int_equal(csi_check_name("a\xc3", NULL), -EINVAL);          /* cut UTF-8 */
	assert_int_equal(csi_check_name("\xc0\xaf", NULL), -EINVAL);      /* overlong */
	assert_int_equal(csi_check_name("", NULL), -EINVAL);
	memset(long_name, 'x', 129);
	long_name[129] = '\0';
	assert_int_equal(csi_check_name(long_name, NULL), -EINVAL);

	assert_false(csi_volume_id_for_name("pvc-0d1f", id));
	assert_string_equal(id, "pvc-0d1f");
	assert_true(csi_volume_id_for_name("vol+1", id));
	assert_int_equal(strlen(id), 4 + 17);
	assert_memory_equal(id, "vol1-", 5);
	assert_true(pv_name_valid(id));
	assert_true(csi_volume_id_for_name("vol+1", id2));
	assert_string_equal(id, id2);                               /* deterministic */
	assert_true(csi_volume_id_for_name("vol1+", id2));
	assert_string_not_equal(id, id2);
	assert_true(csi_volume_id_for_name("+", id));
	assert_memory_equal(id, "v-", 2);
	memset(long_name, 'y', 127);
	long_name[127] = '/';
	long_name[128] = '\0';
	assert_true(csi_volume_id_for_name(long_name, id));
	assert_int_equal(strlen(id), PV_NAME_MAX);
	assert_true(pv_name_valid(id));
}

static void test_driver_names(void **state)
{
	(void)state;
	char buf[128];
	struct csi_service all = {0}, block = {.one_kind = true, .driver_name = PV_CSI_NAME_BLOCK};
	struct csi_service local = {.one_kind = true, .driver_name = PV_CSI_NAME_LOCAL, .role = CSI_ROLE_NODE};
	struct pv pv;
	struct pv_err e = {0};

	assert_string_equal(pv_driver_csi_name("file"), PV_CSI_NAME_LOCAL);
	assert_null(pv_driver_csi_name("nosuch"));
	assert_true(pv_csi_name_known("block.pvnode.csi.io"));
	assert_false(pv_csi_name_known("csi.example.com"));
	pv_csi_name_drivers(PV_CSI_NAME_LOCAL, buf, sizeof(buf));
	assert_string_equal(buf, "file");
	if (pv_driver_known("nfs"))
		assert_string_equal(pv_driver_csi_name("nfs"), PV_CSI_NAME_SHARED);
	if (pv_driver_known("iscsi")) {
		assert_string_equal(pv_driver_csi_name("iscsi"), PV_CSI_NAME_BLOCK);
		assert_true(csi_serves_driver(&block, "iscsi"));
	}
	assert_string_equal(csi_driver_name(&all), PV_CSI_DRIVER_NAME);
	assert_true(csi_serves_driver(&all, "file"));
	assert_false(csi_serves_driver(&block, "file"));
	assert_true(csi_serves_driver(&local, "file"));
	assert_true(csi_serves_node_local(&all));
	assert_false(csi_serves_node_local(&block));
	assert_true(csi_serves(&local, CSI_SVC_NODE));
	assert_false(csi_serves(&local, CSI_SVC_CONTROLLER));
	assert_true(csi_serves(&local, CSI_SVC_IDENTITY));

	pv_init(&pv);
	snprintf(pv.name, sizeof(pv.name), "v");
	snprintf(pv.driver, sizeof(pv.driver), "file");
	assert_int_equal(csi_check_served(&local, &pv, &e), 0);
	assert_int_equal(csi_check_served(&block, &pv, &e), -EINVAL);
	assert_int_equal(e.kind, PV_E_INVALID);
	assert_non_null(strstr(e.msg, "driver file is served by CSI driver local.pvnode.csi.io"));
	pv_free(&pv);
}

static void test_paging(void **state)
{
	(void)state;
	struct pv_err e = {0};
	size_t start = 99;
	char tok[CSI_PAGE_TOKEN_MAX];

	/* no token: from the start */
	assert_int_equal(csi_page_start("ListSnapshots", "", 5, &start, &e), 0);
	assert_int_equal(start, 0);
	assert_int_equal(csi_page_start("ListSnapshots", NULL, 0, &start, &e), 0);
	/* what csi_page_next writes comes back */
	csi_page_next(2, 5, tok);
	assert_string_equal(tok, "2");
	assert_int_equal(csi_page_start("ListSnapshots", tok, 5, &start, &e), 0);
	assert_int_equal(start, 2);
	/* the end of the list: no token; a token at the end (entries deleted since) is an
	 * empty last page, not an error */
	csi_page_next(5, 5, tok);
	assert_string_equal(tok, "");
	assert_int_equal(csi_page_start("ListSnapshots", "5", 5, &start, &e), 0);
	assert_int_equal(start, 5);
	assert_int_equal(csi_page_count(2, 5, 5), 0);
	/* anything else is ABORTED, naming the method */
	static const char *const bad[] = { "6", "-1", "+1", " 1", "1 ", "01", "1x", "x", "0x1",
					   "18446744073709551616", "99999999999999999999" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		pv_err_clear(&e);
		assert_int_equal(csi_page_start("ListSnapshots", bad[i], 5, &start, &e), -EINVAL);
		assert_int_equal(e.kind, PV_E_BUSY);
		assert_int_equal(csi_status_from_err(&e), GRPC_STATUS_ABORTED);
		assert_non_null(strstr(e.msg, "ListSnapshots"));
	}
	/* page sizes */
	assert_int_equal(csi_page_count(0, 5, 0), 5);
	assert_int_equal(csi_page_count(2, 5, 0), 2);
	assert_int_equal(csi_page_count(2, 5, 4), 1);
	assert_int_equal(csi_page_count(10, 5, 1), 4);
	/* walking a list in pages of 2 visits every entry once */
	size_t seen = 0, pages = 0;
	tok[0] = '\0';
	do {
		assert_int_equal(csi_page_start("ListVolumes", tok, 7, &start, &e), 0);
		size_t c = csi_page_count(2, 7, start);
		assert_int_equal(start, seen);
		seen += c;
		pages++;
		csi_page_next(start + c, 7, tok);
	} while (*tok);
	assert_int_equal(seen, 7);
	assert_int_equal(pages, 4);
}

static void test_ids(void **state)
{
	(void)state;
	struct pv_err e = {0};
	assert_int_equal(csi_check_id("snapshot_id", "snap-1", &e), 0);
	assert_int_equal(csi_check_id("snapshot_id", "", &e), -EINVAL);
	assert_string_equal(e.msg, "snapshot_id is required");
	pv_err_clear(&e);
	assert_int_equal(csi_check_id("source_volume_id", "a/b", &e), -EINVAL);
	assert_non_null(strstr(e.msg, "source_volume_id 'a/b' has characters outside"));
	pv_err_clear(&e);
	assert_int_equal(csi_check_volume_id(NULL, &e), -EINVAL);
	assert_string_equal(e.msg, "volume_id is required");
	/* a driver that cannot snapshot is a bad argument over CSI, nothing else changes */
	struct pv_err u = {.code = -EOPNOTSUPP, .kind = PV_E_UNSUPPORTED};
	csi_unsupported_is_invalid(&u);
	assert_int_equal(csi_status_from_err(&u), GRPC_STATUS_INVALID_ARGUMENT);
	struct pv_err nf = {.code = -ENOENT, .kind = PV_E_NOT_FOUND};
	csi_unsupported_is_invalid(&nf);
	assert_int_equal(nf.kind, PV_E_NOT_FOUND);
	csi_unsupported_is_invalid(NULL);
}

static void test_drivers_option(void **state)
{
	(void)state;
	char buf[128];
	struct csi_service iscsi = {.one_kind = true, .driver_name = PV_CSI_NAME_BLOCK, .drivers = "iscsi"};
	struct csi_service two = {.drivers = "file,nfs"};
	struct pv pv;
	struct pv_err e = {0};

	assert_false(csi_serves_every_driver(&iscsi));
	assert_false(csi_serves_every_driver(&two));
	assert_true(csi_serves_every_driver(&(struct csi_service){0}));
	assert_true(csi_serves_driver(&two, "file"));
	assert_false(csi_serves_driver(&two, "fil"));   /* whole names only */
	assert_false(csi_serves_driver(&iscsi, "file"));
	assert_false(csi_serves_any(&iscsi, pv_driver_node_local));
	assert_true(csi_serves_any(&two, pv_driver_node_local));
	if (pv_driver_known("nfs")) {
		csi_served_drivers(&two, buf, sizeof(buf));
		assert_string_equal(buf, "file, nfs");
	}
	if (!pv_driver_known("iscsi") || !pv_driver_known("rbd"))
		return;
	assert_true(csi_serves_driver(&iscsi, "iscsi"));
	assert_false(csi_serves_driver(&iscsi, "rbd"));
	csi_served_drivers(&iscsi, buf, sizeof(buf));
	assert_string_equal(buf, "iscsi");
	/* iscsi has no snapshots: a pvnode of iscsi alone advertises none */
	assert_false(csi_serves_any(&iscsi, pv_driver_snapshots));
	assert_false(csi_serves_any(&iscsi, pv_driver_clones));
	pv_init(&pv);
	snprintf(pv.name, sizeof(pv.name), "v");
	snprintf(pv.driver, sizeof(pv.driver), "rbd");
	assert_int_equal(csi_check_served(&iscsi, &pv, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "driver rbd is not served by this pvnode (it runs with --drivers iscsi)"));
	pv_free(&pv);
}

/* The metrics endpoint's request heads (csi/httpd.c). */
static void test_http_parse(void **state)
{
	struct csi_http_request rq;
	(void)state;
	const char *ok = "GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\nGET /";
	assert_int_equal(csi_http_parse(ok, strlen(ok), &rq), 0);
	assert_string_equal(rq.method, "GET");
	assert_string_equal(rq.path, "/metrics");
	assert_true(rq.keep_alive);
	assert_false(rq.has_body);
	assert_int_equal(rq.head_len, strlen(ok) - 5);   /* the pipelined one after it is not read */
	const char *lf = "HEAD /metrics HTTP/1.0\nConnection: keep-alive\n\n";
	assert_int_equal(csi_http_parse(lf, strlen(lf), &rq), 0);
	assert_string_equal(rq.method, "HEAD");
	assert_true(rq.keep_alive);
	const char *cl = "GET /metrics HTTP/1.1\r\nconnection: Close\r\n\r\n";
	assert_int_equal(csi_http_parse(cl, strlen(cl), &rq), 0);
	assert_false(rq.keep_alive);
	const char *old = "GET /metrics HTTP/1.0\r\n\r\n";
	assert_int_equal(csi_http_parse(old, strlen(old), &rq), 0);
	assert_false(rq.keep_alive);
	const char *body = "POST /metrics HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc";
	assert_int_equal(csi_http_parse(body, strlen(body), &rq), 0);
	assert_true(rq.has_body);
	const char *chunked = "POST /metrics HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
	assert_int_equal(csi_http_parse(chunked, strlen(chunked), &rq), 0);
	assert_true(rq.has_body);
	/* not complete yet */
	assert_int_equal(csi_http_parse("GET /metrics HTTP/1.1\r\n", 23, &rq), -EAGAIN);
	assert_int_equal(csi_http_parse("", 0, &rq), -EAGAIN);
	/* not HTTP/1.x, or not a request line pvnode reads */
	const char *bad[] = { "garbage\r\n\r\n", "GET /metrics\r\n\r\n", "GET metrics HTTP/1.1\r\n\r\n",
			      "GET /metrics HTTP/2.0\r\n\r\n", "GET  /metrics HTTP/1.1\r\n\r\n",
			      "GET /met\x01rics HTTP/1.1\r\n\r\n", "GET /metrics HTTP/1.1 x\r\n\r\n",
			      "AVERYLONGMETHODNAME /metrics HTTP/1.1\r\n\r\n", "\r\n\r\n" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(csi_http_parse(bad[i], strlen(bad[i]), &rq), -EINVAL);
	/* a head that cannot fit */
	char *big = malloc(CSI_HTTP_HEAD_MAX);
	assert_non_null(big);
	memset(big, 'a', CSI_HTTP_HEAD_MAX);
	assert_int_equal(csi_http_parse(big, CSI_HTTP_HEAD_MAX, &rq), -E2BIG);
	char path[400] = "GET /";
	memset(path + 5, 'p', 300);
	strcpy(path + 305, " HTTP/1.1\r\n\r\n");
	assert_int_equal(csi_http_parse(path, strlen(path), &rq), -EINVAL);
	free(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status_table),
		cmocka_unit_test(test_redaction),
		cmocka_unit_test(test_volume_id),
		cmocka_unit_test(test_capability),
		cmocka_unit_test(test_methods),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_driver_names),
		cmocka_unit_test(test_paging),
		cmocka_unit_test(test_ids),
		cmocka_unit_test(test_drivers_option),
		cmocka_unit_test(test_http_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
