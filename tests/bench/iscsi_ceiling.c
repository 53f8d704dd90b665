/*
 * iscsi_ceiling.c — the raw ceiling of libiscsi + a target on this machine: one session,
 * libiscsi's asynchronous API, a fixed number of commands in flight, no FUSE, no loop,
 * no filesystem. It issues the same SCSI commands the pvnode-iscsi-fuse helper issues
 * (READ(16) / WRITE(16) with one iovec, SYNCHRONIZE CACHE(10)), so the bench can print
 * pvnode's path as a ratio of what the transport itself gives for the same pattern.
 *
 *   iscsi_ceiling PORTAL IQN LUN PATTERN BS QD SECONDS [SPAN_MIB]
 *     PATTERN: randwrite | randread | write | read
 *     BS: bytes per command (multiple of the LUN's block size); QD: commands in flight;
 *     SPAN_MIB: the first SPAN MiB of the LUN are used (default: all of it).
 * Prints one line: "iops=N mbps=N cpu_ms_per_gib=N" (CPU of this process only), and
 * writes end with one SYNCHRONIZE CACHE, counted in the time.
 * The initiator name is iqn.2026-11.io.pvnode:ceiling (the LUN must not be reserved by
 * someone else for writes).
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

struct slot {
	struct scsi_iovec iov;
	unsigned char *buf;
};

static struct iscsi_context *g_c;
static int g_lun, g_write, g_rand, g_failed, g_inflight;
static uint32_t g_bs, g_lbs;
static uint64_t g_span_blocks, g_next, g_done, g_rng = 0x9e3779b97f4a7c15ull;
static bool g_stop;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static uint64_t next_lba(void)
{
	uint64_t per = g_bs / g_lbs, n = g_span_blocks / per, i;
	if (g_rand) {
		g_rng ^= g_rng << 13;
		g_rng ^= g_rng >> 7;
		g_rng ^= g_rng << 17;
		i = g_rng % n;
	} else {
		i = g_next++ % n;
	}
	return i * per;
}

static int issue(struct slot *s);

static void cb(struct iscsi_context *c, int status, void *data, void *priv)
{
	struct scsi_task *t = data;
	(void)c;
	if (status != SCSI_STATUS_GOOD) {
		fprintf(stderr, "iscsi_ceiling: command failed: status 0x%x %s\n", status,
			iscsi_get_error(g_c));
		g_failed = 1;
	}
	if (t)
		scsi_free_scsi_task(t);
	g_inflight--;
	g_done++;
	if (!g_stop && !g_failed)
		issue(priv);
}

static int issue(struct slot *s)
{
	uint64_t lba = next_lba();
	struct scsi_task *t;
	s->iov = (struct scsi_iovec){ s->buf, g_bs };
	if (g_write)
		t = iscsi_write16_iov_task(g_c, g_lun, lba, NULL, g_bs, (int)g_lbs, 0, 0, 0, 0, 0, cb,
					   s, &s->iov, 1);
	else
		t = iscsi_read16_iov_task(g_c, g_lun, lba, g_bs, (int)g_lbs, 0, 0, 0, 0, 0, cb, s,
					  &s->iov, 1);
	if (!t) {
		fprintf(stderr, "iscsi_ceiling: cannot queue: %s\n", iscsi_get_error(g_c));
		g_failed = 1;
		return -1;
	}
	g_inflight++;
	return 0;
}

static int service_until(bool (*done)(void))
{
	while (!done()) {
		struct pollfd p = { .fd = iscsi_get_fd(g_c), .events = (short)iscsi_which_events(g_c) };
		if (poll(&p, 1, 1000) < 0 && errno != EINTR)
			return -1;
		if (iscsi_service(g_c, p.revents) < 0) {
			fprintf(stderr, "iscsi_ceiling: %s\n", iscsi_get_error(g_c));
			return -1;
		}
		if (g_failed)
			return -1;
	}
	return 0;
}

static double g_end;
static bool time_up(void)
{
	if (!g_stop && now_s() >= g_end)
		g_stop = true;
	return g_stop && g_inflight == 0;
}

static bool drained(void) { return g_inflight == 0; }

static void sync_cb(struct iscsi_context *c, int status, void *data, void *priv)
{
	(void)c; (void)priv;
	if (status != SCSI_STATUS_GOOD)
		g_failed = 1;
	if (data)
		scsi_free_scsi_task(data);
	g_inflight--;
}

int main(int argc, char **argv)
{
	if (argc < 8 || argc > 9) {
		fprintf(stderr, "usage: iscsi_ceiling PORTAL IQN LUN randwrite|randread|write|read BS QD SECONDS [SPAN_MIB]\n");
		return 2;
	}
	const char *pat = argv[4];
	g_lun = atoi(argv[3]);
	g_bs = (uint32_t)strtoul(argv[5], NULL, 10);
	int qd = atoi(argv[6]);
	double secs = atof(argv[7]);
	g_write = strstr(pat, "write") != NULL;
	g_rand = strncmp(pat, "rand", 4) == 0;
	if (!g_bs || qd < 1 || qd > 1024 || secs <= 0) {
		fprintf(stderr, "iscsi_ceiling: bad BS, QD or SECONDS\n");
		return 2;
	}

	g_c = iscsi_create_context("iqn.2026-11.io.pvnode:ceiling");
	iscsi_set_targetname(g_c, argv[2]);
	iscsi_set_session_type(g_c, ISCSI_SESSION_NORMAL);
	iscsi_set_header_digest(g_c, ISCSI_HEADER_DIGEST_NONE);
	iscsi_set_timeout(g_c, 15);
	if (iscsi_full_connect_sync(g_c, argv[1], g_lun) != 0) {
		fprintf(stderr, "iscsi_ceiling: login: %s\n", iscsi_get_error(g_c));
		return 1;
	}
	struct scsi_task *t = iscsi_readcapacity16_sync(g_c, g_lun);
	struct scsi_readcapacity16 *rc = t && t->status == SCSI_STATUS_GOOD ? scsi_datain_unmarshall(t) : NULL;
	if (!rc) {
		fprintf(stderr, "iscsi_ceiling: READ CAPACITY failed\n");
		return 1;
	}
	g_lbs = rc->block_length;
	g_span_blocks = rc->returned_lba + 1;
	scsi_free_scsi_task(t);
	if (argc == 9) {
		uint64_t span = strtoull(argv[8], NULL, 10) * 1024 * 1024 / g_lbs;
		if (span && span < g_span_blocks)
			g_span_blocks = span;
	}
	if (g_bs % g_lbs || (uint64_t)g_bs / g_lbs > g_span_blocks) {
		fprintf(stderr, "iscsi_ceiling: BS %u does not fit block size %u\n", g_bs, g_lbs);
		return 2;
	}

	struct slot *slots = calloc((size_t)qd, sizeof(*slots));
	for (int i = 0; i < qd; i++) {
		slots[i].buf = malloc(g_bs);
		memset(slots[i].buf, 0x5a ^ i, g_bs);
	}
	double t0 = now_s(), c0 = cpu_s();
	g_end = t0 + secs;
	for (int i = 0; i < qd; i++)
		if (issue(&slots[i]) < 0)
			return 1;
	if (service_until(time_up) < 0)
		return 1;
	if (g_write) {
		if (!iscsi_synchronizecache10_task(g_c, g_lun, 0, 0, 0, 0, sync_cb, NULL))
			return 1;
		g_inflight++;
		if (service_until(drained) < 0 || g_failed)
			return 1;
	}
	double el = now_s() - t0, cpu = cpu_s() - c0;
	double bytes = (double)g_done * g_bs;
	printf("iops=%.0f mbps=%.0f cpu_ms_per_gib=%.0f\n", (double)g_done / el, bytes / el / 1e6,
	       bytes > 0 ? cpu * 1000 / (bytes / (1024.0 * 1024 * 1024)) : 0);
	iscsi_logout_sync(g_c);
	iscsi_destroy_context(g_c);
	for (int i = 0; i < qd; i++)
		free(slots[i].buf);
	free(slots);
	return 0;
}
