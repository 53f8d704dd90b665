/*
 * iscsi_helper.c — pvnode-iscsi-fuse: serves one iSCSI LUN as a FUSE block file.
 *
 * Started detached by the iSCSI driver (drivers/iscsi/iscsi.c). It reads the CHAP
 * secrets from stdin (never argv or the environment), logs in, takes the SCSI-3
 * persistent reservation in the very session that will carry the I/O (RWO/RWOP) or
 * registers nothing (ROX, read-only), then serves <mountpoint>/disk through blockfuse.
 * Readiness or the reason it could not start goes to fd 3 as one line, the protocol of
 * every helper (pvnode/driver/helper.h):
 *   "READY portal=H:P size=BYTES blocksize=N unmap=0|1"  or  "ERROR <kind> <errno> <sentence>".
 * SIGTERM: unmount, release and unregister the reservation, log out, exit 0.
 * SIGUSR1: re-read the capacity (the LUN grew).
 *
 *   pvnode-iscsi-fuse --portals H:P[,H:P] --iqn IQN --lun N --initiator IQN
 *                     --mountpoint DIR [--status FILE] [--key HEX] [--readonly]
 *                     [--io-timeout S] [--login-timeout S] [--sessions N]
 * --sessions N: N sessions carry the I/O, each registered with the key (the reservation
 * is WRITE EXCLUSIVE – REGISTRANTS ONLY, see iscsi_conn.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "iscsi_conn.h"
#include "iscsi_io.h"
#include "pvnode/driver/blockfuse.h"
#include "pvnode/driver/helper.h"
#include "pvnode/driver/os.h"

static struct pvi_io *g_io;
static volatile sig_atomic_t g_resize;   /* SIGUSR1: the I/O engine re-reads the capacity */
static int g_wake_fd = -1;

static int fail(const struct pv_err *err)
{
	return pv_helper_child_fail(err);
}

static void on_usr1(int sig)
{
	uint64_t one = 1;
	(void)sig;
	g_resize = 1;
	if (g_wake_fd >= 0 && write(g_wake_fd, &one, sizeof(one)) < 0) { /* engine is awake */ }
}

struct ready_ctx {
	char portal[128];
	uint64_t size;
	uint32_t bs;
	bool unmap;
};
static struct ready_ctx g_ready;

static void on_ready(void *ctx)
{
	struct pv_map m = { 0 };
	char size[32], bs[16];
	(void)ctx;
	snprintf(size, sizeof(size), "%llu", (unsigned long long)g_ready.size);
	snprintf(bs, sizeof(bs), "%u", g_ready.bs);
	pv_map_set(&m, "portal", g_ready.portal);
	pv_map_set(&m, "size", size);
	pv_map_set(&m, "blocksize", bs);
	pv_map_set(&m, "unmap", g_ready.unmap ? "1" : "0");
	pv_helper_child_ready(&m);
	pv_map_free(&m);
}

