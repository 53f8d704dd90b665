/*
 * csi.h — what the files of csi/ share: the daemon's state, the per-call context
 * handlers get, the method table, the status mapping, and the helpers that turn CSI
 * messages into engine requests.
 *
 * The gRPC adapter (server.c) decodes a request with protobuf-c, calls the handler of
 * its method with the decoded message, and encodes what the handler returns. Handlers
 * (identity.c, controller.c, node.c) never see gRPC: they return 0 or a negative errno
 * with a filled `struct pv_err`, whose kind status.c turns into a CSI status code.
 */
#ifndef PVNODE_CSI_H
#define PVNODE_CSI_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "csi.pb-c.h"
#include "pvnode/engine.h"
#include "pvnode/error.h"
#include "pvnode/pv.h"
#include "pvnode/secrets.h"

#define CSI_DEFAULT_CAPACITY (1ULL << 30)   /* CreateVolume without a capacity range */
#define CSI_MAX_VOLUMES_PER_NODE 256         /* default of --max-volumes-per-node */
#define CSI_MAX_MOUNT_FLAGS_BYTES 4096      /* the spec's limit on mount_flags */
#define CSI_MAX_MAP_ENTRIES 256
/* publish_context key of a read-only ControllerPublishVolume (PUBLISH_READONLY): the
 * node stages and publishes the volume read-only. */
#define CSI_PUBLISH_READONLY PV_CTX_PREFIX "readonly"
#define CSI_MAX_VALUE_BYTES 4096
#define CSI_MIN_FREE_BYTES (1ULL << 20)       /* Probe: the state directory must have room */

/* Which CSI services a pvnode serves besides Identity (--role). */
enum csi_role { CSI_ROLE_ALL = 0, CSI_ROLE_NODE, CSI_ROLE_CONTROLLER };
enum csi_service_kind { CSI_SVC_IDENTITY = 0, CSI_SVC_CONTROLLER, CSI_SVC_NODE };

struct csi_metrics;

/* The daemon: one per process, shared read-only by the handlers. */
struct csi_service {
	struct pv_engine *engine;
	const struct pv_config *cfg;   /* the engine's: state dir, node id, allowed paths */
	bool dry_run;   /* the fuzzer: decode and validate every request, never act on one */
	const char *default_driver;   /* CreateVolume without driver=: this one (NULL: refuse) */
	enum csi_role role;
	const char *driver_name;      /* GetPluginInfo's name; NULL: PV_CSI_DRIVER_NAME */
	bool one_kind;                /* --driver-name given: only the drivers that name serves
				       * (pv_driver_csi_name); else every driver built in */
	const char *drivers;          /* --drivers: comma-separated, narrows the drivers served
				       * (e.g. "iscsi" on block.pvnode.csi.io); NULL: all of them */
	unsigned max_volumes;         /* NodeGetInfo's max_volumes_per_node, held by
				       * ControllerPublishVolume; 0: no limit */
	struct csi_metrics *metrics;  /* NULL: no metrics endpoint */
};

/* validate.c — what this pvnode serves. */
const char *csi_driver_name(const struct csi_service *svc);
bool csi_serves_driver(const struct csi_service *svc, const char *driver);
/* Neither --driver-name nor --drivers: every driver built in. */
bool csi_serves_every_driver(const struct csi_service *svc);
/* The drivers served, as "iscsi, rbd" ("none" when none). */
void csi_served_drivers(const struct csi_service *svc, char *buf, size_t len);
/* Does a served driver pass `has` (pv_driver_node_local, pv_driver_snapshots, ...)? */
bool csi_serves_any(const struct csi_service *svc, bool (*has)(const char *driver));
/* INVALID_ARGUMENT naming the driver and the name that serves it, for a PV of a driver
 * this pvnode's name does not serve (e.g. nfs on block.pvnode.csi.io). */
int csi_check_served(const struct csi_service *svc, const struct pv *pv, struct pv_err *err);
/* Does it serve a node-local driver (topology: NodeGetInfo, CreateVolume)? */
bool csi_serves_node_local(const struct csi_service *svc);
bool csi_serves(const struct csi_service *svc, enum csi_service_kind kind);

/* A per-call allocation arena: everything a handler allocates for its response lives
 * until the adapter has encoded it. */
struct csi_arena {
	void **ptrs;
	size_t n, cap;
};

void *csi_alloc(struct csi_arena *a, size_t size);     /* zeroed; aborts on OOM */
char *csi_strdup(struct csi_arena *a, const char *s);
void csi_arena_free(struct csi_arena *a);

