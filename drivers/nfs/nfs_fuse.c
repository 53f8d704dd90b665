/*
 * nfs_fuse.c — pvnode-nfs-fuse, the userspace NFS mounter: a FUSE filesystem over
 * libnfs (NFSv3), run by the NFS driver as a detached helper process per staged volume.
 *
 *   pvnode-nfs-fuse --host H [--port P] --export /share/sub --mountpoint DIR
 *                   [--ro] [--timeout-ms N] [--threads N]
 *
 * It connects, mounts DIR with allow_other,default_permissions (the kernel checks
 * permissions with the caller's uid and groups, so a PV's supplemental gid works), then
 * reports "READY readonly=0|1" (readonly=1 on an export served read-only) or
 * "ERROR ..." on fd 3, the protocol of every helper (pvnode/driver/helper.h). Requests run on
 * the helper's own multithreaded FUSE loop (nfs_fuse_loop.c: it gives the workers'
 * buffers back when idle); libnfs contexts are not thread-safe, so each request
 * borrows one from a pool (nfs_pool.c) — several TCP connections in flight at once.
 * Every RPC has a bounded timeout: during a server outage calls fail with ETIMEDOUT
 * instead of hanging, the broken connection is dropped, and the next request
 * reconnects once the server is back.
 * The operations are in nfs_fuse_ops.c, the context pool and write path in nfs_pool.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "nfs_fuse.h"
#include "pvnode/driver/helper.h"

/* The kernel caps FUSE readahead at the bdi default (128 KiB) and, when it handles the
 * INIT reply, at the lower of the bdi's value and what init() asked: raise the bdi's
 * value once INIT is done, so sequential reads keep PVNFS_READAHEAD / 1 MiB requests in
 * flight. (Done before the loop ran, INIT then cut it back to max_readahead.) Called from
 * the first open or getattr — the kernel sends no other request before INIT is answered.
 * The bdi is found through mountinfo: a stat() of our own mount here would deadlock.
 * Best effort. */
static char g_mnt[PATH_MAX];

static void raise_readahead(void)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[4096], dev[32] = "", path[128];

	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char d[32], mp[PATH_MAX];
		if (sscanf(line, "%*s %*s %31s %*s %4095s", d, mp) == 2 && strcmp(mp, g_mnt) == 0)
			snprintf(dev, sizeof(dev), "%s", d);
	}
	fclose(f);
	if (!dev[0])
		return;
	snprintf(path, sizeof(path), "/sys/class/bdi/%s/read_ahead_kb", dev);
	f = fopen(path, "we");
	if (!f)
		return;
	fprintf(f, "%d\n", PVNFS_READAHEAD / 1024);
	fclose(f);
}

void pvnfs_readahead_once(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, raise_readahead);
}

/* Setting the root's mode to what it is changes nothing on a writable export and
 * fails with EROFS on a read-only one. */
static bool export_is_readonly(struct nfs_context *nfs)
{
	struct nfs_stat_64 st;

	if (nfs_stat64(nfs, "/", &st) < 0)
		return false;
	return nfs_chmod(nfs, "/", (int)(st.nfs_mode & 07777)) == -EROFS;
}

static void usage(void)
{
	fprintf(stderr, "usage: pvnode-nfs-fuse --host H [--port P] --export /share/sub "
			"--mountpoint DIR [--ro] [--timeout-ms N] [--threads N]\n");
}

/* A whole number in [lo, hi] (helper arguments come from pvnode, but are checked). */
static int int_arg(const char *s, long lo, long hi, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		return -EINVAL;
	*out = (int)v;
	return 0;
}

struct helper_args {
	const char *host, *export, *mnt;
	int port, timeout_ms, threads;
	bool ro;
};

static int parse_args(int argc, char **argv, struct helper_args *h)
{
	static const struct option lo[] = {
		{ "host", required_argument, NULL, 'h' },      { "port", required_argument, NULL, 'p' },
		{ "export", required_argument, NULL, 'e' },    { "mountpoint", required_argument, NULL, 'm' },
		{ "ro", no_argument, NULL, 'r' },              { "timeout-ms", required_argument, NULL, 't' },
		{ "threads", required_argument, NULL, 'n' },   { NULL, 0, NULL, 0 },
	};
	int c, r = 0;

	*h = (struct helper_args){ .timeout_ms = PVNFS_DEFAULT_TIMEOUT_MS, .threads = 8 };
	while (r == 0 && (c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'h': h->host = optarg; break;
		case 'p': r = int_arg(optarg, 0, 65535, &h->port); break;
		case 'e': h->export = optarg; break;
		case 'm': h->mnt = optarg; break;
		case 'r': h->ro = true; break;
		case 't': r = int_arg(optarg, 1, 3600000, &h->timeout_ms); break;
		case 'n': r = int_arg(optarg, 1, PVNFS_MAX_CONTEXTS, &h->threads); break;
		default: r = -EINVAL; break;
		}
	}
	if (r < 0 || !h->host || !h->export || !h->mnt || h->export[0] != '/' || h->mnt[0] != '/') {
		usage();
		return -EINVAL;
	}
	return 0;
}

