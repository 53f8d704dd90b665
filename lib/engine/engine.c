/*
 * engine.c — what the engine's files share: opening the engine on a configuration,
 * per-volume locks and run directories, path checks, crash-test fault points, and the
 * query of a volume's state on this node that front ends show (describe, get, CSI).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine_int.h"
#include "pvnode/driver/helper_stats.h"
#include "pvnode/driver/os.h"
#include "store/journal.h"

int pv_engine_open(const struct pv_config *cfg, struct pv_engine **out, struct pv_err *err)
{
	static const char *const dirs[] = { "", "/catalog", "/journal", "/locks", "/run", "/staging", "/images" };
	struct pv_engine *e;
	char path[PATH_MAX];
	int r;

	if (!pv_path_clean(cfg->state_dir))
		return pv_err_set(err, -EINVAL, PV_E_INVALID,
				  "state directory '%s' must be an absolute path without '..'", cfg->state_dir);
	if (!pv_name_valid(cfg->node_id))
		return pv_err_set(err, -EINVAL, PV_E_INVALID,
				  "node id '%s' is not valid (allowed: 1-128 of A-Z a-z 0-9 . _ : -)", cfg->node_id);
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(path, sizeof(path), "%s%s", cfg->state_dir, dirs[i]);
		r = pv_mkdir_p(path, 0700, err);
		if (r < 0)
			return r;
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		return pv_err_set(err, -ENOMEM, PV_E_RESOURCE, "out of memory");
	e->cfg = *cfg;
	pthread_mutex_init(&e->usage_lock, NULL);
	*out = e;
	return 0;
}

void pv_engine_close(struct pv_engine *e)
{
	if (!e)
		return;
	pthread_mutex_destroy(&e->usage_lock);
	free(e);
}

const struct pv_config *pv_engine_config(const struct pv_engine *e)
{
	return &e->cfg;
}

void pv_engine_counters(const struct pv_engine *e, struct pv_engine_counters *out)
{
	const uint64_t *from = (const uint64_t *)&e->counters;
	uint64_t *to = (uint64_t *)out;
	for (size_t i = 0; i < sizeof(*out) / sizeof(uint64_t); i++)
		to[i] = __atomic_load_n(&from[i], __ATOMIC_RELAXED);
}

struct name_list {
	char **v;
	size_t n;
};

static int add_name(const char *volume, void *ud)
{
	struct name_list *l = ud;
	char **v = realloc(l->v, (l->n + 2) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	l->v = v;
	if (!(v[l->n] = strdup(volume)))
		return -ENOMEM;
	v[++l->n] = NULL;
	return 0;
}

int pv_engine_volumes(struct pv_engine *e, char ***names, struct pv_err *err)
{
	struct name_list l = { 0 };
	int r = pv_journal_list(e->cfg.state_dir, add_name, &l, err);

	if (r < 0) {
		pv_strv_free(l.v);
		return err && err->kind != PV_E_NONE ? r : pv_err_set(err, r, PV_E_INTERNAL, "out of memory listing volumes");
	}
	*names = l.v;
	return 0;
}

void pv_engine_volctx(const struct pv_engine *e, const char *volume, struct pv_volctx *vc)
{
	snprintf(vc->run_dir, sizeof(vc->run_dir), "%s/run/%s", e->cfg.state_dir, volume);
	vc->n.state_dir = e->cfg.state_dir;
	vc->n.node_id = e->cfg.node_id;
	vc->n.run_dir = vc->run_dir;
	vc->n.progress = e->cfg.progress;
}

void pv_engine_frozen_marker(const struct pv_engine *e, const char *volume, char *buf, size_t len)
{
	snprintf(buf, len, "%s/run/%s/frozen", e->cfg.state_dir, volume);
}

int pv_engine_thaw_leftover(struct pv_engine *e, const struct pv_journal *j, char *said, size_t len)
{
	_cleanup_(pv_closep) int fd = -1;
	char marker[PATH_MAX];
	struct pv_err err = { 0 };
	int r = 0;

	said[0] = '\0';
	pv_engine_frozen_marker(e, j->volume, marker, sizeof(marker));
	if (access(marker, F_OK) < 0)
		return 0;
	if (j->phase == PV_PHASE_STAGED && !j->block && j->att.device[0]) {
		fd = pv_engine_open_staging_root(e, j, &err);
		if (fd < 0 && fd != -ENOENT) {
			snprintf(said, len, "its filesystem may be left frozen by a killed snapshot and cannot be "
				 "opened to thaw it: %s", err.msg);
			return -EIO;
		}
		if (fd >= 0 && ioctl(fd, FITHAW, 0) == 0) {
			snprintf(said, len, "a snapshot killed with its thaw guard left its filesystem at %s frozen: "
				 "thawed", j->staging_path);
			r = 1;
		} else if (fd >= 0 && errno != EINVAL) {
			snprintf(said, len, "its filesystem may be left frozen by a killed snapshot and cannot be "
				 "thawed: %s (fsfreeze -u %s)", strerror(errno), j->staging_path);
			return -EIO;
		}
	}
	unlink(marker);   /* thawed, or nothing was frozen (EINVAL) or mounted: nothing to say */
	return r;
}

