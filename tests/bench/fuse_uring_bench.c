/*
 * fuse_uring_bench.c — a minimal FUSE block-file server for measuring FUSE's transports
 * (tests/bench/fuse_uring_bench.sh drives it; nothing in pvnode runs it).
 *
 * One filesystem holding one regular file, "disk", whose bytes live in memory, served
 * in one of three ways:
 *   dev       : /dev/fuse opened and mounted directly (mount(2) with fd=, no libfuse);
 *               reader threads read(2) a request and writev(2) the answer (FUSE's
 *               classic transport, the one libfuse uses);
 *   uring     : the same server, but after INIT (which asks FUSE_OVER_IO_URING) one
 *               thread per CPU registers an io_uring queue of ring entries with the
 *               kernel (FUSE_IO_URING_CMD_REGISTER) and answers each request with
 *               FUSE_IO_URING_CMD_COMMIT_AND_FETCH, which also fetches the next one
 *               (Linux 6.14+, /sys/module/fuse/parameters/enable_uring=1). Falls back
 *               to `dev` when INIT does not offer it;
 *   blockfuse : pvnode's block bridge (lib/blockfuse, libfuse 3.14) over the same memory,
 *               as an asynchronous backend whose operations complete inside the call.
 * Every mode copies a request's data once in userspace (memory ↔ request buffer), as a
 * real backend does when it fills or drains a buffer.
 *
 *   usage: fuse_uring_bench MODE MOUNTPOINT SIZE_MIB [THREADS [DEPTH]]
 * THREADS: dev-mode readers (default 2, as blockfuse's); DEPTH: ring entries per queue
 * (default 32). FUSE_BENCH_TASKRUN=defer|coop|plain: how the rings run the kernel's task
 * work (default defer); FUSE_BENCH_PIN=0: queue threads not pinned to their CPU. Prints "ready <mode>" on stdout once serving (mode as granted) and
 * serves until the filesystem is unmounted. The io_uring UAPI is declared here from
 * the kernel's include/uapi/linux/fuse.h (7.42); the build's linux-libc-dev predates it.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <linux/io_uring.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "pvnode/driver/blockfuse.h"

/* --- FUSE over io_uring, protocol 7.42 (Linux 6.14) --- */
#ifndef FUSE_OVER_IO_URING
#define FUSE_OVER_IO_URING (1ULL << 41)
#define FUSE_URING_IN_OUT_HEADER_SZ 128
#define FUSE_URING_OP_IN_OUT_SZ 128
struct fuse_uring_ent_in_out {
	uint64_t flags;
	uint64_t commit_id;   /* to quote in the commit of this entry's answer */
	uint32_t payload_sz;  /* bytes of payload in the request / the answer */
	uint32_t padding;
	uint64_t reserved;
};
struct fuse_uring_req_header {
	char in_out[FUSE_URING_IN_OUT_HEADER_SZ];  /* fuse_in_header / fuse_out_header */
	char op_in[FUSE_URING_OP_IN_OUT_SZ];       /* the opcode's own header (fuse_write_in...) */
	struct fuse_uring_ent_in_out ring_ent_in_out;
};
enum fuse_uring_cmd {
	FUSE_IO_URING_CMD_INVALID = 0,
	FUSE_IO_URING_CMD_REGISTER = 1,
	FUSE_IO_URING_CMD_COMMIT_AND_FETCH = 2,
};
struct fuse_uring_cmd_req {   /* in the SQE's 80-byte command area */
	uint64_t flags;
	uint64_t commit_id;
	uint16_t qid;
	uint8_t padding[6];
};
#endif

#define BUF_DATA (1024 * 1024)          /* max_write / max_pages * 4 KiB */
#define BUF_SIZE (BUF_DATA + 4096)      /* a request's header and its data */
#define INO_ROOT 1
#define INO_FILE 2
#define FILE_NAME "disk"

static int fuse_fd = -1;
static unsigned char *mem;
static uint64_t mem_size;
static unsigned proto_minor;

