/*
 * repair.c — `pvctl reconcile --repair`: a journal that cannot be read is rebuilt from
 * what the node really has, so a damaged file never hides a mounted volume.
 *
 * For a block volume the evidence is the loop devices tagged for it (pv_loop_tag): the
 * one whose backing is not itself a loop device is the volume's device; the mounts of
 * its filesystem (or binds of its device node, for volumeMode Block) are its staging
 * mount — the earliest mounted — and its publish targets; a helper serving it is the
 * process whose command line names the volume's run directory. The rebuilt journal says
 * STAGED with those, and where it came from. With no device found (nothing attached, or
 * shared storage, which leaves no tagged device) the damaged journal is set aside as
 * <volume>.json.damaged when no helper of the volume runs, and kept otherwise with a
 * sentence saying what to unmount and stop first.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "engine_int.h"
#include "pvnode/catalog.h"
#include "pvnode/driver/os.h"

struct found_mount {
	char path[PATH_MAX];
	bool ro;
};

struct evidence {
	char device[64], backing[PATH_MAX];
	struct found_mount mounts[16];
	size_t n_mounts;
};

static void add_mount(const char *mnt, bool ro, void *ud)
{
	struct evidence *ev = ud;
	if (ev->n_mounts < 16) {
		snprintf(ev->mounts[ev->n_mounts].path, PATH_MAX, "%s", mnt);
		ev->mounts[ev->n_mounts++].ro = ro;
	}
}

/* The volume's own loop device among those tagged for it (views are loops over loops). */
static bool find_device(struct pv_engine *e, const char *volume, struct evidence *ev)
{
	char tag[64];

	pv_loop_tag(e->cfg.state_dir, volume, tag, sizeof(tag));
	if (pv_loop_find_own(tag, ev->device, sizeof(ev->device)) <= 0 ||
	    pv_loop_backing(ev->device, ev->backing, sizeof(ev->backing)) < 0) {
		ev->device[0] = '\0';
		return false;
	}
	return true;
}

/* A process whose command line names the volume's run directory: its helper. */
static void find_helper(const char *run_dir, struct pv_helper *h)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	size_t n = strlen(run_dir);

	while (d && (de = readdir(d))) {
		char path[300], buf[8192];
		char *end;
		long v = strtol(de->d_name, &end, 10);
		pid_t pid = *end == '\0' && v > 0 && v <= INT_MAX ? (pid_t)v : 0;
		if (pid <= 0 || pid == getpid())
			continue;
		snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		ssize_t len = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
		if (fd >= 0)
			close(fd);
		for (ssize_t i = 0; i < len; i++)
			if (buf[i] == '\0')
				buf[i] = ' ';
		if (len > 0 && (buf[len] = '\0', strstr(buf, run_dir)) && strstr(buf, run_dir)[n] == '/') {
			h->pid = pid;
			h->start = pv_proc_start_time(pid);
			break;
		}
	}
	if (d)
		closedir(d);
}

static int rebuild(struct pv_engine *e, const struct pv *pv, const struct evidence *ev, struct pv_journal *j,
		   struct pv_err *err)
{
	struct pv_volctx vc;

	pv_journal_init(j);
	snprintf(j->volume, sizeof(j->volume), "%s", pv->name);
	snprintf(j->node_id, sizeof(j->node_id), "%s", e->cfg.node_id);
	j->phase = PV_PHASE_STAGED;
	j->block = pv->volume_mode == PV_VOLUME_BLOCK;
	j->access = pv_access_first(pv);
	snprintf(j->fs_type, sizeof(j->fs_type), "%s", j->block ? "" : pv->fs_type);
	snprintf(j->att.device, sizeof(j->att.device), "%s", ev->device);
	snprintf(j->att.backing, sizeof(j->att.backing), "%s", ev->backing);
	snprintf(j->att.summary, sizeof(j->att.summary), "rebuilt by reconcile --repair");
	pv_engine_volctx(e, pv->name, &vc);
	find_helper(vc.run_dir, &j->att.helper);
	size_t first = j->block ? 0 : 1;
	if (!j->block && ev->n_mounts) {
		snprintf(j->staging_path, sizeof(j->staging_path), "%s", ev->mounts[0].path);
		j->readonly = ev->mounts[0].ro;
	}
	if (ev->n_mounts > first && !(j->publishes = calloc(ev->n_mounts - first, sizeof(*j->publishes))))
		return pv_err_set(err, -ENOMEM, PV_E_RESOURCE, "out of memory");
	for (size_t i = first; i < ev->n_mounts; i++) {
		struct pv_publish_rec *p = &j->publishes[j->n_publishes++];
		snprintf(p->target, sizeof(p->target), "%s", ev->mounts[i].path);
		p->readonly = ev->mounts[i].ro;
		p->block = j->block;
		p->access = j->access;
	}
	snprintf(j->last_error, sizeof(j->last_error),
		 "journal rebuilt from the mount table by pvctl reconcile --repair: %zu mount(s) found", ev->n_mounts);
	return pv_copy(&j->pv, pv, err);
}

static void set_aside(struct pv_engine *e, const char *volume)
{
	char from[PATH_MAX], to[PATH_MAX + 16];

	snprintf(from, sizeof(from), "%s/journal/%s.json", e->cfg.state_dir, volume);
	snprintf(to, sizeof(to), "%s.damaged", from);
	rename(from, to);
}

int pv_engine_repair(struct pv_engine *e, const char *volume, char *said, size_t len, struct pv_err *err)
{
	_cleanup_(pv_journal_free) struct pv_journal j;
	struct evidence ev = { 0 };
	struct pv pv;
	struct stat st;
	int r;

	pv_journal_init(&j);
	pv_init(&pv);
	if ((r = pv_catalog_load(e->cfg.state_dir, volume, &pv, err)) < 0)
		return r;
	if (find_device(e, volume, &ev) && stat(ev.device, &st) == 0) {
		if (pv.volume_mode == PV_VOLUME_BLOCK)
			pv_mounts_of_dev(0, ev.device + 5, add_mount, &ev);
		else
			pv_mounts_of_dev(st.st_rdev, NULL, add_mount, &ev);
		r = rebuild(e, &pv, &ev, &j, err);
		if (r == 0)
			r = pv_journal_save(e->cfg.state_dir, &j, err);
		if (r == 0)
			snprintf(said, len, "journal rebuilt: device %s, %zu mount(s)", ev.device, ev.n_mounts);
	} else {
		struct pv_volctx vc;
		struct pv_helper h = { 0 };
		pv_engine_volctx(e, volume, &vc);
		find_helper(vc.run_dir, &h);
		if (h.pid)
			r = pv_err_set(err, -EBUSY, PV_E_IN_USE,
				       "volume %s: its helper (pid %d) still serves it but the journal that knew where is damaged: "
				       "unmount its staging path and targets, stop the helper, then run pvctl reconcile --repair again",
				       volume, (int)h.pid);
		else {
			set_aside(e, volume);
			snprintf(said, len, "nothing of it is attached here: the damaged journal was set aside as %s.json.damaged",
				 volume);
		}
	}
	pv_free(&pv);
	return r;
}
