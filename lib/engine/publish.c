/*
 * publish.c — publish and unpublish (bind mounts from the staging path, or the device
 * node for volumeMode Block), SELinux labels and supplemental groups, and binding the
 * targets again after a helper restart.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "engine_int.h"
#include "store/journal.h"
#include "pvnode/driver/os.h"

static void join_flags(const char *const *flags, size_t n, char *buf, size_t len)
{
	size_t used = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < n && used < len; i++)
		used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? "," : "", flags[i]);
}

static struct pv_publish_rec *find_target(struct pv_journal *j, const char *target)
{
	for (size_t i = 0; i < j->n_publishes; i++)
		if (strcmp(j->publishes[i].target, target) == 0)
			return &j->publishes[i];
	return NULL;
}

static void fill_result(const struct pv_publish_rec *p, struct pv_publish_result *res)
{
	if (!res)
		return;
	memset(res, 0, sizeof(*res));
	res->readonly = p->readonly;
	snprintf(res->selinux_label, sizeof(res->selinux_label), "%s", p->selinux_label);
	memcpy(res->groups, p->groups, sizeof(res->groups));
	res->n_groups = p->n_groups;
}

/* The label for this publish, or "" when none applies (shared storage, mode off, no
 * level known, or a kernel that enforces SELinux and got context= at stage). */
static int choose_label(struct pv_engine *e, const struct pv_publish_req *r, enum pv_storage storage,
			char *label, size_t len, struct pv_err *err)
{
	char level[128];
	int c;

	label[0] = '\0';
	if (storage != PV_BLOCKDEV || e->cfg.selinux == PV_SELINUX_OFF)
		return 0;
	if (e->cfg.selinux == PV_SELINUX_AUTO && !pv_selinux_kernel_enforces())
		return 0;
	if (r->selinux_level && *r->selinux_level)
		return pv_selinux_label(r->selinux_level, label, len, err);
	c = pv_selinux_context_from_flags(r->mount_flags, r->n_mount_flags, label, len, err);
	if (c != 0)
		return c < 0 ? c : 0;
	if (r->pod_identity && *r->pod_identity) {
		pv_selinux_level_from_identity(r->pod_identity, level, sizeof(level));
		return pv_selinux_label(level, label, len, err);
	}
	return 0;
}

/* Shared storage with a gid: the root must let the group in (group gid, rwx, setgid). */
static void check_group_root(const struct pv_journal *j, char *note, size_t len)
{
	struct stat st;
	note[0] = '\0';
	if (j->pv.gid <= 0 || stat(j->staging_path, &st) < 0)
		return;
	if (st.st_gid != (gid_t)j->pv.gid || (st.st_mode & 070) != 070)
		snprintf(note, len, "volume %s: its root %s is group %u mode %04o: group %ld would be locked out "
			 "(expected group %ld, mode 2770)", j->volume, j->staging_path, (unsigned)st.st_gid,
			 (unsigned)(st.st_mode & 07777), j->pv.gid, j->pv.gid);
}

int pv_engine_mount_group(struct pv_engine *e, const struct pv_journal *j, long gid, char *note, size_t nlen,
			  struct pv_err *err)
{
	const struct pv_driver *drv = pv_driver_find(j->pv.driver);
	_cleanup_(pv_safe_path_close) struct pv_safe_path sp = { .dirfd = -1 };
	_cleanup_(pv_closep) int root = -1;
	struct pv_err one = { 0 };
	struct pv_fd_mount m;
	char at[64];
	int r;

