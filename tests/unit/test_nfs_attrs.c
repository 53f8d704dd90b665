/*
 * test_nfs_attrs.c — unit tests of the NFS driver's pure logic: attribute parsing and
 * refusals (server, share, subDir traversal, version, mounter, onDelete, mountOptions),
 * the kernel mounter's source / fstype / options, and /proc/filesystems detection.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "pvnode/pv.h"
#include "../../drivers/nfs/nfs.h"

static void mkpv(struct pv *pv, const char *server, const char *share, const char *sub)
{
	pv_init(pv);
	snprintf(pv->name, sizeof(pv->name), "vol1");
	snprintf(pv->driver, sizeof(pv->driver), "nfs");
	if (server)
		pv_map_set(&pv->attributes, "server", server);
	if (share)
		pv_map_set(&pv->attributes, "share", share);
	if (sub)
		pv_map_set(&pv->attributes, "subDir", sub);
}

static void set_options(struct pv *pv, const char *const *opts, size_t n)
{
	pv->mount_options = calloc(n, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		pv->mount_options[i] = strdup(opts[i]);
	pv->n_mount_options = n;
}

static int parse(const char *server, const char *share, const char *sub, struct pvnfs_cfg *cfg,
		 struct pv_err *err)
{
	struct pv pv;
	int r;

	mkpv(&pv, server, share, sub);
	r = pvnfs_cfg_from_pv(&pv, cfg, err);
	pv_free(&pv);
	return r;
}

static void test_server_forms(void **state)
{
	struct pvnfs_cfg c;
	struct pv_err err = { 0 };

	(void)state;
	assert_int_equal(parse("nfs.example.com", "/exports", NULL, &c, &err), 0);
	assert_string_equal(c.host, "nfs.example.com");
	assert_int_equal(c.port, 0);
	assert_int_equal(parse("127.0.0.1:2049", "/exports", NULL, &c, &err), 0);
	assert_string_equal(c.host, "127.0.0.1");
	assert_int_equal(c.port, 2049);
	assert_int_equal(parse("[fd00::1]:2050", "/", NULL, &c, &err), 0);
	assert_string_equal(c.host, "fd00::1");
	assert_int_equal(c.port, 2050);
	assert_int_equal(parse("[::1]", "/x", NULL, &c, &err), 0);
	assert_string_equal(c.host, "::1");

	const char *bad[] = { "", "fd00::1", "host:0", "host:65536", "host:12a", "-host",
			      "ho st", "host;rm", "[::1", "[zz::1]:1", "host:", NULL };
	for (const char **b = bad; *b; b++) {
		pv_err_clear(&err);
		assert_int_not_equal(parse(*b, "/exports", NULL, &c, &err), 0);
		assert_int_equal(err.kind, PV_E_INVALID);
	}
	pv_err_clear(&err);
	assert_int_equal(parse("host:99999", "/exports", NULL, &c, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "attributes.server"));
}

static void test_required(void **state)
{
	struct pvnfs_cfg c;
	struct pv_err err = { 0 };

	(void)state;
	assert_int_equal(parse(NULL, "/exports", NULL, &c, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "attributes.server is required"));
	pv_err_clear(&err);
	assert_int_equal(parse("h", NULL, NULL, &c, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "attributes.share is required"));
}

static void test_share_and_subdir(void **state)
{
	struct pvnfs_cfg c;
	struct pv_err err = { 0 };
	char path[1100];

	(void)state;
	assert_int_equal(parse("h", "/exports/data", "team/vol1", &c, &err), 0);
	assert_string_equal(c.share, "/exports/data");
	assert_string_equal(c.subdir, "team/vol1");
	assert_int_equal(pvnfs_volume_path(&c, path, sizeof(path)), 0);
	assert_string_equal(path, "/exports/data/team/vol1");
	assert_int_equal(parse("h", "/", "v", &c, &err), 0);
	assert_int_equal(pvnfs_volume_path(&c, path, sizeof(path)), 0);
	assert_string_equal(path, "/v");

	const char *bad_share[] = { "exports", "/exports/", "/a/../b", "/a//b", "/./a", "/..", NULL };
	for (const char **b = bad_share; *b; b++) {
		pv_err_clear(&err);
		assert_int_equal(parse("h", *b, NULL, &c, &err), -EINVAL);
		assert_non_null(strstr(err.msg, "attributes.share"));
	}
	/* subDir traversal: the hole CVE-2026-3864 was about. */
	const char *bad_sub[] = { "..", "../other", "a/../../etc", "/etc", "a//b", "./a", "a/.",
				  "a/", "a\\b", "a\nb", NULL };
	for (const char **b = bad_sub; *b; b++) {
		pv_err_clear(&err);
		assert_int_equal(parse("h", "/exports", *b, &c, &err), -EINVAL);
		assert_non_null(strstr(err.msg, "attributes.subDir"));
	}
	/* The snapshot area is no volume's directory (its snapshots would be exposed). */
	const char *reserved[] = { ".pvnode-snapshots", ".pvnode-snapshots/s1/data", NULL };
	for (const char **b = reserved; *b; b++) {
		pv_err_clear(&err);
		assert_int_equal(parse("h", "/exports", *b, &c, &err), -EINVAL);
		assert_non_null(strstr(err.msg, "where snapshots live"));
	}
	assert_int_equal(parse("h", "/exports", ".pvnode-snapshots2/x", &c, &err), 0);
	assert_int_equal(parse("h", "/exports", "a/.pvnode-snapshots", &c, &err), 0);
	assert_true(pvnfs_relpath_clean("a/b/c"));
	assert_true(pvnfs_relpath_clean("..a/b..")); /* names that merely contain dots */
	assert_false(pvnfs_relpath_clean(""));
}

