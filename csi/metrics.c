/*
 * metrics.c — pvnode's Prometheus endpoint (--metrics-address IP:PORT, off by default):
 * the text exposition format (version 0.0.4) on http://IP:PORT/metrics, served by
 * its own small HTTP thread (httpd.c).
 *
 *   pvnode_build_info{version,driver_name,role}        1
 *   pvnode_csi_calls_total{method,code}                counter, every CSI call answered
 *   pvnode_csi_call_duration_seconds{method}           histogram of their latency
 *   pvnode_volumes_staged{driver}                      volumes staged on this node
 *   pvnode_volumes_published{driver}                   ... of them published somewhere
 *   pvnode_helper_restarts_total{result}               dead helpers restarted (or not)
 *   pvnode_fence_refusals_total{where}                 stage: a backend fence held by
 *                                                      another node; controller_publish:
 *                                                      a single-node volume elsewhere
 *   pvnode_reconcile_findings_total{finding}           what reconciliation found and did
 *   pvnode_volume_read_bytes_total{volume,driver}      per staged volume with a userspace
 *   pvnode_volume_written_bytes_total{volume,driver}   data-path helper, as the helper
 *   pvnode_volume_requests_total{volume,driver,op}     counted it (since it started): bytes,
 *   pvnode_volume_errors_total{volume,driver}          requests by op, I/O errors, and its
 *   pvnode_helper_resident_memory_bytes{volume,driver} resident memory
 *   process_resident_memory_bytes, process_start_time_seconds
 *
 * Calls are counted in csi_dispatch (csi_metrics_call) under one mutex; the volume
 * gauges are read from the node journal at each scrape (one small file per volume),
 * for the drivers this pvnode serves; the engine counts the rest
 * (pv_engine_counters). The data-path counters are read from each helper's counters
 * file (mapped, never a request to the helper, so a stuck helper cannot stall a
 * scrape) and its /proc/PID/statm. A scrape costs about what reading those files costs.
 */
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "csi.h"
#include "pvnode/util.h"

#define N_CODES 17   /* gRPC status codes 0..16 */
static const double buckets[] = { 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60 };
#define N_BUCKETS (sizeof(buckets) / sizeof(buckets[0]))

struct method_stats {
	uint64_t codes[N_CODES];
	uint64_t bucket[N_BUCKETS];   /* observations <= buckets[i] (not cumulative) */
	uint64_t count;
	double sum;
};

struct csi_metrics {
	const struct csi_service *svc;
	struct csi_httpd *httpd;
	pthread_mutex_t mu;
	const struct csi_method *methods;
	size_t n_methods;
	struct method_stats *stats;
	double start_time;   /* unix seconds */
};

void csi_metrics_call(struct csi_metrics *m, size_t method, int status, double seconds)
{
	if (!m || method >= m->n_methods)
		return;
	pthread_mutex_lock(&m->mu);
	struct method_stats *s = &m->stats[method];
	s->codes[status >= 0 && status < N_CODES ? status : 2 /* UNKNOWN */]++;
	for (size_t i = 0; i < N_BUCKETS; i++)
		if (seconds <= buckets[i]) {
			s->bucket[i]++;
			break;
		}
	s->count++;
	s->sum += seconds;
	pthread_mutex_unlock(&m->mu);
}

static const char *method_name(const struct csi_method *m)
{
	return strrchr(m->path, '/') + 1;
}