	/* the staging mount's root, reached without links: chown and chmod go through its fd
	 * (a name swapped for a link after the mount cannot redirect them) */
	if ((r = pv_engine_resolve(e, j->staging_path, false, &sp, err)) < 0)
		return r;
	if ((root = pv_safe_open(&sp, PV_SAFE_DIR, false, err)) < 0)
		return root;
	if (pv_fd_mount_info(root, &m) < 0 || !m.is_mount_root)
		return pv_err_set(err, -ENOENT, PV_E_INTERNAL, "volume %s: nothing is mounted at its staging path %s",
				  j->volume, j->staging_path);
	snprintf(at, sizeof(at), "/proc/self/fd/%d", root);
	if (pv_set_mount_group(at, j->staging_path, gid, &one) == 0)
		return 0;
	if (drv && drv->storage == PV_SHARED) {
		snprintf(note, nlen, "volume %s: %s; the server refuses it (root squash?): give the volume's directory "
			 "that group on the server, or set the PV's gid", j->volume, one.msg);
		pv_warn("%s", note);
		return 1;
	}
	return pv_err_set(err, one.code, one.kind, "volume %s: %s", j->volume, one.msg);
}

/* The publish's supplemental groups: the PV's gid, then the pod's fsGroup. */
static void add_group(struct pv_publish_rec *rec, long gid)
{
	for (size_t i = 0; i < rec->n_groups; i++)
		if (rec->groups[i] == (gid_t)gid)
			return;
	if (rec->n_groups < PV_MAX_GROUPS)
		rec->groups[rec->n_groups++] = (gid_t)gid;
}

/* Undo bind_target: unmount the target (ours only) and drop its read-only view device;
 * < 0 when our mount is still there (busy) or something else is stacked on it. */
static int unbind_target(struct pv_engine *e, const struct pv_journal *j, struct pv_publish_rec *rec,
			 struct pv_err *err)
{
	int r = pv_engine_unmount_ours(e, j, rec->target, rec->block, rec->device, err);
	if (r == 0 && rec->device[0]) {
		pv_loop_detach(rec->device, NULL);
		rec->device[0] = '\0';
	}
	return r;
}

/* An O_PATH fd of what a publish binds: the staging mount's root (opened without links),
 * or the device node of a raw block volume. */
static int bind_source(struct pv_engine *e, const struct pv_journal *j, const char *dev, struct pv_err *err)
{
	struct pv_safe_path sp;
	int fd, r;

	if (j->block) {
		fd = open(dev, O_PATH | O_CLOEXEC | O_NOFOLLOW);
		return fd < 0 ? pv_err_set(err, -errno, PV_E_INTERNAL, "cannot open %s: %s", dev, strerror(errno)) : fd;
	}
	if ((r = pv_engine_resolve(e, j->staging_path, false, &sp, err)) < 0)
		return r;
	fd = pv_safe_open(&sp, PV_SAFE_DIR, false, err);
	pv_safe_path_close(&sp);
	return fd;
}

/* A read-only view of a read-write raw device: its own read-only loop device. */
static int readonly_view(struct pv_engine *e, const struct pv_journal *j, struct pv_publish_rec *rec,
			 struct pv_err *err)
{
	char tag[64];

	pv_loop_tag(e->cfg.state_dir, j->volume, tag, sizeof(tag));
	return pv_loop_attach_tagged(j->att.device, tag, true, false, rec->device, sizeof(rec->device), err);
}

/* Bind the volume at rec->target: the target (a directory, or a file for a raw block
 * volume) is made and opened without following links, refused when something else is
 * already mounted there, and bound onto by file descriptor. */
static int bind_target(struct pv_engine *e, struct pv_journal *j, struct pv_publish_rec *rec, const char *flags,
		       struct pv_err *err)
{
	_cleanup_(pv_closep) int src = -1, tfd = -1, mnt = -1;
	_cleanup_(pv_safe_path_close) struct pv_safe_path sp = { .dirfd = -1 };
	struct pv_fd_mount m;
	int r;