int pv_engine_lock(struct pv_engine *e, const char *volume, struct pv_err *err)
{
	if (!pv_name_valid(volume))
		return pv_err_set(err, -EINVAL, PV_E_INVALID,
				  "volume id '%s' is not valid (allowed: 1-128 of A-Z a-z 0-9 . _ : -)", volume ? volume : "");
	return pv_lock_volume(e->cfg.state_dir, volume, e->cfg.wait_for_lock, err);
}

int pv_engine_lock_brief(struct pv_engine *e, const char *volume, struct pv_err *err)
{
	if (!pv_name_valid(volume))
		return pv_engine_lock(e, volume, err);
	/* a kubelet unpublishes the targets of two pods of one volume at the same moment:
	 * the second waits for the first instead of being told ABORTED */
	return pv_lock_volume_for(e->cfg.state_dir, volume, e->cfg.wait_for_lock ? -1 : PV_BRIEF_LOCK_MS, err);
}

void pv_engine_note_error(struct pv_engine *e, const char *volume, const struct pv_err *err)
{
	struct pv_journal j;

	if (!err || err->kind == PV_E_NONE || err->kind == PV_E_BUSY)
		return;
	if (pv_journal_load(e->cfg.state_dir, volume, &j, NULL) == 0) {
		snprintf(j.last_error, sizeof(j.last_error), "%s", err->msg);
		pv_journal_save(e->cfg.state_dir, &j, NULL);
		pv_journal_free(&j);
	}
}

#ifdef PV_FAULT_INJECTION
void pv_fault_point(const char *point)
{
	const char *f = getenv("PVNODE_FAULT");
	if (f && strcmp(f, point) == 0)
		raise(SIGKILL);
}
#endif

int pv_engine_check_path(const struct pv_engine *e, const char *what, const char *path, struct pv_err *err)
{
	char real[PATH_MAX], realprefix[PATH_MAX], probe[PATH_MAX];
	bool under = false;

	if (!path || !*path)
		return pv_err_set(err, -EINVAL, PV_E_INVALID, "%s is missing", what);
	if (!pv_path_clean(path))
		return pv_err_set(err, -EINVAL, PV_E_INVALID,
				  "%s '%s' must be an absolute path without '.', '..', '//' or control characters", what, path);
	for (size_t i = 0; i < e->cfg.n_allowed_paths && !under; i++)
		under = pv_path_under(path, e->cfg.allowed_paths[i]) && strcmp(path, e->cfg.allowed_paths[i]) != 0;
	if (!under) {
		char list[1024] = "";
		size_t used = 0;
		for (size_t i = 0; i < e->cfg.n_allowed_paths; i++)
			used += (size_t)snprintf(list + used, used < sizeof(list) ? sizeof(list) - used : 0, "%s%s",
						 i ? ", " : "", e->cfg.allowed_paths[i]);
		return pv_err_set(err, -EPERM, PV_E_INVALID, "%s '%s' is outside the allowed prefixes (%s)", what, path,
				  used ? list : "none");
	}
	/* Symlinks must not lead out: resolve the deepest existing ancestor. */
	snprintf(probe, sizeof(probe), "%s", path);
	while (realpath(probe, real) == NULL) {
		char *slash = strrchr(probe, '/');
		if (!slash || slash == probe)
			return 0;
		*slash = '\0';
	}
	for (size_t i = 0; i < e->cfg.n_allowed_paths; i++) {
		if (realpath(e->cfg.allowed_paths[i], realprefix) == NULL)
			snprintf(realprefix, sizeof(realprefix), "%s", e->cfg.allowed_paths[i]);
		if (pv_path_under(real, realprefix))
			return 0;
		/* the prefix does not exist yet: what exists of the path is an ancestor of it,
		 * reached without links (a link to an ancestor of the prefix would lead there
		 * too, and the mount would hide the prefix itself) */
		if (pv_path_under(realprefix, real) && strcmp(real, probe) == 0 && pv_path_under(path, e->cfg.allowed_paths[i]))
			return 0;
	}
	return pv_err_set(err, -EPERM, PV_E_INVALID, "%s '%s' leads through a symbolic link outside the allowed prefixes",
			  what, path);
}



static enum pv_node_phase phase_of(const struct pv_journal *j)
{
	switch (j->phase) {
	case PV_PHASE_STAGING: return PV_NODE_STAGING;
	case PV_PHASE_UNSTAGING: return PV_NODE_UNSTAGING;
	case PV_PHASE_STAGED: return PV_NODE_STAGED;
	default: return PV_NODE_NONE;
	}
}

