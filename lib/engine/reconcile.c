/*
 * reconcile.c — start-up reconciliation of the node journal with reality
 * (/proc/self/mountinfo, helper processes). Interrupted stages and unstages are undone;
 * live helpers are re-adopted; dead helpers of volumes still in use are restarted;
 * mounts that vanished are flagged "lost" (reported by describe, re-done by the next
 * stage or publish), never silently trusted.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <unistd.h>
#include <stdlib.h>
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "engine_int.h"
#include "pvnode/catalog.h"
#include "store/journal.h"
#include "pvnode/driver/os.h"

struct rec_ctx {
	struct pv_engine *e;
	pv_engine_want_fn want;
	void *want_ud;
	bool repair;
	void (*report)(const char *line, bool problem, void *ud);
	void *ud;
	int problems;
};

static void say(struct rec_ctx *c, bool problem, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(struct rec_ctx *c, bool problem, const char *fmt, ...)
{
	char line[768];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (c->report)
		c->report(line, problem, c->ud);
	else
		pv_log(problem ? PV_LOG_WARN : PV_LOG_INFO, "%s", line);
}

/* Nothing to do: staged, helper (if any) alive, every mount where the journal says. */
static bool mounted(struct rec_ctx *c, const struct pv_journal *j, const char *path, bool block, const char *view)
{
	return pv_engine_mount_state(c->e, j, path, block, view, NULL) == PV_MOUNT_OURS;
}

static bool looks_consistent(struct rec_ctx *c, const struct pv_journal *j)
{
	if (j->phase != PV_PHASE_STAGED || j->lost)
		return false;
	if (j->att.helper.pid && !pv_helper_alive(&j->att.helper))
		return false;
	char marker[PATH_MAX];
	pv_engine_frozen_marker(c->e, j->volume, marker, sizeof(marker));
	if (access(marker, F_OK) == 0)   /* a snapshot's freeze that may be left over */
		return false;
	if (!j->block && !mounted(c, j, j->staging_path, false, NULL))
		return false;
	for (size_t i = 0; i < j->n_publishes; i++) {
		const struct pv_publish_rec *p = &j->publishes[i];
		if (p->state != PV_PUB_DONE || (!p->lost && !mounted(c, j, p->target, p->block, p->device)))
			return false;
	}
	return true;
}

/* A stage or unstage that was interrupted: undo it. */
static void finish_interrupted(struct rec_ctx *c, struct pv_journal *j)
{
	struct pv_err err = { 0 };
	const char *what = j->phase == PV_PHASE_STAGING ? "stage" : "unstage";

	if (pv_engine_undo_stage(c->e, j, false, &err) == 0) {
		pv_journal_delete(c->e->cfg.state_dir, j->volume, NULL);
		pv_secrets_stage_delete(c->e->cfg.state_dir, j->volume);
		pv_engine_count(c->e, interrupted_undone);
		say(c, true, "volume %s: an interrupted %s was undone", j->volume, what);
	} else {
		pv_engine_count(c->e, interrupted_failed);
		c->problems++;
		say(c, true, "volume %s: cannot undo an interrupted %s: %s", j->volume, what, err.msg);
	}
}

/* A helper that died under a staged volume: restart it through the driver, with the
 * secrets of its secretRef or those its stage brought, then bind the targets again. */
