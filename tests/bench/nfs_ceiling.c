/*
 * nfs_ceiling.c — the raw ceiling of libnfs + an NFSv3 server on this machine: libnfs's
 * asynchronous RPC API driven directly, no FUSE, no kernel, no page cache. It sends what
 * the pvnode-nfs-fuse helper sends for a sequential stream, with the same calls
 * (rpc_nfs3_write_async: UNSTABLE WRITEs of BS bytes, one COMMIT at the end;
 * rpc_nfs3_read_async: READs of BS bytes, the data copied out of the reply once), over
 * the same number of connections with the same number of requests in flight, so the
 * bench can print the helper's path as a ratio of what the transport gives for the same
 * pattern. (libnfs's nfs_pread_async would copy the data once more.)
 *
 *   nfs_ceiling HOST EXPORT FILE MIB BS CONNS DEPTH [write|read|both] [PORT]
 *     FILE: a path below the export (created / truncated by the write pass);
 *     MIB: MiB moved per pass; BS: bytes per request; CONNS: TCP connections (libnfs
 *     contexts, each with FILE open); DEPTH: requests in flight in all, spread round-robin
 *     over the connections (DEPTH >= CONNS keeps every connection busy).
 * Prints "rsize=N wsize=N" (what the server granted, libnfs's chunk sizes) and a line per
 * pass: "write mbps=N cpu_ms_per_mib=N" (MB = 10^6 bytes; the write pass includes its
 * COMMIT) and "read mbps=N cpu_ms_per_mib=N"; CPU is this process's (user + system).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <nfsc/libnfs.h>
#include <nfsc/libnfs-zdr.h>
#include <nfsc/libnfs-raw.h>
#include <nfsc/libnfs-raw-nfs.h>

#include "bench_clock.h"
#include "nfs.h"


#define MAX_CONNS 64
#define MAX_DEPTH 256

struct conn {
	struct nfs_context *nfs;
	struct nfsfh *fh;
	int in_flight;
};

struct req {
	struct conn *c;
	char *buf;
	uint64_t off;
	size_t size;
};

static struct conn g_conns[MAX_CONNS];
static struct req g_reqs[MAX_DEPTH];
static int g_nconns, g_depth, g_inflight, g_failed;
static bool g_write;
static uint64_t g_total, g_next, g_done;
static size_t g_bs;

static int issue(struct req *r);

static void io_cb(struct rpc_context *rpc, int status, void *data, void *priv)
{
	struct req *r = priv;
	const char *what = g_write ? "WRITE" : "READ";
	size_t got = 0;
	int nfsstat = 0;

	(void)rpc;
	r->c->in_flight--;
	g_inflight--;
	if (status == RPC_STATUS_SUCCESS && g_write) {
		WRITE3res *w = data;
		nfsstat = w->status;
		got = nfsstat == NFS3_OK ? w->WRITE3res_u.resok.count : 0;
	} else if (status == RPC_STATUS_SUCCESS) {
		READ3res *rd = data;
		nfsstat = rd->status;
		got = nfsstat == NFS3_OK ? rd->READ3res_u.resok.data.data_len : 0;
		if (got == r->size)
			memcpy(r->buf, rd->READ3res_u.resok.data.data_val, got); /* as the helper does */
	}
	if (status != RPC_STATUS_SUCCESS || nfsstat != NFS3_OK || got != r->size) {
		fprintf(stderr, "nfs_ceiling: %s at %llu: %s\n", what, (unsigned long long)r->off,
			status != RPC_STATUS_SUCCESS ? "RPC failed" : nfsstat != NFS3_OK ? nfsstat3_to_str(nfsstat) : "short transfer");
		g_failed = 1;
		return;
	}
	g_done += r->size;
	if (!g_failed && g_next < g_total)
		issue(r);
}