static int fill_state(const struct pv_journal *j, struct pv_volume_state *st, struct pv_err *err)
{
	st->phase = phase_of(j);
	snprintf(st->node_id, sizeof(st->node_id), "%s", j->node_id);
	snprintf(st->staging_path, sizeof(st->staging_path), "%s", j->staging_path);
	snprintf(st->fs_type, sizeof(st->fs_type), "%s", j->fs_type);
	st->access = j->access;
	st->block = j->block;
	st->readonly = j->readonly;
	st->lost = j->lost;
	snprintf(st->device, sizeof(st->device), "%s", j->att.device);
	snprintf(st->backing, sizeof(st->backing), "%s", j->att.backing);
	snprintf(st->source, sizeof(st->source), "%s", j->att.source);
	snprintf(st->source_type, sizeof(st->source_type), "%s", j->att.fstype);
	snprintf(st->summary, sizeof(st->summary), "%s", j->att.summary);
	snprintf(st->fence, sizeof(st->fence), "%s", j->att.fence);
	snprintf(st->last_error, sizeof(st->last_error), "%s", j->last_error);
	st->helper_pid = j->att.helper.pid;
	st->helper_running = pv_helper_alive(&j->att.helper);
	if (j->n_publishes) {
		st->targets = calloc(j->n_publishes, sizeof(*st->targets));
		if (!st->targets)
			return pv_err_set(err, -ENOMEM, PV_E_RESOURCE, "out of memory");
	}
	for (size_t i = 0; i < j->n_publishes; i++) {
		const struct pv_publish_rec *p = &j->publishes[i];
		struct pv_target_state *t = &st->targets[st->n_targets++];
		snprintf(t->target, sizeof(t->target), "%s", p->target);
		snprintf(t->selinux_label, sizeof(t->selinux_label), "%s", p->selinux_label);
		t->readonly = p->readonly;
		t->block = p->block;
		t->lost = p->lost;
		memcpy(t->groups, p->groups, sizeof(t->groups));
		t->n_groups = p->n_groups;
	}
	return pv_copy(&st->pv, &j->pv, err);
}

int pv_engine_state(struct pv_engine *e, const char *volume, struct pv_volume_state *st, struct pv_err *err)
{
	struct pv_journal j;
	struct pv_err jerr = { 0 };
	int r;

	memset(st, 0, sizeof(*st));
	pv_init(&st->pv);
	r = pv_journal_load(e->cfg.state_dir, volume, &j, &jerr);
	if (r == -ENOENT)
		return -ENOENT;
	if (r < 0 && jerr.kind == PV_E_INVALID)
		return pv_err_set(err, r, jerr.kind, "%s", jerr.msg);
	if (r < 0) {
		/* unreadable or damaged: something may be mounted, nothing may be assumed */
		st->phase = PV_NODE_DAMAGED;
		snprintf(st->last_error, sizeof(st->last_error), "%s", jerr.msg);
		return 0;
	}
	r = fill_state(&j, st, err);
	pv_journal_free(&j);
	if (r < 0)
		pv_volume_state_free(st);
	return r;
}

void pv_volume_state_free(struct pv_volume_state *st)
{
	free(st->targets);
	st->targets = NULL;
	st->n_targets = 0;
	pv_free(&st->pv);
}

const char *pv_volume_status(const struct pv_volume_state *st)
{
	if (!st)
		return "Available";
	switch (st->phase) {
	case PV_NODE_DAMAGED: return "Damaged";
	case PV_NODE_STAGING: return "Staging";
	case PV_NODE_UNSTAGING: return "Unstaging";
	case PV_NODE_NONE: return "Available";
	case PV_NODE_STAGED: break;
	}
	if (st->lost)
		return "Lost";
	for (size_t i = 0; i < st->n_targets; i++)
		if (st->targets[i].lost)
			return "Lost";
	return st->n_targets ? "Published" : "Staged";
}

const char *pv_node_phase_name(enum pv_node_phase p)
{
	static const char *const names[] = { "none", "staging", "staged", "unstaging", "damaged" };
	return (unsigned)p < sizeof(names) / sizeof(names[0]) ? names[p] : "unknown";
}

int pv_engine_volume_io(const struct pv_engine *e, const char *volume, const struct pv_volume_state *st,
			struct pv_volume_io *out)
{
	struct pv_volctx vc;
	struct pv_helper_io io;

	memset(out, 0, sizeof(*out));
	if (!st->helper_pid || !st->helper_running || !pv_name_valid(volume))
		return -ENOENT;
	pv_engine_volctx(e, volume, &vc);
	int r = pv_helper_stats_read(vc.run_dir, st->helper_pid, &io);
	if (r < 0)
		return r;
	*out = (struct pv_volume_io){ .read_bytes = io.read_bytes, .write_bytes = io.write_bytes, .reads = io.reads,
				      .writes = io.writes, .flushes = io.flushes, .discards = io.discards,
				      .errors = io.errors, .helper_rss = io.resident_bytes,
				      .helper_anon = io.anon_bytes };
	return 0;
}
