/*
 * fuzz_csi_request.c — libFuzzer target for pvnode's request path without gRPC:
 * the first byte picks the method (index into the method table, see csi_methods()),
 * the rest is the request body. csi_dispatch decodes it with protobuf-c, logs it
 * redacted (msgtext.c), validates it and runs the handler with the service in dry-run
 * mode (every check, no engine or catalog action), then encodes the response.
 *
 * Build with clang (-fsanitize=fuzzer); with another compiler run_corpus.c replays the
 * kept corpus (tests/fuzz/corpus) as a regression test.
 */
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csi.h"
#include "pvnode/util.h"

static struct csi_service svc;
static char state[] = "/tmp/pvnode-fuzz.XXXXXX";

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

/* The dry run still writes lock files: remove the private state dir at exit. */
static void cleanup(void)
{
	if (svc.engine)
		pv_engine_close(svc.engine);
	svc.engine = NULL;
	nftw(state, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	static struct pv_config cfg;
	struct pv_engine *e = NULL;
	struct pv_err err = {0};

	pv_log_setup(getenv("FUZZ_VERBOSE") ? PV_LOG_DEBUG : PV_LOG_ERROR, false, "fuzz");
	if (!mkdtemp(state))
		abort();
	snprintf(cfg.state_dir, sizeof(cfg.state_dir), "%s", state);
	snprintf(cfg.node_id, sizeof(cfg.node_id), "fuzz-node");
	cfg.selinux = PV_SELINUX_OFF;
	snprintf(cfg.allowed_paths[0], sizeof(cfg.allowed_paths[0]), "/pvnode-fuzz-allowed");
	cfg.n_allowed_paths = 1;
	if (pv_engine_open(&cfg, &e, &err) < 0) {
		fprintf(stderr, "fuzz: %s\n", err.msg);
		abort();
	}
	svc.engine = e;
	svc.cfg = pv_engine_config(e);
	svc.dry_run = true;
	atexit(cleanup);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t n;
	const struct csi_method *methods = csi_methods(&n);
	void *out = NULL;
	size_t out_len = 0;
	char msg[PV_ERR_MSG_MAX + 64];

	if (size < 1)
		return 0;
	const struct csi_method *m = &methods[data[0] % n];
	csi_dispatch(&svc, m, data + 1, size - 1, &out, &out_len, msg, sizeof(msg));
	free(out);
	return 0;
}