struct csi_ctx {
	const struct csi_service *svc;
	struct csi_arena arena;
};

/* A message of type `d`, initialised to its defaults, living in the call's arena. */
static inline void *csi_new(struct csi_ctx *ctx, const ProtobufCMessageDescriptor *d)
{
	void *p = csi_alloc(&ctx->arena, d->sizeof_message);
	protobuf_c_message_init(d, p);
	return p;
}
#define CSI_NEW(ctx, name) csi_new(ctx, &csi__v1__##name##__descriptor)

typedef int (*csi_handler_fn)(struct csi_ctx *ctx, const ProtobufCMessage *req,
			      ProtobufCMessage **resp, struct pv_err *err);

struct csi_method {
	const char *path;                          /* "/csi.v1.Node/NodeStageVolume" */
	enum csi_service_kind service;
	const ProtobufCMessageDescriptor *input;
	const ProtobufCMessageDescriptor *output;
	csi_handler_fn handler;
	bool quiet;                                /* log at debug only (Probe, capabilities) */
};

/* The table of every method pvnode serves; NULL when `path` is not one. */
const struct csi_method *csi_method_find(const char *path);
const struct csi_method *csi_methods(size_t *n);

/* status.c — the one place a pv_err kind becomes a gRPC status code. */
int csi_status_from_err(const struct pv_err *err);
const char *csi_status_name(int code);
/* A driver that cannot snapshot, restore or clone: PV_E_UNSUPPORTED becomes
 * PV_E_INVALID (INVALID_ARGUMENT, its sentence naming the driver) for the snapshot
 * calls and CreateVolume from a source. Anything else is left alone. */
void csi_unsupported_is_invalid(struct pv_err *err);
/* For pvctl: a gRPC status code back to the kind (exit statuses). */
enum pv_err_kind csi_kind_from_status(int code);

/* validate.c — request checks shared by the handlers; each fills err (PV_E_INVALID). */
int csi_check_volume_id(const char *id, struct pv_err *err);
/* An id field (volume_id, snapshot_id, source_volume_id, ...): required, at most
 * PV_NAME_MAX bytes of [A-Za-z0-9._:-]; the sentence names `field`. */
int csi_check_id(const char *field, const char *id, struct pv_err *err);
/* List paging (ListVolumes, ListSnapshots): a token is the decimal index of the first
 * entry of the next page in the sorted list of `n` entries. An empty token starts at 0;
 * anything csi_page_next did not write, or past the end, is ABORTED (PV_E_BUSY) as the
 * spec wants of an invalid starting_token. */
#define CSI_PAGE_TOKEN_MAX 24
int csi_page_start(const char *method, const char *token, size_t n, size_t *start, struct pv_err *err);
/* How many entries from `start` a page holds (max_entries 0: all; max_entries < 0 is
 * refused by the caller). */
size_t csi_page_count(int32_t max_entries, size_t n, size_t start);
/* The next_token of a page that ends before entry `next`: "" when it is the last. */
void csi_page_next(size_t next, size_t n, char buf[CSI_PAGE_TOKEN_MAX]);
/* CreateVolume's name: any UTF-8 string of 1..128 bytes without the spec's control
 * characters (U+0000-U+0008, U+000B, U+000C, U+000E-U+001F, U+007F-U+009F). */
int csi_check_name(const char *name, struct pv_err *err);
/* The volume id of a name: the name itself when it is a valid id, else, always the same
 * for the same name, its valid characters ("v" when it has none), '-' and 16 hex digits
 * of its FNV-1a 64 hash, at most PV_NAME_MAX bytes. Returns whether the name was mapped. */
bool csi_volume_id_for_name(const char *name, char id[PV_NAME_MAX + 1]);
/* The topology segment of this node (node-local volumes, NodeGetInfo). */
Csi__V1__Topology *csi_node_topology(struct csi_ctx *ctx);
int csi_check_path(const struct csi_service *svc, const char *what, const char *path,
		   bool required, struct pv_err *err);
struct csi_cap {
	enum pv_access access;
	bool block;
	const char *fs_type;        /* "" when none */
	const char *const *flags;   /* mount flags */
	size_t n_flags;
	bool readonly_mode;         /* a reader-only access mode */
	long mount_group;           /* mount.volume_mount_group (the pod's fsGroup), 0 none */
};
int csi_check_capability(const char *volume, const Csi__V1__VolumeCapability *c,
			 struct csi_cap *out, struct pv_err *err);