static void restart_helper(struct rec_ctx *c, struct pv_journal *j, const struct pv_driver *drv)
{
	struct pv_err err = { 0 };
	struct pv_secrets s;
	struct pv_volctx vc;
	pid_t dead = j->att.helper.pid;

	if (!drv || !drv->reattach) {
		pv_engine_count(c->e, helper_restart_failures);
		c->problems++;
		say(c, true, "volume %s: its helper (pid %d) is gone", j->volume, (int)dead);
		return;
	}
	pv_engine_volctx(c->e, j->volume, &vc);
	if (j->pv.secret_ref)
		pv_secrets_store_load(c->e->cfg.state_dir, j->pv.secret_ref, &s, NULL);
	else
		pv_secrets_stage_load(c->e->cfg.state_dir, j->volume, &s);
	struct pv_attach_req req = { .pv = &j->pv, .secrets = &s, .access = j->access, .readonly = j->readonly,
				     .staging_path = j->staging_path, .node = &vc.n };
	if (drv->reattach(&req, &j->att, &err) == 0) {
		pv_engine_count(c->e, helper_restarts);
		say(c, true, "volume %s: its helper (pid %d) had died and was restarted as pid %d", j->volume, (int)dead,
		    (int)j->att.helper.pid);
		j->lost = false;
		if (pv_engine_rebind(c->e, j, &err) < 0) {
			c->problems++;
			say(c, true, "%s", err.msg);
		}
	} else {
		pv_engine_count(c->e, helper_restart_failures);
		c->problems++;
		snprintf(j->last_error, sizeof(j->last_error), "helper died and could not be restarted: %s", err.msg);
		say(c, true, "volume %s: %s", j->volume, j->last_error);
	}
	pv_secrets_free(&s);
}

/* Mounts the journal lists that vanished: flagged lost. Returns whether any was. */
static bool flag_lost(struct rec_ctx *c, struct pv_journal *j)
{
	bool changed = false;

	if (!j->block && !j->lost && !mounted(c, j, j->staging_path, false, NULL)) {
		j->lost = changed = true;
		pv_engine_count(c->e, mounts_lost);
		c->problems++;
		snprintf(j->last_error, sizeof(j->last_error), "staging mount at %s is gone; stage again to restore it",
			 j->staging_path);
		say(c, true, "volume %s: %s", j->volume, j->last_error);
	}
	for (size_t i = 0; i < j->n_publishes; i++) {
		struct pv_publish_rec *p = &j->publishes[i];
		if (!p->lost && !mounted(c, j, p->target, p->block, p->device)) {
			p->lost = changed = true;
			pv_engine_count(c->e, mounts_lost);
			c->problems++;
			say(c, true, "volume %s: publish at %s is gone; publish again to restore it", j->volume, p->target);
		}
	}
	return changed;
}

/* Most volumes are fine: look without the lock first, so a periodic pass never makes a
 * concurrent CSI call fail with ABORTED on a healthy volume. A volume the filter leaves
 * out is "fine" too; a journal that cannot be read is not (damaged() reports it, whoever
 * serves the volume). */
static bool quick_look(struct rec_ctx *c, const char *volume)
{
	_cleanup_(pv_journal_free) struct pv_journal j;
	bool fine;

	pv_journal_init(&j);
	if (pv_journal_load(c->e->cfg.state_dir, volume, &j, NULL) < 0)
		return false;
	if (c->want && !c->want(&j.pv, c->want_ud))
		return true;
	fine = looks_consistent(c, &j);
	if (fine && j.att.helper.pid)
		say(c, false, "volume %s: re-adopted helper pid %d", volume, (int)j.att.helper.pid);
	else if (fine)
		say(c, false, "volume %s: staged at %s, %zu publish(es), consistent", volume, j.staging_path, j.n_publishes);
	return fine;
}

/* A journal that cannot be read: reported (the volume may be mounted; delete refuses
 * it), or rebuilt with --repair. */
static void damaged(struct rec_ctx *c, const char *volume, const struct pv_err *why)
{
	struct pv_err err = { 0 };
	char said[512] = "";

	c->problems++;
	if (!c->repair) {
		say(c, true, "volume %s: its journal is damaged (%s); run pvctl reconcile --repair", volume, why->msg);
		return;
	}
	if (pv_engine_repair(c->e, volume, said, sizeof(said), &err) == 0)
		say(c, true, "volume %s: %s", volume, said);
	else
		say(c, true, "volume %s: cannot repair its journal: %s", volume, err.msg);
}

