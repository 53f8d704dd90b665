/*
 * rbd_helper.c — pvnode-rbd-fuse: serves one RBD image as a FUSE block file.
 *
 * Started detached by the RBD driver. Reads its secrets as one JSON object on stdin
 * ({"userID":"admin","userKey":"AQ...=="}, then EOF; never argv or the environment),
 * connects with everything in memory, opens the image (read-only: rbd_open_read_only,
 * no lock), and for --exclusive takes the managed exclusive lock BEFORE serving
 * (rbd_lock_acquire(EXCLUSIVE): librbd then refuses to hand it over) and records
 * --node-id in the image metadata (pvnode.holder) so another node's refusal can name
 * us. Then it serves <mountpoint>/disk through blockfuse until SIGTERM, when it stops
 * serving, flushes, forgets the holder record, releases the lock, writes state=stopped
 * to the status file and exits 0.
 * Readiness goes to fd 3 (the shared protocol of pvnode/driver/helper.h):
 *   "READY client=<rados client address> size=<bytes>"  or  "ERROR <kind> <errno> <sentence>"
 * The client address is what `pvnode-rbd remove` / fence-release blocklist when this
 * helper died. SIGUSR1: re-read the image size (after a resize).
 *
 *   pvnode-rbd-fuse --monitors M --pool P [--namespace NS] --image I --mountpoint DIR
 *                   [--readonly | --exclusive --node-id ID] [--status FILE]
 *                   [--osd-timeout S] [--mon-timeout S]
 * PVNODE_RBD_CONF="rbd_name=value,..." in the environment adds librbd settings
 * (tuning experiments only; other names are ignored).
 */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "rbd_cluster.h"
#include "rbd_ctl.h"
#include "rbd_io.h"
#include "pvnode/driver/blockfuse.h"
#include "pvnode/driver/helper.h"
#include "pvnode/util.h"

struct helper_args {
	const char *monitors, *pool, *ns, *image, *mnt, *status, *node_id, *osd_to, *mon_to;
	bool readonly, exclusive;
};

static struct pvr_io *g_io;
static struct pv_map g_ready;
static volatile sig_atomic_t g_resize;   /* SIGUSR1: re-read the size */
static int g_wake_fd = -1;               /* wakes the I/O watchdog */

static void on_usr1(int sig)
{
	uint64_t one = 1;
	(void)sig;
	g_resize = 1;
	if (g_wake_fd >= 0 && write(g_wake_fd, &one, sizeof(one)) < 0) { /* already awake */ }
}

static void on_ready(void *ctx)
{
	(void)ctx;
	pv_helper_child_ready(&g_ready);
}

static int parse_args(int argc, char **argv, struct helper_args *a, struct pv_err *err)
{
	static const struct option opts[] = {
		{ "monitors", required_argument, NULL, 'M' }, { "pool", required_argument, NULL, 'p' },
		{ "namespace", required_argument, NULL, 'n' }, { "image", required_argument, NULL, 'i' },
		{ "mountpoint", required_argument, NULL, 'm' }, { "status", required_argument, NULL, 's' },
		{ "node-id", required_argument, NULL, 'N' }, { "readonly", no_argument, NULL, 'r' },
		{ "exclusive", no_argument, NULL, 'x' }, { "osd-timeout", required_argument, NULL, 'o' },
		{ "mon-timeout", required_argument, NULL, 'O' }, { NULL, 0, NULL, 0 },
	};
	int opt;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'M': a->monitors = optarg; break;
		case 'p': a->pool = optarg; break;
		case 'n': a->ns = optarg; break;
		case 'i': a->image = optarg; break;
		case 'm': a->mnt = optarg; break;
		case 's': a->status = optarg; break;
		case 'N': a->node_id = optarg; break;
		case 'r': a->readonly = true; break;
		case 'x': a->exclusive = true; break;
		case 'o': a->osd_to = optarg; break;
		case 'O': a->mon_to = optarg; break;
		default: return pv_err_set(err, -EINVAL, PV_E_INVALID, "pvnode-rbd-fuse: unknown argument");
		}
	}
	if (!a->mnt || !a->image || optind != argc)
		return pv_err_set(err, -EINVAL, PV_E_INVALID,
				  "pvnode-rbd-fuse: --monitors, --pool, --image and --mountpoint are required");
	if (a->exclusive && (a->readonly || !a->node_id || !pv_name_valid(a->node_id)))
		return pv_err_set(err, -EINVAL, PV_E_INVALID,
				  "pvnode-rbd-fuse: --exclusive needs --node-id (a valid node id) and no --readonly");
	return 0;
}

