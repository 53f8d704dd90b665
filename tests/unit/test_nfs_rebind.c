/*
 * test_nfs_rebind.c — unit tests of finding a dead FUSE helper's bind mounts in
 * mountinfo: same device as the staging mount, octal-escaped paths, bound subtrees, and
 * the per-mount flags (ro, nosuid, nodev, noexec) that must survive the re-bind.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../drivers/nfs/nfs_rebind.h"

static const char mountinfo[] =
	"22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n"
	"60 22 0:41 / /var/lib/pvnode/staging/web rw,nosuid,nodev,relatime - fuse.pvnfs h:/rw/web rw\n"
	"61 22 0:41 / /var/lib/kubelet/pods/a/web rw,nosuid,nodev,relatime - fuse.pvnfs h:/rw/web rw\n"
	"62 22 0:41 / /var/lib/kubelet/pods/b\\040space/web ro,nosuid,nodev,noexec,relatime - fuse.pvnfs h:/rw/web rw\n"
	"63 22 0:41 /sub /var/lib/kubelet/pods/c/part rw,nosuid,relatime - fuse.pvnfs h:/rw/web rw\n"
	"64 22 0:42 / /var/lib/pvnode/staging/other rw,nosuid,nodev,relatime - fuse.pvnfs h:/rw/o rw\n"
	"65 22 0:42 / /var/lib/kubelet/pods/d/other rw,nosuid,nodev,relatime - fuse.pvnfs h:/rw/o rw\n";

static char path[64];

static int setup(void **state)
{
	int fd;
	(void)state;
	snprintf(path, sizeof(path), "/tmp/test_nfs_rebindXXXXXX");
	fd = mkstemp(path);
	if (fd < 0 || write(fd, mountinfo, sizeof(mountinfo) - 1) != (ssize_t)sizeof(mountinfo) - 1)
		return -1;
	close(fd);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(path);
	return 0;
}

static void test_finds_binds_of_the_same_device(void **state)
{
	struct pvnfs_binds *b = calloc(1, sizeof(*b));

	(void)state;
	assert_int_equal(pvnfs_binds_in(path, "/var/lib/pvnode/staging/web", b), 0);
	assert_int_equal(b->n, 3);
	assert_string_equal(b->items[0].target, "/var/lib/kubelet/pods/a/web");
	assert_string_equal(b->items[0].root, "/");
	assert_int_equal(b->items[0].flags, MS_NOSUID | MS_NODEV);
	assert_string_equal(b->items[1].target, "/var/lib/kubelet/pods/b space/web");
	assert_int_equal(b->items[1].flags, MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC);
	assert_string_equal(b->items[2].target, "/var/lib/kubelet/pods/c/part");
	assert_string_equal(b->items[2].root, "/sub");
	assert_int_equal(b->items[2].flags, MS_NOSUID);
	free(b);
}

static void test_other_volume_and_unknown_staging(void **state)
{
	struct pvnfs_binds *b = calloc(1, sizeof(*b));

	(void)state;
	assert_int_equal(pvnfs_binds_in(path, "/var/lib/pvnode/staging/other", b), 0);
	assert_int_equal(b->n, 1);
	assert_string_equal(b->items[0].target, "/var/lib/kubelet/pods/d/other");
	assert_int_equal(pvnfs_binds_in(path, "/var/lib/pvnode/staging/none", b), 0);
	assert_int_equal(b->n, 0);
	assert_int_equal(pvnfs_binds_in("/nonexistent/mountinfo", "/x", b) < 0, 1);
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_finds_binds_of_the_same_device),
		cmocka_unit_test(test_other_volume_and_unknown_staging),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
