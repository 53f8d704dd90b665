/*
 * fsx_qd.c — random I/O with verification at queue depth, for the block bridge tests.
 *
 *   fsx_qd fsx DEV SPAN_MIB THREADS DEPTH OPS SEED
 *       THREADS threads, each keeping DEPTH reads/writes in flight (Linux AIO, O_DIRECT,
 *       4 KiB aligned, 1..64 blocks, FSX_MAX_BLOCKS=256 in the environment: up to 1 MiB)
 *       over the first SPAN_MIB MiB of DEV, plus fsyncs.
 *       Ranges overlap at random; an op waits for (skips) blocks another op in flight
 *       holds, so a model of the contents stays exact; every read is checked against
 *       it, and the whole span at the end. The device is zeroed first (model = zeroes).
 *   fsx_qd log DEV LOGFILE BATCH
 *       Batches of BATCH fresh blocks (batch k: blocks k*BATCH..), written in random
 *       order all at once (AIO), then fdatasync; only then "k\n" is appended to LOGFILE
 *       (itself fsync'd). Runs until an I/O fails (the helper was killed) or the device
 *       is full. Each block carries (batch, block, a checksum) in every 512-byte sector.
 *   fsx_qd check DEV LOGFILE BATCH
 *       Every batch named in LOGFILE is on DEV, block for block.
 * Exit 0 when all is well, 1 on a mismatch or error (described on stderr).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/aio_abi.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/fs.h>

#define BS 4096u
#define MAX_BLOCKS 256          /* 1 MiB: larger than a command of the iSCSI helper */
static size_t max_blocks = 64;  /* FSX_MAX_BLOCKS in the environment, 1..MAX_BLOCKS */
#define MAX_DEPTH 64

static int io_setup(unsigned n, aio_context_t *c) { return (int)syscall(SYS_io_setup, n, c); }
static int io_destroy(aio_context_t c) { return (int)syscall(SYS_io_destroy, c); }
static long io_submit(aio_context_t c, long n, struct iocb **l) { return syscall(SYS_io_submit, c, n, l); }
static long io_getevents(aio_context_t c, long min, long max, struct io_event *ev)
{
	return syscall(SYS_io_getevents, c, min, max, ev, NULL);
}

static void prep(struct iocb *cb, int fd, bool write, void *buf, size_t len, uint64_t off, uint64_t data)
{
	memset(cb, 0, sizeof(*cb));
	cb->aio_data = data;
	cb->aio_lio_opcode = write ? IOCB_CMD_PWRITE : IOCB_CMD_PREAD;
	cb->aio_fildes = (uint32_t)fd;
	cb->aio_buf = (uint64_t)(uintptr_t)buf;
	cb->aio_nbytes = len;
	cb->aio_offset = (int64_t)off;
}

/* --- fsx --- */

static unsigned char *model, *busy;
static size_t nblocks;
static unsigned depth;
static int ops, fd;
static int errors;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static bool try_lock(size_t b0, size_t n)
{
	bool ok = true;
	pthread_mutex_lock(&lock);
	for (size_t i = b0; i < b0 + n && ok; i++)
		ok = !busy[i];
	if (ok)
		memset(busy + b0, 1, n);
	pthread_mutex_unlock(&lock);
	return ok;
}

static void unlock_range(size_t b0, size_t n)
{
	pthread_mutex_lock(&lock);
	memset(busy + b0, 0, n);
	pthread_mutex_unlock(&lock);
}

static void failf(const char *what, uint64_t off, size_t len)
{
	fprintf(stderr, "fsx_qd: %s at %" PRIu64 "+%zu\n", what, off, len);
	__atomic_add_fetch(&errors, 1, __ATOMIC_SEQ_CST);
}

struct slot {
	struct iocb cb;
	unsigned char *buf;
	size_t b0, nb;
	bool busy;
};