	if ((r = pv_engine_resolve(e, rec->target, true, &sp, err)) < 0)
		return r;
	tfd = pv_safe_open(&sp, j->block ? PV_SAFE_FILE : PV_SAFE_DIR, true, err);
	if (tfd < 0)
		return tfd;
	if (pv_fd_mount_info(tfd, &m) == 0 && m.is_mount_root)
		return pv_err_set(err, -EBUSY, PV_E_IN_USE,
				  "target %s is already a mount point of something else: refusing to stack on it",
				  rec->target);
	if (j->block && rec->readonly && !j->att.readonly && (r = readonly_view(e, j, rec, err)) < 0)
		return r;
	src = bind_source(e, j, rec->device[0] ? rec->device : j->att.device, err);
	r = src < 0 ? src : pv_bind_at(src, &sp, tfd, rec->readonly, j->block ? NULL : flags, &mnt, err);
	/* the directory bound onto was renamed between its opening and the bind: the mount is
	 * inside the prefix but not at the target's name: take exactly it away again */
	if (r == 0 && pv_engine_mount_state(e, j, rec->target, j->block, rec->device, NULL) != PV_MOUNT_OURS) {
		pv_umount_root_fd(mnt);
		r = pv_err_set(err, -EAGAIN, PV_E_BUSY, "target %s was moved while it was being published: retry", rec->target);
	}
	if (r < 0 && rec->device[0]) {
		pv_loop_detach(rec->device, NULL);
		rec->device[0] = '\0';
	}
	return r;
}

int pv_engine_rebind(struct pv_engine *e, struct pv_journal *j, struct pv_err *err)
{
	int r = 0;

	for (size_t i = 0; i < j->n_publishes; i++) {
		struct pv_publish_rec *rec = &j->publishes[i];
		if (rec->lost)
			continue;
		/* the old bind shows a dead connection or a detached device: drop it, bind anew
		 * (lazily: a dead FUSE connection cannot be unmounted otherwise) */
		struct pv_safe_path sp;
		if (pv_engine_resolve(e, rec->target, false, &sp, NULL) == 0) {
			pv_umount_at(&sp, true, NULL);
			pv_safe_path_close(&sp);
		}
		if (rec->device[0]) {
			pv_loop_detach(rec->device, NULL);
			rec->device[0] = '\0';
		}
		struct pv_err one = { 0 };
		if (bind_target(e, j, rec, rec->mount_flags, &one) < 0) {
			rec->lost = true;
			if (r == 0)
				r = pv_err_set(err, one.code, one.kind, "volume %s: publish target %s: %s", j->volume,
					       rec->target, one.msg);
			continue;
		}
		pv_info("volume %s: publish target %s bound to the new %s again", j->volume, rec->target,
			j->block ? "device" : "staging mount");
	}
	return r;
}

/* What a publish request resolves to. */
struct publish_plan {
	const char *pass[PV_MAX_MOUNT_FLAGS]; /* mount flags without context= (labels come separately) */
	size_t npass;
	char flags[512];                      /* the same, comma-joined, as recorded */
	bool readonly;
	struct pv_publish_rec *old;           /* this target's record, if published before */
};

static int publish_check(const struct pv_publish_req *r, struct pv_journal *j,
			 struct publish_plan *p, struct pv_err *err)
{
	const char *name = r->pv->name;
	char checked[512];
	int rc;

	if (r->staging_path && *r->staging_path && strcmp(r->staging_path, j->staging_path) != 0)
		return pv_err_set(err, -ENOENT, PV_E_POLICY, "volume %s is staged at %s, not at %s", name,
				  j->staging_path, r->staging_path);
	if (r->block != j->block)
		return pv_err_set(err, -EINVAL, PV_E_INVALID, "volume %s was staged as %s: it cannot be published as %s",
				  name, j->block ? "a block device" : "a filesystem",
				  r->block ? "a block device" : "a filesystem");
	for (size_t i = 0; i < r->n_mount_flags && p->npass < PV_MAX_MOUNT_FLAGS; i++)
		if (strncmp(r->mount_flags[i], "context=", 8) != 0)
			p->pass[p->npass++] = r->mount_flags[i];
	const char *const *lists[] = { p->pass };
	size_t counts[] = { p->npass };
	if ((rc = pv_mount_options_join(lists, counts, 1, false, checked, sizeof(checked), err)) < 0)
		return rc;
	join_flags(p->pass, p->npass, p->flags, sizeof(p->flags));
	p->old = find_target(j, r->target);
	rc = pv_policy_publish(name, j->access, j->readonly, r->access, r->readonly, j->n_publishes - (p->old ? 1 : 0),
			       &p->readonly, err);
	if (rc == 0 && p->old && (p->old->readonly != p->readonly || p->old->block != r->block ||
				   strcmp(p->old->mount_flags, p->flags) != 0))
		rc = pv_err_set(err, -EEXIST, PV_E_EXISTS,
				"volume %s is already published at %s with other options (%s): unpublish it first", name,
				r->target, p->old->readonly ? "read-only" : "read-write");
	return rc;
}