/* The next BS bytes of the stream on this request's connection. */
static int issue(struct req *r)
{
	/* the layout the helper uses too (drivers/nfs/nfs.h) */
	const struct libnfs_fh_fields *fh = (const void *)nfs_get_fh(r->c->fh);
	struct rpc_context *rpc = nfs_get_rpc_context(r->c->nfs);
	int rc;

	r->off = g_next;
	r->size = g_total - g_next < g_bs ? (size_t)(g_total - g_next) : g_bs;
	g_next += r->size;
	if (g_write) {
		WRITE3args a;
		memset(&a, 0, sizeof(a));
		a.file.data.data_len = (u_int)fh->len;
		a.file.data.data_val = fh->val;
		a.offset = r->off;
		a.count = (count3)r->size;
		a.stable = UNSTABLE;
		a.data.data_len = (u_int)r->size;
		a.data.data_val = r->buf;
		rc = rpc_nfs3_write_async(rpc, io_cb, &a, r);
	} else {
		READ3args a;
		memset(&a, 0, sizeof(a));
		a.file.data.data_len = (u_int)fh->len;
		a.file.data.data_val = fh->val;
		a.offset = r->off;
		a.count = (count3)r->size;
		rc = rpc_nfs3_read_async(rpc, io_cb, &a, r);
	}
	if (rc != 0) {
		fprintf(stderr, "nfs_ceiling: cannot queue: %s\n", rpc_get_error(rpc));
		g_failed = 1;
		return -1;
	}
	r->c->in_flight++;
	g_inflight++;
	return 0;
}

/* Serve every connection until nothing is in flight. */
static int drain(void)
{
	struct pollfd p[MAX_CONNS];

	while (g_inflight > 0 && !g_failed) {
		for (int i = 0; i < g_nconns; i++)
			p[i] = (struct pollfd){ .fd = nfs_get_fd(g_conns[i].nfs),
						.events = (short)nfs_which_events(g_conns[i].nfs) };
		if (poll(p, (nfds_t)g_nconns, 1000) < 0 && errno != EINTR)
			return -1;
		for (int i = 0; i < g_nconns; i++)
			if (p[i].revents && nfs_service(g_conns[i].nfs, p[i].revents) < 0) {
				fprintf(stderr, "nfs_ceiling: %s\n", nfs_get_error(g_conns[i].nfs));
				return -1;
			}
	}
	return g_failed ? -1 : 0;
}

static void commit_cb(struct rpc_context *rpc, int status, void *data, void *priv)
{
	COMMIT3res *res = data;

	(void)rpc;
	(void)priv;
	if (status != RPC_STATUS_SUCCESS || res->status != NFS3_OK) {
		fprintf(stderr, "nfs_ceiling: COMMIT failed\n");
		g_failed = 1;
	}
	g_inflight--;
}

static int pass(bool write, const char *name)
{
	double t0, c0, el, cpu;

	g_write = write;
	g_next = g_done = 0;
	t0 = now_s();
	c0 = cpu_s();
	for (int i = 0; i < g_depth && g_next < g_total; i++)
		if (issue(&g_reqs[i]) < 0)
			return -1;
	if (drain() < 0)
		return -1;
	if (write) {
		const struct libnfs_fh_fields *fh = (const void *)nfs_get_fh(g_conns[0].fh);
		COMMIT3args a;
		memset(&a, 0, sizeof(a));
		a.file.data.data_len = (u_int)fh->len;
		a.file.data.data_val = fh->val;
		if (rpc_nfs3_commit_async(nfs_get_rpc_context(g_conns[0].nfs), commit_cb, &a, NULL) != 0) {
			fprintf(stderr, "nfs_ceiling: cannot queue COMMIT\n");
			return -1;
		}
		g_inflight++;
		if (drain() < 0)
			return -1;
	}
	el = now_s() - t0;
	cpu = cpu_s() - c0;
	printf("%s mbps=%.0f cpu_ms_per_mib=%.3f\n", name, (double)g_done / el / 1e6,
	       cpu * 1000 / ((double)g_done / (1024.0 * 1024)));
	fflush(stdout);
	return 0;
}

