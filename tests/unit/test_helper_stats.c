/*
 * test_helper_stats.c — the helpers' counters file (lib/helper_stats.c): made fresh,
 * mapped by "the helper" (this process), counted into, read back by pid; what is an
 * error and what is not; a file of another pid, of another layout, or none at all.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "pvnode/driver/helper_stats.h"

static char dir[64];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/pvnode-stats-test.XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];
	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void test_none_yet(void **state)
{
	struct pv_helper_io io;
	(void)state;
	assert_int_equal(pv_helper_stats_read(dir, getpid(), &io), -ENOENT);
	/* counting before any file is mapped does nothing and does not crash */
	pv_helper_stats_count(PV_IO_WRITE, 4096, 4096);
}

static void test_not_a_stats_file(void **state)
{
	char path[PATH_MAX];
	(void)state;
	snprintf(path, sizeof(path), "%s/other", dir);
	int fd = open(path, O_RDWR | O_CREAT, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 4096), 0);
	assert_int_equal(pv_helper_stats_attach(fd), -EINVAL);   /* zeroes: no header */
	close(fd);
}

static void test_count_and_read(void **state)
{
	struct pv_helper_io io;
	(void)state;
	int fd = pv_helper_stats_create(dir);
	assert_true(fd >= 0);
	/* made, not yet mapped by a helper: nobody's counters */
	assert_int_equal(pv_helper_stats_read(dir, getpid(), &io), -ENOENT);
	assert_int_equal(pv_helper_stats_attach(fd), 0);
	close(fd);   /* the mapping stays */

	pv_helper_stats_count(PV_IO_READ, 4096, 4096);
	pv_helper_stats_count(PV_IO_READ, 1 << 20, 1 << 20);
	pv_helper_stats_count(PV_IO_WRITE, 8192, 8192);
	pv_helper_stats_count(PV_IO_WRITE, 0, -EIO);            /* an error moves no bytes */
	pv_helper_stats_count(PV_IO_FLUSH, 0, 0);
	pv_helper_stats_count(PV_IO_DISCARD, 0, -EOPNOTSUPP);   /* the kernel falls back: not an error */
	pv_helper_stats_count(PV_IO_DISCARD, 0, -EIO);
	assert_int_equal(pv_helper_stats_read(dir, getpid(), &io), 0);
	assert_int_equal(io.read_bytes, 4096 + (1 << 20));
	assert_int_equal(io.write_bytes, 8192);
	assert_int_equal(io.reads, 2);
	assert_int_equal(io.writes, 2);
	assert_int_equal(io.flushes, 1);
	assert_int_equal(io.discards, 2);
	assert_int_equal(io.errors, 2);
	assert_true(io.resident_bytes > 0);
	/* another pid's view of the same file: not its helper */
	assert_int_equal(pv_helper_stats_read(dir, getpid() + 1, &io), -ENOENT);
	assert_int_equal(io.write_bytes, 0);
}

static void test_fresh_file_for_a_new_helper(void **state)
{
	struct pv_helper_io io;
	(void)state;
	int fd = pv_helper_stats_create(dir);   /* a restart: the old file is replaced */
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(pv_helper_stats_read(dir, getpid(), &io), -ENOENT);   /* pid 0 until mapped */
}

static void test_unknown_layout(void **state)
{
	char path[PATH_MAX];
	struct pv_helper_io io;
	(void)state;
	int fd = pv_helper_stats_create(dir);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "PVIOSTAT\x02\0\0\0", 12, 0), 12);   /* version 2 */
	close(fd);
	assert_int_equal(pv_helper_stats_read(dir, getpid(), &io), -EPROTO);
	snprintf(path, sizeof(path), "%s/%s", dir, PV_HELPER_STATS_FILE);
	assert_int_equal(truncate(path, 16), 0);   /* short */
	assert_int_equal(pv_helper_stats_read(dir, getpid(), &io), -EPROTO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_none_yet),
		cmocka_unit_test(test_not_a_stats_file),
		cmocka_unit_test(test_count_and_read),
		cmocka_unit_test(test_fresh_file_for_a_new_helper),
		cmocka_unit_test(test_unknown_layout),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
