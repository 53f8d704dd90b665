/*
 * test_blockfuse.c — the generic FUSE block file (lib/blockfuse/blockfuse.c) over an in-memory
 * backend with 4 KiB blocks: aligned and unaligned reads and writes (read-modify-write
 * at the edges, never an unaligned backend call), concurrent writers, fsync → flush,
 * punch hole / zero range → write_zeroes, writes past the end refused, read-only mode.
 * Needs root and /dev/fuse (skips otherwise). The server runs in a child process and is
 * stopped with SIGTERM, as the helpers are.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "pvnode/driver/blockfuse.h"

#define BS 4096u
#define SIZE (8u * 1024 * 1024)

/* Shared with the child (MAP_SHARED) so the parent can check what the backend saw. */
struct mem {
	unsigned char data[SIZE];
	int unaligned_calls;
	int flushes;
	int zeroes;
	int ready;
};
static struct mem *m;

static int mem_read(void *ctx, void *buf, size_t len, uint64_t off)
{
	(void)ctx;
	if (off % BS || len % BS)
		__atomic_add_fetch(&m->unaligned_calls, 1, __ATOMIC_SEQ_CST);
	memcpy(buf, m->data + off, len);
	return 0;
}

static int mem_write(void *ctx, const void *buf, size_t len, uint64_t off)
{
	(void)ctx;
	if (off % BS || len % BS)
		__atomic_add_fetch(&m->unaligned_calls, 1, __ATOMIC_SEQ_CST);
	memcpy(m->data + off, buf, len);
	return 0;
}

static int mem_flush(void *ctx)
{
	(void)ctx;
	__atomic_add_fetch(&m->flushes, 1, __ATOMIC_SEQ_CST);
	return 0;
}

static int mem_zeroes(void *ctx, uint64_t off, uint64_t len, bool may_unmap)
{
	(void)ctx; (void)may_unmap;
	__atomic_add_fetch(&m->zeroes, 1, __ATOMIC_SEQ_CST);
	memset(m->data + off, 0, len);
	return 0;
}

static uint64_t mem_size(void *ctx)
{
	(void)ctx;
	return SIZE;
}

static void on_ready(void *ctx)
{
	(void)ctx;
	__atomic_store_n(&m->ready, 1, __ATOMIC_SEQ_CST);
}

static char dir[64];
static char file[128];
static pid_t server;

static pid_t start_server(bool ro)
{
	pid_t pid = fork();
	if (pid == 0) {
		struct pv_blockfuse_ops ops = { .read = mem_read, .write = mem_write, .flush = mem_flush,
						.write_zeroes = mem_zeroes, .size = mem_size };
		struct pv_blockfuse_cfg cfg = { .mountpoint = dir, .file_name = "disk", .block_size = BS,
						.readonly = ro, .max_threads = 8, .on_ready = on_ready };
		_exit(pv_blockfuse_run(&cfg, &ops, NULL, NULL) == 0 ? 0 : 1);
	}
	for (int i = 0; i < 500 && !__atomic_load_n(&m->ready, __ATOMIC_SEQ_CST); i++)
		usleep(10000);
	struct stat st;
	for (int i = 0; i < 200 && stat(file, &st) < 0; i++)
		usleep(10000);
	return pid;
}

static void stop_server(void)
{
	int status = 0;
	kill(server, SIGTERM);
	waitpid(server, &status, 0);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	umount2(dir, MNT_DETACH);
	m->ready = 0;
}

