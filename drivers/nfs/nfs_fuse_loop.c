/*
 * nfs_fuse_loop.c — the request loop of pvnode-nfs-fuse: libfuse's multithreaded loop
 * (fuse_loop_mt) done again on fuse_session_receive_buf / fuse_session_process_buf, so
 * that the helper owns the receive buffers and gives their memory back when idle.
 *
 * Why: libfuse gives each worker thread a receive buffer of 1 MiB + a page, allocated in
 * the heap at the worker's first request and kept until the worker ends; a WRITE fills
 * it. With up to 10 workers that was most of what an NFS helper kept after I/O (idle
 * after 256 MiB written and read: 25.9 MiB resident, 23.4 anonymous, against 2.9 before
 * any I/O), and helpers are one per staged volume.
 *
 * Workers start on demand as libfuse's do: one at first, another whenever none is free
 * for the next request (FORGETs aside), at most PVNFS_WORKERS. Each maps its buffer once
 * (libfuse's size: it reads that many bytes into it). The main thread waits for the
 * session to end and, once a second, looks at the I/O counter: after PVNFS_QUIET_S
 * seconds without READs or WRITEs it asks every worker whose buffer was used to drop its pages
 * (MADV_DONTNEED: the next request faults in zeroed pages) and trims the heap. Under
 * I/O nothing is released (buffers that stay mapped and resident are what keeps page
 * faults off the data path).
 *
 * A buffer cannot be dropped under a worker blocked in read() on /dev/fuse: the kernel
 * may be copying a request into it at that moment. So the worker drops its own: the main
 * thread sets its `release` flag and interrupts the read with PVNFS_KICK, whose handler
 * does nothing and is installed without SA_RESTART, so read() fails with EINTR; the
 * worker releases, then reads again. The signal is blocked in every thread at every
 * other moment (a worker unblocks it only around its read), so it never interrupts
 * anything else — a poll inside libnfs, a connect. A kick that lands between the unblock
 * and the read is lost; the main thread kicks again until the flag is cleared.
 * SIGTERM, SIGINT and SIGHUP (libfuse's handlers end the session) reach only the main
 * thread, which then kicks the workers out of their reads.
 */
#include <errno.h>
#include <linux/fuse.h>
#include <malloc.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "nfs_fuse.h"
#include <fuse_lowlevel.h> /* after nfs_fuse.h: FUSE_USE_VERSION */

/* libfuse's default max_threads, what the helper's throughput was measured with: the
 * kernel keeps 8-12 reads queued under the 4 MiB readahead (one per pool connection). */
#define PVNFS_WORKERS 10
#define PVNFS_KICK (SIGRTMIN)
/* Quiet seconds before the buffers are dropped. Each page of a dropped buffer is faulted
 * in again by the next burst, and a fault costs 40-100 us on this kind of VM: with 1 s, a
 * writer pausing 2.5 s between bursts wrote at 0.62 of the speed it had with buffers kept
 * (8 of 8 rounds slower). 5 s keeps bursty writers fast and still gives an idle helper's
 * memory back within seconds. */
#define PVNFS_QUIET_S 5

struct pvnfs_worker {
	pthread_t tid;
	char *buf;      /* lp.bufsize bytes, mapped once */
	bool reading;   /* in fuse_session_receive_buf: may be kicked */
	bool used;      /* a request landed in buf since it was last dropped */
	bool release;   /* drop buf's pages before the next read */
	bool done;      /* left its loop */
};

static struct {
	struct fuse_session *se;
	size_t bufsize;
	pthread_mutex_t mu;
	sem_t finish;   /* a worker left its loop */
	int n;          /* workers started */
	int avail;      /* of them, waiting for a request */
	int error;      /* the first error reading /dev/fuse */
	struct pvnfs_worker w[PVNFS_WORKERS];
} lp = { .mu = PTHREAD_MUTEX_INITIALIZER };

static void kick_handler(int sig)
{
	(void)sig;
}

