/*
 * pvnode.c — the daemon: parses its options, opens the node engine, reconciles the
 * journal with what is really mounted (logging each finding), starts the metrics
 * endpoint if asked, then serves CSI Identity and, by role, Controller and Node on a
 * unix socket until SIGTERM / SIGINT (csi/server.c).
 *
 *   pvnode --endpoint unix:///path/csi.sock --node-id ID [--state-dir DIR]
 *          [--selinux auto|on|off] [--allowed-path P]... [--workers N]
 *          [--role all|node|controller] [--driver-name NAME] [--drivers LIST] [--metrics-address IP:PORT]
 *          [--max-volumes-per-node N] [--log-format text|json] [--default-driver NAME] [-v]
 *
 * --default-driver: the driver of a CreateVolume without a driver= parameter (e.g. for
 * a conformance suite run without a parameters file); without it such a call is refused.
 * --driver-name: one of the three CSI names (pv_driver_csi_name); pvnode then serves
 * only the drivers of that name and reconciles only their volumes, so one pvnode per
 * name can share a state directory. Without it: pvnode.csi.io, every driver.
 * --drivers: narrows that to the drivers listed (comma-separated), for an operator who
 * runs one backend under a name that serves several (iscsi alone on block.pvnode.csi.io):
 * ControllerGetCapabilities then follows the drivers served (no snapshot capabilities
 * for iscsi alone), and the volumes of the others are neither listed nor reconciled.
 */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <pthread.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "csi.h"
#include "pvnode/config.h"
#include "pvnode/util.h"

static void usage(FILE *f)
{
	char shared[128], block[128], local[128];
	pv_csi_name_drivers(PV_CSI_NAME_SHARED, shared, sizeof(shared));
	pv_csi_name_drivers(PV_CSI_NAME_BLOCK, block, sizeof(block));
	pv_csi_name_drivers(PV_CSI_NAME_LOCAL, local, sizeof(local));
	fprintf(f,
		"usage: pvnode --endpoint unix:///path/csi.sock --node-id ID [--state-dir DIR]\n"
		"              [--selinux auto|on|off] [--allowed-path PREFIX]... [--workers N]\n"
		"              [--reconcile-interval SECONDS (default 30, 0: only at start)]\n"
		"              [--role all|node|controller] [--driver-name NAME] [--drivers LIST]\n"
		"              [--metrics-address IP:PORT] [--max-volumes-per-node N (default %d, 0: no limit)]\n"
		"              [--log-format text|json] [--default-driver NAME] [-v] [--version]\n"
		"Serves CSI v1 Identity, and Controller and Node by --role (default all), on a unix socket.\n"
		"--driver-name: serve that CSI name and only its drivers: %s (%s), %s (%s),\n"
		"  %s (%s); without it: %s and every driver.\n"
		"--drivers: serve only these of them (comma-separated, e.g. iscsi); the controller\n"
		"  capabilities (snapshots, clones) follow the drivers served.\n"
		"--metrics-address: Prometheus text on http://IP:PORT/metrics (off by default).\n"
		"Environment: PVNODE_STATE_DIR (default /var/lib/pvnode), PVNODE_SELINUX,\n"
		"PVNODE_ALLOWED_PATHS (colon-separated; default /var/lib/kubelet).\n",
		CSI_MAX_VOLUMES_PER_NODE, PV_CSI_NAME_SHARED, shared, PV_CSI_NAME_BLOCK, block, PV_CSI_NAME_LOCAL, local,
		PV_CSI_DRIVER_NAME);
}

static void report(const char *line, bool problem, void *ud)
{
	(void)ud;
	pv_log(problem ? PV_LOG_WARN : PV_LOG_INFO, "reconcile: %s", line);
}

/* Periodic reconciliation while serving: a helper that dies under a published volume is
 * restarted within one interval, lost mounts are flagged; only problems are logged. */
struct watch {
	struct pv_engine *engine;
	const struct csi_service *svc;   /* whose drivers' volumes to reconcile */
	unsigned interval;
	bool stop;
	pthread_mutex_t mu;
	pthread_cond_t cv;
};