static struct nfs_context *connect_one(const char *host, const char *export, int port)
{
	struct nfs_context *nfs = nfs_init_context();
	struct nfs_url *u;
	char url[1200];

	if (!nfs)
		return NULL;
	if (port > 0)
		snprintf(url, sizeof(url), "nfs://%s%s?version=3&nfsport=%d", host, export, port);
	else
		snprintf(url, sizeof(url), "nfs://%s%s?version=3", host, export);
	u = nfs_parse_url_dir(nfs, url);
	if (!u || nfs_mount(nfs, u->server, u->path) < 0) {
		fprintf(stderr, "nfs_ceiling: cannot mount %s:%s: %s\n", host, export, nfs_get_error(nfs));
		if (u)
			nfs_destroy_url(u);
		nfs_destroy_context(nfs);
		return NULL;
	}
	nfs_destroy_url(u);
	return nfs;
}

int main(int argc, char **argv)
{
	const char *mode;
	long mib;
	int port;

	if (argc < 8 || argc > 10) {
		fprintf(stderr, "usage: nfs_ceiling HOST EXPORT FILE MIB BS CONNS DEPTH [write|read|both] [PORT]\n");
		return 2;
	}
	mib = atol(argv[4]);
	g_bs = (size_t)strtoul(argv[5], NULL, 10);
	g_nconns = atoi(argv[6]);
	g_depth = atoi(argv[7]);
	mode = argc > 8 ? argv[8] : "both";
	port = argc > 9 ? atoi(argv[9]) : 0;
	if (mib < 1 || g_bs < 4096 || g_bs > (64u << 20) || g_nconns < 1 || g_nconns > MAX_CONNS ||
	    g_depth < 1 || g_depth > MAX_DEPTH || argv[3][0] != '/' ||
	    (strcmp(mode, "write") && strcmp(mode, "read") && strcmp(mode, "both"))) {
		fprintf(stderr, "nfs_ceiling: bad FILE (absolute below the export), MIB, BS (4 KiB-64 MiB), "
			"CONNS (1-%d), DEPTH (1-%d) or mode\n", MAX_CONNS, MAX_DEPTH);
		return 2;
	}
	g_total = (uint64_t)mib << 20;
	for (int i = 0; i < g_nconns; i++) {
		int flags = O_RDWR | (i == 0 && strcmp(mode, "read") ? O_CREAT | O_TRUNC : 0);
		if (!(g_conns[i].nfs = connect_one(argv[1], argv[2], port)))
			return 1;
		if (nfs_open2(g_conns[i].nfs, argv[3], flags, 0644, &g_conns[i].fh) < 0) {
			fprintf(stderr, "nfs_ceiling: cannot open %s: %s\n", argv[3], nfs_get_error(g_conns[i].nfs));
			return 1;
		}
	}
	printf("rsize=%llu wsize=%llu\n", (unsigned long long)nfs_get_readmax(g_conns[0].nfs),
	       (unsigned long long)nfs_get_writemax(g_conns[0].nfs));
	for (int i = 0; i < g_depth; i++) {
		g_reqs[i].c = &g_conns[i % g_nconns];
		if (!(g_reqs[i].buf = malloc(g_bs)))
			return 1;
		memset(g_reqs[i].buf, 0x5a ^ i, g_bs);
	}
	if (strcmp(mode, "read") && pass(true, "write") < 0)
		return 1;
	if (strcmp(mode, "write") && pass(false, "read") < 0)
		return 1;
	for (int i = 0; i < g_nconns; i++) {
		nfs_close(g_conns[i].nfs, g_conns[i].fh);
		nfs_destroy_context(g_conns[i].nfs);
	}
	for (int i = 0; i < g_depth; i++)
		free(g_reqs[i].buf);
	return 0;
}
