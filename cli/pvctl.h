/*
 * pvctl.h — what pvctl's files share.
 *
 * pvctl parses every command line once (cli/args.c) into a `struct pvctl_req`, then hands
 * it to a backend: in-process through the controller layer and the node engine
 * (cli/local.c), or, with `--endpoint unix:///path`, over CSI to a running pvnode
 * (csi/client/remote.c, linked into pvctl-csi only: plain pvctl execs pvctl-csi for
 * --endpoint, so it never loads gRPC). What is printed is in cli/output.c.
 */
#ifndef PVNODE_PVCTL_H
#define PVNODE_PVCTL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "pvnode/config.h"
#include "pvnode/engine.h"
#include "pvnode/error.h"
#include "pvnode/pv.h"
#include "pvnode/snapshot.h"

/* Exit statuses: the contract scripts rely on. */
enum { PVCTL_OK = 0, PVCTL_FAILED = 1, PVCTL_USAGE = 2, PVCTL_REFUSED = 3 };

#define PVCTL_MAX_FLAGS 32

/* One parsed command line. */
struct pvctl_req {
	const char *cmd;             /* "stage" */
	const char *sub;             /* snapshot: "create", "list", "delete"; else NULL */
	const char *name;            /* the volume (or secret set); snapshot create and
				      * list: the volume (list: NULL all), delete: the
				      * snapshot */
	const char *target;          /* publish/unpublish target; stats path */
	const char *file;            /* create -f, import -f */
	const char *staging;         /* --staging-path */
	const char *selinux_level, *pod, *node, *output;
	const char *storage_class;   /* get -o k8s --storage-class */
	enum pv_access access;       /* --access-mode, PV_ACCESS_NONE: the PV's first */
	bool readonly, relabel, force, repair;
	bool existing, dry_run;      /* create --existing, import --dry-run */
	uint64_t capacity;           /* --capacity, 0 none */
	const char *flags[PVCTL_MAX_FLAGS]; /* --mount-flag */
	size_t n_flags;
	char **args;                 /* what follows the name (secret set KEY=VALUE...;
				      * snapshot create: args[0] the snapshot's name) */
	int n_args;
};

struct pvctl {
	struct pv_config cfg;
	const char *endpoint;        /* NULL: act in-process */
	struct pv_engine *engine;    /* in-process: opened on first use */
};

/* A backend: every command it can carry out; NULL where it cannot. Each returns the
 * exit status and has printed the outcome (or one sentence on stderr). */
struct pvctl_backend {
	const char *name;            /* "in-process", "CSI" */
	int (*info)(struct pvctl *p, const struct pvctl_req *r);
	int (*create)(struct pvctl *p, const struct pvctl_req *r);
	int (*import)(struct pvctl *p, const struct pvctl_req *r);
	int (*get)(struct pvctl *p, const struct pvctl_req *r);
	int (*describe)(struct pvctl *p, const struct pvctl_req *r);
	int (*delete_volume)(struct pvctl *p, const struct pvctl_req *r);
	int (*expand)(struct pvctl *p, const struct pvctl_req *r);
	int (*stage)(struct pvctl *p, const struct pvctl_req *r);
	int (*publish)(struct pvctl *p, const struct pvctl_req *r);
	int (*unpublish)(struct pvctl *p, const struct pvctl_req *r);
	int (*unstage)(struct pvctl *p, const struct pvctl_req *r);
	int (*stats)(struct pvctl *p, const struct pvctl_req *r);
	int (*fence_release)(struct pvctl *p, const struct pvctl_req *r);
	int (*reconcile)(struct pvctl *p, const struct pvctl_req *r);
	int (*secret)(struct pvctl *p, const struct pvctl_req *r);
	int (*snapshot_create)(struct pvctl *p, const struct pvctl_req *r);
	int (*snapshot_list)(struct pvctl *p, const struct pvctl_req *r);
	int (*snapshot_delete)(struct pvctl *p, const struct pvctl_req *r);
};
extern const struct pvctl_backend pvctl_local;
extern const struct pvctl_backend pvctl_remote; /* pvctl-csi only */

/* cli/args.c: the one parser. argv[0] is the command. Returns 0, or PVCTL_USAGE after
 * printing why. */
int pvctl_parse(int argc, char **argv, struct pvctl_req *r);
/* Every command and what it takes, for --help (and the man page test). */
void pvctl_print_commands(FILE *f);

/* Print the error sentence on stderr and return the exit status for it. */
int pvctl_fail(const struct pv_err *err);
int pvctl_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
bool pvctl_json(const struct pvctl_req *r);
/* The staging path pvctl uses over CSI when none is given:
 * <first allowed path>/plugins/pvnode.csi.io/staging/NAME. */
void pvctl_default_staging(const struct pvctl *p, const char *name, char *buf, size_t len);
/* Read a PV file (or "-": standard input) and parse it. */
int pvctl_read_pv(const char *file, struct pv *pv, struct pv_err *err);

/* cli/import.c: pvctl import (in-process). */
int pvctl_import(struct pvctl *p, const struct pvctl_req *r);

/* cli/output.c */
void pvctl_print_table(struct pvctl *p, char **names);
void pvctl_print_json(struct pvctl *p, char **names, bool single);
/* PersistentVolume manifests: spec.csi.driver the CSI name that serves the PV's driver,
 * storageClassName `storage_class` ("" when NULL, so a default StorageClass does not
 * keep the PV from binding), nodeAffinity to `node` for node-local storage. */
void pvctl_print_k8s(struct pvctl *p, char **names, const char *storage_class);
/* The same for PVs at hand (over CSI); nodes[i]: the node of a node-local pvs[i]. */
void pvctl_print_k8s_pvs(const struct pv *pvs, const char *const *nodes, size_t n, const char *storage_class);
/* Snapshots: a table (NAME SOURCE SIZE READY AGE) or, with `json`, {"items": [records]}
 * (one record alone when `single`). */
void pvctl_print_snapshots(const struct pv_snapshot *s, size_t n, bool json, bool single);
void pvctl_print_describe(struct pvctl *p, const struct pv *pv, bool in_catalog);
void pvctl_print_publish(const char *volume, const char *target, bool json, bool readonly, const char *label,
			 const gid_t *groups, size_t n_groups);

#endif