static int parse_attr(const char *key, const char *value, struct pvnfs_cfg *c, struct pv_err *err)
{
	struct pv pv;
	int r;

	mkpv(&pv, "h", "/e", NULL);
	pv_map_set(&pv.attributes, key, value);
	r = pvnfs_cfg_from_pv(&pv, c, err);
	pv_free(&pv);
	return r;
}

static void test_enums(void **state)
{
	struct pvnfs_cfg c;
	struct pv_err err = { 0 };

	(void)state;
	assert_int_equal(parse("h", "/e", NULL, &c, &err), 0);
	assert_string_equal(c.version, "3");
	assert_int_equal(c.mounter, PVNFS_MOUNTER_AUTO);
	assert_int_equal(c.on_delete, PVNFS_DELETE);
	assert_int_equal(c.timeout_ms, PVNFS_DEFAULT_TIMEOUT_MS);
	for (const char *const *v = (const char *const[]){ "3", "4", "4.1", "4.2", NULL }; *v; v++)
		assert_int_equal(parse_attr("version", *v, &c, &err), 0);
	assert_int_equal(parse_attr("version", "2", &c, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "3, 4, 4.1, 4.2"));
	pv_err_clear(&err);
	assert_int_equal(parse_attr("mounter", "kernel", &c, &err), 0);
	assert_int_equal(c.mounter, PVNFS_MOUNTER_KERNEL);
	assert_int_equal(parse_attr("mounter", "userspace", &c, &err), 0);
	assert_int_equal(c.mounter, PVNFS_MOUNTER_USERSPACE);
	assert_int_equal(parse_attr("mounter", "fuse", &c, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "auto, kernel, userspace"));
	pv_err_clear(&err);
	assert_int_equal(parse_attr("onDelete", "retain", &c, &err), 0);
	assert_int_equal(c.on_delete, PVNFS_RETAIN);
	assert_int_equal(parse_attr("onDelete", "archive", &c, &err), 0);
	assert_int_equal(c.on_delete, PVNFS_ARCHIVE);
	assert_int_equal(parse_attr("onDelete", "shred", &c, &err), -EINVAL);
	pv_err_clear(&err);

	/* userspace speaks NFSv3 only */
	struct pv pv;
	mkpv(&pv, "h", "/e", NULL);
	pv_map_set(&pv.attributes, "mounter", "userspace");
	pv_map_set(&pv.attributes, "version", "4.1");
	assert_int_equal(pvnfs_cfg_from_pv(&pv, &c, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "NFSv3 only"));
	pv_free(&pv);
}

