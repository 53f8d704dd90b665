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

/* Undo bind_target: unmount the target and drop the read-only view device, if any. */
static void unbind_target(struct pv_publish_rec *rec)
{
	pv_umount(rec->target, NULL);
	if (rec->device[0]) {
		pv_loop_detach(rec->device, NULL);
		rec->device[0] = '\0';
	}
}

static int bind_target(struct pv_engine *e, struct pv_journal *j, struct pv_publish_rec *rec, const char *flags,
		       struct pv_err *err)
{
	const char *target = rec->target, *dev = j->att.device;
	bool ro = rec->readonly;
	struct stat st;
	int fd, r;

	if (j->block) {
		char parent[PATH_MAX];
		snprintf(parent, sizeof(parent), "%s", target);
		*strrchr(parent, '/') = '\0';
		if (parent[0] && pv_mkdir_p(parent, 0750, err) < 0)
			return -EIO;
		if (stat(target, &st) < 0) {
			fd = open(target, O_CREAT | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0600);
			if (fd < 0)
				return pv_err_set(err, -errno, PV_E_INTERNAL, "cannot create target file %s: %s", target,
						  strerror(errno));
			close(fd);
		} else if (S_ISDIR(st.st_mode)) {
			return pv_err_set(err, -EISDIR, PV_E_INVALID,
					  "target %s is a directory: a Block volume is published as a file", target);
		}
		if (ro && !j->att.readonly) {
			/* a read-only view of a read-write device: its own read-only loop device */
			char tag[64];
			pv_loop_tag(e->cfg.state_dir, j->volume, tag, sizeof(tag));
			r = pv_loop_attach_tagged(j->att.device, tag, true, false, rec->device, sizeof(rec->device), err);
			if (r < 0)
				return r;
			dev = rec->device;
		}
		r = pv_bind_mount(dev, target, ro, NULL, err);
		if (r < 0 && rec->device[0]) {
			pv_loop_detach(rec->device, NULL);
			rec->device[0] = '\0';
		}
		return r;
	}
	if (pv_mkdir_p(target, 0750, err) < 0)
		return -EIO;
	return pv_bind_mount(j->staging_path, target, ro, flags, err);
}

