/*
 * reconcile.c — start-up reconciliation of the node journal with reality
 * (/proc/self/mountinfo, helper processes). Interrupted stages and unstages are undone;
 * live helpers are re-adopted; dead helpers of volumes still in use are restarted;
 * mounts that vanished are flagged "lost" (reported by describe, re-done by the next
 * stage or publish), never silently trusted.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "engine_int.h"
#include "store/journal.h"
#include "pvnode/driver/os.h"

struct rec_ctx {
	struct pv_engine *e;
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
static bool looks_consistent(const struct pv_journal *j)
{
	if (j->phase != PV_PHASE_STAGED || j->lost)
		return false;
	if (j->att.helper.pid && !pv_proc_alive(j->att.helper.pid, j->att.helper.start))
		return false;
	if (!j->block && !pv_is_mountpoint(j->staging_path))
		return false;
	for (size_t i = 0; i < j->n_publishes; i++)
		if (!j->publishes[i].lost && !pv_is_mountpoint(j->publishes[i].target))
			return false;
	return true;
}

static int reconcile_one(const char *volume, void *ud)
{
	struct rec_ctx *c = ud;
	struct pv_engine *e = c->e;
	const struct pv_driver *drv;
	struct pv_journal j;
	struct pv_err err = { 0 };
	struct pv_volctx vc;
	bool changed = false;
	int lock;

	/* Most volumes are fine: look without the lock first, so a periodic pass never makes
	 * a concurrent CSI call fail with ABORTED on a healthy volume. */
	if (pv_journal_load(e->cfg.state_dir, volume, &j, NULL) == 0) {
		bool fine = looks_consistent(&j);
		if (fine && j.att.helper.pid)
			say(c, false, "volume %s: re-adopted helper pid %d", volume, (int)j.att.helper.pid);
		else if (fine)
			say(c, false, "volume %s: staged at %s, %zu publish(es), consistent", volume, j.staging_path,
			    j.n_publishes);
		pv_journal_free(&j);
		if (fine)
			return 0;
	}
	lock = pv_engine_lock(e, volume, &err);
	if (lock < 0) {
		say(c, false, "volume %s: skipped (%s)", volume, err.msg);
		return 0;
	}
	if (pv_journal_load(e->cfg.state_dir, volume, &j, &err) < 0) {
		pv_unlock(lock);
		return 0;
	}
	drv = pv_driver_find(j.pv.driver);
	pv_engine_volctx(e, volume, &vc);
	if (j.phase == PV_PHASE_STAGING || j.phase == PV_PHASE_UNSTAGING) {
		if (pv_engine_undo_stage(e, &j, &err) == 0) {
			pv_journal_delete(e->cfg.state_dir, volume, NULL);
			say(c, true, "volume %s: an interrupted %s was undone", volume,
			    j.phase == PV_PHASE_STAGING ? "stage" : "unstage");
		} else {
			c->problems++;
			say(c, true, "volume %s: cannot undo an interrupted %s: %s", volume, pv_phase_name(j.phase), err.msg);
		}
		goto out;
	}
	if (j.phase != PV_PHASE_STAGED)
		goto out;
	if (j.att.helper.pid && !pv_proc_alive(j.att.helper.pid, j.att.helper.start)) {
		pid_t dead_pid = j.att.helper.pid;
		if (drv && drv->reattach) {
			struct pv_secrets s;
			pv_secrets_init(&s);
			if (j.pv.secret_ref)
				pv_secrets_store_load(e->cfg.state_dir, j.pv.secret_ref, &s, NULL);
			else
				pv_secrets_stage_load(e->cfg.state_dir, volume, &s);
			struct pv_attach_req req = { .pv = &j.pv, .secrets = &s, .access = j.access,
						     .readonly = j.readonly, .staging_path = j.staging_path, .node = &vc.n };
			pv_err_clear(&err);
			if (drv->reattach(&req, &j.att, &err) == 0) {
				say(c, true, "volume %s: its helper (pid %d) had died and was restarted as pid %d", volume,
				    (int)dead_pid, (int)j.att.helper.pid);
				j.lost = false;
				if (pv_engine_rebind(e, &j, &err) < 0) {
					c->problems++;
					say(c, true, "%s", err.msg);
				}
			} else {
				c->problems++;
				snprintf(j.last_error, sizeof(j.last_error), "helper died and could not be restarted: %s", err.msg);
				say(c, true, "volume %s: %s", volume, j.last_error);
			}
			pv_secrets_free(&s);
			changed = true;
		} else {
			c->problems++;
			say(c, true, "volume %s: its helper (pid %d) is gone", volume, (int)j.att.helper.pid);
		}
	} else if (j.att.helper.pid) {
		say(c, false, "volume %s: re-adopted helper pid %d", volume, (int)j.att.helper.pid);
	}
	if (!j.block && !pv_is_mountpoint(j.staging_path) && !j.lost) {
		j.lost = true;
		changed = true;
		c->problems++;
		snprintf(j.last_error, sizeof(j.last_error), "staging mount at %s is gone; stage again to restore it",
			 j.staging_path);
		say(c, true, "volume %s: %s", volume, j.last_error);
	}
	for (size_t i = 0; i < j.n_publishes; i++) {
		struct pv_publish_rec *p = &j.publishes[i];
		if (!p->lost && !pv_is_mountpoint(p->target)) {
			p->lost = true;
			changed = true;
			c->problems++;
			say(c, true, "volume %s: publish at %s is gone; publish again to restore it", volume, p->target);
		}
	}
	if (!changed && !j.lost)
		say(c, false, "volume %s: staged at %s, %zu publish(es), consistent", volume, j.staging_path, j.n_publishes);
	if (changed)
		pv_journal_save(e->cfg.state_dir, &j, NULL);
out:
	pv_journal_free(&j);
	pv_unlock(lock);
	return 0;
}

int pv_engine_reconcile(struct pv_engine *e, void (*report)(const char *line, bool problem, void *ud), void *ud,
			struct pv_err *err)
{
	struct rec_ctx c = { .e = e, .report = report, .ud = ud };
	int r = pv_journal_list(e->cfg.state_dir, reconcile_one, &c, err);
	return r < 0 ? r : c.problems;
}