static int setup(void **state)
{
	(void)state;
	if (geteuid() != 0 || access("/dev/fuse", R_OK | W_OK) != 0)
		return 0;
	m = mmap(NULL, sizeof(*m), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	snprintf(dir, sizeof(dir), "/tmp/pvnode-blockfuse.XXXXXX");
	if (m == MAP_FAILED || !mkdtemp(dir))
		return -1;
	snprintf(file, sizeof(file), "%s/disk", dir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	if (dir[0])
		rmdir(dir);
	return 0;
}

static void fill(unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)((i * 131 + seed * 7 + (i >> 9)) & 0xff);
}

static void test_io(void **state)
{
	(void)state;
	if (!m)
		skip();
	server = start_server(false);
	struct stat st;
	assert_int_equal(stat(file, &st), 0);
	assert_int_equal(st.st_size, SIZE);
	int fd = open(file, O_RDWR);
	assert_true(fd >= 0);

	static unsigned char shadow[SIZE], buf[SIZE];
	memset(shadow, 0, SIZE);
	/* aligned */
	fill(buf, 1 << 20, 1);
	assert_int_equal(pwrite(fd, buf, 1 << 20, 0), 1 << 20);
	memcpy(shadow, buf, 1 << 20);
	/* unaligned at both edges, inside one block, and across many */
	struct { off_t off; size_t len; } cases[] = {
		{ 100, 10 }, { 4000, 200 }, { 8191, 2 }, { 12345, 70000 }, { 2 * 1024 * 1024 - 3, 5 },
		{ SIZE - 100, 100 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		fill(buf, cases[i].len, (unsigned)i + 10);
		assert_int_equal(pwrite(fd, buf, cases[i].len, cases[i].off), (ssize_t)cases[i].len);
		memcpy(shadow + cases[i].off, buf, cases[i].len);
	}
	assert_int_equal(pread(fd, buf, 77777, 333), 77777);
	assert_memory_equal(buf, shadow + 333, 77777);
	assert_int_equal(fsync(fd), 0);
	assert_true(m->flushes >= 1);
	/* past the end */
	errno = 0;
	assert_int_equal(pwrite(fd, buf, 10, SIZE), -1);
	assert_int_equal(errno, ENOSPC);
	assert_int_equal(pread(fd, buf, 100, SIZE), 0);
	/* punch and zero, unaligned edges */
	assert_int_equal(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 1000, 20000), 0);
	memset(shadow + 1000, 0, 20000);
	assert_int_equal(fallocate(fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, 500000, 9000), 0);
	memset(shadow + 500000, 0, 9000);
	assert_true(m->zeroes >= 2);
	/* concurrent unaligned writers on disjoint ranges, adjacent inside shared blocks */
	pid_t kids[4];
	for (int k = 0; k < 4; k++) {
		kids[k] = fork();
		if (kids[k] == 0) {
			unsigned char b[3000];
			int f = open(file, O_RDWR);
			for (int j = 0; j < 200; j++) {
				off_t off = 3 * 1024 * 1024 + (off_t)(j * 4 + k) * 3000;
				fill(b, sizeof(b), (unsigned)(j * 4 + k));
				if (pwrite(f, b, sizeof(b), off) != (ssize_t)sizeof(b))
					_exit(1);
			}
			_exit(0);
		}
	}
	for (int k = 0; k < 4; k++) {
		int status;
		waitpid(kids[k], &status, 0);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	for (int j = 0; j < 800; j++)
		fill(shadow + 3 * 1024 * 1024 + (size_t)j * 3000, 3000, (unsigned)j);
	assert_int_equal(pread(fd, buf, SIZE, 0), SIZE);
	assert_memory_equal(buf, shadow, SIZE);
	assert_memory_equal(m->data, shadow, SIZE);
	assert_int_equal(m->unaligned_calls, 0);
	close(fd);
	stop_server();
}

static void test_readonly(void **state)
{
	(void)state;
	if (!m)
		skip();
	server = start_server(true);
	assert_true(open(file, O_RDWR) < 0);
	assert_true(errno == EROFS || errno == EACCES);
	int fd = open(file, O_RDONLY);
	assert_true(fd >= 0);
	char b[4096];
	assert_int_equal(pread(fd, b, sizeof(b), 0), (ssize_t)sizeof(b));
	close(fd);
	stop_server();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_io),
		cmocka_unit_test(test_readonly),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