/* O(1): label the volume root where the kernel does not enforce SELinux (there the
 * context= mount option did it); a recursive relabel only on request, and skipped when
 * the root already carries the label. A read-only root keeps its label (noted). */
static int publish_label(struct pv_engine *e, const struct pv_publish_req *r, const struct pv_journal *j,
			 struct pv_publish_rec *rec, char *note, size_t nlen, struct pv_err *err)
{
	char current[256] = "";
	size_t count;
	int rc = 0;

	if (!rec->selinux_label[0] || j->block || pv_selinux_kernel_enforces())
		return 0;
	if (r->relabel && !j->readonly)
		return pv_selinux_relabel_tree(j->staging_path, rec->selinux_label, e->cfg.progress, &count, err);
	if (pv_selinux_get(j->staging_path, current, sizeof(current)) == 0 && strcmp(current, rec->selinux_label) == 0)
		return 0;
	if (j->readonly) {
		snprintf(note, nlen, "volume %s: read-only, its root keeps label %s", j->volume,
			 current[0] ? current : "(none)");
		rec->selinux_label[0] = '\0';
		return 0;
	}
	rc = pv_selinux_set(j->staging_path, rec->selinux_label, err);
	return rc;
}

/* Put rec in the journal (replacing the target's old record) and save it. */
static int publish_record(struct pv_engine *e, struct pv_journal *j, const struct pv_publish_rec *rec,
			  struct pv_err *err)
{
	struct pv_publish_rec *old = find_target(j, rec->target);

	if (old) {
		*old = *rec;
	} else {
		struct pv_publish_rec *n = realloc(j->publishes, (j->n_publishes + 1) * sizeof(*n));
		if (!n)
			return pv_err_set(err, -ENOMEM, PV_E_RESOURCE, "out of memory");
		j->publishes = n;
		n[j->n_publishes++] = *rec;
	}
	return pv_journal_save(e->cfg.state_dir, j, err);
}

/* The target the engine made (a directory, or a file for a raw block volume), removed
 * through its parent opened without links; something left inside stays. */
static void remove_target(struct pv_engine *e, const char *target, bool file)
{
	struct pv_safe_path sp;

	if (pv_engine_resolve(e, target, false, &sp, NULL) < 0)
		return;
	unlinkat(sp.dirfd, sp.name, file ? 0 : AT_REMOVEDIR);
	pv_safe_path_close(&sp);
}

/* Take a target's record out of the journal (a publish undone or finished). */
static int drop_record(struct pv_engine *e, struct pv_journal *j, const char *target, struct pv_err *err)
{
	struct pv_publish_rec *rec = find_target(j, target);

	if (!rec)
		return 0;
	*rec = j->publishes[j->n_publishes - 1];
	j->n_publishes--;
	return pv_journal_save(e->cfg.state_dir, j, err);
}

int pv_engine_settle_publishes(struct pv_engine *e, struct pv_journal *j, char *said, size_t len)
{
	int n = 0;

	said[0] = '\0';
	for (size_t i = 0; i < j->n_publishes;) {
		struct pv_publish_rec *p = &j->publishes[i];
		char target[PATH_MAX];
		struct pv_err err = { 0 };
		bool unpublishing = p->state == PV_PUB_UNPUBLISHING;

		if (p->state == PV_PUB_DONE) {
			i++;
			continue;
		}
		snprintf(target, sizeof(target), "%s", p->target);
		if (unbind_target(e, j, p, &err) < 0) {
			snprintf(said, len, "an interrupted %s at %s cannot be undone: %s",
				 unpublishing ? "unpublish" : "publish", target, err.msg);
			return -EBUSY;
		}
		remove_target(e, target, p->block);
		drop_record(e, j, target, NULL); /* moves the last record here: look at i again */
		snprintf(said, len, "an interrupted %s at %s was %s", unpublishing ? "unpublish" : "publish", target,
			 unpublishing ? "finished" : "undone (publish again)");
		n++;
	}
	return n;
}

