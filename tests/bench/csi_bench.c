/*
 * csi_bench.c — load and latency figures for pvnode over CSI (a real gRPC client).
 *
 *   csi_bench latency ENDPOINT METHOD N
 *       N sequential calls of Probe / NodeGetCapabilities: p50, p99, max (µs), calls/s
 *   csi_bench load ENDPOINT ALLOWED_DIR VOLUMES THREADS
 *       VOLUMES volumes (file driver, 16 MiB ext4), each CreateVolume → NodeStageVolume →
 *       NodePublishVolume, from THREADS threads at once; then the reverse
 *       (unpublish, unstage, delete). Prints calls/s, errors and per-call p50/p99.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "client/client.h"
#include "csi.h"

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void report(const char *what, double *lat, size_t n, double wall_us, int errors)
{
	if (!n)
		return;
	qsort(lat, n, sizeof(*lat), cmp_double);
	printf("%-22s calls %6zu  errors %d  p50 %8.0f us  p99 %8.0f us  max %8.0f us  %8.1f calls/s\n",
	       what, n, errors, lat[n / 2], lat[(size_t)(n * 0.99)], lat[n - 1], n / (wall_us / 1e6));
}

static int latency(const char *ep, const char *method, size_t n)
{
	struct csi_client *c;
	char path[128], details[256];
	const struct csi_method *m = NULL;
	const char *svc[] = {"Identity", "Node", "Controller"};
	for (int i = 0; !m && i < 3; i++) {
		snprintf(path, sizeof(path), "/csi.v1.%s/%s", svc[i], method);
		m = csi_method_find(path);
	}
	if (!m || csi_client_open(ep, &c) < 0)
		return 2;
	ProtobufCMessage *req = calloc(1, m->input->sizeof_message);
	protobuf_c_message_init(m->input, req);
	double *lat = calloc(n, sizeof(*lat));
	int errors = 0;
	for (int i = 0; i < 100; i++) {   /* warm up the channel */
		ProtobufCMessage *r = NULL;
		if (csi_client_call(c, path, req, m->output, &r, details, sizeof(details), 5000) == 0)
			protobuf_c_message_free_unpacked(r, NULL);
	}
	double t0 = now_us();
	for (size_t i = 0; i < n; i++) {
		ProtobufCMessage *r = NULL;
		double t = now_us();
		if (csi_client_call(c, path, req, m->output, &r, details, sizeof(details), 5000) != 0)
			errors++;
		lat[i] = now_us() - t;
		if (r)
			protobuf_c_message_free_unpacked(r, NULL);
	}
	report(method, lat, n, now_us() - t0, errors);
	free(lat);
	free(req);
	csi_client_close(c);
	return errors ? 1 : 0;
}

struct load {
	struct csi_client *c;
	const char *allowed;
	size_t volumes;
	atomic_size_t next;
	atomic_int errors;
	bool teardown;
	double *lat[3];   /* per step */
	atomic_size_t nlat[3];
};

static void cap_init(Csi__V1__VolumeCapability *cap, Csi__V1__VolumeCapability__AccessMode *am,
		     Csi__V1__VolumeCapability__MountVolume *mv)
{
	Csi__V1__VolumeCapability c = CSI__V1__VOLUME_CAPABILITY__INIT;
	Csi__V1__VolumeCapability__AccessMode a = CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__INIT;
	Csi__V1__VolumeCapability__MountVolume m = CSI__V1__VOLUME_CAPABILITY__MOUNT_VOLUME__INIT;
	*cap = c;
	*am = a;
	*mv = m;
	am->mode = CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__SINGLE_NODE_WRITER;
	mv->fs_type = "ext4";
	cap->access_mode = am;
	cap->access_type_case = CSI__V1__VOLUME_CAPABILITY__ACCESS_TYPE_MOUNT;
	cap->mount = mv;
}