static int reconcile_one(const char *volume, void *ud)
{
	_cleanup_(pv_journal_free) struct pv_journal j;
	_cleanup_(pv_unlockp) int lock = -1;
	struct rec_ctx *c = ud;
	struct pv_err err = { 0 };
	bool changed = false;

	pv_journal_init(&j);
	if (quick_look(c, volume))
		return 0;
	lock = pv_engine_lock(c->e, volume, &err);
	if (lock < 0) {
		say(c, false, "volume %s: skipped (%s)", volume, err.msg);
		return 0;
	}
	if (pv_journal_load(c->e->cfg.state_dir, volume, &j, &err) < 0) {
		damaged(c, volume, &err);
		return 0;
	}
	if (c->want && !c->want(&j.pv, c->want_ud))
		return 0;
	if (j.phase == PV_PHASE_STAGING || j.phase == PV_PHASE_UNSTAGING) {
		finish_interrupted(c, &j);
		return 0;
	}
	if (j.phase != PV_PHASE_STAGED)
		return 0;
	char said[PATH_MAX + 200];
	int thawed = pv_engine_thaw_leftover(c->e, &j, said, sizeof(said));
	if (thawed != 0) {
		if (thawed < 0)
			c->problems++;
		say(c, true, "volume %s: %s", volume, said);
	}
	int settled = pv_engine_settle_publishes(c->e, &j, said, sizeof(said));
	if (settled > 0)
		pv_engine_count(c->e, interrupted_undone);
	if (settled < 0) {
		pv_engine_count(c->e, interrupted_failed);
		c->problems++;
	}
	if (settled != 0)
		say(c, true, "volume %s: %s", volume, said);
	if (j.att.helper.pid && !pv_helper_alive(&j.att.helper)) {
		restart_helper(c, &j, pv_driver_find(j.pv.driver));
		changed = true;
	} else if (j.att.helper.pid) {
		say(c, false, "volume %s: re-adopted helper pid %d", volume, (int)j.att.helper.pid);
	}
	changed |= flag_lost(c, &j);
	if (!changed && !j.lost)
		say(c, false, "volume %s: staged at %s, %zu publish(es), consistent", volume, j.staging_path, j.n_publishes);
	if (changed)
		pv_journal_save(c->e->cfg.state_dir, &j, NULL);
	return 0;
}

/* Temp files of atomic writes (<name>.tmp.<pid>) whose writer is gone: a process killed
 * between write and rename left them (pv_temp_stale: by age). */
static void sweep_temp_files(struct rec_ctx *c)
{
	static const char *const dirs[] = {
		"journal", "catalog", "secrets", "secrets/staged", "attachments", "attachments/@pv", "images",
		"catalog/snapshots", "snapshots",
	};

	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		char dir[PATH_MAX];
		snprintf(dir, sizeof(dir), "%s/%s", c->e->cfg.state_dir, dirs[i]);
		DIR *d = opendir(dir);
		struct dirent *de;
		while (d && (de = readdir(d))) {
			if (!pv_temp_stale(dirfd(d), de->d_name))
				continue;
			if (unlinkat(dirfd(d), de->d_name, 0) == 0)
				say(c, false, "removed %s/%s, left by a writer that was killed", dir, de->d_name);
		}
		if (d)
			closedir(d);
	}
}

/* --repair: a catalog volume with no journal whose tagged loop device is still attached
 * (a pvctl from before the stage intent was written first, killed after its attach, or
 * a journal removed by hand). Nothing can be using an unmounted one: detach it. */
