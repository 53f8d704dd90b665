/*
 * iscsi_ceiling.c — the raw ceiling of libiscsi + a target on this machine: libiscsi's
 * asynchronous API, a fixed number of requests in flight, no FUSE, no loop, no
 * filesystem. It issues the same SCSI commands the pvnode-iscsi-fuse helper issues
 * (READ(16) / WRITE(16) with one iovec, SYNCHRONIZE CACHE(10)) over the same number of
 * sessions (one thread per session, the requests in flight spread evenly over them), so
 * the bench can print pvnode's path as a ratio of what the transport itself gives for the
 * same pattern over the same connections.
 *
 *   iscsi_ceiling PORTAL IQN LUN PATTERN BS QD SECONDS [SPAN_MIB [SESSIONS [SPLIT]]]
 *     PATTERN: randwrite | randread | write | read
 *     BS: bytes per request (multiple of the LUN's block size); QD: requests in flight
 *     over all sessions; SPAN_MIB: the first SPAN MiB of the LUN are used (0 or none: all
 *     of it); SESSIONS: sessions (default 1, at most 16); SPLIT: bytes per SCSI command —
 *     a request of BS bytes goes out as BS/SPLIT commands at once (default BS).
 * Prints one line: "iops=N mbps=N cpu_ms_per_gib=N" (requests per second; CPU of this
 * process only), and writes end with one SYNCHRONIZE CACHE, counted in the time.
 * The initiator name is iqn.2026-11.io.pvnode:ceiling (the LUN must not be reserved by
 * someone else for writes).
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

#include "bench_clock.h"

#define MAX_PARTS 256
#define MAX_SESSIONS 16

struct sess;
struct slot {
	struct sess *s;
	unsigned char *buf;
	uint32_t parts;                      /* commands of this request still in flight */
	struct scsi_iovec iov[MAX_PARTS];    /* libiscsi reads them until the command is done */
};

struct sess {
	struct iscsi_context *c;
	pthread_t thread;
	struct slot *slots;
	int nslots, inflight, failed;
	uint64_t done, rng;
	bool stop;
};

static const char *g_portal, *g_iqn;
static int g_lun, g_write, g_rand;
static uint32_t g_bs, g_lbs, g_split;
static uint64_t g_span_blocks, g_next;
static double g_end;

static uint64_t next_lba(struct sess *s)
{
	uint64_t per = g_bs / g_lbs, n = g_span_blocks / per, i;
	if (g_rand) {
		s->rng ^= s->rng << 13;
		s->rng ^= s->rng >> 7;
		s->rng ^= s->rng << 17;
		i = s->rng % n;
	} else {
		i = __atomic_fetch_add(&g_next, 1, __ATOMIC_RELAXED) % n;
	}
	return i * per;
}

static int issue(struct slot *sl);

static void cb(struct iscsi_context *c, int status, void *data, void *priv)
{
	struct slot *sl = priv;
	struct sess *s = sl->s;
	if (status != SCSI_STATUS_GOOD) {
		fprintf(stderr, "iscsi_ceiling: command failed: status 0x%x %s\n", status,
			iscsi_get_error(c));
		s->failed = 1;
	}
	if (data)
		scsi_free_scsi_task(data);
	if (--sl->parts)
		return;
	s->inflight--;
	s->done++;
	if (!s->stop && !s->failed)
		issue(sl);
}

static int issue(struct slot *sl)
{
	struct sess *s = sl->s;
	uint64_t lba = next_lba(s);
	uint32_t n = g_bs / g_split;

	sl->parts = n;
	s->inflight++;
	for (uint32_t k = 0; k < n; k++) {
		struct scsi_task *t;
		uint64_t l = lba + (uint64_t)k * (g_split / g_lbs);
		sl->iov[k] = (struct scsi_iovec){ sl->buf + (size_t)k * g_split, g_split };
		if (g_write)
			t = iscsi_write16_iov_task(s->c, g_lun, l, NULL, g_split, (int)g_lbs, 0, 0, 0, 0,
						   0, cb, sl, &sl->iov[k], 1);
		else
			t = iscsi_read16_iov_task(s->c, g_lun, l, g_split, (int)g_lbs, 0, 0, 0, 0, 0, cb,
						  sl, &sl->iov[k], 1);
		if (!t) {
			fprintf(stderr, "iscsi_ceiling: cannot queue: %s\n", iscsi_get_error(s->c));
			s->failed = 1;
			return -1;
		}
	}
	return 0;
}

static int service_until(struct sess *s, bool (*done)(struct sess *))
{
	while (!done(s)) {
		struct pollfd p = { .fd = iscsi_get_fd(s->c), .events = (short)iscsi_which_events(s->c) };
		if (poll(&p, 1, 1000) < 0 && errno != EINTR)
			return -1;
		if (iscsi_service(s->c, p.revents) < 0) {
			fprintf(stderr, "iscsi_ceiling: %s\n", iscsi_get_error(s->c));
			return -1;
		}
		if (s->failed)
			return -1;
	}
	return 0;
}

static bool time_up(struct sess *s)
{
	if (!s->stop && now_s() >= g_end)
		s->stop = true;
	return s->stop && s->inflight == 0;
}

static bool drained(struct sess *s) { return s->inflight == 0; }

static void sync_cb(struct iscsi_context *c, int status, void *data, void *priv)
{
	struct sess *s = priv;
	(void)c;
	if (status != SCSI_STATUS_GOOD)
		s->failed = 1;
	if (data)
		scsi_free_scsi_task(data);
	s->inflight--;
}

