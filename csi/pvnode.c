/*
 * pvnode.c — the daemon: parses its options, opens the node engine, reconciles the
 * journal with what is really mounted (logging each finding), then serves CSI Identity,
 * Controller and Node on a unix socket until SIGTERM / SIGINT (csi/server.c).
 *
 *   pvnode --endpoint unix:///path/csi.sock --node-id ID [--state-dir DIR]
 *          [--selinux auto|on|off] [--allowed-path P]... [--workers N]
 *          [--log-format text|json] [--default-driver NAME] [-v]
 *
 * --default-driver: the driver of a CreateVolume without a driver= parameter (e.g. for
 * a conformance suite run without a parameters file); without it such a call is refused.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "csi.h"
#include "pvnode/util.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: pvnode --endpoint unix:///path/csi.sock --node-id ID [--state-dir DIR]\n"
		"              [--selinux auto|on|off] [--allowed-path PREFIX]... [--workers N]\n"
		"              [--reconcile-interval SECONDS (default 30, 0: only at start)]\n"
		"              [--log-format text|json] [--default-driver NAME] [-v] [--version]\n"
		"Serves CSI v1 Identity, Controller and Node on a unix socket.\n"
		"Environment: PVNODE_STATE_DIR (default /var/lib/pvnode), PVNODE_SELINUX.\n");
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
	unsigned interval;
	bool stop;
	pthread_mutex_t mu;
	pthread_cond_t cv;
};

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
		if (pv_engine_reconcile(w->engine, report_problems, NULL, &err) < 0)
			pv_warn("reconcile: %s", err.msg);
		pthread_mutex_lock(&w->mu);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

static int parse_selinux(const char *s, enum pv_selinux_mode *m)
{
	if (strcmp(s, "auto") == 0)
		*m = PV_SELINUX_AUTO;
	else if (strcmp(s, "on") == 0)
		*m = PV_SELINUX_ON;
	else if (strcmp(s, "off") == 0)
		*m = PV_SELINUX_OFF;
	else
		return -EINVAL;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"endpoint", required_argument, NULL, 'e'},
		{"node-id", required_argument, NULL, 'n'},
		{"state-dir", required_argument, NULL, 's'},
		{"selinux", required_argument, NULL, 'S'},
		{"allowed-path", required_argument, NULL, 'a'},
		{"workers", required_argument, NULL, 'w'},
		{"reconcile-interval", required_argument, NULL, 'R'},
		{"log-format", required_argument, NULL, 'l'},
		{"default-driver", required_argument, NULL, 'd'},
		{"verbose", no_argument, NULL, 'v'},
		{"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	pv_process_harden(); /* requests carry secrets: no core dumps of them */
	struct pv_engine_cfg cfg;
	struct csi_server_opts so = {.workers = 4};
	unsigned reconcile_interval = 30;
	const char *state = getenv("PVNODE_STATE_DIR");
	const char *node_id = NULL, *default_driver = NULL;
	/* freed at exit; early usage errors leave it to the process exit */
	static char **allowed;
	allowed = calloc((size_t)argc + 1, sizeof(char *));
	bool json = false;
	int verbose = 0, c;

	memset(&cfg, 0, sizeof(cfg));
	const char *env_selinux = getenv("PVNODE_SELINUX");
	if (env_selinux && parse_selinux(env_selinux, &cfg.selinux) < 0) {
		fprintf(stderr, "pvnode: PVNODE_SELINUX must be auto, on or off\n");
		return 2;
	}
	while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
		switch (c) {
		case 'e': so.endpoint = optarg; break;
		case 'n': node_id = optarg; break;
		case 's': state = optarg; break;
		case 'S':
			if (parse_selinux(optarg, &cfg.selinux) < 0) {
				fprintf(stderr, "pvnode: --selinux must be auto, on or off\n");
				return 2;
			}
			break;
		case 'a':
			if (!pv_path_clean(optarg)) {
				fprintf(stderr, "pvnode: --allowed-path %s is not a clean absolute path\n", optarg);
				return 2;
			}
			allowed[cfg.n_allowed_paths++] = optarg;
			break;
		case 'R': {
			char *end;
			unsigned long n = strtoul(optarg, &end, 10);
			if (*end || end == optarg || n > 86400) {
				fprintf(stderr, "pvnode: --reconcile-interval must be 0..86400 seconds (0: only at start)\n");
				return 2;
			}
			reconcile_interval = (unsigned)n;
			break;
		}
		case 'w': {
			char *end;
			unsigned long n = strtoul(optarg, &end, 10);
			if (*end || n < 1 || n > 256) {
				fprintf(stderr, "pvnode: --workers must be 1..256\n");
				return 2;
			}
			so.workers = (unsigned)n;
			break;
		}
		case 'l':
			if (strcmp(optarg, "json") == 0)
				json = true;
			else if (strcmp(optarg, "text") != 0) {
				fprintf(stderr, "pvnode: --log-format must be text or json\n");
				return 2;
			}
			break;
		case 'd':
			if (!pv_driver_find(optarg)) {
				fprintf(stderr, "pvnode: --default-driver %s is not one of: %s\n", optarg,
					pv_driver_names());
				return 2;
			}
			default_driver = optarg;
			break;
		case 'v': verbose++; break;
		case 'V': printf("pvnode %s\n", PV_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc || !so.endpoint || !node_id) {
		fprintf(stderr, "pvnode: --endpoint and --node-id are required\n");
		usage(stderr);
		return 2;
	}
	if (!pv_name_valid(node_id)) {
		fprintf(stderr, "pvnode: --node-id must match [A-Za-z0-9._:-]{1,128}\n");
		return 2;
	}
	if (!csi_endpoint_path(so.endpoint)) {
		fprintf(stderr, "pvnode: --endpoint must be unix:///absolute/path\n");
		return 2;
	}
	snprintf(cfg.state_dir, sizeof(cfg.state_dir), "%s", state ? state : "/var/lib/pvnode");
	snprintf(cfg.node_id, sizeof(cfg.node_id), "%s", node_id);
	cfg.allowed_paths = cfg.n_allowed_paths ? allowed : NULL;
	pv_log_setup(verbose ? PV_LOG_DEBUG : PV_LOG_INFO, json, "pvnode");

	struct pv_err err = {0};
	struct pv_engine *engine = NULL;
	int r = pv_engine_open(&cfg, &engine, &err);
	if (r < 0) {
		pv_error("cannot start: %s", err.msg);
		free(allowed);
		return 1;
	}
	pv_info("pvnode %s node %s state %s", PV_VERSION, cfg.node_id, cfg.state_dir);
	if (pv_engine_reconcile(engine, report, NULL, &err) < 0) {
		pv_warn("reconcile: %s", err.msg);
		pv_err_clear(&err);
	}
	struct csi_service svc = {.engine = engine, .cfg = pv_engine_config(engine),
				  .default_driver = default_driver};
	struct watch w = {.engine = engine, .interval = reconcile_interval};
	pthread_t watch_tid;
	bool watching = false;
	pthread_mutex_init(&w.mu, NULL);
	pthread_cond_init(&w.cv, NULL);
	if (reconcile_interval > 0) {
		/* start it with every signal blocked, so none lands there before it runs */
		sigset_t all, old;
		sigfillset(&all);
		pthread_sigmask(SIG_BLOCK, &all, &old);
		watching = pthread_create(&watch_tid, NULL, watch_thread, &w) == 0;
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	r = csi_server_run(&svc, &so, &err);
	if (watching) {
		pthread_mutex_lock(&w.mu);
		w.stop = true;
		pthread_cond_signal(&w.cv);
		pthread_mutex_unlock(&w.mu);
		pthread_join(watch_tid, NULL);
	}
	pthread_mutex_destroy(&w.mu);
	pthread_cond_destroy(&w.cv);
	if (r < 0)
		pv_error("%s", err.msg);
	pv_engine_close(engine);
	free(allowed);
	return r < 0 ? 1 : 0;
}