/* A record already there: 1 when the target shows this volume as asked (idempotent; a
 * publish killed after its bind is finished), 0 after clearing a stale one. */
static int publish_existing(struct pv_engine *e, struct pv_journal *j, struct pv_publish_rec *old,
			    struct pv_publish_result *res, struct pv_err *err)
{
	int state = pv_engine_mount_state(e, j, old->target, old->block, old->device, NULL);

	if (state == PV_MOUNT_OURS && !old->lost && old->state != PV_PUB_UNPUBLISHING) {
		if (old->state == PV_PUB_PUBLISHING) {
			old->state = PV_PUB_DONE;
			if (pv_journal_save(e->cfg.state_dir, j, err) < 0)
				return -EIO;
		}
		fill_result(old, res);
		return 1;
	}
	unbind_target(e, j, old, NULL); /* lost, or half-done: start clean */
	return 0;
}

static int publish_locked(struct pv_engine *e, const struct pv_publish_req *r, struct pv_journal *j,
			  struct pv_publish_result *res, struct pv_err *err)
{
	const struct pv_driver *drv = pv_driver_find(j->pv.driver);
	struct publish_plan p = { 0 };
	struct pv_publish_rec rec = { 0 }, *cur;
	char note[512] = "";
	int rc = publish_check(r, j, &p, err);

	if (rc < 0)
		return rc;
	if (pv_path_under(r->target, j->staging_path))
		return pv_err_set(err, -EINVAL, PV_E_INVALID, "volume %s: target %s is its staging path or inside it",
				  j->volume, r->target);
	if (p.old && (rc = publish_existing(e, j, p.old, res, err)) != 0)
		return rc > 0 ? 0 : rc;
	snprintf(rec.target, sizeof(rec.target), "%s", r->target);
	snprintf(rec.mount_flags, sizeof(rec.mount_flags), "%s", p.flags);
	rec.readonly = p.readonly;
	rec.block = r->block;
	rec.access = r->access ? r->access : j->access;
	rc = choose_label(e, r, drv ? drv->storage : PV_BLOCKDEV, rec.selinux_label, sizeof(rec.selinux_label), err);
	if (rc < 0)
		return rc;
	/* the intent first: a process killed after the bind leaves a record, not a stray mount */
	rec.state = PV_PUB_PUBLISHING;
	if ((rc = publish_record(e, j, &rec, err)) < 0)
		return rc;
	cur = find_target(j, r->target);
	pv_fault_point("publish-after-intent");
	rc = bind_target(e, j, cur, p.flags, err);
	pv_fault_point("publish-after-bind");
	if (rc == 0)
		rc = publish_label(e, r, j, cur, note, sizeof(note), err);
	if (rc == 0 && j->pv.gid > 0) {
		add_group(cur, j->pv.gid);
		if (drv && drv->storage == PV_SHARED)
			check_group_root(j, note, sizeof(note));
	}
	if (rc == 0 && r->mount_group > 0 && !j->block && !j->readonly && !p.readonly) {
		int g = pv_engine_mount_group(e, j, r->mount_group, note, sizeof(note), err);
		if (g == 0)
			add_group(cur, r->mount_group);
		rc = g < 0 ? g : 0;
	}
	if (rc == 0) {
		cur->state = PV_PUB_DONE;
		snprintf(j->last_error, sizeof(j->last_error), "%s", note);
		rc = pv_journal_save(e->cfg.state_dir, j, err);
	}
	if (rc < 0) {
		unbind_target(e, j, cur, NULL);
		drop_record(e, j, r->target, NULL);
		pv_err_prefix(err, "volume %s: ", j->volume);
		return rc;
	}
	if (note[0])
		pv_warn("%s", note);
	fill_result(cur, res);
	pv_info("volume %s published at %s%s", j->volume, r->target, p.readonly ? " (read-only)" : "");
	return 0;
}