static void *fsx_thread(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;
	aio_context_t ctx = 0;
	struct slot *slots = calloc(depth, sizeof(*slots));
	unsigned inflight = 0;
	int issued = 0, tries = 0;

	if (!slots || io_setup(depth, &ctx) < 0) {
		failf("io_setup", 0, 0);
		return NULL;
	}
	for (unsigned i = 0; i < depth; i++)
		if (posix_memalign((void **)&slots[i].buf, BS, MAX_BLOCKS * BS))
			abort();
	while (issued < ops || inflight > 0) {
		while (issued < ops && inflight < depth && tries < 50) {
			size_t nb = 1 + rand_r(&seed) % (rand_r(&seed) % 4 ? 8 : max_blocks);
			size_t b0 = rand_r(&seed) % (nblocks - nb + 1);
			unsigned kind = rand_r(&seed) % 100;
			if (!try_lock(b0, nb)) {
				tries++;
				continue;
			}
			tries = 0;
			issued++;
			if (kind < 3) {
				if (fdatasync(fd) != 0)
					failf("fdatasync", 0, 0);
				unlock_range(b0, nb);
				continue;
			}
			unsigned s = 0;
			while (slots[s].busy)
				s++;
			struct slot *sl = &slots[s];
			bool write = kind < 55;
			sl->b0 = b0;
			sl->nb = nb;
			sl->busy = true;
			if (write)
				for (size_t i = 0; i < nb * BS; i += 8)
					memset(sl->buf + i, rand_r(&seed), 8);
			prep(&sl->cb, fd, write, sl->buf, nb * BS, b0 * BS, s);
			struct iocb *l[1] = { &sl->cb };
			if (io_submit(ctx, 1, l) != 1) {
				failf("io_submit", b0 * BS, nb * BS);
				sl->busy = false;
				unlock_range(b0, nb);
				continue;
			}
			inflight++;
		}
		tries = 0;
		if (!inflight)
			continue;
		struct io_event ev[MAX_DEPTH];
		long n = io_getevents(ctx, 1, depth, ev);
		for (long i = 0; i < n; i++) {
			struct slot *sl = &slots[ev[i].data];
			uint64_t off = sl->b0 * BS;
			size_t len = sl->nb * BS;
			if (ev[i].res != (int64_t)len)
				failf(ev[i].res < 0 ? strerror((int)-ev[i].res) : "short I/O", off, len);
			else if (sl->cb.aio_lio_opcode == IOCB_CMD_PWRITE)
				memcpy(model + off, sl->buf, len);   /* completed: now the truth */
			else if (memcmp(sl->buf, model + off, len) != 0)
				failf("read differs from the model", off, len);
			sl->busy = false;
			unlock_range(sl->b0, sl->nb);
			inflight--;
		}
		if (n < 0) {
			failf("io_getevents", 0, 0);
			break;
		}
	}
	io_destroy(ctx);
	for (unsigned i = 0; i < depth; i++)
		free(slots[i].buf);
	free(slots);
	return NULL;
}