static int make_target(const struct helper_args *a, struct pvr_target *t, struct pv_err *err)
{
	int r;
	memset(t, 0, sizeof(*t));
	if ((r = pvr_parse_monitors(a->monitors, t, err)) < 0 ||
	    (r = pvr_parse_name("pool", a->pool, t->pool, sizeof(t->pool), err)) < 0 ||
	    (r = pvr_parse_name("image", a->image, t->image, sizeof(t->image), err)) < 0 ||
	    (a->ns && *a->ns && (r = pvr_parse_name("radosNamespace", a->ns, t->rados_namespace,
						    sizeof(t->rados_namespace), err)) < 0) ||
	    (r = pvr_parse_timeout("osdTimeout", a->osd_to, &t->osd_timeout_s, err)) < 0 ||
	    (r = pvr_parse_timeout("monTimeout", a->mon_to, &t->mon_timeout_s, err)) < 0)
		return r;
	return 0;
}

/* {"userID": ..., "userKey": ...} on stdin, then EOF. */
static int read_secrets(struct pvr_cred *c, struct pv_err *err)
{
	struct pv_secrets s;
	pv_secrets_init(&s);
	int r = pv_helper_child_secrets(&s, err);
	if (r == 0)
		r = pvr_cred_from_map(&s.map, c, err);
	pv_secrets_free(&s);
	return r;
}

/* Does the lock have an owner whose client still watches the image (alive, or dead for
 * less than the OSDs' watch timeout)? Its address into `owner`. Such an owner never
 * hands the lock over (it took it with rbd_lock_acquire), and librbd would wait for a
 * dead one's watch to expire (30 s) before breaking its lock: refuse at once instead,
 * and let fence-release (or the node's own detach) blocklist a dead one. */
static bool live_owner(rbd_image_t img, char *owner, size_t len)
{
	char *owners[4];
	size_t n = 4, nw = 64;
	rbd_lock_mode_t mode;
	rbd_image_watcher_t w[64];
	bool live = false;
	if (rbd_lock_get_owners(img, &mode, owners, &n) < 0 || n == 0)
		return false;
	snprintf(owner, len, "%s", owners[0]);
	rbd_lock_get_owners_cleanup(owners, n);
	if (rbd_watchers_list(img, w, &nw) < 0)
		return true;   /* cannot tell: let the lock request decide */
	for (size_t i = 0; i < nw && !live; i++)
		live = strcmp(pvr_bare_addr(w[i].addr), pvr_bare_addr(owner)) == 0;
	rbd_watchers_list_cleanup(w, nw);
	return live;
}

static int refuse_locked(struct pvr_conn *conn, rbd_image_t img, const char *node, const char *owner,
			 struct pv_err *err)
{
	char holder[256] = "", spec[400];
	size_t n = sizeof(holder);
	if (rbd_metadata_get(img, PVR_HOLDER_KEY, holder, &n) < 0 || !holder[0])
		snprintf(holder, sizeof(holder), "(unrecorded, client %s)", owner[0] ? owner : "unknown");
	return pv_err_set(err, -EBUSY, PV_E_POLICY,
			  "image %s is locked by node %s (exclusive lock); node %s cannot attach it read-write "
			  "(if that node is dead, break its lock with fence-release --node %s)",
			  pvr_spec(conn->t, NULL, spec, sizeof(spec)), holder, node, holder);
}