int pv_engine_publish(struct pv_engine *e, const struct pv_publish_req *r, struct pv_publish_result *res,
		      struct pv_err *err)
{
	_cleanup_(pv_journal_free) struct pv_journal j;
	_cleanup_(pv_unlockp) int lock = -1;
	int rc;

	pv_journal_init(&j);
	if ((rc = pv_engine_check_path(e, "target path", r->target, err)) < 0)
		return rc;
	if (r->staging_path && *r->staging_path &&
	    (rc = pv_engine_check_path(e, "staging path", r->staging_path, err)) < 0)
		return rc;
	if ((lock = pv_engine_lock_brief(e, r->pv->name, err)) < 0)
		return lock;
	rc = pv_journal_load(e->cfg.state_dir, r->pv->name, &j, err);
	if (rc == -ENOENT || (rc == 0 && j.phase != PV_PHASE_STAGED))
		return pv_err_set(err, -ENOENT, PV_E_POLICY, "volume %s is not staged on this node: stage it first",
				  r->pv->name);
	if (rc < 0)
		return rc;
	return publish_locked(e, r, &j, res, err);
}


/* No record for the target: a publish killed before it recorded anything could only have
 * left a mount of this volume there (the intent comes first now, but an older pvctl, or a
 * record lost with a damaged journal, may have): it is recognised and unmounted. */
static int unpublish_unrecorded(struct pv_engine *e, const struct pv_journal *j, const char *target,
				struct pv_err *err)
{
	int state = pv_engine_mount_state(e, j, target, j->block, NULL, NULL);

	if (state != PV_MOUNT_OURS)
		return 0;
	pv_warn("volume %s: %s was mounted without a record in the journal; unmounting it", j->volume, target);
	return pv_engine_unmount_ours(e, j, target, j->block, NULL, err);
}

int pv_engine_unpublish_locked(struct pv_engine *e, const char *volume, const char *target, struct pv_err *err)
{
	_cleanup_(pv_journal_free) struct pv_journal j;
	struct pv_publish_rec *rec;
	int rc;

	pv_journal_init(&j);
	rc = pv_journal_load(e->cfg.state_dir, volume, &j, err);
	if (rc == -ENOENT)
		return 0; /* not published here: nothing to do */
	if (rc < 0)
		return rc;
	if (!(rec = find_target(&j, target)))
		return unpublish_unrecorded(e, &j, target, err);
	/* the intent first: with a full state directory nothing is unmounted, and a retry
	 * after a kill finds the record */
	rec->state = PV_PUB_UNPUBLISHING;
	if ((rc = pv_journal_save(e->cfg.state_dir, &j, err)) < 0)
		return rc;
	pv_fault_point("unpublish-after-intent");
	rc = pv_engine_unmount_ours(e, &j, target, rec->block, rec->device, err);
	if (rc < 0) {
		pv_err_prefix(err, "volume %s: ", volume);
		return rc;
	}
	if (rec->device[0] && (rc = pv_loop_detach(rec->device, err)) < 0)
		return rc;
	remove_target(e, target, rec->block);
	rc = drop_record(e, &j, target, err);
	pv_info("volume %s unpublished from %s", volume, target);
	return rc;
}

int pv_engine_unpublish(struct pv_engine *e, const char *volume, const char *target, struct pv_err *err)
{
	_cleanup_(pv_unlockp) int lock = -1;
	int rc = pv_engine_check_path(e, "target path", target, err);

	if (rc < 0)
		return rc;
	lock = pv_engine_lock_brief(e, volume, err);
	if (lock < 0)
		return lock;
	return pv_engine_unpublish_locked(e, volume, target, err);
}