static int do_fsx(const char *dev, size_t span_mib, unsigned threads, unsigned d, int n, unsigned seed)
{
	size_t span = span_mib * 1024 * 1024;
	const char *mb = getenv("FSX_MAX_BLOCKS");
	if (mb && strtoul(mb, NULL, 10) >= 1 && strtoul(mb, NULL, 10) <= MAX_BLOCKS)
		max_blocks = strtoul(mb, NULL, 10);
	nblocks = span / BS;
	depth = d;
	ops = n;
	if (!nblocks || depth < 1 || depth > MAX_DEPTH || nblocks < MAX_BLOCKS || !threads) {
		fprintf(stderr, "fsx_qd: bad arguments\n");
		return 1;
	}
	fd = open(dev, O_RDWR | O_DIRECT);
	model = calloc(1, span);
	busy = calloc(1, nblocks);
	unsigned char *zero;
	if (fd < 0 || !model || !busy || posix_memalign((void **)&zero, BS, 1 << 20)) {
		perror("fsx_qd: open");
		return 1;
	}
	memset(zero, 0, 1 << 20);
	for (size_t off = 0; off < span; off += 1 << 20)
		if (pwrite(fd, zero, 1 << 20, (off_t)off) != 1 << 20) {
			perror("fsx_qd: zeroing");
			return 1;
		}
	pthread_t *t = calloc(threads, sizeof(*t));
	for (unsigned i = 0; i < threads; i++)
		pthread_create(&t[i], NULL, fsx_thread, (void *)(uintptr_t)(seed * 7919u + i));
	for (unsigned i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	/* the whole span, once more */
	for (size_t off = 0; off < span && !errors; off += 1 << 20) {
		if (pread(fd, zero, 1 << 20, (off_t)off) != 1 << 20)
			failf("final read", off, 1 << 20);
		else if (memcmp(zero, model + off, 1 << 20) != 0)
			failf("final contents differ from the model", off, 1 << 20);
	}
	close(fd);
	free(t);
	free(zero);
	free(model);
	free(busy);
	if (errors) {
		fprintf(stderr, "fsx_qd: %d errors\n", errors);
		return 1;
	}
	printf("fsx_qd: %u threads x %u in flight, %d ops each over %zu MiB: all reads matched\n",
	       threads, depth, ops, span_mib);
	return 0;
}

/* --- log / check --- */

static uint64_t stamp_sum(uint64_t batch, uint64_t block, unsigned sector)
{
	uint64_t x = batch * 0x9e3779b97f4a7c15ull ^ block * 0xc2b2ae3d27d4eb4full ^ sector;
	x ^= x >> 31;
	return x * 0x94d049bb133111ebull;
}

static void stamp(unsigned char *b, uint64_t batch, uint64_t block)
{
	for (unsigned s = 0; s < BS / 512; s++) {
		uint64_t v[3] = { batch, block, stamp_sum(batch, block, s) };
		memset(b + s * 512, (int)(batch & 0xff), 512);
		memcpy(b + s * 512, v, sizeof(v));
	}
}

static uint64_t dev_size(int f)
{
	struct stat st;
	uint64_t n = 0;
	if (fstat(f, &st) == 0 && S_ISREG(st.st_mode))
		return (uint64_t)st.st_size;
	if (ioctl(f, BLKGETSIZE64, &n) < 0)
		return 0;
	return n;
}

static int do_log(const char *dev, const char *logfile, unsigned batch)
{
	int f = open(dev, O_RDWR | O_DIRECT);
	int lf = open(logfile, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
	aio_context_t ctx = 0;
	if (f < 0 || lf < 0 || batch < 1 || batch > MAX_DEPTH || io_setup(batch, &ctx) < 0) {
		perror("fsx_qd log: setup");
		return 1;
	}
	uint64_t blocks = dev_size(f) / BS;
	unsigned char *bufs;
	struct iocb cbs[MAX_DEPTH], *list[MAX_DEPTH];
	if (posix_memalign((void **)&bufs, BS, (size_t)batch * BS))
		return 1;
	unsigned seed = (unsigned)getpid();
	for (uint64_t k = 0; (k + 1) * batch <= blocks; k++) {
		unsigned order[MAX_DEPTH];
		for (unsigned i = 0; i < batch; i++)
			order[i] = i;
		for (unsigned i = batch - 1; i > 0; i--) {
			unsigned j = rand_r(&seed) % (i + 1), t = order[i];
			order[i] = order[j];
			order[j] = t;
		}
		for (unsigned i = 0; i < batch; i++) {
			uint64_t blk = k * batch + order[i];
			stamp(bufs + (size_t)i * BS, k, blk);
			prep(&cbs[i], f, true, bufs + (size_t)i * BS, BS, blk * BS, i);
			list[i] = &cbs[i];
		}
		if (io_submit(ctx, batch, list) != batch) {
			fprintf(stderr, "fsx_qd log: submit of batch %" PRIu64 " failed: %s\n", k, strerror(errno));
			free(bufs);
			return 0;
		}
		struct io_event ev[MAX_DEPTH];
		unsigned got = 0;
		bool failed = false;
		while (got < batch) {
			long n = io_getevents(ctx, 1, batch - got, ev);
			if (n < 0) {
				failed = true;
				break;
			}
			for (long i = 0; i < n; i++)
				failed |= ev[i].res != (int64_t)BS;
			got += (unsigned)n;
		}
		if (failed || fdatasync(f) != 0) {
			fprintf(stderr, "fsx_qd log: batch %" PRIu64 " failed (the helper went away?)\n", k);
			free(bufs);
			return 0;   /* the expected end */
		}
		char line[32];
		int n = snprintf(line, sizeof(line), "%" PRIu64 "\n", k);
		if (write(lf, line, (size_t)n) != n || fsync(lf) != 0) {
			perror("fsx_qd log: log file");
			return 1;
		}
	}
	fprintf(stderr, "fsx_qd log: device full\n");
	free(bufs);
	return 0;
}

static int do_check(const char *dev, const char *logfile, unsigned batch)
{
	int f = open(dev, O_RDONLY | O_DIRECT);
	FILE *lf = fopen(logfile, "r");
	unsigned char *got, *want;
	if (f < 0 || !lf || batch < 1 || batch > MAX_DEPTH ||
	    posix_memalign((void **)&got, BS, (size_t)batch * BS) ||
	    posix_memalign((void **)&want, BS, BS)) {
		perror("fsx_qd check: setup");
		return 1;
	}
	uint64_t k, n = 0;
	int bad = 0;
	while (fscanf(lf, "%" SCNu64, &k) == 1) {
		if (pread(f, got, (size_t)batch * BS, (off_t)(k * batch * BS)) != (ssize_t)(batch * BS)) {
			fprintf(stderr, "fsx_qd check: cannot read batch %" PRIu64 "\n", k);
			return 1;
		}
		for (unsigned i = 0; i < batch; i++) {
			stamp(want, k, k * batch + i);
			if (memcmp(got + (size_t)i * BS, want, BS) != 0) {
				uint64_t v[2];
				memcpy(v, got + (size_t)i * BS, sizeof(v));
				fprintf(stderr, "fsx_qd check: block %" PRIu64 " of flushed batch %" PRIu64
					" holds (batch %" PRIu64 ", block %" PRIu64 ")\n",
					k * batch + i, k, v[0], v[1]);
				bad++;
			}
		}
		n++;
	}
	fclose(lf);
	close(f);
	free(got);
	free(want);
	if (bad)
		return 1;
	printf("fsx_qd check: %" PRIu64 " flushed batches of %u blocks intact\n", n, batch);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 8 && strcmp(argv[1], "fsx") == 0)
		return do_fsx(argv[2], strtoul(argv[3], NULL, 10), (unsigned)atoi(argv[4]),
			      (unsigned)atoi(argv[5]), atoi(argv[6]), (unsigned)atoi(argv[7]));
	if (argc == 5 && strcmp(argv[1], "log") == 0)
		return do_log(argv[2], argv[3], (unsigned)atoi(argv[4]));
	if (argc == 5 && strcmp(argv[1], "check") == 0)
		return do_check(argv[2], argv[3], (unsigned)atoi(argv[4]));
	fprintf(stderr, "usage: fsx_qd fsx DEV SPAN_MIB THREADS DEPTH OPS SEED\n"
			"       fsx_qd log DEV LOGFILE BATCH\n"
			"       fsx_qd check DEV LOGFILE BATCH\n");
	return 2;
}
