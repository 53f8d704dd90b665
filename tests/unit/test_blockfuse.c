/*
 * test_blockfuse.c — the generic FUSE block file (lib/blockfuse/blockfuse.c) over an in-memory
 * backend with 4 KiB blocks: aligned and unaligned reads and writes (read-modify-write
 * at the edges, never an unaligned backend call), concurrent writers, fsync → flush,
 * punch hole / zero range → write_zeroes, writes past the end refused, read-only mode.
 * Then fsx-style random I/O with verification at queue depth (Linux AIO, many requests
 * in flight, overlapping ranges serialised by the test's own range locks so a model
 * stays exact) against a backend with asynchronous operations that completes requests
 * out of order after random delays, and against the synchronous one.
 * Needs root and /dev/fuse (skips otherwise). The server runs in a child process and is
 * stopped with SIGTERM, as the helpers are.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/aio_abi.h>
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
#include <sys/syscall.h>
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
	int aio_calls;        /* asynchronous operations the server made */
	int aio_queued;       /* queued at the backend right now */
	int aio_max_queued;   /* the most ever queued at once */
	long aio_bytes;       /* data of the reads and writes queued right now */
	long aio_max_bytes;   /* the most ever at once */
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

/* The asynchronous backend (server process): requests wait in a queue; completer threads
 * take a random one, wait a random moment, then do it and call done: out of order. */
struct aio_job {
	int op;   /* 0 read, 1 write, 2 flush */
	void *buf;
	size_t len;
	uint64_t off;
	pv_blockfuse_done *done;
	void *tag;
};
#define AQ_MAX 1024
static struct aio_job aq[AQ_MAX];
static int aq_n;
static pthread_mutex_t aq_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t aq_cond = PTHREAD_COND_INITIALIZER;

static int aio_queue(int op, void *buf, size_t len, uint64_t off, pv_blockfuse_done *done, void *tag)
{
	if (op != 2 && (off % BS || len % BS))
		__atomic_add_fetch(&m->unaligned_calls, 1, __ATOMIC_SEQ_CST);
	pthread_mutex_lock(&aq_lock);
	if (aq_n == AQ_MAX) {
		pthread_mutex_unlock(&aq_lock);
		return -EAGAIN;
	}
	aq[aq_n++] = (struct aio_job){ op, buf, len, off, done, tag };
	__atomic_add_fetch(&m->aio_calls, 1, __ATOMIC_SEQ_CST);
	int q = __atomic_add_fetch(&m->aio_queued, 1, __ATOMIC_SEQ_CST);
	if (q > m->aio_max_queued)
		m->aio_max_queued = q;
	long bytes = __atomic_add_fetch(&m->aio_bytes, (long)len, __ATOMIC_SEQ_CST);
	if (bytes > m->aio_max_bytes)
		m->aio_max_bytes = bytes;
	pthread_cond_signal(&aq_cond);
	pthread_mutex_unlock(&aq_lock);
	return 0;
}

static void *aio_completer(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;
	for (;;) {
		pthread_mutex_lock(&aq_lock);
		while (aq_n == 0)
			pthread_cond_wait(&aq_cond, &aq_lock);
		int i = (int)(rand_r(&seed) % (unsigned)aq_n);
		struct aio_job j = aq[i];
		aq[i] = aq[--aq_n];
		pthread_mutex_unlock(&aq_lock);
		usleep(rand_r(&seed) % 400);
		if (j.op == 0)
			memcpy(j.buf, m->data + j.off, j.len);
		else if (j.op == 1)
			memcpy(m->data + j.off, j.buf, j.len);
		else
			__atomic_add_fetch(&m->flushes, 1, __ATOMIC_SEQ_CST);
		__atomic_sub_fetch(&m->aio_queued, 1, __ATOMIC_SEQ_CST);
		__atomic_sub_fetch(&m->aio_bytes, (long)j.len, __ATOMIC_SEQ_CST);
		j.done(j.tag, 0);
	}
	return NULL;
}