/* Is `owner` pvnode's background flatten of this image (rbd_ctl_clone.c)? It says so in
 * the image metadata. */
static bool owner_is_flattener(rbd_image_t img, const char *owner)
{
	char who[128];
	size_t n = sizeof(who);
	return rbd_metadata_get(img, PVR_FLATTENER_KEY, who, &n) == 0 && strcmp(who, pvr_bare_addr(owner)) == 0;
}

/* Ask the lock's owner for it the cooperative way: before rbd_lock_acquire librbd's
 * default policy is in force, under which a write requests the lock from its owner.
 * The write is a compare-and-write of the first sector with what it holds (atomic on the
 * OSD: it changes nothing, also if someone wrote meanwhile). True when we own it then. */
static bool request_lock(rbd_image_t img)
{
	char sector[512];
	uint64_t mismatch = 0;
	int own = 0;
	if (rbd_read(img, 0, sizeof(sector), sector) != (ssize_t)sizeof(sector))
		return false;
	rbd_compare_and_write(img, 0, sizeof(sector), sector, sector, &mismatch, 0);
	return rbd_is_exclusive_lock_owner(img, &own) == 0 && own;
}

/* The exclusive lock before anything is served; a refusal names the holder's node. A
 * background flatten holding it is asked for it (request_lock): the flatten's librbd lets
 * its in-flight copyups finish, hands the lock over and sends the rest of the flatten
 * here, to the owner, so a restored volume can be staged at once. (Breaking its lock
 * instead loses data: its object map already says "exists" for copyups that never
 * landed, and the resumed flatten skips them.) */
static int take_lock(struct pvr_conn *conn, rbd_image_t img, const char *node, struct pv_err *err)
{
	char owner[128] = "";
	bool live = live_owner(img, owner, sizeof(owner));
	if (live && owner_is_flattener(img, owner) && request_lock(img)) {
		pv_info("took the exclusive lock over from the background flatten (client %s)", owner);
		live = false;
	}
	if (live)
		return refuse_locked(conn, img, node, owner, err);
	int r = rbd_lock_acquire(img, RBD_LOCK_MODE_EXCLUSIVE);
	if (r == -EROFS || r == -EBUSY || r == -EAGAIN || r == -ETIMEDOUT)
		return refuse_locked(conn, img, node, owner, err);
	if (r < 0)
		return pvr_fail(conn, r, "cannot take the exclusive lock of", err);
	r = rbd_metadata_set(img, PVR_HOLDER_KEY, node);
	if (r < 0) {
		rbd_lock_release(img);
		return pvr_fail(conn, r, "cannot record the lock holder on", err);
	}
	return 0;
}

/* 0 when the lock is released (a stale holder record is harmless: the next holder
 * overwrites it). */
static int release_lock(rbd_image_t img, const char *node)
{
	char holder[256];
	size_t n = sizeof(holder);
	if (node && rbd_metadata_get(img, PVR_HOLDER_KEY, holder, &n) == 0 && strcmp(holder, node) == 0)
		rbd_metadata_remove(img, PVR_HOLDER_KEY);
	return rbd_lock_release(img);
}

/* The lock again after a write was refused with EROFS (pvr_io_cfg.relock). Taken again
 * only when nobody holds it: pvnode's takeovers always blocklist the old holder (so a
 * fenced client sees ESHUTDOWN, not a free lock), and a lock another client holds now
 * is a fence. */
struct relock_ctx {
	rbd_image_t img;
	const char *client;   /* our address */
};