const char *csi_mode_name(int mode);
/* Map entries (every protobuf-c map entry has the {base, key, value} layout). */
struct csi_kv {
	ProtobufCMessage base;
	char *key;
	char *value;
};
int csi_map_in(const char *what, void *const *entries, size_t n, struct pv_map *out,
	       struct pv_err *err);
/* Build a response map from a pv_map with the given entry descriptor. */
void **csi_map_out(struct csi_arena *a, const ProtobufCMessageDescriptor *entry_desc,
		   const struct pv_map *m, size_t *n);
/* Secrets from a request map (values wiped when freed). */
int csi_secrets_in(void *const *entries, size_t n, struct pv_secrets *out, struct pv_err *err);
/* The PV of a request: from volume_context when it carries pvnode.io/driver, else from
 * the catalog (PV_E_NOT_FOUND when neither knows it). */
int csi_load_pv(const struct csi_service *svc, const char *id, void *const *ctx_entries,
		size_t n_ctx, struct pv *out, struct pv_err *err);

/* msgtext.c — a message as JSON text with every `secrets` map and secret-looking
 * mount flag replaced by "<redacted>" (logs, pvctl -o json). malloc'd. */
char *csi_msg_to_json(const ProtobufCMessage *m, bool pretty);

/* Handlers. */
int csi_identity_get_plugin_info(struct csi_ctx *, const ProtobufCMessage *, ProtobufCMessage **, struct pv_err *);
int csi_identity_get_plugin_capabilities(struct csi_ctx *, const ProtobufCMessage *, ProtobufCMessage **, struct pv_err *);
int csi_identity_probe(struct csi_ctx *, const ProtobufCMessage *, ProtobufCMessage **, struct pv_err *);

int csi_controller_create_volume(struct csi_ctx *, const ProtobufCMessage *, ProtobufCMessage **, struct pv_err *);
int csi_controller_delete_volume(struct csi_ctx *, const ProtobufCMessage *, ProtobufCMessage **, struct pv_err *);
int csi_controller_publish_volume(struct csi_ctx *, const ProtobufCMessage *, ProtobufCMessage **, struct pv_err *);
int csi_controller_unpublish_volume(struct csi_ctx *, const ProtobufCMessage *, ProtobufCMessage **, struct pv_err *);
int csi_controller_validate_volume_capabilities(struct csi_ctx *, const ProtobufCMessage *, ProtobufCMessage **, struct pv_err *);
int csi_controller_list_volumes(struct csi_ctx *, const ProtobufCMessage *, ProtobufCMessage **, struct pv_err *);
int csi_controller_get_capacity(struct csi_ctx *, const ProtobufCMessage *, ProtobufCMessage **, struct pv_err *);
int csi_controller_get_capabilities(struct csi_ctx *, const ProtobufCMessage *, ProtobufCMessage **, struct pv_err *);
int csi_controller_expand_volume(struct csi_ctx *, const ProtobufCMessage *, ProtobufCMessage **, struct pv_err *);
int csi_controller_create_snapshot(struct csi_ctx *, const ProtobufCMessage *, ProtobufCMessage **, struct pv_err *);
int csi_controller_delete_snapshot(struct csi_ctx *, const ProtobufCMessage *, ProtobufCMessage **, struct pv_err *);
int csi_controller_list_snapshots(struct csi_ctx *, const ProtobufCMessage *, ProtobufCMessage **, struct pv_err *);

/* snapshot.c — CreateVolume's volume_content_source: what it names, checked and
 * loaded (NOT_FOUND when it does not exist, INVALID_ARGUMENT when this pvnode does not
 * serve its driver). */
struct csi_source {
	enum pv_source_kind kind;      /* PV_SOURCE_SNAPSHOT or PV_SOURCE_VOLUME */
	char id[PV_NAME_MAX + 1];      /* the snapshot's or the volume's id */
	uint64_t size;                 /* bytes: the least a volume made from it may have */
	struct pv pv;                  /* the source volume, or the snapshot's origin */
};
int csi_source_in(struct csi_ctx *ctx, const Csi__V1__VolumeContentSource *src, const char *volume,
		  struct csi_source *out, struct pv_err *err);
void csi_source_free(struct csi_source *s);
/* The content_source of a Volume response for a PV made from a source (NULL: none). */
Csi__V1__VolumeContentSource *csi_source_out(struct csi_ctx *ctx, const struct pv *pv);