static int mem_aio_read(void *ctx, void *buf, size_t len, uint64_t off, pv_blockfuse_done *done, void *tag)
{
	(void)ctx;
	return aio_queue(0, buf, len, off, done, tag);
}

static int mem_aio_write(void *ctx, const void *buf, size_t len, uint64_t off,
			 pv_blockfuse_done *done, void *tag)
{
	(void)ctx;
	return aio_queue(1, (void *)buf, len, off, done, tag);
}

static int mem_aio_flush(void *ctx, pv_blockfuse_done *done, void *tag)
{
	(void)ctx;
	return aio_queue(2, NULL, 0, 0, done, tag);
}

static void on_ready(void *ctx)
{
	(void)ctx;
	__atomic_store_n(&m->ready, 1, __ATOMIC_SEQ_CST);
}

static char dir[64];
static char file[128];
static pid_t server;
static size_t inflight_cap;   /* cfg.max_inflight_bytes of the next server */

static pid_t start_server_ops(bool ro, bool async)
{
	pid_t pid = fork();
	if (pid == 0) {
		struct pv_blockfuse_ops ops = { .read = mem_read, .write = mem_write, .flush = mem_flush,
						.write_zeroes = mem_zeroes, .size = mem_size };
		if (async) {
			ops.aio_read = mem_aio_read;
			ops.aio_write = mem_aio_write;
			ops.aio_flush = mem_aio_flush;
			for (uintptr_t i = 1; i <= 3; i++) {
				pthread_t t;
				sigset_t all, old;
				sigfillset(&all);
				pthread_sigmask(SIG_BLOCK, &all, &old);
				pthread_create(&t, NULL, aio_completer, (void *)i);
				pthread_sigmask(SIG_SETMASK, &old, NULL);
			}
		}
		struct pv_blockfuse_cfg cfg = { .mountpoint = dir, .file_name = "disk", .block_size = BS,
						.readonly = ro, .max_threads = 8, .on_ready = on_ready,
						.max_inflight_bytes = inflight_cap,
						.max_io = inflight_cap ? 256 * 1024 : 0 };   /* fsx: 64 blocks */
		_exit(pv_blockfuse_run(&cfg, &ops, NULL, NULL) == 0 ? 0 : 1);
	}
	for (int i = 0; i < 500 && !__atomic_load_n(&m->ready, __ATOMIC_SEQ_CST); i++)
		usleep(10000);
	struct stat st;
	for (int i = 0; i < 200 && stat(file, &st) < 0; i++)
		usleep(10000);
	return pid;
}