static void detach_unrecorded(struct rec_ctx *c)
{
	char **names = NULL;

	if (pv_catalog_list(c->e->cfg.state_dir, &names, NULL) < 0)
		return;
	for (char **n = names; n && *n; n++) {
		_cleanup_(pv_unlockp) int lock = -1;
		struct pv_journal j;
		char what[128], tag[64];
		bool mounted;

		/* a cheap look first; what counts is the look again under the lock */
		if (pv_engine_attached_unrecorded(c->e, *n, what, sizeof(what), NULL) <= 0)
			continue;
		lock = pv_engine_lock(c->e, *n, NULL);
		if (lock < 0)
			continue;
		pv_journal_init(&j);
		int r = pv_journal_load(c->e->cfg.state_dir, *n, &j, NULL);
		pv_journal_free(&j);
		if (r != -ENOENT) /* staged meanwhile, or damaged: the journal pass sees it */
			continue;
		if (pv_engine_attached_unrecorded(c->e, *n, what, sizeof(what), &mounted) <= 0)
			continue;
		if (mounted) {
			c->problems++;
			say(c, true, "volume %s: %s with no stage recorded; unmount it, then run pvctl reconcile --repair",
			    *n, what);
			continue;
		}
		pv_loop_tag(c->e->cfg.state_dir, *n, tag, sizeof(tag));
		if (pv_loop_detach_tagged(tag, NULL) >= 0)
			say(c, true, "volume %s: detached %s, attached with no stage recorded", *n, what);
	}
	pv_strv_free(names);
}

/* Images in <state>/snapshots (the file driver's snapshots) that no snapshot record
 * names: a snapshot create killed after its copy and before its record. Taken away
 * once stale (PV_TEMP_STALE_S) and with the snapshot name's lock free, so never while
 * a create of that name runs. */
static void sweep_orphan_snapshots(struct rec_ctx *c)
{
	char dir[PATH_MAX], rec[PATH_MAX], name[PV_NAME_MAX + 1], lock[PV_NAME_MAX + 16];
	struct dirent *de;
	struct stat st;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/snapshots", c->e->cfg.state_dir);
	if (!(d = opendir(dir)))
		return;
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);
		if (len <= 4 || len - 4 > PV_NAME_MAX || strcmp(de->d_name + len - 4, ".img") != 0)
			continue;
		snprintf(name, sizeof(name), "%.*s", (int)(len - 4), de->d_name);
		snprintf(rec, sizeof(rec), "%s/catalog/snapshots/%s.json", c->e->cfg.state_dir, name);
		if (!pv_name_valid(name) || access(rec, F_OK) == 0 ||
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode) ||
		    time(NULL) - st.st_mtime <= PV_TEMP_STALE_S)
			continue;
		snprintf(lock, sizeof(lock), PV_SNAPSHOT_LOCK_PREFIX "%s", name);
		_cleanup_(pv_unlockp) int fd = pv_lock_volume(c->e->cfg.state_dir, lock, false, NULL);
		if (fd < 0 || access(rec, F_OK) == 0)
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) == 0)
			say(c, false, "removed %s/%s: no snapshot records it (a snapshot create was killed before "
			    "recording it)", dir, de->d_name);
	}
	closedir(d);
}

static int reconcile_all(struct pv_engine *e, bool repair, pv_engine_want_fn want, void *want_ud,
			 void (*report)(const char *line, bool problem, void *ud), void *ud, struct pv_err *err)
{
	struct rec_ctx c = { .e = e, .repair = repair, .want = want, .want_ud = want_ud, .report = report, .ud = ud };
	sweep_temp_files(&c);
	sweep_orphan_snapshots(&c);
	int r = pv_journal_list(e->cfg.state_dir, reconcile_one, &c, err);
	if (r >= 0 && repair)
		detach_unrecorded(&c);
	return r < 0 ? r : c.problems;
}

int pv_engine_reconcile(struct pv_engine *e, void (*report)(const char *line, bool problem, void *ud), void *ud,
			struct pv_err *err)
{
	return reconcile_all(e, false, NULL, NULL, report, ud, err);
}

int pv_engine_reconcile_only(struct pv_engine *e, pv_engine_want_fn want, void *want_ud,
			     void (*report)(const char *line, bool problem, void *ud), void *ud, struct pv_err *err)
{
	return reconcile_all(e, false, want, want_ud, report, ud, err);
}

int pv_engine_repair_all(struct pv_engine *e, void (*report)(const char *line, bool problem, void *ud), void *ud,
			 struct pv_err *err)
{
	return reconcile_all(e, true, NULL, NULL, report, ud, err);
}