/* Several pvnodes (one per CSI driver name) may share a state directory: each
 * reconciles the volumes of its own drivers only. */
static bool served(const struct pv *pv, void *ud)
{
	return csi_serves_driver(ud, pv->driver);
}

static void report_problems(const char *line, bool problem, void *ud)
{
	(void)ud;
	if (problem)
		pv_warn("reconcile: %s", line);
}

static void *watch_thread(void *arg)
{
	struct watch *w = arg;
	sigset_t all;
	sigfillset(&all); /* signals belong to the server's sigwait thread */
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	pthread_mutex_lock(&w->mu);
	while (!w->stop) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += w->interval;
		while (!w->stop && pthread_cond_timedwait(&w->cv, &w->mu, &until) == 0)
			;
		if (w->stop)
			break;
		pthread_mutex_unlock(&w->mu);
		struct pv_err err = {0};
		if (pv_engine_reconcile_only(w->engine, served, (void *)w->svc, report_problems, NULL, &err) < 0)
			pv_warn("reconcile: %s", err.msg);
		pthread_mutex_lock(&w->mu);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

struct daemon_opts {
	struct pv_config cfg;
	struct csi_server_opts so;
	unsigned reconcile_interval;
	const char *default_driver;
	const char *driver_name;      /* NULL: every driver, as pvnode.csi.io */
	const char *drivers;          /* --drivers; NULL: all of driver_name's */
	const char *metrics_address;  /* NULL: no metrics */
	enum csi_role role;
	unsigned max_volumes;
	bool json, node_id_given;
	int verbose;
};

static int bad(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int bad(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "pvnode: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	return 2;
}

static int number(const char *s, unsigned long lo, unsigned long hi, unsigned *out)
{
	char *end;
	unsigned long n = strtoul(s, &end, 10);
	if (*end || end == s || s[0] == '-' || n < lo || n > hi)
		return -EINVAL;
	*out = (unsigned)n;
	return 0;
}

/* --drivers: every name built in, at most 8 of them, none twice. */
static int drivers_option(const char *v, struct daemon_opts *d)
{
	char list[256], *save = NULL, seen[8][32];
	size_t n = 0;
	if (strlen(v) >= sizeof(list))
		return bad("--drivers is too long");
	snprintf(list, sizeof(list), "%s", v);
	for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (!pv_driver_known(t))
			return bad("--drivers: %.32s is not one of the drivers built in: %s", t, pv_driver_names());
		for (size_t i = 0; i < n; i++)
			if (strcmp(seen[i], t) == 0)
				return bad("--drivers names %s twice", t);
		if (n == 8)
			return bad("--drivers names more than 8 drivers");
		snprintf(seen[n++], sizeof(seen[0]), "%s", t);
	}
	if (!n || v[0] == ',' || v[strlen(v) - 1] == ',' || strstr(v, ",,"))
		return bad("--drivers must be a comma-separated list of drivers, e.g. iscsi or file,nfs");
	d->drivers = v;
	return 0;
}

/* --role, --driver-name, --drivers, --metrics-address, --max-volumes-per-node; 0 or the exit status. */
static int daemon_option(int c, const char *v, struct daemon_opts *d)
{
	static const char *const roles[] = { "all", "node", "controller" };
	switch (c) {
	case 'r':
		for (int i = 0; i < 3; i++)
			if (strcmp(v, roles[i]) == 0) {
				d->role = (enum csi_role)i;
				return 0;
			}
		return bad("--role must be all, node or controller");
	case 'N':
		if (!pv_csi_name_known(v))
			return bad("--driver-name %s is not one of pvnode's CSI driver names: %s (shared filesystems), "
				   "%s (network block storage), %s (node-local storage)", v, PV_CSI_NAME_SHARED,
				   PV_CSI_NAME_BLOCK, PV_CSI_NAME_LOCAL);
		d->driver_name = v;
		return 0;
	case 'D':
		return drivers_option(v, d);
	case 'M':
		d->metrics_address = v;
		return 0;
	default:
		if (number(v, 0, 1u << 20, &d->max_volumes) < 0)
			return bad("--max-volumes-per-node must be 0 (no limit) .. 1048576");
		return 0;
	}
}

/* --drivers within --driver-name, and --default-driver among them. */
static int check_drivers(const struct daemon_opts *d)
{
	struct csi_service probe = {.driver_name = d->driver_name, .one_kind = d->driver_name != NULL};
	char list[256], *save = NULL;
	if (!d->drivers)
		return 0;
	snprintf(list, sizeof(list), "%s", d->drivers);
	for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save))
		if (!csi_serves_driver(&probe, t))
			return bad("--drivers: %s is served by %s, not by --driver-name %s", t, pv_driver_csi_name(t),
				   d->driver_name);
	probe.drivers = d->drivers;
	if (d->default_driver && !csi_serves_driver(&probe, d->default_driver))
		return bad("--default-driver %s is not among --drivers %s", d->default_driver, d->drivers);
	return 0;
}