static pid_t start_server(bool ro)
{
	return start_server_ops(ro, false);
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

/* --- fsx at queue depth --- */

#define FSX_THREADS 4
#define FSX_DEPTH 8               /* requests in flight per thread (Linux AIO) */
#define FSX_OPS 1500              /* per thread */
#define FSX_BLOCKS (SIZE / BS)
#define FSX_MAX_BLOCKS 64

static unsigned char fsx_model[SIZE];
static unsigned char fsx_busy[FSX_BLOCKS];   /* block in use by an op in flight */
static pthread_mutex_t fsx_lock = PTHREAD_MUTEX_INITIALIZER;
static int fsx_fd_direct, fsx_fd;
static int fsx_errors;

/* All blocks of [b0, b0+n) or none (never waits: a thread holding ranges must keep
 * reaping its completions). */
static bool fsx_try_lock(size_t b0, size_t n)
{
	bool ok = true;
	pthread_mutex_lock(&fsx_lock);
	for (size_t i = b0; i < b0 + n && ok; i++)
		ok = !fsx_busy[i];
	if (ok)
		memset(fsx_busy + b0, 1, n);
	pthread_mutex_unlock(&fsx_lock);
	return ok;
}

static void fsx_unlock(size_t b0, size_t n)
{
	pthread_mutex_lock(&fsx_lock);
	memset(fsx_busy + b0, 0, n);
	pthread_mutex_unlock(&fsx_lock);
}

static void fsx_fail(const char *what, uint64_t off, size_t len)
{
	fprintf(stderr, "fsx: %s at %llu+%zu differs from the model\n", what, (unsigned long long)off, len);
	__atomic_add_fetch(&fsx_errors, 1, __ATOMIC_SEQ_CST);
}

struct fsx_slot {
	struct iocb cb;
	unsigned char *buf;
	size_t b0, nb;
	bool busy;
};

static void *fsx_thread(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg * 7919u;
	aio_context_t ctx = 0;
	struct fsx_slot slots[FSX_DEPTH];
	int inflight = 0, issued = 0, tries = 0;
	unsigned char *tmp = malloc(FSX_MAX_BLOCKS * BS + 2 * BS);

	if (syscall(SYS_io_setup, FSX_DEPTH, &ctx) < 0) {
		fsx_fail("io_setup", 0, 0);
		return NULL;
	}
	for (int i = 0; i < FSX_DEPTH; i++) {
		slots[i].busy = false;
		if (posix_memalign((void **)&slots[i].buf, BS, FSX_MAX_BLOCKS * BS))
			abort();
	}
	while (issued < FSX_OPS || inflight > 0) {
		/* fill the queue */
		while (issued < FSX_OPS && inflight < FSX_DEPTH && tries < 50) {
			size_t nb = 1 + rand_r(&seed) % (rand_r(&seed) % 4 ? 8 : FSX_MAX_BLOCKS);
			size_t b0 = rand_r(&seed) % (FSX_BLOCKS - nb + 1);
			unsigned kind = rand_r(&seed) % 100;
			if (!fsx_try_lock(b0, nb)) {
				tries++;
				continue;
			}
			tries = 0;
			issued++;
			if (kind < 4) {
				/* unaligned, synchronous, inside the locked blocks (read-modify-write) */
				uint64_t off = b0 * BS + rand_r(&seed) % BS;
				size_t len = 1 + rand_r(&seed) % (nb * BS - (off - b0 * BS));
				if (kind < 2) {
					for (size_t i = 0; i < len; i++)
						tmp[i] = (unsigned char)rand_r(&seed);
					if (pwrite(fsx_fd, tmp, len, (off_t)off) != (ssize_t)len)
						fsx_fail("unaligned write", off, len);
					else
						memcpy(fsx_model + off, tmp, len);
				} else if (pread(fsx_fd, tmp, len, (off_t)off) != (ssize_t)len ||
					   memcmp(tmp, fsx_model + off, len) != 0) {
					fsx_fail("unaligned read", off, len);
				}
				fsx_unlock(b0, nb);
				continue;
			}
			if (kind < 6) {
				if (fsync(fsx_fd_direct) != 0)
					fsx_fail("fsync", 0, 0);
				fsx_unlock(b0, nb);
				continue;
			}
			int s = 0;
			while (slots[s].busy)
				s++;
			struct fsx_slot *sl = &slots[s];
			bool write = kind < 55;
			sl->b0 = b0;
			sl->nb = nb;
			sl->busy = true;
			if (write)
				for (size_t i = 0; i < nb * BS; i += 8)
					memset(sl->buf + i, rand_r(&seed), 8);
			memset(&sl->cb, 0, sizeof(sl->cb));
			sl->cb.aio_data = (uint64_t)s;
			sl->cb.aio_lio_opcode = write ? IOCB_CMD_PWRITE : IOCB_CMD_PREAD;
			sl->cb.aio_fildes = (uint32_t)fsx_fd_direct;
			sl->cb.aio_buf = (uint64_t)(uintptr_t)sl->buf;
			sl->cb.aio_nbytes = nb * BS;
			sl->cb.aio_offset = (int64_t)(b0 * BS);
			struct iocb *list[1] = { &sl->cb };
			if (syscall(SYS_io_submit, ctx, 1, list) != 1) {
				fsx_fail("io_submit", b0 * BS, nb * BS);
				sl->busy = false;
				fsx_unlock(b0, nb);
				continue;
			}
			inflight++;
		}
		tries = 0;
		if (inflight == 0)
			continue;
		struct io_event ev[FSX_DEPTH];
		long n = syscall(SYS_io_getevents, ctx, 1, FSX_DEPTH, ev, NULL);
		for (long i = 0; i < n; i++) {
			struct fsx_slot *sl = &slots[ev[i].data];
			uint64_t off = sl->b0 * BS;
			size_t len = sl->nb * BS;
			if (ev[i].res != (int64_t)len)
				fsx_fail("aio result", off, len);
			else if (sl->cb.aio_lio_opcode == IOCB_CMD_PWRITE)
				memcpy(fsx_model + off, sl->buf, len);   /* completed: now the truth */
			else if (memcmp(sl->buf, fsx_model + off, len) != 0)
				fsx_fail("aio read", off, len);
			sl->busy = false;
			fsx_unlock(sl->b0, sl->nb);
			inflight--;
		}
	}
	syscall(SYS_io_destroy, ctx);
	for (int i = 0; i < FSX_DEPTH; i++)
		free(slots[i].buf);
	free(tmp);
	return NULL;
}

static void run_fsx(bool async)
{
	if (!m)
		skip();
	memset(m->data, 0, SIZE);
	memset(fsx_model, 0, SIZE);
	m->aio_calls = m->aio_max_queued = m->unaligned_calls = 0;
	m->aio_bytes = m->aio_max_bytes = 0;
	fsx_errors = 0;
	server = start_server_ops(false, async);
	fsx_fd_direct = open(file, O_RDWR | O_DIRECT);
	fsx_fd = open(file, O_RDWR);
	assert_true(fsx_fd_direct >= 0 && fsx_fd >= 0);
	pthread_t t[FSX_THREADS];
	for (uintptr_t i = 0; i < FSX_THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, fsx_thread, (void *)(i + 1)), 0);
	for (int i = 0; i < FSX_THREADS; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(fsx_errors, 0);
	static unsigned char all[SIZE];
	assert_int_equal(pread(fsx_fd, all, SIZE, 0), SIZE);
	assert_memory_equal(all, fsx_model, SIZE);
	assert_memory_equal(m->data, fsx_model, SIZE);
	assert_int_equal(m->unaligned_calls, 0);
	if (async) {
		/* the bridge really kept several requests at the backend at once */
		fprintf(stderr, "fsx: %d asynchronous calls, at most %d (%ld bytes) queued at once\n",
			m->aio_calls, m->aio_max_queued, m->aio_max_bytes);
		assert_true(m->aio_calls > FSX_THREADS * FSX_OPS / 2);
		assert_true(m->aio_max_queued >= (inflight_cap ? 2 : 4));
		if (inflight_cap)
			assert_true((size_t)m->aio_max_bytes <= inflight_cap);
	}
	close(fsx_fd_direct);
	close(fsx_fd);
	stop_server();
}

static void test_fsx_async(void **state)
{
	(void)state;
	run_fsx(true);
}

/* The same with the data in flight bounded (what the RBD helper sets): 512 KiB, where
 * the four threads have up to 32 requests of up to 256 KiB (max_io) out. */
static void test_fsx_bounded(void **state)
{
	(void)state;
	inflight_cap = 512 * 1024;
	run_fsx(true);
	inflight_cap = 0;
}

static void test_fsx_sync(void **state)
{
	(void)state;
	run_fsx(false);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_io),
		cmocka_unit_test(test_readonly),
		cmocka_unit_test(test_fsx_async),
		cmocka_unit_test(test_fsx_bounded),
		cmocka_unit_test(test_fsx_sync),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