static int timed(struct load *L, int step, const char *method, const void *req,
		 const ProtobufCMessageDescriptor *out, ProtobufCMessage **resp)
{
	char details[512];
	double t = now_us();
	int st = csi_client_call(L->c, method, req, out, resp, details, sizeof(details), 300000);
	L->lat[step][atomic_fetch_add(&L->nlat[step], 1)] = now_us() - t;
	if (st != 0) {
		atomic_fetch_add(&L->errors, 1);
		fprintf(stderr, "%s: %s %s\n", method, csi_status_name(st), details);
	}
	return st;
}

static void *load_worker(void *arg)
{
	struct load *L = arg;
	Csi__V1__VolumeCapability cap;
	Csi__V1__VolumeCapability__AccessMode am;
	Csi__V1__VolumeCapability__MountVolume mv;
	cap_init(&cap, &am, &mv);
	for (;;) {
		size_t i = atomic_fetch_add(&L->next, 1);
		if (i >= L->volumes)
			return NULL;
		char name[32], stg[4096], tgt[4096], dir[4096];
		snprintf(name, sizeof(name), "bench-%03zu", i);
		snprintf(stg, sizeof(stg), "%s/staging/%s", L->allowed, name);
		snprintf(dir, sizeof(dir), "%s/pods/%s", L->allowed, name);
		snprintf(tgt, sizeof(tgt), "%s/vol", dir);
		if (!L->teardown) {
			mkdir(dir, 0755);
			Csi__V1__CreateVolumeRequest cq = CSI__V1__CREATE_VOLUME_REQUEST__INIT;
			Csi__V1__CapacityRange cr = CSI__V1__CAPACITY_RANGE__INIT;
			Csi__V1__CreateVolumeRequest__ParametersEntry pe =
				CSI__V1__CREATE_VOLUME_REQUEST__PARAMETERS_ENTRY__INIT;
			Csi__V1__CreateVolumeRequest__ParametersEntry *pv[1] = {&pe};
			Csi__V1__VolumeCapability *caps[1] = {&cap};
			cr.required_bytes = 16 << 20;
			pe.key = "driver";
			pe.value = "file";
			cq.name = name;
			cq.capacity_range = &cr;
			cq.n_volume_capabilities = 1;
			cq.volume_capabilities = caps;
			cq.n_parameters = 1;
			cq.parameters = pv;
			Csi__V1__CreateVolumeResponse *cresp = NULL;
			if (timed(L, 0, "/csi.v1.Controller/CreateVolume", &cq,
				  &csi__v1__create_volume_response__descriptor, (void *)&cresp) != 0)
				continue;
			Csi__V1__NodeStageVolumeRequest sq = CSI__V1__NODE_STAGE_VOLUME_REQUEST__INIT;
			sq.volume_id = name;
			sq.staging_target_path = stg;
			sq.volume_capability = &cap;
			sq.n_volume_context = cresp->volume->n_volume_context;
			sq.volume_context = (void *)cresp->volume->volume_context;
			ProtobufCMessage *r = NULL;
			if (timed(L, 1, "/csi.v1.Node/NodeStageVolume", &sq,
				  &csi__v1__node_stage_volume_response__descriptor, &r) == 0) {
				protobuf_c_message_free_unpacked(r, NULL);
				r = NULL;
				Csi__V1__NodePublishVolumeRequest pq = CSI__V1__NODE_PUBLISH_VOLUME_REQUEST__INIT;
				pq.volume_id = name;
				pq.staging_target_path = stg;
				pq.target_path = tgt;
				pq.volume_capability = &cap;
				pq.n_volume_context = sq.n_volume_context;
				pq.volume_context = (void *)sq.volume_context;
				if (timed(L, 2, "/csi.v1.Node/NodePublishVolume", &pq,
					  &csi__v1__node_publish_volume_response__descriptor, &r) == 0)
					protobuf_c_message_free_unpacked(r, NULL);
			}
			protobuf_c_message_free_unpacked(&cresp->base, NULL);
		} else {
			ProtobufCMessage *r = NULL;
			Csi__V1__NodeUnpublishVolumeRequest uq = CSI__V1__NODE_UNPUBLISH_VOLUME_REQUEST__INIT;
			uq.volume_id = name;
			uq.target_path = tgt;
			if (timed(L, 0, "/csi.v1.Node/NodeUnpublishVolume", &uq,
				  &csi__v1__node_unpublish_volume_response__descriptor, &r) == 0)
				protobuf_c_message_free_unpacked(r, NULL);
			Csi__V1__NodeUnstageVolumeRequest usq = CSI__V1__NODE_UNSTAGE_VOLUME_REQUEST__INIT;
			usq.volume_id = name;
			usq.staging_target_path = stg;
			r = NULL;
			if (timed(L, 1, "/csi.v1.Node/NodeUnstageVolume", &usq,
				  &csi__v1__node_unstage_volume_response__descriptor, &r) == 0)
				protobuf_c_message_free_unpacked(r, NULL);
			Csi__V1__DeleteVolumeRequest dq = CSI__V1__DELETE_VOLUME_REQUEST__INIT;
			dq.volume_id = name;
			r = NULL;
			if (timed(L, 2, "/csi.v1.Controller/DeleteVolume", &dq,
				  &csi__v1__delete_volume_response__descriptor, &r) == 0)
				protobuf_c_message_free_unpacked(r, NULL);
		}
	}
}

