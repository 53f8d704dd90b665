/*
 * config.h — one configuration for pvctl and pvnode: the state directory, the node id,
 * the SELinux mode, the allowed path prefixes. Environment first, then options, then
 * defaults, read the same way by both programs (lib/config.c).
 *
 *   --state-dir DIR       PVNODE_STATE_DIR      default /var/lib/pvnode
 *   --node-id ID          PVNODE_NODE_ID        default the hostname
 *   --selinux MODE        PVNODE_SELINUX        auto (default), on, off
 *   --allowed-path P      PVNODE_ALLOWED_PATHS  (colon-separated) default /var/lib/kubelet;
 *                                              the option is repeatable and replaces the
 *                                              environment's list
 */
#ifndef PVNODE_CONFIG_H
#define PVNODE_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "pvnode/error.h"
#include "pvnode/pv.h"

#define PV_DEFAULT_STATE_DIR "/var/lib/pvnode"
#define PV_DEFAULT_ALLOWED_PATH "/var/lib/kubelet"
#define PV_MAX_ALLOWED_PATHS 16

enum pv_selinux_mode { PV_SELINUX_AUTO = 0, PV_SELINUX_ON, PV_SELINUX_OFF };

struct pv_config {
	char state_dir[PATH_MAX];
	char node_id[PV_NAME_MAX + 1];
	enum pv_selinux_mode selinux;
	char allowed_paths[PV_MAX_ALLOWED_PATHS][1024];
	size_t n_allowed_paths;
	bool progress;           /* report long operations on stderr (a terminal is attached) */
	bool wait_for_lock;      /* pvctl: wait for a volume's lock; pvnode: PV_E_BUSY (ABORTED) */
	bool any_node;           /* a cluster's controller (pvnode --role controller): publishing
				  * to a node accepts every node id, not only node_id */
	/* internal: the option replaced the environment's prefixes */
	bool allowed_from_option;
};

/* Defaults and the environment. */
int pv_config_init(struct pv_config *c, struct pv_err *err);
/* One of the shared options (`name` with its leading dashes, e.g. "--state-dir"):
 * 1 taken, 0 not one of them, <0 a bad value (err says why, PV_E_INVALID). */
int pv_config_option(struct pv_config *c, const char *name, const char *value, struct pv_err *err);
/* The names pv_config_option takes, NULL-terminated (usage texts, completion). */
extern const char *const pv_config_options[];
int pv_selinux_mode_parse(const char *s, enum pv_selinux_mode *m);

#endif