/* The signals only the main thread takes: libfuse's (they end the session) and ours. */
static void helper_signals(sigset_t *s)
{
	sigemptyset(s);
	sigaddset(s, SIGTERM);
	sigaddset(s, SIGINT);
	sigaddset(s, SIGHUP);
	sigaddset(s, SIGQUIT);
	sigaddset(s, PVNFS_KICK);
}

void pvnfs_block_signals(void)
{
	sigset_t s;

	helper_signals(&s);
	pthread_sigmask(SIG_BLOCK, &s, NULL);
}

static void *worker_main(void *arg);

/* With lp.mu held. Workers start with every signal of helper_signals blocked. */
static int start_worker_locked(void)
{
	struct pvnfs_worker *w = &lp.w[lp.n];
	sigset_t s, old;
	int r;

	w->buf = mmap(NULL, lp.bufsize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (w->buf == MAP_FAILED) {
		w->buf = NULL;
		return -ENOMEM;
	}
	helper_signals(&s);
	pthread_sigmask(SIG_BLOCK, &s, &old);
	r = -pthread_create(&w->tid, NULL, worker_main, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r < 0) {
		munmap(w->buf, lp.bufsize);
		w->buf = NULL;
		fprintf(stderr, "pvnode-nfs-fuse: cannot start a FUSE worker: %s\n", strerror(-r));
		return r;
	}
	lp.n++;
	lp.avail++;
	return 0;
}

/* Requests that are answered at once, or not at all, do not count as keeping a worker
 * busy (libfuse's rule: a burst of FORGETs must not start ten workers). */
static bool quick_request(const struct fuse_buf *fb, int len)
{
	const struct fuse_in_header *in = fb->mem;

	return !(fb->flags & FUSE_BUF_IS_FD) && (size_t)len >= sizeof(*in) &&
	       (in->opcode == FUSE_FORGET || in->opcode == FUSE_BATCH_FORGET);
}

static void *worker_main(void *arg)
{
	struct pvnfs_worker *w = arg;
	sigset_t kick;

	sigemptyset(&kick);
	sigaddset(&kick, PVNFS_KICK);
	for (;;) {
		struct fuse_buf fb = { .mem = w->buf, .size = lp.bufsize };
		bool release, quick = false;
		int res;

		pthread_mutex_lock(&lp.mu);
		release = w->release;
		w->release = false;
		if (release)
			w->used = false;
		pthread_mutex_unlock(&lp.mu);
		if (release)
			madvise(w->buf, lp.bufsize, MADV_DONTNEED);
		if (fuse_session_exited(lp.se))
			break;

		pthread_mutex_lock(&lp.mu);
		w->reading = true;
		pthread_mutex_unlock(&lp.mu);
		pthread_sigmask(SIG_UNBLOCK, &kick, NULL);
		res = fuse_session_receive_buf(lp.se, &fb);
		pthread_sigmask(SIG_BLOCK, &kick, NULL);
		pthread_mutex_lock(&lp.mu);
		w->reading = false;
		if (res < 0 && res != -EINTR && res != -EAGAIN && !lp.error)
			lp.error = res; /* reading the device failed: the session ends */
		if (res > 0) {
			w->used = true;
			quick = quick_request(&fb, res);
			if (!quick && --lp.avail == 0 && lp.n < PVNFS_WORKERS)
				start_worker_locked(); /* on failure the ones there are serve */
		}
		pthread_mutex_unlock(&lp.mu);
		if (res == -EINTR || res == -EAGAIN)
			continue; /* kicked: release, or leave */
		if (res <= 0)
			break; /* unmounted (0) or failed */
		fuse_session_process_buf(lp.se, &fb);
		if (!quick) {
			pthread_mutex_lock(&lp.mu);
			lp.avail++;
			pthread_mutex_unlock(&lp.mu);
		}
	}
	fuse_session_exit(lp.se);
	pthread_mutex_lock(&lp.mu);
	w->done = true;
	pthread_mutex_unlock(&lp.mu);
	sem_post(&lp.finish);
	return NULL;
}

/* Kick the workers blocked in read() that should act: those asked to release their
 * buffer, or all of them once the session is over. Returns how many were kicked. */
static int kick_workers(bool all)
{
	int kicked = 0;

	pthread_mutex_lock(&lp.mu);
	for (int i = 0; i < lp.n; i++) {
		struct pvnfs_worker *w = &lp.w[i];
		if (!w->done && (all || (w->release && w->reading))) {
			pthread_kill(w->tid, PVNFS_KICK);
			kicked++;
		}
	}
	pthread_mutex_unlock(&lp.mu);
	return kicked;
}

/* The mount has been quiet for PVNFS_QUIET_S: every used buffer is dropped (by its worker),
 * then what malloc holds free goes back to the system. */
static void release_idle(void)
{
	pthread_mutex_lock(&lp.mu);
	for (int i = 0; i < lp.n; i++)
		if (lp.w[i].used)
			lp.w[i].release = true;
	pthread_mutex_unlock(&lp.mu);
	/* a kick can be lost (see the top of the file): again until each worker took it,
	 * for at most half a second (a worker busy with a request releases after it) */
	for (int i = 0; i < 50 && kick_workers(false) > 0; i++)
		usleep(10000);
	malloc_trim(0);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int pvnfs_fuse_loop(struct fuse *fuse)
{
	struct sigaction sa = { .sa_handler = kick_handler }; /* no SA_RESTART: read() gets EINTR */
	uint64_t io_seen = 0, next_check = now_ms() + 1000;
	bool busy = false;
	int quiet = 0;
	sigset_t s;
	int r;

	lp.se = fuse_get_session(fuse);
	/* libfuse 3.14 reads FUSE_MAX_MAX_PAGES (256) pages + FUSE_BUFFER_HEADER_SIZE into
	 * the buffer it is given, whatever fuse_buf.size says */
	lp.bufsize = 256 * (size_t)sysconf(_SC_PAGESIZE) + 4096;
	sem_init(&lp.finish, 0, 0);
	sigemptyset(&sa.sa_mask);
	sigaction(PVNFS_KICK, &sa, NULL);

	pthread_mutex_lock(&lp.mu);
	r = start_worker_locked();
	pthread_mutex_unlock(&lp.mu);
	if (r < 0)
		return r;
	/* the main thread takes SIGTERM and the like (they interrupt the wait below) */
	helper_signals(&s);
	sigdelset(&s, PVNFS_KICK);
	pthread_sigmask(SIG_UNBLOCK, &s, NULL);
	while (!fuse_session_exited(lp.se)) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += 1;
		sem_clockwait(&lp.finish, CLOCK_MONOTONIC, &ts);
		if (fuse_session_exited(lp.se) || now_ms() < next_check)
			continue;
		next_check = now_ms() + 1000;
		uint64_t io = __atomic_load_n(&pvnfs_io_count, __ATOMIC_RELAXED);
		if (io != io_seen) {
			io_seen = io;
			busy = true;
			quiet = 0;
		} else if (busy && ++quiet >= PVNFS_QUIET_S) {
			busy = false;
			release_idle();
		}
	}
	pthread_sigmask(SIG_BLOCK, &s, NULL);
	/* Out of their reads (a kick can be lost: again until each has left); a worker in
	 * the middle of a request finishes it first (every RPC has a timeout). */
	for (;;) {
		int left = 0;

		pthread_mutex_lock(&lp.mu);
		for (int i = 0; i < lp.n; i++)
			left += !lp.w[i].done;
		pthread_mutex_unlock(&lp.mu);
		if (left == 0)
			break;
		kick_workers(true);
		usleep(10000);
	}
	for (int i = 0; i < lp.n; i++) {
		pthread_join(lp.w[i].tid, NULL);
		munmap(lp.w[i].buf, lp.bufsize);
	}
	sem_destroy(&lp.finish);
	return lp.error;
}