/* Mount the FUSE filesystem at h->mnt; *out on success. */
static int mount_fuse(const struct helper_args *h, struct fuse_args *args, struct fuse **out, struct pv_err *err)
{
	char opts[2048];
	struct fuse *fuse;

	snprintf(opts, sizeof(opts), "allow_other,default_permissions,fsname=%s:%s,subtype=pvnfs,max_read=%d%s",
		 h->host, h->export, PVNFS_MAX_READ, h->ro ? ",ro" : "");
	if (fuse_opt_add_arg(args, "pvnode-nfs-fuse") || fuse_opt_add_arg(args, "-o") || fuse_opt_add_arg(args, opts))
		return pv_err_set(err, -ENOMEM, PV_E_RESOURCE, "out of memory");
	fuse = fuse_new(args, &pvnfs_ops, sizeof(pvnfs_ops), NULL);
	if (!fuse)
		return pv_err_set(err, -EIO, PV_E_INTERNAL, "cannot set up FUSE for %s", h->mnt);
	if (fuse_mount(fuse, h->mnt) < 0) {
		fuse_destroy(fuse);
		return pv_err_set(err, -EIO, PV_E_INTERNAL, "cannot mount FUSE at %s (see the helper log)", h->mnt);
	}
	snprintf(g_mnt, sizeof(g_mnt), "%s", h->mnt);
	*out = fuse;
	return 0;
}

/* Serve until unmounted or signalled; accepted writes still go out before the
 * connections the writer threads use are destroyed. */
static int serve(struct fuse *fuse, bool ro, struct pv_err *err)
{
	struct pv_map ready = { 0 };
	int r, status;

	if (fuse_set_signal_handlers(fuse_get_session(fuse)) < 0)
		return pv_err_set(err, -EIO, PV_E_INTERNAL, "cannot install signal handlers");
	/* every thread but the loop's main one leaves SIGTERM and the like to it */
	pvnfs_block_signals();
	if ((r = pvnfs_writers_start(pvnfs_helper_pool.n)) < 0)
		return pv_err_set(err, r, PV_E_RESOURCE, "cannot start writer threads: %s", strerror(-r));
	pv_map_set(&ready, "readonly", ro ? "1" : "0");
	pv_helper_child_ready(&ready);
	pv_map_free(&ready);
	r = pvnfs_fuse_loop(fuse);
	if (r < 0)
		fprintf(stderr, "pvnode-nfs-fuse: serving %s ended: %s\n", g_mnt, strerror(-r));
	status = r == 0 ? 0 : 1;
	fuse_remove_signal_handlers(fuse_get_session(fuse));
	pvnfs_write_barrier_all();
	return status;
}

int main(int argc, char **argv)
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct pv_err err = { 0 };
	struct helper_args h;
	struct pv_secrets none;
	struct fuse *fuse = NULL;
	char errbuf[512];
	int r, status;

	pv_helper_child_init("pvnode-nfs-fuse");
	if (parse_args(argc, argv, &h) < 0)
		return 2;
	/* 1 MiB buffers (libfuse's read replies, libnfs's PDUs) come and go per request:
	 * keep them in the heap instead of fresh zeroed mmaps each time (page faults cost
	 * ~1/3 of the write throughput); the loop hands the heap back once the mount is
	 * quiet. One arena: malloc_trim gives back the top of the main arena only, and a
	 * 1 MiB block freed by a thread of its own arena stayed resident there (idle after
	 * 256 MiB written and read: 25.9 MiB resident with the arenas, 9.4 with one). */
	mallopt(M_MMAP_THRESHOLD, 8 << 20);
	mallopt(M_TRIM_THRESHOLD, 64 << 20);
	mallopt(M_ARENA_MAX, 1);
	signal(SIGPIPE, SIG_IGN);
	if (pv_helper_child_secrets(&none, &err) < 0) /* none are needed; the protocol sends {} */
		return pv_helper_child_fail(&err);
	pv_secrets_free(&none);
	r = pvnfs_pool_init(&pvnfs_helper_pool, h.host, h.port, h.export, h.timeout_ms, h.threads, errbuf,
			    sizeof(errbuf));
	if (r < 0) {
		pv_err_set(&err, r, PV_E_UNAVAILABLE, "%s", errbuf);
		return pv_helper_child_fail(&err);
	}
	/* An export served read-only is mounted read-only, so writes get EROFS from the
	 * kernel instead of an EACCES from the server's ACCESS check at open. */
	if (!h.ro && export_is_readonly(pvnfs_helper_pool.ctx[0])) {
		fprintf(stderr, "pvnode-nfs-fuse: %s:%s is exported read-only: mounting read-only\n", h.host, h.export);
		h.ro = true;
	}
	r = mount_fuse(&h, &args, &fuse, &err);
	if (r == 0) {
		status = serve(fuse, h.ro, &err);
		if (status < 0)
			status = pv_helper_child_fail(&err);
		fuse_unmount(fuse);
		fuse_destroy(fuse);
	} else {
		status = pv_helper_child_fail(&err);
	}
	fuse_opt_free_args(&args);
	pvnfs_pool_destroy(&pvnfs_helper_pool);
	return status;
}