static void header(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void calls(FILE *f, struct csi_metrics *m)
{
	header(f, "pvnode_csi_calls_total", "counter", "CSI calls answered, by method and gRPC status code.");
	pthread_mutex_lock(&m->mu);
	for (size_t i = 0; i < m->n_methods; i++)
		for (int c = 0; c < N_CODES; c++)
			if (m->stats[i].codes[c])
				fprintf(f, "pvnode_csi_calls_total{method=\"%s\",code=\"%s\"} %llu\n",
					method_name(&m->methods[i]), csi_status_name(c),
					(unsigned long long)m->stats[i].codes[c]);
	header(f, "pvnode_csi_call_duration_seconds", "histogram", "Time from a CSI request to its answer.");
	for (size_t i = 0; i < m->n_methods; i++) {
		const struct method_stats *s = &m->stats[i];
		uint64_t cum = 0;
		if (!s->count)
			continue;
		for (size_t b = 0; b < N_BUCKETS; b++) {
			cum += s->bucket[b];
			fprintf(f, "pvnode_csi_call_duration_seconds_bucket{method=\"%s\",le=\"%g\"} %llu\n",
				method_name(&m->methods[i]), buckets[b], (unsigned long long)cum);
		}
		fprintf(f, "pvnode_csi_call_duration_seconds_bucket{method=\"%s\",le=\"+Inf\"} %llu\n",
			method_name(&m->methods[i]), (unsigned long long)s->count);
		fprintf(f, "pvnode_csi_call_duration_seconds_sum{method=\"%s\"} %.9g\n", method_name(&m->methods[i]),
			s->sum);
		fprintf(f, "pvnode_csi_call_duration_seconds_count{method=\"%s\"} %llu\n", method_name(&m->methods[i]),
			(unsigned long long)s->count);
	}
	pthread_mutex_unlock(&m->mu);
}

#define MAX_DRIVERS 16
struct census {
	char names[MAX_DRIVERS][32];
	size_t n;
	unsigned staged[MAX_DRIVERS], published[MAX_DRIVERS];
};

/* The drivers this pvnode serves, each counted from zero. */
static void census_init(const struct csi_service *svc, struct census *c)
{
	char list[512], *save = NULL;
	memset(c, 0, sizeof(*c));
	snprintf(list, sizeof(list), "%s", pv_driver_names());
	for (char *d = strtok_r(list, ", ", &save); d && c->n < MAX_DRIVERS; d = strtok_r(NULL, ", ", &save))
		if (csi_serves_driver(svc, d))
			snprintf(c->names[c->n++], sizeof(c->names[0]), "%s", d);
}

static void census_count(struct census *c, const struct pv_volume_state *st)
{
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->names[i], st->pv.driver) == 0) {
			c->staged[i] += st->phase == PV_NODE_STAGED;
			c->published[i] += st->phase == PV_NODE_STAGED && st->n_targets > 0;
		}
}

/* One volume's data-path counters, as its helper keeps them. */
struct volume_io {
	char volume[PV_NAME_MAX + 1], driver[32];
	struct pv_volume_io io;
};

static bool census_serves(const struct census *c, const char *driver)
{
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->names[i], driver) == 0)
			return true;
	return false;
}

/* The per-volume families; every value reads the helper's counters file, never the
 * helper (pvnode/driver/helper_stats.h). */
static void volume_io(FILE *f, const struct volume_io *v, size_t n)
{
#define IO_FIELD(x) offsetof(struct pv_volume_io, x)
	static const struct { const char *name, *type, *help; size_t field; } fam[] = {
		{ "pvnode_volume_read_bytes_total", "counter", "Bytes read through the volume's userspace data path.",
		  IO_FIELD(read_bytes) },
		{ "pvnode_volume_written_bytes_total", "counter", "Bytes written through the volume's userspace data path.",
		  IO_FIELD(write_bytes) },
		{ "pvnode_volume_errors_total", "counter", "Requests the volume's data-path helper answered with an I/O error.",
		  IO_FIELD(errors) },
		{ "pvnode_helper_resident_memory_bytes", "gauge", "Resident memory of the volume's data-path helper.",
		  IO_FIELD(helper_rss) },
		{ "pvnode_helper_anonymous_memory_bytes", "gauge",
		  "Of the helper's resident memory, what is its own (not file-backed: the library text every helper "
		  "maps is shared).",
		  IO_FIELD(helper_anon) },
	};
	static const struct { const char *op; size_t field; } ops[] = {
		{ "read", IO_FIELD(reads) }, { "write", IO_FIELD(writes) },
		{ "flush", IO_FIELD(flushes) }, { "discard", IO_FIELD(discards) },
	};
#undef IO_FIELD
#define IO_VALUE(io, field) (*(const uint64_t *)((const char *)(io) + (field)))
	for (size_t k = 0; k < sizeof(fam) / sizeof(fam[0]); k++) {
		header(f, fam[k].name, fam[k].type, fam[k].help);
		for (size_t i = 0; i < n; i++)
			fprintf(f, "%s{volume=\"%s\",driver=\"%s\"} %llu\n", fam[k].name, v[i].volume, v[i].driver,
				(unsigned long long)IO_VALUE(&v[i].io, fam[k].field));
	}
	header(f, "pvnode_volume_requests_total", "counter",
	       "Requests the volume's data-path helper completed, by op (read, write, flush, discard).");
	for (size_t i = 0; i < n; i++)
		for (size_t o = 0; o < sizeof(ops) / sizeof(ops[0]); o++)
			fprintf(f, "pvnode_volume_requests_total{volume=\"%s\",driver=\"%s\",op=\"%s\"} %llu\n",
				v[i].volume, v[i].driver, ops[o].op, (unsigned long long)IO_VALUE(&v[i].io, ops[o].field));
#undef IO_VALUE
}