int pv_engine_rebind(struct pv_engine *e, struct pv_journal *j, struct pv_err *err)
{
	int r = 0;

	for (size_t i = 0; i < j->n_publishes; i++) {
		struct pv_publish_rec *rec = &j->publishes[i];
		if (rec->lost)
			continue;
		/* the old bind shows a dead connection or a detached device: drop it, bind anew */
		umount2(rec->target, MNT_DETACH | UMOUNT_NOFOLLOW);
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

int pv_engine_publish(struct pv_engine *e, const struct pv_publish_req *r, struct pv_publish_result *res,
		      struct pv_err *err)
{
	const struct pv *pv = r->pv;
	const struct pv_driver *drv;
	struct pv_publish_rec rec, *old;
	struct pv_journal j;
	char flags[512], note[512] = "";
	const char *pass[32];
	size_t npass = 0;
	bool ro;
	int lock, rc;

	rc = pv_engine_check_path(e, "target path", r->target, err);
	if (rc < 0)
		return rc;
	if (r->staging_path && *r->staging_path) {
		rc = pv_engine_check_path(e, "staging path", r->staging_path, err);
		if (rc < 0)
			return rc;
	}
	lock = pv_engine_lock(e, pv->name, err);
	if (lock < 0)
		return lock;
	rc = pv_journal_load(e->cfg.state_dir, pv->name, &j, err);
	if (rc == -ENOENT || (rc == 0 && j.phase != PV_PHASE_STAGED)) {
		rc = pv_err_set(err, -ENOENT, PV_E_POLICY, "volume %s is not staged on this node: stage it first", pv->name);
		goto out;
	}
	if (rc < 0)
		goto out_unlocked;
	drv = pv_driver_find(j.pv.driver);
	if (r->staging_path && *r->staging_path && strcmp(r->staging_path, j.staging_path) != 0) {
		rc = pv_err_set(err, -ENOENT, PV_E_POLICY, "volume %s is staged at %s, not at %s", pv->name,
				j.staging_path, r->staging_path);
		goto out;
	}
	if (r->block != j.block) {
		rc = pv_err_set(err, -EINVAL, PV_E_INVALID, "volume %s was staged as %s: it cannot be published as %s",
				pv->name, j.block ? "a block device" : "a filesystem", r->block ? "a block device" : "a filesystem");
		goto out;
	}
	for (size_t i = 0; i < r->n_mount_flags && npass < 32; i++)
		if (strncmp(r->mount_flags[i], "context=", 8) != 0) /* labels are handled below */
			pass[npass++] = r->mount_flags[i];
	join_flags(pass, npass, flags, sizeof(flags));
	old = find_target(&j, r->target);
	rc = pv_policy_publish(pv->name, j.access, j.readonly, r->access, r->readonly,
			       j.n_publishes - (old ? 1 : 0), &ro, err);
	if (rc < 0)
		goto out;
	if (old) {
		if (old->readonly != ro || old->block != r->block || strcmp(old->mount_flags, flags) != 0) {
			rc = pv_err_set(err, -EEXIST, PV_E_EXISTS,
					"volume %s is already published at %s with other options (%s): unpublish it first",
					pv->name, r->target, old->readonly ? "read-only" : "read-write");
			goto out;
		}
		if (pv_is_mountpoint(r->target) && !old->lost) {
			fill_result(old, res); /* idempotent */
			rc = 0;
			goto out;
		}
	}
	memset(&rec, 0, sizeof(rec));
	snprintf(rec.target, sizeof(rec.target), "%s", r->target);
	snprintf(rec.mount_flags, sizeof(rec.mount_flags), "%s", flags);
	rec.readonly = ro;
	rec.block = r->block;
	rec.access = r->access ? r->access : j.access;
	{
		const char *const *lists[] = { pass };
		size_t counts[] = { npass };
		char checked[512];
		rc = pv_mount_options_join(lists, counts, 1, false, checked, sizeof(checked), err);
		if (rc < 0)
			goto out;
	}
	rc = choose_label(e, r, drv ? drv->storage : PV_BLOCKDEV, rec.selinux_label, sizeof(rec.selinux_label), err);
	if (rc < 0)
		goto out;
	if (old)
		unbind_target(old);
	rc = bind_target(e, &j, &rec, flags, err);
	if (rc < 0) {
		pv_err_prefix(err, "volume %s: ", pv->name);
		goto out;
	}
	if (rec.selinux_label[0] && !j.block && !pv_selinux_kernel_enforces()) {
		/* O(1): label the volume root; a recursive relabel only on request */
		char current[256];
		current[0] = '\0';
		if (r->relabel && !j.readonly) {
			/* recursive, and skipped when the root already carries the label */
			size_t count;
			rc = pv_selinux_relabel_tree(j.staging_path, rec.selinux_label, e->cfg.progress, &count, err);
		} else if (pv_selinux_get(j.staging_path, current, sizeof(current)) < 0 ||
			   strcmp(current, rec.selinux_label) != 0) {
			rc = j.readonly ? -EROFS : pv_selinux_set(j.staging_path, rec.selinux_label, err);
			if (rc == -EROFS) {
				snprintf(note, sizeof(note), "volume %s: read-only, its root keeps label %s", pv->name,
					 current[0] ? current : "(none)");
				rec.selinux_label[0] = '\0';
				rc = 0;
			}
		}
		if (rc < 0) {
			unbind_target(&rec);
			goto out;
		}
	}
	if (j.pv.gid > 0) {
		rec.groups[0] = (gid_t)j.pv.gid;
		rec.n_groups = 1;
		if (drv && drv->storage == PV_SHARED)
			check_group_root(&j, note, sizeof(note));
	}
	if (old) {
		*old = rec;
	} else {
		struct pv_publish_rec *p = realloc(j.publishes, (j.n_publishes + 1) * sizeof(*p));
		if (!p) {
			unbind_target(&rec);
			rc = pv_err_set(err, -ENOMEM, PV_E_RESOURCE, "out of memory");
			goto out;
		}
		j.publishes = p;
		p[j.n_publishes++] = rec;
	}
	snprintf(j.last_error, sizeof(j.last_error), "%s", note);
	if (note[0])
		pv_warn("%s", note);
	rc = pv_journal_save(e->cfg.state_dir, &j, err);
	if (rc < 0) {
		unbind_target(old ? old : &j.publishes[j.n_publishes - 1]);
		goto out;
	}
	fill_result(&rec, res);
	pv_info("volume %s published at %s%s", pv->name, r->target, ro ? " (read-only)" : "");
out:
	pv_journal_free(&j);
out_unlocked:
	pv_unlock(lock);
	return rc;
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
	rec = find_target(&j, target);
	if (!rec)
		return 0;
	rc = pv_umount(target, err);
	if (rc < 0) {
		pv_err_prefix(err, "volume %s: ", volume);
		return rc;
	}
	if (rec->device[0]) {
		rc = pv_loop_detach(rec->device, err);
		if (rc < 0)
			return rc;
	}
	if (rec->block)
		unlink(target);
	else
		rmdir(target);
	*rec = j.publishes[j.n_publishes - 1];
	j.n_publishes--;
	rc = pv_journal_save(e->cfg.state_dir, &j, err);
	pv_info("volume %s unpublished from %s", volume, target);
	return rc;
}

int pv_engine_unpublish(struct pv_engine *e, const char *volume, const char *target, struct pv_err *err)
{
	_cleanup_(pv_unlockp) int lock = -1;
	int rc = pv_engine_check_path(e, "target path", target, err);

	if (rc < 0)
		return rc;
	lock = pv_engine_lock(e, volume, err);
	if (lock < 0)
		return lock;
	return pv_engine_unpublish_locked(e, volume, target, err);
}

