/*
 * pvctl.h — what pvctl's command files share: global options and output helpers.
 *
 * pvctl acts in-process through libpvnode (catalog + node engine), or, with
 * `--endpoint unix:///path`, sends the same commands to a running pvnode over CSI
 * (csi/client/remote.c), like the csc tool does.
 */
#ifndef PVNODE_PVCTL_H
#define PVNODE_PVCTL_H

#include "pvnode/engine.h"

/* Exit statuses: the contract scripts rely on. */
enum { PVCTL_OK = 0, PVCTL_FAILED = 1, PVCTL_USAGE = 2, PVCTL_REFUSED = 3 };

struct pvctl_opts {
	struct pv_engine_cfg cfg;
	const char *endpoint;   /* NULL: act in-process */
	bool cfg_selinux_set;
};

/* Print the error sentence on stderr and return the exit status for it. */
int pvctl_fail(const struct pv_err *err);
int pvctl_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

int pvctl_cmd_create(struct pvctl_opts *o, int argc, char **argv);
int pvctl_cmd_get(struct pvctl_opts *o, int argc, char **argv);
int pvctl_cmd_describe(struct pvctl_opts *o, int argc, char **argv);
int pvctl_cmd_delete(struct pvctl_opts *o, int argc, char **argv);
int pvctl_cmd_secret(struct pvctl_opts *o, int argc, char **argv);
int pvctl_cmd_stage(struct pvctl_opts *o, int argc, char **argv);
int pvctl_cmd_publish(struct pvctl_opts *o, int argc, char **argv);
int pvctl_cmd_unpublish(struct pvctl_opts *o, int argc, char **argv);
int pvctl_cmd_unstage(struct pvctl_opts *o, int argc, char **argv);
int pvctl_cmd_fence_release(struct pvctl_opts *o, int argc, char **argv);
int pvctl_cmd_expand(struct pvctl_opts *o, int argc, char **argv);
int pvctl_cmd_reconcile(struct pvctl_opts *o, int argc, char **argv);

/* Shared by the command files. */
int pvctl_open_engine(struct pvctl_opts *o, struct pv_engine **e);
int pvctl_load_pv(struct pvctl_opts *o, const char *name, struct pv *pv, struct pv_secrets *s);
void pvctl_print_describe(struct pvctl_opts *o, const struct pv *pv, bool in_catalog);
void pvctl_print_table(struct pvctl_opts *o, char **names);
void pvctl_print_k8s(struct pvctl_opts *o, char **names);
void pvctl_print_json(struct pvctl_opts *o, char **names, bool single);

/* Over CSI (csi/client/remote.c, built when the CSI service is): argv[0] is the command
 * (info, create, get, delete, stage, publish, unpublish, unstage, stats, expand).
 * Returns the exit status. */
int pvctl_csi_run(const struct pvctl_opts *o, int argc, char **argv);

#endif