/* Options; 0 to go on, else the exit status (1 printed --help/--version: 0). */
static int parse_options(int argc, char **argv, struct daemon_opts *d)
{
	static const struct option opts[] = {
		{"endpoint", required_argument, NULL, 'e'}, {"node-id", required_argument, NULL, 'n'},
		{"state-dir", required_argument, NULL, 's'}, {"selinux", required_argument, NULL, 'S'},
		{"allowed-path", required_argument, NULL, 'a'}, {"workers", required_argument, NULL, 'w'},
		{"reconcile-interval", required_argument, NULL, 'R'}, {"log-format", required_argument, NULL, 'l'},
		{"default-driver", required_argument, NULL, 'd'}, {"verbose", no_argument, NULL, 'v'},
		{"version", no_argument, NULL, 'V'}, {"help", no_argument, NULL, 'h'},
		{"role", required_argument, NULL, 'r'}, {"driver-name", required_argument, NULL, 'N'},
		{"metrics-address", required_argument, NULL, 'M'}, {"drivers", required_argument, NULL, 'D'},
		{"max-volumes-per-node", required_argument, NULL, 'X'}, {0},
	};
	struct pv_err err = {0};
	int c, idx;

	while ((c = getopt_long(argc, argv, "vh", opts, &idx)) != -1) {
		switch (c) {
		case 'n':
			d->node_id_given = true;
			__attribute__((fallthrough)); /* a shared option, like these */
		case 's': case 'S': case 'a': {
			char name[32];
			snprintf(name, sizeof(name), "--%s", opts[idx].name);
			if (pv_config_option(&d->cfg, name, optarg, &err) < 0)
				return bad("%s", err.msg);
			break;
		}
		case 'e': d->so.endpoint = optarg; break;
		case 'R':
			if (number(optarg, 0, 86400, &d->reconcile_interval) < 0)
				return bad("--reconcile-interval must be 0..86400 seconds (0: only at start)");
			break;
		case 'w':
			if (number(optarg, 1, 256, &d->so.workers) < 0)
				return bad("--workers must be 1..256");
			break;
		case 'l':
			if (strcmp(optarg, "json") != 0 && strcmp(optarg, "text") != 0)
				return bad("--log-format must be text or json");
			d->json = strcmp(optarg, "json") == 0;
			break;
		case 'd':
			if (!pv_driver_known(optarg))
				return bad("--default-driver %s is not one of the drivers built in", optarg);
			d->default_driver = optarg;
			break;
		case 'r': case 'N': case 'D': case 'M': case 'X':
			if ((c = daemon_option(c, optarg, d)) != 0)
				return c;
			break;
		case 'v': d->verbose++; break;
		case 'V': printf("pvnode %s (drivers: %s)\n", PV_VERSION, pv_driver_names()); return 1;
		case 'h': usage(stdout); return 1;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc || !d->so.endpoint || !d->node_id_given) {
		fprintf(stderr, "pvnode: --endpoint and --node-id are required\n");
		usage(stderr);
		return 2;
	}
	if (!csi_endpoint_path(d->so.endpoint))
		return bad("--endpoint must be unix:///absolute/path");
	if (d->default_driver && d->driver_name && strcmp(pv_driver_csi_name(d->default_driver), d->driver_name) != 0)
		return bad("--default-driver %s is served by %s, not by --driver-name %s", d->default_driver,
			   pv_driver_csi_name(d->default_driver), d->driver_name);
	return check_drivers(d);
}

static bool start_watch(struct watch *w, pthread_t *tid)
{
	sigset_t all, old;
	bool ok;

	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	if (!w->interval)
		return false;
	/* start it with every signal blocked, so none lands there before it runs */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	ok = pthread_create(tid, NULL, watch_thread, w) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return ok;
}

static void stop_watch(struct watch *w, pthread_t tid, bool running)
{
	if (running) {
		pthread_mutex_lock(&w->mu);
		w->stop = true;
		pthread_cond_signal(&w->cv);
		pthread_mutex_unlock(&w->mu);
		pthread_join(tid, NULL);
	}
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
}

int main(int argc, char **argv)
{
	struct daemon_opts d = {.so = {.workers = 4}, .reconcile_interval = 30, .max_volumes = CSI_MAX_VOLUMES_PER_NODE};
	struct pv_err err = {0};
	struct pv_engine *engine = NULL;
	pthread_t watch_tid = 0;
	int r;

	pv_process_harden(); /* requests carry secrets: no core dumps of them */
	/* Two malloc arenas, not one per thread that ever allocated (up to 8 per core): the
	 * workers, gRPC's threads and the metrics thread share them, and the heap a burst
	 * of calls grew is trimmed when the server goes quiet (csi/server.c). */
	mallopt(M_ARENA_MAX, 2);
	if (pv_config_init(&d.cfg, &err) < 0)
		return bad("%s", err.msg);
	d.cfg.progress = false;        /* a daemon has no terminal to draw progress on */
	d.cfg.wait_for_lock = false;   /* a call on a busy volume is ABORTED; the CO retries */
	if ((r = parse_options(argc, argv, &d)) != 0)
		return r == 1 ? 0 : r;
	d.cfg.any_node = d.role == CSI_ROLE_CONTROLLER;   /* a cluster's controller: every node */
	pv_log_setup(d.verbose ? PV_LOG_DEBUG : PV_LOG_INFO, d.json, "pvnode");
	/* first: the reconcile below may start helpers, which must not see LISTEN_* */
	int lfd = -1;
	if (csi_sd_listen_fd(csi_endpoint_path(d.so.endpoint), &lfd, &err) < 0) {
		pv_error("cannot start: %s", err.msg);
		return 1;
	}
	d.so.listen_fd = lfd > 0 ? lfd : 0;
	if (pv_engine_open(&d.cfg, &engine, &err) < 0) {
		pv_error("cannot start: %s", err.msg);
		return 1;
	}
	struct csi_service svc = {.engine = engine, .cfg = pv_engine_config(engine),
				  .default_driver = d.default_driver, .role = d.role,
				  .driver_name = d.driver_name, .one_kind = d.driver_name != NULL, .drivers = d.drivers,
				  .max_volumes = d.max_volumes};
	char drivers[256];
	csi_served_drivers(&svc, drivers, sizeof(drivers));
	pv_info("pvnode %s node %s state %s: %s, role %s, drivers %s", PV_VERSION, d.cfg.node_id, d.cfg.state_dir,
		csi_driver_name(&svc), d.role == CSI_ROLE_NODE ? "node" : d.role == CSI_ROLE_CONTROLLER ? "controller" : "all",
		drivers);
	if (pv_engine_reconcile_only(engine, served, &svc, report, NULL, &err) < 0) {
		pv_warn("reconcile: %s", err.msg);
		pv_err_clear(&err);
	}
	if (d.metrics_address && csi_metrics_start(d.metrics_address, &svc, &svc.metrics, &err) < 0) {
		pv_error("cannot start: %s", err.msg);
		pv_engine_close(engine);
		return 1;
	}
	struct watch w = {.engine = engine, .svc = &svc, .interval = d.reconcile_interval};
	bool watching = start_watch(&w, &watch_tid);
	r = csi_server_run(&svc, &d.so, &err);
	stop_watch(&w, watch_tid, watching);
	csi_metrics_stop(svc.metrics);
	if (r < 0)
		pv_error("%s", err.msg);
	pv_engine_close(engine);
	return r < 0 ? 1 : 0;
}