static int relock(void *arg)
{
	struct relock_ctx *c = arg;
	char *owners[4];
	size_t n = 4;
	rbd_lock_mode_t mode;
	int own = 0, r;
	if (rbd_is_exclusive_lock_owner(c->img, &own) == 0 && own)
		return 0;
	r = rbd_lock_get_owners(c->img, &mode, owners, &n);
	if (r == -ESHUTDOWN)
		return r;
	if (r < 0 && r != -ENOENT)
		return r;
	if (r == 0 && n > 0) {
		bool ours = strcmp(pvr_bare_addr(owners[0]), pvr_bare_addr(c->client)) == 0;
		if (!ours)
			pv_warn("a write was refused and client %s holds the exclusive lock now", owners[0]);
		rbd_lock_get_owners_cleanup(owners, n);
		return ours ? -EAGAIN : -EROFS;   /* ours: librbd is moving it to a new cookie */
	}
	r = rbd_lock_acquire(c->img, RBD_LOCK_MODE_EXCLUSIVE);
	if (r == 0)
		pv_info("the exclusive lock was free after a refused write (librbd lost it in an outage): took it again");
	return r == -EBUSY ? -EROFS : r;
}

static void client_address(rados_t cl, char *buf, size_t len)
{
	char *addrs = NULL;
	snprintf(buf, len, "unknown");
	if (rados_getaddrs(cl, &addrs) == 0 && addrs) {
		snprintf(buf, len, "%s", addrs);
		rados_buffer_free(addrs);
	}
}

/* Settings PVNODE_RBD_CONF may change: librbd's own, and the client's threads, throttles
 * and in-memory log size. Never more: the helper inherits its parent's environment, and
 * mon_host, keyring or log_file from there would send the key elsewhere or write files
 * that outlive the call; debug_* levels (debug_auth, debug_monc) would put cephx
 * exchanges into the helper's log, which goes to the journal. */
static bool tunable(const char *name)
{
	static const char *const prefixes[] = { "rbd_", "objecter_", NULL };
	static const char *const names[] = { "ms_async_op_threads", "librados_thread_count",
					     "log_max_recent", "ms_dispatch_throttle_bytes", NULL };
	for (size_t i = 0; prefixes[i]; i++)
		if (strncmp(name, prefixes[i], strlen(prefixes[i])) == 0)
			return true;
	for (size_t i = 0; names[i]; i++)
		if (strcmp(name, names[i]) == 0)
			return true;
	return false;
}

/* The data path's librados and librbd settings, then PVNODE_RBD_CONF ("rbd_x=a,rbd_y=b",
 * tuning experiments; names as tunable() allows).
 * No librbd cache: a write returns once the OSD has it, as with the kernel client, so an
 * outage shows as EIO on the write itself within osdTimeout. No zero-copy writes
 * (rbd_disable_zero_copy_writes stays true) although each worker waits for its write:
 * they were ~30 % faster, but once another node broke our lock a write never completed
 * (librbd 16.2) instead of failing with EROFS, which the fence depends on. */
static const char **tuning(void)
{
	static char copy[1024];
	static const char *kv[40] = { "rbd_cache", "false" };
	const char *env = getenv("PVNODE_RBD_CONF");
	size_t n = 2;
	if (!env || snprintf(copy, sizeof(copy), "%s", env) >= (int)sizeof(copy))
		return kv;
	for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok && n < 36;
	     tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');
		if (eq)
			*eq = '\0'; /* the name only, ever: a value may be anything */
		if (!eq || !tunable(tok)) {
			pv_warn("PVNODE_RBD_CONF: ignoring \"%.64s\" (not a setting it may change)", tok);
			continue;
		}
		kv[n++] = tok;
		kv[n++] = eq + 1;
	}
	kv[n] = NULL;
	return kv;
}