static void volumes(FILE *f, const struct csi_service *svc)
{
	struct census c;
	char **names = NULL;
	struct volume_io *io = NULL;
	size_t n_io = 0;

	census_init(svc, &c);
	if (pv_engine_volumes(svc->engine, &names, NULL) == 0) {
		size_t total = 0;
		while (names && names[total])
			total++;
		io = total ? calloc(total, sizeof(*io)) : NULL;
		for (char **n = names; n && *n; n++) {
			struct pv_volume_state st;
			if (pv_engine_state(svc->engine, *n, &st, NULL) < 0)
				continue;
			census_count(&c, &st);
			if (io && st.phase == PV_NODE_STAGED && census_serves(&c, st.pv.driver) &&
			    pv_engine_volume_io(svc->engine, *n, &st, &io[n_io].io) == 0) {
				snprintf(io[n_io].volume, sizeof(io[n_io].volume), "%s", *n);
				snprintf(io[n_io].driver, sizeof(io[n_io].driver), "%s", st.pv.driver);
				n_io++;
			}
			pv_volume_state_free(&st);
		}
	}
	pv_strv_free(names);
	header(f, "pvnode_volumes_staged", "gauge", "Volumes staged on this node, by driver.");
	for (size_t i = 0; i < c.n; i++)
		fprintf(f, "pvnode_volumes_staged{driver=\"%s\"} %u\n", c.names[i], c.staged[i]);
	header(f, "pvnode_volumes_published", "gauge", "Volumes staged on this node and published at a target, by driver.");
	for (size_t i = 0; i < c.n; i++)
		fprintf(f, "pvnode_volumes_published{driver=\"%s\"} %u\n", c.names[i], c.published[i]);
	volume_io(f, io, n_io);
	free(io);
}

static void counters(FILE *f, const struct csi_service *svc)
{
	struct pv_engine_counters k;
	pv_engine_counters(svc->engine, &k);
	header(f, "pvnode_helper_restarts_total", "counter",
	       "Userspace data-path helpers found dead and restarted (result ok) or not (failed).");
	fprintf(f, "pvnode_helper_restarts_total{result=\"ok\"} %llu\n", (unsigned long long)k.helper_restarts);
	fprintf(f, "pvnode_helper_restarts_total{result=\"failed\"} %llu\n",
		(unsigned long long)k.helper_restart_failures);
	header(f, "pvnode_fence_refusals_total", "counter",
	       "Requests refused because another node holds the volume: a backend fence at stage, or a "
	       "single-node volume at ControllerPublishVolume.");
	fprintf(f, "pvnode_fence_refusals_total{where=\"stage\"} %llu\n", (unsigned long long)k.fence_refusals_stage);
	fprintf(f, "pvnode_fence_refusals_total{where=\"controller_publish\"} %llu\n",
		(unsigned long long)k.fence_refusals_publish);
	header(f, "pvnode_reconcile_findings_total", "counter",
	       "What reconciling the node journal with the mounts and helpers found, by finding.");
	const struct { const char *name; uint64_t v; } fx[] = {
		{ "helper_restarted", k.helper_restarts }, { "helper_restart_failed", k.helper_restart_failures },
		{ "interrupted_undone", k.interrupted_undone }, { "interrupted_undo_failed", k.interrupted_failed },
		{ "mount_lost", k.mounts_lost },
	};
	for (size_t i = 0; i < sizeof(fx) / sizeof(fx[0]); i++)
		fprintf(f, "pvnode_reconcile_findings_total{finding=\"%s\"} %llu\n", fx[i].name, (unsigned long long)fx[i].v);
}