static int login(struct sess *s)
{
	s->c = iscsi_create_context("iqn.2026-11.io.pvnode:ceiling");
	if (!s->c)
		return -1;
	iscsi_set_targetname(s->c, g_iqn);
	iscsi_set_session_type(s->c, ISCSI_SESSION_NORMAL);
	iscsi_set_header_digest(s->c, ISCSI_HEADER_DIGEST_NONE);
	iscsi_set_timeout(s->c, 15);
	if (iscsi_full_connect_sync(s->c, g_portal, g_lun) != 0) {
		fprintf(stderr, "iscsi_ceiling: login: %s\n", iscsi_get_error(s->c));
		return -1;
	}
	return 0;
}

static void *run(void *arg)
{
	struct sess *s = arg;
	for (int i = 0; i < s->nslots; i++)
		if (issue(&s->slots[i]) < 0)
			return NULL;
	if (service_until(s, time_up) < 0)
		s->failed = 1;
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc < 8 || argc > 11) {
		fprintf(stderr, "usage: iscsi_ceiling PORTAL IQN LUN randwrite|randread|write|read BS QD SECONDS [SPAN_MIB [SESSIONS [SPLIT]]]\n");
		return 2;
	}
	const char *pat = argv[4];
	g_portal = argv[1];
	g_iqn = argv[2];
	g_lun = atoi(argv[3]);
	g_bs = (uint32_t)strtoul(argv[5], NULL, 10);
	int qd = atoi(argv[6]);
	double secs = atof(argv[7]);
	int nsess = argc > 9 ? atoi(argv[9]) : 1;
	g_split = argc > 10 ? (uint32_t)strtoul(argv[10], NULL, 10) : g_bs;
	g_write = strstr(pat, "write") != NULL;
	g_rand = strncmp(pat, "rand", 4) == 0;
	if (!g_bs || qd < 1 || qd > 1024 || secs <= 0 || nsess < 1 || nsess > MAX_SESSIONS ||
	    nsess > qd || !g_split || g_bs % g_split || g_bs / g_split > MAX_PARTS) {
		fprintf(stderr, "iscsi_ceiling: bad BS, QD, SECONDS, SESSIONS or SPLIT\n");
		return 2;
	}

	struct sess *ss = calloc((size_t)nsess, sizeof(*ss));
	for (int i = 0; i < nsess; i++)
		if (login(&ss[i]) < 0)
			return 1;
	struct scsi_task *t = iscsi_readcapacity16_sync(ss[0].c, g_lun);
	struct scsi_readcapacity16 *rc = t && t->status == SCSI_STATUS_GOOD ? scsi_datain_unmarshall(t) : NULL;
	if (!rc) {
		fprintf(stderr, "iscsi_ceiling: READ CAPACITY failed\n");
		return 1;
	}
	g_lbs = rc->block_length;
	g_span_blocks = rc->returned_lba + 1;
	scsi_free_scsi_task(t);
	if (argc > 8) {
		uint64_t span = strtoull(argv[8], NULL, 10) * 1024 * 1024 / g_lbs;
		if (span && span < g_span_blocks)
			g_span_blocks = span;
	}
	if (g_split % g_lbs || (uint64_t)g_bs / g_lbs > g_span_blocks) {
		fprintf(stderr, "iscsi_ceiling: BS %u / SPLIT %u do not fit block size %u\n", g_bs,
			g_split, g_lbs);
		return 2;
	}

	for (int i = 0; i < nsess; i++) {
		struct sess *s = &ss[i];
		s->rng = 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1);
		s->nslots = qd / nsess + (i < qd % nsess);
		s->slots = calloc((size_t)s->nslots, sizeof(*s->slots));
		for (int k = 0; k < s->nslots; k++) {
			s->slots[k].s = s;
			s->slots[k].buf = malloc(g_bs);
			memset(s->slots[k].buf, 0x5a ^ k ^ i, g_bs);
		}
	}
	double t0 = now_s(), c0 = cpu_s();
	g_end = t0 + secs;
	for (int i = 0; i < nsess; i++)
		pthread_create(&ss[i].thread, NULL, run, &ss[i]);
	int failed = 0;
	uint64_t done = 0;
	for (int i = 0; i < nsess; i++) {
		pthread_join(ss[i].thread, NULL);
		failed |= ss[i].failed;
		done += ss[i].done;
	}
	if (failed)
		return 1;
	if (g_write) {
		/* one SYNCHRONIZE CACHE covers the writes of every session (the LU's cache) */
		if (!iscsi_synchronizecache10_task(ss[0].c, g_lun, 0, 0, 0, 0, sync_cb, &ss[0]))
			return 1;
		ss[0].inflight++;
		if (service_until(&ss[0], drained) < 0 || ss[0].failed)
			return 1;
	}
	double el = now_s() - t0, cpu = cpu_s() - c0;
	double bytes = (double)done * g_bs;
	printf("iops=%.0f mbps=%.0f cpu_ms_per_gib=%.0f\n", (double)done / el, bytes / el / 1e6,
	       bytes > 0 ? cpu * 1000 / (bytes / (1024.0 * 1024 * 1024)) : 0);
	for (int i = 0; i < nsess; i++) {
		iscsi_logout_sync(ss[i].c);
		iscsi_destroy_context(ss[i].c);
		for (int k = 0; k < ss[i].nslots; k++)
			free(ss[i].slots[k].buf);
		free(ss[i].slots);
	}
	free(ss);
	return 0;
}