/* Request data in flight through the bridge at once. librbd copies every write (zero-copy
 * is off, see tuning()) and every read lands in the messenger's buffer before ours, so
 * each request is held twice until it completes. Measured (tests/bench/rbd_ab.sh, 3
 * interleaved rounds, load 12-27): highest private memory under 1 MiB overwrites QD16
 * 55 MiB with only the 24 buffers, 37 with 8 MiB, 21 with 4, 15-20 with 2. Writes and
 * 4 KiB requests lose nothing; 1 MiB reads at QD16 do (~0.75 of the unbounded helper at
 * load 3, with 4 MiB as with 2: see the README's RBD figures). PVNODE_RBD_INFLIGHT_KIB
 * overrides it (tuning experiments; 0: only the bridge's 24 buffers bound it, as before). */
#define RBD_INFLIGHT_DEFAULT (2u << 20)

static size_t inflight_bound(void)
{
	return (size_t)pv_helper_env_kib("PVNODE_RBD_INFLIGHT_KIB", RBD_INFLIGHT_DEFAULT, 1ul << 20);
}

/* What the idle probe stats (pvr_io_cfg): the header in the image's pool, data objects
 * "<block name prefix>.<16 hex digits>" in its data pool (another ioctx for a
 * dataPool, into *data_io; the caller destroys it). False when the image does not say
 * (no probe). */
struct probe_names {
	char header[96], prefix[64];
	uint64_t obj_size;
};

static bool probe_targets(struct pvr_conn *conn, rbd_image_t img, struct probe_names *pn, rados_ioctx_t *data_io)
{
	rbd_image_info_t info;
	*data_io = NULL;
	pn->prefix[0] = '\0';
	if (rbd_get_block_name_prefix(img, pn->prefix, sizeof(pn->prefix)) < 0 ||
	    strncmp(pn->prefix, "rbd_data.", 9) != 0 || rbd_stat(img, &info, sizeof(info)) < 0)
		return false;   /* format 1 images name their objects otherwise: no probe */
	pn->obj_size = info.obj_size;
	snprintf(pn->header, sizeof(pn->header), "rbd_header.%s", pn->prefix + 9);
	int64_t pool = rbd_get_data_pool_id(img);
	if (pool >= 0 && pool != rados_ioctx_get_id(conn->io)) {
		if (rados_ioctx_create2(conn->cluster, pool, data_io) < 0)
			*data_io = NULL;   /* then the data objects' names in the image's pool: its PGs answer */
		else
			rados_ioctx_set_namespace(*data_io, conn->t->rados_namespace[0] ? conn->t->rados_namespace : NULL);
	}
	return true;
}

static int serve(const struct helper_args *a, struct pvr_conn *conn, rbd_image_t img,
		 struct pv_err *err)
{
	char client[256];
	struct pv_blockfuse_ops ops;
	struct probe_names pn;
	rados_ioctx_t data_io = NULL;
	client_address(conn->cluster, client, sizeof(client));
	bool probe = probe_targets(conn, img, &pn, &data_io);
	struct relock_ctx rc = { .img = img, .client = client };
	struct pvr_io_cfg ic = { .image = img, .ioctx = conn->io, .data_ioctx = data_io,
				 .header_oid = probe ? pn.header : NULL, .data_prefix = probe ? pn.prefix : NULL,
				 .obj_size = probe ? pn.obj_size : 0, .probe_timeout_s = conn->t->osd_timeout_s,
				 .readonly = a->readonly, .status_path = a->status,
				 .client_addr = client, .resize_flag = &g_resize,
				 .relock = a->exclusive ? relock : NULL, .relock_arg = &rc };
	int r = pvr_io_start(&ic, &g_io, err);
	if (r < 0) {
		if (data_io)
			rados_ioctx_destroy(data_io);
		return r;
	}
	pvr_io_ops(&ops);
	char size[32];
	snprintf(size, sizeof(size), "%llu", (unsigned long long)pvr_io_size(g_io));
	pv_map_set(&g_ready, "client", client);
	pv_map_set(&g_ready, "size", size);
	g_wake_fd = pvr_io_wake_fd(g_io);
	signal(SIGUSR1, on_usr1);
	struct pv_blockfuse_cfg bc = { .mountpoint = a->mnt, .file_name = "disk", .block_size = 512,
				       .readonly = a->readonly, .on_ready = on_ready,
				       .max_inflight_bytes = inflight_bound() };
	r = pv_blockfuse_run(&bc, &ops, g_io, err);
	if (!a->readonly && !pvr_io_fenced(g_io))
		rbd_flush(img);
	pvr_io_stop(g_io);
	g_io = NULL;
	if (data_io)
		rados_ioctx_destroy(data_io);
	return r;
}

