/*
 * nfs_fuse.c — pvnode-nfs-fuse, the userspace NFS mounter: a FUSE filesystem over
 * libnfs (NFSv3), run by the NFS driver as a detached helper process per staged volume.
 *
 *   pvnode-nfs-fuse --host H [--port P] --export /share/sub --mountpoint DIR
 *                   [--ro] [--timeout-ms N] [--threads N] [--ready-fd FD]
 *
 * It connects, mounts DIR with allow_other,default_permissions (the kernel checks
 * permissions with the caller's uid and groups, so a PV's supplemental gid works), then
 * writes "ok\n" ("ok ro\n" on a read-only export) — or "error: <sentence>\n" and exits
 * 1 — to the ready fd, so the driver learns the outcome of attach. Requests run on
 * FUSE's multithreaded loop; libnfs contexts are not thread-safe, so each request
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

static void report(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void report(int fd, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line))
		n = sizeof(line) - 1;
	fprintf(stderr, "pvnode-nfs-fuse: %s", line);
	if (fd >= 0 && write(fd, line, (size_t)n) < 0)
		fprintf(stderr, "pvnode-nfs-fuse: cannot report to the driver: %m\n");
}

/* The kernel caps FUSE readahead at the bdi default (128 KiB): raise it so sequential
 * reads arrive as 1 MiB requests. Found through mountinfo — a stat() of our own mount
 * before the loop runs would deadlock. Best effort. */
static void raise_readahead(const char *mnt)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[4096], dev[32] = "", path[128];

	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char d[32], mp[PATH_MAX];
		if (sscanf(line, "%*s %*s %31s %*s %4095s", d, mp) == 2 && strcmp(mp, mnt) == 0)
			snprintf(dev, sizeof(dev), "%s", d);
	}
	fclose(f);
	if (!dev[0])
		return;
	snprintf(path, sizeof(path), "/sys/class/bdi/%s/read_ahead_kb", dev);
	f = fopen(path, "we");
	if (!f)
		return;
	fprintf(f, "%d\n", 4 * PVNFS_MAX_IO / 1024);
	fclose(f);
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
			"--mountpoint DIR [--ro] [--timeout-ms N] [--threads N] [--ready-fd FD]\n");
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

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "host", required_argument, NULL, 'h' },
		{ "port", required_argument, NULL, 'p' },
		{ "export", required_argument, NULL, 'e' },
		{ "mountpoint", required_argument, NULL, 'm' },
		{ "ro", no_argument, NULL, 'r' },
		{ "timeout-ms", required_argument, NULL, 't' },
		{ "threads", required_argument, NULL, 'n' },
		{ "ready-fd", required_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	const char *host = NULL, *export = NULL, *mnt = NULL;
	int port = 0, timeout_ms = PVNFS_DEFAULT_TIMEOUT_MS, threads = 8, ready_fd = -1;
	bool ro = false;
	char opts[2048], errbuf[512];
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct fuse *fuse = NULL;
	struct fuse_loop_config lc = { .clone_fd = 0, .max_idle_threads = 16 };
	int c, r, status = 1;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'h': host = optarg; break;
		case 'p': if (int_arg(optarg, 0, 65535, &port) < 0) { usage(); return 2; } break;
		case 'e': export = optarg; break;
		case 'm': mnt = optarg; break;
		case 'r': ro = true; break;
		case 't': if (int_arg(optarg, 1, 3600000, &timeout_ms) < 0) { usage(); return 2; } break;
		case 'n': if (int_arg(optarg, 1, PVNFS_MAX_CONTEXTS, &threads) < 0) { usage(); return 2; } break;
		case 'f': if (int_arg(optarg, 0, 1 << 20, &ready_fd) < 0) { usage(); return 2; } break;
		default: usage(); return 2;
		}
	}
	if (!host || !export || !mnt || export[0] != '/' || mnt[0] != '/' || threads < 1 ||
	    threads > PVNFS_MAX_CONTEXTS) {
		usage();
		return 2;
	}
	/* 1 MiB buffers (ours and libnfs's PDUs) come and go per request: keep them in
	 * the heap instead of fresh zeroed mmaps each time (page faults cost ~1/3 of the
	 * write throughput). */
	mallopt(M_MMAP_THRESHOLD, 8 << 20);
	mallopt(M_TRIM_THRESHOLD, 64 << 20);
	signal(SIGPIPE, SIG_IGN);
	if (chdir("/") < 0)
		return 1;

	r = pvnfs_pool_init(&pvnfs_helper_pool, host, port, export, timeout_ms, threads, errbuf,
			    sizeof(errbuf));
	if (r < 0) {
		report(ready_fd, "error: %s\n", errbuf);
		return 1;
	}
	/* An export served read-only is mounted read-only, so writes get EROFS from the
	 * kernel instead of an EACCES from the server's ACCESS check at open. */
	if (!ro && export_is_readonly(pvnfs_helper_pool.ctx[0])) {
		fprintf(stderr, "pvnode-nfs-fuse: %s:%s is exported read-only: mounting read-only\n",
			host, export);
		ro = true;
	}
	snprintf(opts, sizeof(opts),
		 "allow_other,default_permissions,fsname=%s:%s,subtype=pvnfs,max_read=%d%s",
		 host, export, PVNFS_MAX_IO, ro ? ",ro" : "");
	if (fuse_opt_add_arg(&args, "pvnode-nfs-fuse") || fuse_opt_add_arg(&args, "-o") ||
	    fuse_opt_add_arg(&args, opts)) {
		report(ready_fd, "error: out of memory\n");
		goto out;
	}
	fuse = fuse_new(&args, &pvnfs_ops, sizeof(pvnfs_ops), NULL);
	if (!fuse) {
		report(ready_fd, "error: cannot set up FUSE for %s\n", mnt);
		goto out;
	}
	if (fuse_mount(fuse, mnt) < 0) {
		report(ready_fd, "error: cannot mount FUSE at %s (see the helper log)\n", mnt);
		fuse_destroy(fuse);
		fuse = NULL;
		goto out;
	}
	raise_readahead(mnt);
	if (fuse_set_signal_handlers(fuse_get_session(fuse)) < 0) {
		report(ready_fd, "error: cannot install signal handlers\n");
		goto unmount;
	}
	r = pvnfs_writers_start(PVNFS_WRITERS);
	if (r < 0) {
		report(ready_fd, "error: cannot start writer threads: %s\n", strerror(-r));
		goto unmount;
	}
	report(ready_fd, ro ? "ok ro\n" : "ok\n");
	if (ready_fd >= 0)
		close(ready_fd);
	status = fuse_loop_mt(fuse, &lc) == 0 ? 0 : 1;
	fuse_remove_signal_handlers(fuse_get_session(fuse));
	/* Writes already accepted still go out (each bounded by the RPC timeout) before
	 * the contexts the writer threads use are destroyed. */
	pvnfs_write_barrier_all();
unmount:
	fuse_unmount(fuse);
	fuse_destroy(fuse);
out:
	fuse_opt_free_args(&args);
	pvnfs_pool_destroy(&pvnfs_helper_pool);
	return status;
}
