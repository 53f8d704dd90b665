/* Unit tests: mount option building and path checks (lib/os/mount.c, lib/os/fsutil.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "engine/engine_int.h"
#include "pvnode/util.h"

static void join(void **state)
{
	(void)state;
	char buf[256];
	const char *pvopts[] = { "noatime", "rw" };
	const char *flags[] = { "nodev" };
	const char *const *lists[] = { pvopts, flags };
	size_t counts[] = { 2, 1 };
	assert_int_equal(pv_mount_options_join(lists, counts, 2, false, buf, sizeof(buf), NULL), 0);
	assert_string_equal(buf, "noatime,rw,nodev");
	assert_int_equal(pv_mount_options_join(lists, counts, 2, true, buf, sizeof(buf), NULL), 0);
	assert_string_equal(buf, "ro,noatime,nodev"); /* rw dropped when read-only */
	const char *bad[] = { "a,b" };
	const char *const *blists[] = { bad };
	size_t bcounts[] = { 1 };
	struct pv_err err = { 0 };
	assert_true(pv_mount_options_join(blists, bcounts, 1, false, buf, sizeof(buf), &err) < 0);
	assert_int_equal(err.kind, PV_E_INVALID);
	const char *ctx[] = { "context=\"system_u:object_r:container_file_t:s0:c1,c2\"" };
	const char *const *clists[] = { ctx };
	assert_int_equal(pv_mount_options_join(clists, bcounts, 1, false, buf, sizeof(buf), NULL), 0);
}

static void paths(void **state)
{
	(void)state;
	assert_true(pv_path_clean("/var/lib/kubelet/pods/x"));
	assert_true(pv_path_clean("/"));
	assert_false(pv_path_clean("relative"));
	assert_false(pv_path_clean("/a/../b"));
	assert_false(pv_path_clean("/a/./b"));
	assert_false(pv_path_clean("/a//b"));
	assert_false(pv_path_clean("/a/b/"));
	assert_false(pv_path_clean("/a/\nb"));
	assert_false(pv_path_clean("/a/.."));
	assert_true(pv_path_clean("/a/..b/c."));
	assert_true(pv_path_under("/var/lib/kubelet/x", "/var/lib/kubelet"));
	assert_true(pv_path_under("/var/lib/kubelet/x", "/var/lib/kubelet/"));
	assert_false(pv_path_under("/var/lib/kubelet2/x", "/var/lib/kubelet"));
	assert_true(pv_path_under("/x", "/"));
}

static void secret_looking(void **state)
{
	(void)state;
	assert_true(pv_secret_looking("password=abc"));
	assert_true(pv_secret_looking("node.session.auth.password"));
	assert_true(pv_secret_looking("SECRET=1"));
	assert_false(pv_secret_looking("noatime"));
	assert_false(pv_secret_looking("vers=3"));
}

int main(void)
{
	const struct CMUnitTest tests[] = { cmocka_unit_test(join), cmocka_unit_test(paths), cmocka_unit_test(secret_looking) };
	return cmocka_run_group_tests(tests, NULL, NULL);
}