int csi_node_stage_volume(struct csi_ctx *, const ProtobufCMessage *, ProtobufCMessage **, struct pv_err *);
int csi_node_unstage_volume(struct csi_ctx *, const ProtobufCMessage *, ProtobufCMessage **, struct pv_err *);
int csi_node_publish_volume(struct csi_ctx *, const ProtobufCMessage *, ProtobufCMessage **, struct pv_err *);
int csi_node_unpublish_volume(struct csi_ctx *, const ProtobufCMessage *, ProtobufCMessage **, struct pv_err *);
int csi_node_get_volume_stats(struct csi_ctx *, const ProtobufCMessage *, ProtobufCMessage **, struct pv_err *);
int csi_node_expand_volume(struct csi_ctx *, const ProtobufCMessage *, ProtobufCMessage **, struct pv_err *);
int csi_node_get_capabilities(struct csi_ctx *, const ProtobufCMessage *, ProtobufCMessage **, struct pv_err *);
int csi_node_get_info(struct csi_ctx *, const ProtobufCMessage *, ProtobufCMessage **, struct pv_err *);

/* server.c — serve until SIGTERM/SIGINT. */
struct csi_server_opts {
	const char *endpoint;     /* unix:///path/csi.sock */
	unsigned workers;
	int listen_fd;            /* socket activation: the passed socket (csi_sd_listen_fd,
				   * always fd 3), served instead of binding endpoint; 0 none */
};
int csi_server_run(const struct csi_service *svc, const struct csi_server_opts *o,
		   struct pv_err *err);
/* "unix:///a/b" or "unix:/a/b" or "/a/b" → "/a/b"; NULL when not a unix endpoint. */
const char *csi_endpoint_path(const char *endpoint);

/* httpd.c — the metrics endpoint's HTTP/1.1 server: GET and HEAD, keep-alive, no
 * request bodies, at most 16 connections, one thread. The handler answers a request
 * with an HTTP status, a malloc'd body (or NULL) and its content type. */
#define CSI_HTTP_HEAD_MAX 8192   /* a request head: request line and headers */
struct csi_http_request {
	char method[16];
	char path[256];     /* without the query */
	size_t head_len;    /* bytes of the head, through the empty line */
	bool keep_alive;    /* HTTP/1.1 without Connection: close */
	bool has_body;      /* Content-Length other than 0, or Transfer-Encoding */
};
/* The request at the start of buf[0..len): 0; -EAGAIN when the head is not complete,
 * -E2BIG when it cannot be within CSI_HTTP_HEAD_MAX, -EINVAL when it is not HTTP/1.x. */
int csi_http_parse(const char *buf, size_t len, struct csi_http_request *rq);
typedef int (*csi_http_handler)(void *ud, const char *method, const char *path, char **body, size_t *len,
				const char **type);
struct csi_httpd;
struct sockaddr;
int csi_httpd_start(const struct sockaddr *sa, unsigned salen, csi_http_handler handler, void *ud,
		    struct csi_httpd **out);
void csi_httpd_stop(struct csi_httpd *h);

/* metrics.c — Prometheus text format on http://ADDRESS/metrics (httpd.c): CSI
 * calls by method and code with latency histograms, volumes per driver, the engine's
 * counters. `address` is IP:PORT ([IPv6]:PORT). Started before the CSI server. */
int csi_metrics_start(const char *address, const struct csi_service *svc, struct csi_metrics **out,
		      struct pv_err *err);
void csi_metrics_stop(struct csi_metrics *m);
/* One call of csi_methods()[method] answered with gRPC `status` after `seconds`. */
void csi_metrics_call(struct csi_metrics *m, size_t method, int status, double seconds);

/* sdnotify.c — tell the service manager (systemd Type=notify) a state change, e.g.
 * "READY=1": a datagram to $NOTIFY_SOCKET; nothing when it is unset. */
void csi_sd_notify(const char *state);

/* Socket activation (sdlisten.c): 1 and *fd when the service manager passed this
 * process one listening unix socket bound to `path`; 0 when it passed none; an error
 * when what it passed cannot serve (several, another kind, another path). */
int csi_sd_listen_fd(const char *path, int *fd, struct pv_err *err);

/* Handle one encoded request the way the server does, without gRPC: decode, validate,
 * run, encode. Used by the server and by the fuzzer. Returns the status code; *out
 * (malloc'd) gets the encoded response on OK, *msg the status sentence. */
int csi_dispatch(const struct csi_service *svc, const struct csi_method *m,
		 const void *data, size_t len, void **out, size_t *out_len,
		 char *msg, size_t msg_len);

#endif