static void test_mount_options(void **state)
{
	struct pvnfs_cfg c;
	struct pv_err err = { 0 };
	struct pv pv;

	(void)state;
	mkpv(&pv, "h", "/e", NULL);
	set_options(&pv, (const char *const[]){ "noatime", "timeo=50" }, 2);
	assert_int_equal(pvnfs_cfg_from_pv(&pv, &c, &err), 0);
	assert_int_equal(c.timeout_ms, 5000);
	pv_free(&pv);

	const char *bad[] = { "rw,exec", "vers=4", "nfsvers=3", "port=1", "a b", "x=\"y\"",
			      "timeo=0", "timeo=abc", NULL };
	for (const char **b = bad; *b; b++) {
		pv_err_clear(&err);
		mkpv(&pv, "h", "/e", NULL);
		set_options(&pv, b, 1);
		assert_int_equal(pvnfs_cfg_from_pv(&pv, &c, &err), -EINVAL);
		assert_non_null(strstr(err.msg, "mountOptions[0]"));
		pv_free(&pv);
	}
}

static void spec(const char *server, const char *version, const char *const *opts, size_t n,
		 bool ro, char *src, char *fstype, char *options)
{
	struct pvnfs_cfg c;
	struct pv_err err = { 0 };
	struct pv pv;

	mkpv(&pv, server, "/exports", "vol1");
	if (version)
		pv_map_set(&pv.attributes, "version", version);
	if (n)
		set_options(&pv, opts, n);
	assert_int_equal(pvnfs_cfg_from_pv(&pv, &c, &err), 0);
	assert_int_equal(pvnfs_kernel_spec(&pv, &c, ro, src, 1024, fstype, 32, options, 1024, &err), 0);
	pv_free(&pv);
}

static void test_kernel_spec(void **state)
{
	char src[1024], fstype[32], opts[1024];

	(void)state;
	spec("10.0.0.5", NULL, NULL, 0, false, src, fstype, opts);
	assert_string_equal(src, "10.0.0.5:/exports/vol1");
	assert_string_equal(fstype, "nfs");
	assert_string_equal(opts, "vers=3,proto=tcp,hard,timeo=600,retrans=2");

	spec("[fd00::5]:2050", "4.1", NULL, 0, true, src, fstype, opts);
	assert_string_equal(src, "[fd00::5]:/exports/vol1");
	assert_string_equal(fstype, "nfs4");
	assert_string_equal(opts, "vers=4.1,port=2050,proto=tcp,hard,timeo=600,retrans=2,ro");

	/* the PV's options win over the defaults; ro replaces rw */
	spec("nfs", "4.2", (const char *const[]){ "soft", "timeo=30", "retrans=5", "nconnect=4", "rw" },
	     5, true, src, fstype, opts);
	assert_string_equal(opts, "vers=4.2,proto=tcp,soft,timeo=30,retrans=5,nconnect=4,ro");

	spec("nfs", "4", (const char *const[]){ "proto=rdma", "noatime" }, 2, false, src, fstype, opts);
	assert_string_equal(opts, "vers=4,hard,timeo=600,retrans=2,proto=rdma,noatime");
}

static void test_kernel_detection(void **state)
{
	char path[] = "/tmp/test_nfs_fsXXXXXX";
	int fd = mkstemp(path);
	FILE *f;

	(void)state;
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	fputs("nodev\tsysfs\nnodev\ttmpfs\n\text4\nnodev\tfuse\n", f);
	fclose(f);
	assert_false(pvnfs_kernel_has_nfs(path));
	f = fopen(path, "a");
	fputs("nodev\tnfs\nnodev\tnfs4\n", f);
	fclose(f);
	assert_true(pvnfs_kernel_has_nfs(path));
	unlink(path);
	assert_false(pvnfs_kernel_has_nfs("/nonexistent/filesystems"));
}

static void test_option_valid(void **state)
{
	(void)state;
	assert_true(pvnfs_option_valid("noatime"));
	assert_true(pvnfs_option_valid("nconnect=8"));
	assert_false(pvnfs_option_valid(""));
	assert_false(pvnfs_option_valid("a,b"));
	assert_false(pvnfs_option_valid("a\tb"));
	assert_false(pvnfs_option_valid("sec='x'"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_server_forms),
		cmocka_unit_test(test_required),
		cmocka_unit_test(test_share_and_subdir),
		cmocka_unit_test(test_enums),
		cmocka_unit_test(test_mount_options),
		cmocka_unit_test(test_kernel_spec),
		cmocka_unit_test(test_kernel_detection),
		cmocka_unit_test(test_option_valid),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