static int run_phase(struct load *L, unsigned threads, bool teardown, const char *const names[3])
{
	pthread_t *t = calloc(threads, sizeof(*t));
	L->teardown = teardown;
	atomic_store(&L->next, 0);
	atomic_store(&L->errors, 0);
	for (int s = 0; s < 3; s++)
		atomic_store(&L->nlat[s], 0);
	double t0 = now_us();
	for (unsigned i = 0; i < threads; i++)
		pthread_create(&t[i], NULL, load_worker, L);
	for (unsigned i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	double wall = now_us() - t0;
	size_t calls = L->nlat[0] + L->nlat[1] + L->nlat[2];
	printf("%s: %zu volumes, %u threads: %zu calls in %.2f s = %.1f calls/s, %.1f volumes/s, %d errors\n",
	       teardown ? "teardown" : "create+stage+publish", L->volumes, threads, calls, wall / 1e6,
	       calls / (wall / 1e6), L->volumes / (wall / 1e6), atomic_load(&L->errors));
	for (int s = 0; s < 3; s++)
		report(names[s], L->lat[s], L->nlat[s], wall, 0);
	free(t);
	return atomic_load(&L->errors);
}

int main(int argc, char **argv)
{
	if (argc == 5 && strcmp(argv[1], "latency") == 0)
		return latency(argv[2], argv[3], strtoul(argv[4], NULL, 10));
	if (argc == 6 && strcmp(argv[1], "load") == 0) {
		struct load L = {.allowed = argv[3], .volumes = strtoul(argv[4], NULL, 10)};
		unsigned threads = (unsigned)strtoul(argv[5], NULL, 10);
		char dir[4096];
		snprintf(dir, sizeof(dir), "%s/pods", L.allowed);
		mkdir(dir, 0755);
		if (csi_client_open(argv[2], &L.c) < 0)
			return 2;
		for (int s = 0; s < 3; s++)
			L.lat[s] = calloc(L.volumes + 1, sizeof(double));
		static const char *const up[3] = {"  CreateVolume", "  NodeStageVolume", "  NodePublishVolume"};
		static const char *const down[3] = {"  NodeUnpublishVolume", "  NodeUnstageVolume",
						    "  DeleteVolume"};
		int e = run_phase(&L, threads, false, up);
		e += run_phase(&L, threads, true, down);
		for (int s = 0; s < 3; s++)
			free(L.lat[s]);
		csi_client_close(L.c);
		return e ? 1 : 0;
	}
	fprintf(stderr, "usage: csi_bench latency ENDPOINT METHOD N | load ENDPOINT ALLOWED VOLUMES THREADS\n");
	return 2;
}