static void process(FILE *f, const struct csi_metrics *m)
{
	long long rss = 0;
	char line[128], *end;
	FILE *sm = fopen("/proc/self/statm", "re");
	if (sm) {   /* "size resident shared ..." in pages */
		if (fgets(line, sizeof(line), sm)) {
			strtoll(line, &end, 10);
			rss = strtoll(end, NULL, 10);
		}
		fclose(sm);
	}
	header(f, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
	fprintf(f, "process_resident_memory_bytes %lld\n", rss * sysconf(_SC_PAGESIZE));
	header(f, "process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.");
	fprintf(f, "process_start_time_seconds %.3f\n", m->start_time);
}

/* The whole exposition; malloc'd. */
static char *render(struct csi_metrics *m, size_t *len)
{
	char *buf = NULL;
	const struct csi_service *svc = m->svc;
	FILE *f = open_memstream(&buf, len);
	if (!f)
		return NULL;
	header(f, "pvnode_build_info", "gauge", "pvnode's version, CSI driver name and role.");
	fprintf(f, "pvnode_build_info{version=\"%s\",driver_name=\"%s\",role=\"%s\"} 1\n", PV_VERSION,
		csi_driver_name(svc), svc->role == CSI_ROLE_NODE ? "node" : svc->role == CSI_ROLE_CONTROLLER ? "controller" : "all");
	calls(f, m);
	volumes(f, svc);
	counters(f, svc);
	process(f, m);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

static int handle(void *ud, const char *method, const char *path, char **body, size_t *len, const char **type)
{
	struct csi_metrics *m = ud;
	const char *msg;
	int status;
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		msg = "only GET /metrics\n";
		status = 405;
	} else if (strcmp(path, "/metrics") != 0) {
		msg = "pvnode serves /metrics\n";
		status = 404;
	} else if ((*body = render(m, len))) {
		*type = "text/plain; version=0.0.4; charset=utf-8";
		return 200;
	} else {
		msg = "out of memory\n";
		status = 500;
	}
	*body = strdup(msg);
	*len = *body ? strlen(msg) : 0;
	return status;
}

/* "IP:PORT" or "[IPv6]:PORT" (numeric only: the address a daemon binds). */
static int parse_address(const char *address, struct sockaddr_storage *sa, socklen_t *len, struct pv_err *err)
{
	char host[128];
	const char *port;
	struct addrinfo hints = { .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res = NULL;

	if (address[0] == '[') {
		const char *close = strchr(address, ']');
		if (!close || close[1] != ':' || (size_t)(close - address - 1) >= sizeof(host))
			return pv_err_set(err, -EINVAL, PV_E_INVALID, "--metrics-address %s: expected [IPv6]:PORT", address);
		snprintf(host, sizeof(host), "%.*s", (int)(close - address - 1), address + 1);
		port = close + 2;
	} else {
		const char *colon = strrchr(address, ':');
		if (!colon || colon == address || (size_t)(colon - address) >= sizeof(host))
			return pv_err_set(err, -EINVAL, PV_E_INVALID,
					  "--metrics-address %s: expected IP:PORT, e.g. 127.0.0.1:9820", address);
		snprintf(host, sizeof(host), "%.*s", (int)(colon - address), address);
		port = colon + 1;
	}
	char *end;
	long n = strtol(port, &end, 10);
	int g = getaddrinfo(host, port, &hints, &res);
	if (g != 0 || !res || *end || n <= 0 || n > 65535) {
		if (res)
			freeaddrinfo(res);
		return pv_err_set(err, -EINVAL, PV_E_INVALID,
				  "--metrics-address %s: '%s' is not a numeric IP address or '%s' not a port (1-65535)",
				  address, host, port);
	}
	memcpy(sa, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

static double unix_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int csi_metrics_start(const char *address, const struct csi_service *svc, struct csi_metrics **out,
		      struct pv_err *err)
{
	struct sockaddr_storage sa = {0};
	socklen_t salen = 0;
	int r = parse_address(address, &sa, &salen, err);

	if (r < 0)
		return r;
	struct csi_metrics *m = calloc(1, sizeof(*m));
	if (!m)
		return pv_err_set(err, -ENOMEM, PV_E_RESOURCE, "out of memory");
	m->svc = svc;
	m->methods = csi_methods(&m->n_methods);
	m->stats = calloc(m->n_methods, sizeof(*m->stats));
	m->start_time = unix_now();
	pthread_mutex_init(&m->mu, NULL);
	r = m->stats ? csi_httpd_start((struct sockaddr *)&sa, salen, handle, m, &m->httpd) : -ENOMEM;
	if (r < 0) {
		csi_metrics_stop(m);
		return pv_err_set(err, -EADDRNOTAVAIL, PV_E_INVALID,
				  "--metrics-address %s: cannot listen there (%s; is the port taken, or the address "
				  "not this host's?)", address, strerror(-r));
	}
	pv_info("serving metrics on http://%s/metrics", address);
	*out = m;
	return 0;
}

void csi_metrics_stop(struct csi_metrics *m)
{
	if (!m)
		return;
	csi_httpd_stop(m->httpd);
	pthread_mutex_destroy(&m->mu);
	free(m->stats);
	free(m);
}