static int read_secrets(struct pvi_target *t, struct pv_err *err)
{
	struct pv_secrets s;
	int rc = pv_helper_child_secrets(&s, err);
	if (rc == 0)
		rc = pvi_target_secrets(t, &s, err);
	pv_secrets_free(&s);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "portals", required_argument, NULL, 'p' }, { "iqn", required_argument, NULL, 't' },
		{ "lun", required_argument, NULL, 'l' }, { "initiator", required_argument, NULL, 'i' },
		{ "mountpoint", required_argument, NULL, 'm' }, { "status", required_argument, NULL, 's' },
		{ "key", required_argument, NULL, 'k' }, { "readonly", no_argument, NULL, 'r' },
		{ "io-timeout", required_argument, NULL, 'o' },
		{ "login-timeout", required_argument, NULL, 'L' },
		{ "sessions", required_argument, NULL, 'n' }, { NULL, 0, NULL, 0 },
	};
	static struct pvi_target t;
	struct pv_err err = { 0 };
	struct iscsi_context *c = NULL;
	const char *mnt = NULL, *status = NULL;
	uint64_t key = 0;
	bool ro = false;
	int io_timeout = 15, opt, r;

	pv_helper_child_init("pvnode-iscsi-fuse");
	t.login_timeout_s = 10;
	t.sessions = PVI_DEFAULT_SESSIONS;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'p': r = pvi_parse_portals(optarg, &t, &err); if (r < 0) return fail(&err); break;
		case 't': snprintf(t.iqn, sizeof(t.iqn), "%s", optarg); break;
		case 'l': r = pvi_parse_lun(optarg, &t.lun, &err); if (r < 0) return fail(&err); break;
		case 'i': snprintf(t.initiator_name, sizeof(t.initiator_name), "%s", optarg); break;
		case 'm': mnt = optarg; break;
		case 's': status = optarg; break;
		case 'k': key = strtoull(optarg, NULL, 16); break;
		case 'r': ro = true; break;
		case 'o': io_timeout = (int)strtol(optarg, NULL, 10); break;
		case 'L': t.login_timeout_s = (int)strtol(optarg, NULL, 10); break;
		case 'n': r = pvi_parse_sessions(optarg, &t.sessions, &err); if (r < 0) return fail(&err); break;
		default:
			pv_err_set(&err, -EINVAL, PV_E_INVALID, "pvnode-iscsi-fuse: bad arguments");
			return fail(&err);
		}
	}
	if (!mnt || !pvi_iqn_valid(t.iqn) || !t.n_portals || !t.initiator_name[0]) {
		pv_err_set(&err, -EINVAL, PV_E_INVALID,
			   "pvnode-iscsi-fuse: --portals, --iqn, --lun, --initiator and --mountpoint are required");
		return fail(&err);
	}
	if (read_secrets(&t, &err) < 0)
		return fail(&err);

	r = pvi_login(&t, &c, g_ready.portal, sizeof(g_ready.portal), &err);
	if (r == 0 && key && !ro)
		r = pvi_pr_acquire(c, &t, key, &err);
	if (r < 0) {
		pvi_logout(c);
		pvi_target_wipe(&t);
		return fail(&err);
	}
	struct pvi_io_cfg ic = { .target = &t, .key = ro ? 0 : key, .readonly = ro,
				 .io_timeout_s = io_timeout, .status_path = status,
				 .resize_flag = &g_resize, .sessions = t.sessions };
	/* tuning, for experiments: data in flight (0: the default 2 MiB), READ and WRITE bytes
	 * per command (READ 0: whole; unset: 256 KiB; WRITE default whole) */
	ic.max_inflight_bytes = (size_t)pv_helper_env_kib("PVNODE_ISCSI_INFLIGHT_KIB", 0, 1ul << 20);
	long long split = pv_helper_env_kib("PVNODE_ISCSI_SPLIT_KIB", -1, 1ul << 20);
	if (split >= 0)   /* unset or refused: -1, the default */
		ic.split_read = split > 0 ? (long)split : -1;
	ic.split_write = (long)pv_helper_env_kib("PVNODE_ISCSI_WRITE_SPLIT_KIB", 0, 1ul << 20);
	r = pvi_io_start(&ic, c, g_ready.portal, &g_io, &err);
	if (r < 0) {
		if (key && !ro)
			pvi_pr_release(c, t.lun, key);
		pvi_logout(c);
		pvi_target_wipe(&t);
		return fail(&err);
	}
	struct pv_blockfuse_ops ops;
	pvi_io_ops(g_io, &ops);
	g_ready.size = ops.size(g_io);
	g_ready.bs = pvi_io_block_size(g_io);
	g_ready.unmap = pvi_io_can_unmap(g_io);
	g_wake_fd = pvi_io_wake_fd(g_io);
	signal(SIGUSR1, on_usr1);
	signal(SIGPIPE, SIG_IGN);
	struct pv_blockfuse_cfg bc = { .mountpoint = mnt, .file_name = "disk",
				       .block_size = g_ready.bs, .readonly = ro,
				       .on_ready = on_ready };
	r = pv_blockfuse_run(&bc, &ops, g_io, &err);
	pvi_io_stop(g_io);   /* releases the reservation, logs out */
	g_io = NULL;
	pvi_target_wipe(&t);
	if (r < 0)
		return fail(&err);
	pv_info("stopped; %s released", t.iqn);
	return 0;
}