/* libceph-common's static constructors (its option tables) run before main with frames
 * that leave ~1 MiB of the main thread's stack dirty; nothing uses it again, but the pages
 * stay resident (and get locked by the bridge's mlockall). Below the stack pointer, with a
 * margin, the stack holds only dead frames: give those pages back, once, before serving.
 * Measured: the helper's [stack] 980 -> 48 KiB. */
static void release_dead_stack(void)
{
	char here, line[256];
	uintptr_t lo = 0, hi = 0, sp = (uintptr_t)&here, page = (uintptr_t)sysconf(_SC_PAGESIZE);
	FILE *f = fopen("/proc/self/maps", "re");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *end = NULL;
		if (!strstr(line, "[stack]"))
			continue;
		lo = (uintptr_t)strtoull(line, &end, 16);
		hi = *end == '-' ? (uintptr_t)strtoull(end + 1, NULL, 16) : 0;
		break;
	}
	fclose(f);
	if (lo && sp > lo + 64 * 1024 && sp < hi) {
		uintptr_t end = (sp - 32 * 1024) & ~(page - 1);
		(void)madvise((void *)lo, end - lo, MADV_DONTNEED);   /* a failure leaves it resident: harmless */
	}
}

int main(int argc, char **argv)
{
	struct helper_args a = { 0 };
	struct pvr_target t;
	struct pvr_cred c = { 0 };
	struct pvr_conn conn = { 0 };
	struct pv_err err = { 0 };
	rbd_image_t img = NULL;
	int r;

	pv_helper_child_init("pvnode-rbd-fuse");
	/* Two malloc arenas, not one per thread that allocates: librados starts ~16 threads
	 * and the bridge ~18, and each arena kept its peak (idle 14.7 -> 11.4 MiB of
	 * anonymous memory; measured with tests/bench/volumes_memory.sh). First, before
	 * librados starts any thread. */
	mallopt(M_ARENA_MAX, 2);
	signal(SIGPIPE, SIG_IGN);
	if (parse_args(argc, argv, &a, &err) < 0 || make_target(&a, &t, &err) < 0 ||
	    read_secrets(&c, &err) < 0)
		return pv_helper_child_fail(&err);
	r = pvr_connect(&t, &c, tuning(), &conn, &err);
	pvr_cred_wipe(&c);
	if (r == 0)
		r = pvr_image_open(&conn, t.image, a.readonly, &img, &err);
	if (r == 0 && a.exclusive && (r = take_lock(&conn, img, a.node_id, &err)) < 0) {
		rbd_close(img);
		img = NULL;
	}
	bool clean = true;   /* lock released and watch removed */
	if (r == 0) {
		release_dead_stack();
		r = serve(&a, &conn, img, &err);
		if (a.exclusive)
			clean = release_lock(img, a.node_id) == 0;
	}
	if (img)
		clean = rbd_close(img) == 0 && clean;
	pvr_disconnect(&conn);
	if (r < 0)
		return pv_helper_child_fail(&err);
	/* tells the driver the lock and the watch went: no blocklisting needed. Otherwise
	 * (cluster unreachable at the end) the driver blocklists this client. */
	if (a.status && clean)
		pv_write_atomic(a.status, "state=stopped\n", 14, 0644, NULL);
	pv_info("stopped; %s/%s %s", t.pool, t.image, clean ? "released" : "not released cleanly (cluster unreachable?)");
	return 0;
}