static void die(const char *what)
{
	fprintf(stderr, "fuse_uring_bench: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* --- the file system: answers into (out, outlen); returns 0 or a negative errno, or 1
 * for "no answer" (FORGET) --- */

static void fill_attr(struct fuse_attr *a, uint64_t ino)
{
	memset(a, 0, sizeof(*a));
	a->ino = ino;
	if (ino == INO_ROOT) {
		a->mode = S_IFDIR | 0755;
		a->nlink = 2;
	} else {
		a->mode = S_IFREG | 0600;
		a->nlink = 1;
		a->size = mem_size;
		a->blocks = mem_size / 512;
		a->blksize = 4096;
	}
}

/* A request: header, its opcode's argument (`arg`), payload (`data`, a write's bytes
 * or a lookup's name). The answer's payload goes to `out` (room: BUF_DATA), whose
 * length is set in *outlen. */
static int handle(const struct fuse_in_header *in, const void *arg, const void *data,
		  void *out, size_t *outlen)
{
	*outlen = 0;
	switch (in->opcode) {
	case FUSE_LOOKUP: {
		struct fuse_entry_out *e = out;
		if (in->nodeid != INO_ROOT || strcmp(data, FILE_NAME) != 0)
			return -ENOENT;
		memset(e, 0, sizeof(*e));
		e->nodeid = INO_FILE;
		e->generation = 1;
		e->entry_valid = 1;
		e->attr_valid = 1;
		fill_attr(&e->attr, INO_FILE);
		*outlen = sizeof(*e);
		return 0;
	}
	case FUSE_GETATTR: {
		struct fuse_attr_out *a = out;
		if (in->nodeid != INO_ROOT && in->nodeid != INO_FILE)
			return -ENOENT;
		memset(a, 0, sizeof(*a));
		a->attr_valid = 1;
		fill_attr(&a->attr, in->nodeid);
		*outlen = sizeof(*a);
		return 0;
	}
	case FUSE_OPEN:
	case FUSE_OPENDIR: {
		struct fuse_open_out *o = out;
		memset(o, 0, sizeof(*o));
		o->fh = 1;
		if (in->opcode == FUSE_OPEN)
			o->open_flags = FOPEN_DIRECT_IO;
		*outlen = sizeof(*o);
		return 0;
	}
	case FUSE_READ: {
		const struct fuse_read_in *r = arg;
		uint64_t n = r->size;
		if (r->offset >= mem_size)
			return 0;
		if (n > mem_size - r->offset)
			n = mem_size - r->offset;
		if (n > BUF_DATA)
			return -EINVAL;
		memcpy(out, mem + r->offset, n);
		*outlen = n;
		return 0;
	}
	case FUSE_WRITE: {
		const struct fuse_write_in *w = arg;
		struct fuse_write_out *o = out;
		if (w->offset > mem_size || w->size > mem_size - w->offset)
			return -ENOSPC;
		memcpy(mem + w->offset, data, w->size);
		memset(o, 0, sizeof(*o));
		o->size = w->size;
		*outlen = sizeof(*o);
		return 0;
	}
	case FUSE_STATFS: {
		struct fuse_statfs_out *s = out;
		memset(s, 0, sizeof(*s));
		s->st.bsize = 4096;
		s->st.frsize = 4096;
		s->st.namelen = 255;
		*outlen = sizeof(*s);
		return 0;
	}
	case FUSE_READDIR:
		return 0;   /* empty: nothing lists it */
	case FUSE_FLUSH:
	case FUSE_FSYNC:
	case FUSE_RELEASE:
	case FUSE_RELEASEDIR:
	case FUSE_DESTROY:
		return 0;
	case FUSE_FORGET:
	case FUSE_BATCH_FORGET:
	case FUSE_INTERRUPT:   /* every request is answered at once anyway */
		return 1;
	default:
		return -ENOSYS;
	}
}

/* --- INIT (always on /dev/fuse) --- */

static bool init_session(bool want_uring)
{
	static char buf[BUF_SIZE];
	ssize_t n;
	do
		n = read(fuse_fd, buf, sizeof(buf));
	while (n < 0 && errno == EINTR);
	if (n < (ssize_t)(sizeof(struct fuse_in_header) + sizeof(struct fuse_init_in)))
		die("read INIT");
	struct fuse_in_header *in = (struct fuse_in_header *)buf;
	struct fuse_init_in *ii = (struct fuse_init_in *)(in + 1);
	if (in->opcode != FUSE_INIT || ii->major != 7) {
		errno = EPROTO;
		die("INIT");
	}
	uint64_t offered = ii->flags | ((uint64_t)(ii->flags & FUSE_INIT_EXT ? ii->flags2 : 0) << 32);
	uint64_t want = FUSE_ASYNC_READ | FUSE_BIG_WRITES | FUSE_MAX_PAGES | FUSE_ASYNC_DIO |
			FUSE_INIT_EXT;
	if (want_uring)
		want |= FUSE_OVER_IO_URING;
	uint64_t grant = want & offered;
	proto_minor = ii->minor < 42 ? ii->minor : 42;
	struct {
		struct fuse_out_header h;
		struct fuse_init_out o;
	} rep;
	memset(&rep, 0, sizeof(rep));
	rep.h.len = sizeof(rep);
	rep.h.unique = in->unique;
	rep.o.major = 7;
	rep.o.minor = proto_minor;
	rep.o.max_readahead = ii->max_readahead;
	rep.o.flags = (uint32_t)grant;
	rep.o.flags2 = (uint32_t)(grant >> 32);
	rep.o.max_background = 64;
	rep.o.congestion_threshold = 48;
	rep.o.max_write = BUF_DATA;
	rep.o.time_gran = 1;
	rep.o.max_pages = BUF_DATA / 4096;
	if (write(fuse_fd, &rep, sizeof(rep)) != (ssize_t)sizeof(rep))
		die("answer INIT");
	return grant & FUSE_OVER_IO_URING;
}

/* --- transport (a): read(2) / writev(2) on /dev/fuse --- */

static void *dev_reader(void *quit)
{
	bool quit_on_end = quit != NULL;
	char *buf = mmap(NULL, BUF_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *out = mmap(NULL, BUF_DATA, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED || out == MAP_FAILED)
		die("mmap");
	for (;;) {
		ssize_t n = read(fuse_fd, buf, BUF_SIZE);
		if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == ENOENT))
			continue;
		if (n < 0 && errno == ENODEV)
			break;   /* unmounted */
		if (n < (ssize_t)sizeof(struct fuse_in_header))
			die("read /dev/fuse");
		const struct fuse_in_header *in = (const struct fuse_in_header *)buf;
		const char *arg = buf + sizeof(*in);
		const char *data = arg;
		if (in->opcode == FUSE_WRITE)
			data += sizeof(struct fuse_write_in);
		size_t outlen;
		int r = handle(in, arg, data, out, &outlen);
		if (r == 1)
			continue;
		struct fuse_out_header oh = { .len = sizeof(oh) + (r < 0 ? 0 : outlen), .error = r < 0 ? r : 0,
					      .unique = in->unique };
		struct iovec iov[2] = { { &oh, sizeof(oh) }, { out, r < 0 ? 0 : outlen } };
		if (writev(fuse_fd, iov, 2) < 0 && errno != ENOENT)
			die("answer on /dev/fuse");
	}
	if (quit_on_end)
		exit(0);
	return NULL;
}

/* --- transport (b): io_uring, one ring and one thread per CPU (the kernel queues a
 * request on the queue of the CPU its submitter runs on) --- */

struct ent {
	struct fuse_uring_req_header hdr;
	char *payload;
	struct iovec iov[2];
};

struct uq {
	unsigned qid, depth;
	int ring;
	unsigned *sq_head, *sq_tail, *sq_mask, *sq_array;
	unsigned *cq_head, *cq_tail, *cq_mask;
	struct io_uring_cqe *cqes;
	struct io_uring_sqe *sqes;   /* 128-byte SQEs: index ×2 */
	unsigned sq_local_tail, to_submit;
	struct ent *ents;
};

static atomic_uint queues_registered;

static int ring_setup(struct uq *q, unsigned entries)
{
	struct io_uring_params p;
	memset(&p, 0, sizeof(p));
	/* SQE128: the command area holds fuse_uring_cmd_req. One thread submits and waits on
	 * each ring, so the kernel's task work (handing it a request) runs when it waits. */
	p.flags = IORING_SETUP_SQE128 | IORING_SETUP_SINGLE_ISSUER;
	const char *tr = getenv("FUSE_BENCH_TASKRUN");   /* defer (default), coop, plain */
	if (!tr || strcmp(tr, "defer") == 0)
		p.flags |= IORING_SETUP_DEFER_TASKRUN;
	else if (strcmp(tr, "coop") == 0)
		p.flags |= IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG;
	q->ring = (int)syscall(__NR_io_uring_setup, entries, &p);
	if (q->ring < 0)
		return -errno;
	size_t sq_sz = p.sq_off.array + p.sq_entries * sizeof(unsigned);
	size_t cq_sz = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
	if (cq_sz > sq_sz)
		sq_sz = cq_sz;   /* IORING_FEAT_SINGLE_MMAP (5.4+) */
	char *sq = mmap(NULL, sq_sz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, q->ring,
			IORING_OFF_SQ_RING);
	if (sq == MAP_FAILED)
		return -errno;
	q->sqes = mmap(NULL, p.sq_entries * 2 * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_POPULATE, q->ring, IORING_OFF_SQES);
	if (q->sqes == MAP_FAILED)
		return -errno;
	q->sq_head = (unsigned *)(sq + p.sq_off.head);
	q->sq_tail = (unsigned *)(sq + p.sq_off.tail);
	q->sq_mask = (unsigned *)(sq + p.sq_off.ring_mask);
	q->sq_array = (unsigned *)(sq + p.sq_off.array);
	q->cq_head = (unsigned *)(sq + p.cq_off.head);
	q->cq_tail = (unsigned *)(sq + p.cq_off.tail);
	q->cq_mask = (unsigned *)(sq + p.cq_off.ring_mask);
	q->cqes = (struct io_uring_cqe *)(sq + p.cq_off.cqes);
	q->sq_local_tail = *q->sq_tail;
	return 0;
}

/* Queue a FUSE command for entry i (REGISTER or COMMIT_AND_FETCH). */
static void ring_cmd(struct uq *q, unsigned i, uint32_t op)
{
	unsigned idx = q->sq_local_tail & *q->sq_mask;
	struct io_uring_sqe *sqe = &q->sqes[idx * 2];
	memset(sqe, 0, 2 * sizeof(*sqe));
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = fuse_fd;
	sqe->cmd_op = op;
	sqe->user_data = i;
	if (op == FUSE_IO_URING_CMD_REGISTER) {
		sqe->addr = (uint64_t)(uintptr_t)q->ents[i].iov;
		sqe->len = 2;
	}
	struct fuse_uring_cmd_req *req = (struct fuse_uring_cmd_req *)sqe->cmd;
	req->qid = (uint16_t)q->qid;
	req->commit_id = q->ents[i].hdr.ring_ent_in_out.commit_id;
	q->sq_array[idx] = idx;
	q->sq_local_tail++;
	q->to_submit++;
}

/* Submit what is queued and wait for at least one completion. */
static int ring_enter(struct uq *q)
{
	atomic_store_explicit((_Atomic unsigned *)q->sq_tail, q->sq_local_tail, memory_order_release);
	for (;;) {
		int r = (int)syscall(__NR_io_uring_enter, q->ring, q->to_submit, 1, IORING_ENTER_GETEVENTS,
				     NULL, 0);
		if (r >= 0) {
			q->to_submit -= (unsigned)r < q->to_submit ? (unsigned)r : q->to_submit;
			return 0;
		}
		if (errno != EINTR && errno != EAGAIN && errno != EBUSY)
			return -errno;
	}
}

static void uring_answer(struct uq *q, unsigned i)
{
	struct ent *e = &q->ents[i];
	struct fuse_in_header in;
	memcpy(&in, e->hdr.in_out, sizeof(in));
	size_t outlen = 0;
	/* the opcode's header is in op_in, its payload (write data, a name) in the payload
	 * buffer; the answer's arguments all go to the payload buffer */
	int r = handle(&in, e->hdr.op_in, e->payload, e->payload, &outlen);
	if (r == 1)
		r = 0;   /* nothing without an answer comes this way */
	struct fuse_out_header oh = { .len = sizeof(oh) + (r < 0 ? 0 : outlen), .error = r < 0 ? r : 0,
				      .unique = in.unique };
	memcpy(e->hdr.in_out, &oh, sizeof(oh));
	e->hdr.ring_ent_in_out.payload_sz = r < 0 ? 0 : (uint32_t)outlen;
	ring_cmd(q, i, FUSE_IO_URING_CMD_COMMIT_AND_FETCH);
}

static void *uring_queue(void *arg)
{
	struct uq *q = arg;
	cpu_set_t cpus;
	CPU_ZERO(&cpus);
	CPU_SET(q->qid, &cpus);
	const char *pin = getenv("FUSE_BENCH_PIN");   /* the kernel routes by CPU: stay there */
	if (!pin || strcmp(pin, "0") != 0)
		sched_setaffinity(0, sizeof(cpus), &cpus);
	int r = ring_setup(q, q->depth);
	if (r < 0) {
		errno = -r;
		die("io_uring_setup");
	}
	q->ents = calloc(q->depth, sizeof(*q->ents));
	if (!q->ents)
		die("calloc");
	for (unsigned i = 0; i < q->depth; i++) {
		struct ent *e = &q->ents[i];
		e->payload = mmap(NULL, BUF_DATA, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (e->payload == MAP_FAILED)
			die("mmap");
		e->iov[0] = (struct iovec){ &e->hdr, sizeof(e->hdr) };
		e->iov[1] = (struct iovec){ e->payload, BUF_DATA };
		ring_cmd(q, i, FUSE_IO_URING_CMD_REGISTER);
	}
	bool announced = false;
	for (;;) {
		/* REGISTER completes only when a request arrives: count the queue once its
		 * commands went in */
		atomic_store_explicit((_Atomic unsigned *)q->sq_tail, q->sq_local_tail, memory_order_release);
		if (!announced) {
			int n = (int)syscall(__NR_io_uring_enter, q->ring, q->to_submit, 0, 0, NULL, 0);
			if (n < 0)
				die("io_uring_enter (register)");
			q->to_submit = 0;
			atomic_fetch_add(&queues_registered, 1);
			announced = true;
		}
		if (ring_enter(q) < 0)
			die("io_uring_enter");
		unsigned head = *q->cq_head;
		unsigned tail = atomic_load_explicit((_Atomic unsigned *)q->cq_tail, memory_order_acquire);
		for (; head != tail; head++) {
			struct io_uring_cqe *c = &q->cqes[head & *q->cq_mask];
			if (c->res == -ENOTCONN || c->res == -ECONNABORTED || c->res == -ECANCELED)
				return NULL;   /* the connection ends */
			if (c->res < 0) {
				errno = -c->res;
				die("fuse ring command");
			}
			uring_answer(q, (unsigned)c->user_data);
		}
		atomic_store_explicit((_Atomic unsigned *)q->cq_head, head, memory_order_release);
	}
}

/* --- blockfuse over the same memory --- */

static int bf_read(void *ctx, void *buf, size_t len, uint64_t off)
{
	(void)ctx;
	memcpy(buf, mem + off, len);
	return 0;
}

static int bf_write(void *ctx, const void *buf, size_t len, uint64_t off)
{
	(void)ctx;
	memcpy(mem + off, buf, len);
	return 0;
}

static int bf_flush(void *ctx)
{
	(void)ctx;
	return 0;
}

static uint64_t bf_size(void *ctx)
{
	(void)ctx;
	return mem_size;
}

static int bf_aio_read(void *ctx, void *buf, size_t len, uint64_t off, pv_blockfuse_done *done, void *tag)
{
	done(tag, bf_read(ctx, buf, len, off));
	return 0;
}

static int bf_aio_write(void *ctx, const void *buf, size_t len, uint64_t off, pv_blockfuse_done *done,
			void *tag)
{
	done(tag, bf_write(ctx, buf, len, off));
	return 0;
}

static int bf_aio_flush(void *ctx, pv_blockfuse_done *done, void *tag)
{
	(void)ctx;
	done(tag, 0);
	return 0;
}

static void bf_ready(void *ctx)
{
	(void)ctx;
	printf("ready blockfuse\n");
	fflush(stdout);
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: %s dev|uring|blockfuse MOUNTPOINT SIZE_MIB [THREADS [DEPTH]]\n", argv[0]);
		return 2;
	}
	const char *mode = argv[1], *mnt = argv[2];
	mem_size = strtoull(argv[3], NULL, 10) << 20;
	unsigned threads = argc > 4 ? (unsigned)atoi(argv[4]) : 2;
	unsigned depth = argc > 5 ? (unsigned)atoi(argv[5]) : 32;
	if (!mem_size || !threads || !depth || depth > 4096)
		return 2;
	mem = mmap(NULL, mem_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (mem == MAP_FAILED)
		die("mmap the disk");
	memset(mem, 0x5a, mem_size);   /* every page faulted in before anything is timed */
	signal(SIGPIPE, SIG_IGN);

	if (strcmp(mode, "blockfuse") == 0) {
		struct pv_blockfuse_ops ops = { .read = bf_read, .write = bf_write, .flush = bf_flush,
						.size = bf_size, .aio_read = bf_aio_read,
						.aio_write = bf_aio_write, .aio_flush = bf_aio_flush };
		struct pv_blockfuse_cfg cfg = { .mountpoint = mnt, .file_name = FILE_NAME, .block_size = 512,
						.on_ready = bf_ready };
		return pv_blockfuse_run(&cfg, &ops, NULL, NULL) == 0 ? 0 : 1;
	}
	bool want_uring = strcmp(mode, "uring") == 0;
	if (!want_uring && strcmp(mode, "dev") != 0)
		return 2;

	fuse_fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	if (fuse_fd < 0)
		die("open /dev/fuse");
	char opts[128];
	snprintf(opts, sizeof(opts), "fd=%d,rootmode=40000,user_id=0,group_id=0,allow_other", fuse_fd);
	if (mount("pvnode-fusebench", mnt, "fuse.pvfusebench", MS_NOSUID | MS_NODEV, opts) < 0)
		die("mount");
	bool uring = init_session(want_uring);
	if (uring) {
		/* the kernel makes one queue per possible CPU and is ready once each has an entry */
		long ncpu = sysconf(_SC_NPROCESSORS_CONF);
		FILE *f = fopen("/sys/devices/system/cpu/possible", "r");
		unsigned lo, hi;
		if (f && fscanf(f, "%u-%u", &lo, &hi) == 2 && lo == 0)
			ncpu = (long)hi + 1;
		if (f)
			fclose(f);
		struct uq *qs = calloc((size_t)ncpu, sizeof(*qs));
		if (!qs)
			die("calloc");
		for (long i = 0; i < ncpu; i++) {
			pthread_t t;
			qs[i].qid = (unsigned)i;
			qs[i].depth = depth;
			if (pthread_create(&t, NULL, uring_queue, &qs[i]) != 0)
				die("pthread_create");
		}
		while (atomic_load(&queues_registered) < (unsigned)ncpu)
			usleep(1000);
		threads = 1;   /* /dev/fuse still carries FORGET and INTERRUPT, and tells the end */
	}
	for (unsigned i = 1; i < threads; i++) {
		pthread_t t;
		if (pthread_create(&t, NULL, dev_reader, NULL) != 0)
			die("pthread_create");
	}
	printf("ready %s\n", uring ? "uring" : "dev");
	fflush(stdout);
	dev_reader((void *)1);
	return 0;
}
