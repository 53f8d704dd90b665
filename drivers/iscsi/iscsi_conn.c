/*
 * iscsi_conn.c — libiscsi sessions for pvnode: login with clear, distinct errors,
 * SendTargets discovery, capacity, and SCSI-3 persistent reservations.
 *
 * Used synchronously by the driver (fence release, discovery) and by the helper
 * (pvnode-iscsi-fuse) before it hands the context to its I/O loop. Every error names
 * the portal and target. Timeouts: a TCP connect probe bounded by login_timeout_s, then
 * libiscsi's PDU timeout for login and commands, so nothing here waits forever.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

#include "iscsi_conn.h"
#include "pvnode/driver/os.h"

/* Can we open a TCP connection to host:port within timeout_s? 0 or -errno. */
static int tcp_probe(const char *portal, int timeout_s)
{
	char host[128];
	const char *colon = strrchr(portal, ':');
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res = NULL;
	int r = -EHOSTUNREACH;

	if (!colon || (size_t)(colon - portal) >= sizeof(host))
		return -EINVAL;
	snprintf(host, sizeof(host), "%.*s", (int)(colon - portal), portal);
	if (host[0] == '[') {
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = '\0';
	}
	if (getaddrinfo(host, colon + 1, &hints, &res) != 0)
		return -ENOENT;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
			r = 0;
		} else if (errno == EINPROGRESS) {
			struct pollfd p = { .fd = fd, .events = POLLOUT };
			int e = 0;
			socklen_t el = sizeof(e);
			int n = poll(&p, 1, timeout_s * 1000);
			if (n == 0)
				r = -ETIMEDOUT;
			else if (n > 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) == 0)
				r = e ? -e : 0;
		} else {
			r = -errno;
		}
		close(fd);
		if (r == 0)
			break;
	}
	freeaddrinfo(res);
	return r;
}

static struct iscsi_context *new_context(const struct pvi_target *t, bool discovery)
{
	struct iscsi_context *c = iscsi_create_context(t->initiator_name);
	if (!c)
		return NULL;
	iscsi_set_session_type(c, discovery ? ISCSI_SESSION_DISCOVERY : ISCSI_SESSION_NORMAL);
	iscsi_set_header_digest(c, ISCSI_HEADER_DIGEST_NONE);
	iscsi_set_timeout(c, t->login_timeout_s ? t->login_timeout_s : 10);
	iscsi_set_noautoreconnect(c, 1);
	iscsi_set_reconnect_max_retries(c, 0);
	iscsi_set_tcp_keepalive(c, 5, 3, 2);
	iscsi_set_tcp_user_timeout(c, 15000);
	if (!discovery)
		iscsi_set_targetname(c, t->iqn);
	const char *u = discovery ? t->disc_user : t->user, *p = discovery ? t->disc_pass : t->pass;
	if (*u)
		iscsi_set_initiator_username_pwd(c, u, p);
	if (!discovery && t->user_in[0])
		iscsi_set_target_username_pwd(c, t->user_in, t->pass_in);
	return c;
}

/* Map a failed login to the error the user needs. */
static int login_error(struct iscsi_context *c, const struct pvi_target *t, const char *portal,
		       struct pv_err *err)
{
	const char *e = iscsi_get_error(c);
	if (strstr(e, "(513)") || strstr(e, "(514)") || strstr(e, "uthenticat") ||
	    strstr(e, "CHAP"))
		return pv_err_set(err, -EACCES, PV_E_INVALID,
				  "iSCSI login to %s at %s refused: wrong CHAP credentials (%s)",
				  t->iqn, portal, e);
	if (strstr(e, "(515)") || strstr(e, "(516)") || strstr(e, "not found") ||
	    strstr(e, "Not Found"))
		return pv_err_set(err, -ENOENT, PV_E_NOT_FOUND,
				  "iSCSI target %s does not exist at %s (%s)", t->iqn, portal, e);
	return pv_err_set(err, -EIO, PV_E_UNAVAILABLE, "iSCSI login to %s at %s failed: %s", t->iqn,
			  portal, e);
}

static bool is_unit_attention(struct scsi_task *task)
{
	return task && task->status == SCSI_STATUS_CHECK_CONDITION &&
	       task->sense.key == SCSI_SENSE_UNIT_ATTENTION;
}

/* Make sure the LUN answers; consume the unit attentions a fresh login brings. */
static int check_lun(struct iscsi_context *c, const struct pvi_target *t, const char *portal,
		     struct pv_err *err)
{
	for (int i = 0; i < 8; i++) {
		struct scsi_task *task = iscsi_testunitready_sync(c, t->lun);
		if (!task)
			return pv_err_set(err, -EIO, PV_E_UNAVAILABLE,
					  "iSCSI target %s at %s: TEST UNIT READY on LUN %d failed: %s",
					  t->iqn, portal, t->lun, iscsi_get_error(c));
		int status = task->status, key = task->sense.key, ascq = task->sense.ascq;
		bool ua = is_unit_attention(task);
		scsi_free_scsi_task(task);
		if (status == SCSI_STATUS_GOOD || status == SCSI_STATUS_RESERVATION_CONFLICT)
			return 0;
		if (ua)
			continue;
		if (key == SCSI_SENSE_ILLEGAL_REQUEST && ascq == SCSI_SENSE_ASCQ_LOGICAL_UNIT_NOT_SUPPORTED)
			return pv_err_set(err, -ENOENT, PV_E_NOT_FOUND,
					  "iSCSI target %s at %s has no LUN %d", t->iqn, portal, t->lun);
		return pv_err_set(err, -EIO, PV_E_UNAVAILABLE,
				  "iSCSI target %s at %s: LUN %d not ready (status 0x%x, sense %d/0x%x)",
				  t->iqn, portal, t->lun, status, key, ascq);
	}
	return pv_err_set(err, -EIO, PV_E_UNAVAILABLE,
			  "iSCSI target %s at %s: LUN %d keeps reporting unit attention", t->iqn,
			  portal, t->lun);
}

static int connect_one(const struct pvi_target *t, const char *portal, bool discovery,
		       struct iscsi_context **out, struct pv_err *err)
{
	int r = tcp_probe(portal, t->login_timeout_s ? t->login_timeout_s : 10);
	if (r < 0)
		return pv_err_set(err, r, PV_E_UNAVAILABLE,
				  "iSCSI portal %s unreachable for target %s: %s", portal, t->iqn,
				  strerror(-r));
	struct iscsi_context *c = new_context(t, discovery);
	if (!c)
		return pv_err_set(err, -ENOMEM, PV_E_INTERNAL, "cannot create an iSCSI context");
	if (iscsi_connect_sync(c, portal) != 0) {
		r = pv_err_set(err, -EHOSTUNREACH, PV_E_UNAVAILABLE,
			       "iSCSI portal %s unreachable for target %s: %s", portal, t->iqn,
			       iscsi_get_error(c));
		iscsi_destroy_context(c);
		return r;
	}
	if (iscsi_login_sync(c) != 0) {
		r = login_error(c, t, portal, err);
		iscsi_destroy_context(c);
		return r;
	}
	*out = c;
	return 0;
}

int pvi_login(const struct pvi_target *t, struct iscsi_context **out, char *portal_used,
	      size_t plen, struct pv_err *err)
{
	struct pv_err first = { 0 };
	int r = -EINVAL;

	for (size_t i = 0; i < t->n_portals; i++) {
		struct pv_err e = { 0 };
		struct iscsi_context *c = NULL;
		r = connect_one(t, t->portals[i], false, &c, &e);
		if (r == 0)
			r = check_lun(c, t, t->portals[i], &e);
		if (r == 0) {
			if (portal_used)
				snprintf(portal_used, plen, "%s", t->portals[i]);
			*out = c;
			return 0;
		}
		if (c)
			pvi_logout(c);
		/* Keep the most telling error: an answer from a target beats "unreachable". */
		if (!first.code || (first.kind == PV_E_UNAVAILABLE && e.kind != PV_E_UNAVAILABLE))
			first = e;
		if (e.code == -EACCES)
			break;   /* the next portal would say the same about the password */
	}
	if (!first.code)
		return pv_err_set(err, -EINVAL, PV_E_INVALID, "no iSCSI portal given for %s", t->iqn);
	return pv_err_set(err, first.code, first.kind, "%s", first.msg);
}

void pvi_logout(struct iscsi_context *iscsi)
{
	if (!iscsi)
		return;
	if (iscsi_is_logged_in(iscsi))
		iscsi_logout_sync(iscsi);
	iscsi_destroy_context(iscsi);
}

int pvi_discover(const struct pvi_target *t, struct pv_err *err)
{
	int r = -EINVAL;
	for (size_t i = 0; i < t->n_portals; i++) {
		struct iscsi_context *c = NULL;
		struct pv_err e = { 0 };
		r = connect_one(t, t->portals[i], true, &c, &e);
		if (r < 0) {
			if (i + 1 == t->n_portals)
				return pv_err_set(err, e.code, e.kind, "discovery: %s", e.msg);
			continue;
		}
		struct iscsi_discovery_address *list = iscsi_discovery_sync(c), *a;
		bool found = false;
		for (a = list; a; a = a->next)
			if (a->target_name && strcmp(a->target_name, t->iqn) == 0)
				found = true;
		if (list)
			iscsi_free_discovery_data(c, list);
		pvi_logout(c);
		if (found)
			return 0;
		return pv_err_set(err, -ENOENT, PV_E_NOT_FOUND,
				  "iSCSI target %s does not exist at %s (SendTargets does not offer it)",
				  t->iqn, t->portals[i]);
	}
	return r;
}

unsigned pvi_split_parts(size_t len, size_t split, size_t bs, unsigned max_parts, size_t *part)
{
	unsigned n;

	if (!split || len <= split || !max_parts) {
		*part = len;
		return 1;
	}
	n = (unsigned)((len + split - 1) / split);
	if (n > max_parts) {
		split = ((len + max_parts - 1) / max_parts + bs - 1) / bs * bs;
		/* rounded up to whole blocks, fewer parts may cover len: 33 blocks of 4 KiB in
		 * parts of 5 blocks are 7 parts, and an 8th would start past the end (its length
		 * wrapped around and the command wrote beyond the request) */
		n = (unsigned)((len + split - 1) / split);
	}
	*part = split;
	return n;
}

int pvi_capacity(struct iscsi_context *iscsi, const struct pvi_target *t, uint64_t *bytes,
		 uint32_t *block_size, struct pv_err *err)
{
	for (int i = 0; i < 4; i++) {
		struct scsi_task *task = iscsi_readcapacity16_sync(iscsi, t->lun);
		if (is_unit_attention(task)) {
			scsi_free_scsi_task(task);
			continue;
		}
		if (!task || task->status != SCSI_STATUS_GOOD) {
			if (task)
				scsi_free_scsi_task(task);
			return pv_err_set(err, -EIO, PV_E_UNAVAILABLE,
					  "iSCSI target %s LUN %d: READ CAPACITY failed: %s", t->iqn,
					  t->lun, iscsi_get_error(iscsi));
		}
		struct scsi_readcapacity16 *rc = scsi_datain_unmarshall(task);
		if (!rc) {
			scsi_free_scsi_task(task);
			return pv_err_set(err, -EIO, PV_E_UNAVAILABLE,
					  "iSCSI target %s LUN %d: bad READ CAPACITY reply", t->iqn, t->lun);
		}
		uint32_t bl = rc->block_length;
		uint64_t lba = rc->returned_lba;
		scsi_free_scsi_task(task);
		/* the I/O path divides by the block size and shifts by it: refuse what no disk
		 * has rather than trust the target */
		if (bl < 512 || bl > 65536 || (bl & (bl - 1)) || lba >= UINT64_MAX / bl)
			return pv_err_set(err, -EIO, PV_E_UNAVAILABLE,
					  "iSCSI target %s LUN %d: READ CAPACITY reports %u-byte blocks and last "
					  "block %llu, which no disk has", t->iqn, t->lun, bl, (unsigned long long)lba);
		*block_size = bl;
		*bytes = (lba + 1) * bl;
		return 0;
	}
	return pv_err_set(err, -EIO, PV_E_UNAVAILABLE,
			  "iSCSI target %s LUN %d: READ CAPACITY keeps reporting unit attention",
			  t->iqn, t->lun);
}

int pvi_zero_ends(struct iscsi_context *iscsi, const struct pvi_target *t, struct pv_err *err)
{
	enum { SPAN = 1 << 20 };
	uint64_t bytes = 0;
	uint32_t bs = 0;
	int r = pvi_capacity(iscsi, t, &bytes, &bs, err);

	if (r < 0)
		return r;
	if (!bs || SPAN % bs)
		return pv_err_set(err, -EIO, PV_E_INTERNAL, "iSCSI target %s LUN %d: block size %u", t->iqn, t->lun, bs);
	unsigned char *zero = calloc(1, SPAN);
	if (!zero)
		return pv_err_set(err, -ENOMEM, PV_E_RESOURCE, "out of memory");
	uint64_t ends[2] = { 0, bytes > SPAN ? (bytes - SPAN) / bs : 0 };
	for (int e = 0; r == 0 && e < (bytes > SPAN ? 2 : 1); e++) {
		uint32_t len = bytes < SPAN ? (uint32_t)(bytes - bytes % bs) : SPAN;
		struct scsi_task *task = NULL;
		for (int i = 0; i < 4; i++) {
			task = iscsi_write16_sync(iscsi, t->lun, ends[e], zero, len, (int)bs, 0, 0, 0, 0, 0);
			if (!is_unit_attention(task))
				break;
			scsi_free_scsi_task(task);
			task = NULL;
		}
		bool ok = task && task->status == SCSI_STATUS_GOOD;
		bool conflict = task && task->status == SCSI_STATUS_RESERVATION_CONFLICT;
		if (task)
			scsi_free_scsi_task(task);
		if (!ok)
			r = pv_err_set(err, -EIO, conflict ? PV_E_IN_USE : PV_E_UNAVAILABLE,
				       "iSCSI target %s LUN %d: cannot clear it for its next volume: %s", t->iqn, t->lun,
				       conflict ? "another node holds its reservation (the volume is in use there)"
						: iscsi_get_error(iscsi));
	}
	free(zero);
	return r;
}

/* PERSISTENT RESERVE OUT with unit-attention retries. Returns the SCSI status (>= 0) or
 * -EIO on a transport error. */
static int pr_out(struct iscsi_context *c, int lun, int sa, int type, uint64_t key,
		  uint64_t sa_key)
{
	for (int i = 0; i < 4; i++) {
		struct scsi_persistent_reserve_out_basic p = {
			.reservation_key = key, .service_action_reservation_key = sa_key,
		};
		struct scsi_task *task = iscsi_persistent_reserve_out_sync(
			c, lun, sa, SCSI_PERSISTENT_RESERVE_SCOPE_LU, type, &p);
		if (!task)
			return -EIO;
		bool ua = is_unit_attention(task);
		int st = task->status;
		scsi_free_scsi_task(task);
		if (!ua)
			return st;
	}
	return SCSI_STATUS_CHECK_CONDITION;
}

int pvi_pr_read(struct iscsi_context *c, int lun, bool *held, uint64_t *holder, int *type)
{
	for (int i = 0; i < 4; i++) {
		struct scsi_task *task = iscsi_persistent_reserve_in_sync(
			c, lun, SCSI_PERSISTENT_RESERVE_READ_RESERVATION, 4096);
		if (!task)
			return -EIO;
		if (is_unit_attention(task)) {
			scsi_free_scsi_task(task);
			continue;
		}
		struct scsi_persistent_reserve_in_read_reservation *rr =
			task->status == SCSI_STATUS_GOOD ? scsi_datain_unmarshall(task) : NULL;
		if (!rr) {
			scsi_free_scsi_task(task);
			return -EIO;
		}
		*held = rr->reserved;
		*holder = rr->reserved ? rr->reservation_key : 0;
		*type = rr->reserved ? rr->pr_type : 0;
		scsi_free_scsi_task(task);
		return 0;
	}
	return -EIO;
}

int pvi_pr_keys(struct iscsi_context *c, int lun, uint64_t *keys, size_t max, size_t *n)
{
	for (int i = 0; i < 4; i++) {
		struct scsi_task *task = iscsi_persistent_reserve_in_sync(
			c, lun, SCSI_PERSISTENT_RESERVE_READ_KEYS, 8192);
		if (!task)
			return -EIO;
		if (is_unit_attention(task)) {
			scsi_free_scsi_task(task);
			continue;
		}
		struct scsi_persistent_reserve_in_read_keys *rk =
			task->status == SCSI_STATUS_GOOD ? scsi_datain_unmarshall(task) : NULL;
		if (!rk) {
			scsi_free_scsi_task(task);
			return -EIO;
		}
		*n = 0;
		for (int k = 0; k < rk->num_keys && *n < max; k++)
			keys[(*n)++] = rk->keys[k];
		scsi_free_scsi_task(task);
		return 0;
	}
	return -EIO;
}

int pvi_pr_acquire(struct iscsi_context *c, const struct pvi_target *t, uint64_t key,
		   struct pv_err *err)
{
	bool held = false;
	uint64_t holder = 0;
	int type = 0, st;

	st = pr_out(c, t->lun, SCSI_PERSISTENT_RESERVE_REGISTER_AND_IGNORE_EXISTING_KEY, 0, 0, key);
	if (st != SCSI_STATUS_GOOD)
		return pv_err_set(err, -EIO, PV_E_UNAVAILABLE,
				  "iSCSI target %s LUN %d: cannot register reservation key %016llx (status 0x%x)",
				  t->iqn, t->lun, (unsigned long long)key, st);
	if (pvi_pr_read(c, t->lun, &held, &holder, &type) < 0)
		return pv_err_set(err, -EIO, PV_E_UNAVAILABLE,
				  "iSCSI target %s LUN %d: cannot read the persistent reservation",
				  t->iqn, t->lun);
	if (held && holder != key) {
		pr_out(c, t->lun, SCSI_PERSISTENT_RESERVE_REGISTER, 0, key, 0);  /* unregister */
		return pv_err_set(err, -EBUSY, PV_E_POLICY,
				  "iSCSI target %s LUN %d is reserved by key %016llx: another node holds it read-write (if that node is dead: pvctl fence-release VOLUME --node ITS-ID)",
				  t->iqn, t->lun, (unsigned long long)holder);
	}
	if (held) {
		/* Our key, from an earlier session (helper restart, reconnect): move the
		 * reservation to this session. */
		st = pr_out(c, t->lun, SCSI_PERSISTENT_RESERVE_PREEMPT, PVI_PR_TYPE_WE_RO, key, key);
	} else {
		st = pr_out(c, t->lun, SCSI_PERSISTENT_RESERVE_RESERVE, PVI_PR_TYPE_WE_RO, key, 0);
	}
	if (st == SCSI_STATUS_RESERVATION_CONFLICT) {
		pvi_pr_read(c, t->lun, &held, &holder, &type);
		pr_out(c, t->lun, SCSI_PERSISTENT_RESERVE_REGISTER, 0, key, 0);
		return pv_err_set(err, -EBUSY, PV_E_POLICY,
				  "iSCSI target %s LUN %d is reserved by key %016llx: another node holds it read-write (if that node is dead: pvctl fence-release VOLUME --node ITS-ID)",
				  t->iqn, t->lun, (unsigned long long)holder);
	}
	if (st != SCSI_STATUS_GOOD)
		return pv_err_set(err, -EIO, PV_E_UNAVAILABLE,
				  "iSCSI target %s LUN %d: cannot take the persistent reservation (status 0x%x)",
				  t->iqn, t->lun, st);
	return 0;
}

static int refuse_held(struct iscsi_context *c, const struct pvi_target *t, uint64_t key,
		       uint64_t holder, struct pv_err *err)
{
	pr_out(c, t->lun, SCSI_PERSISTENT_RESERVE_REGISTER, 0, key, 0);  /* unregister */
	return pv_err_set(err, -EBUSY, PV_E_POLICY,
			  "iSCSI target %s LUN %d is reserved by key %016llx: another node holds it read-write (if that node is dead: pvctl fence-release VOLUME --node ITS-ID)",
			  t->iqn, t->lun, (unsigned long long)holder);
}

int pvi_pr_join(struct iscsi_context *c, const struct pvi_target *t, uint64_t key,
		struct pv_err *err)
{
	bool held = false;
	uint64_t holder = 0;
	int type = 0;
	int st = pr_out(c, t->lun, SCSI_PERSISTENT_RESERVE_REGISTER_AND_IGNORE_EXISTING_KEY, 0, 0, key);

	if (st != SCSI_STATUS_GOOD)
		return pv_err_set(err, -EIO, PV_E_UNAVAILABLE,
				  "iSCSI target %s LUN %d: cannot register reservation key %016llx (status 0x%x)",
				  t->iqn, t->lun, (unsigned long long)key, st);
	/* Only now may this session write: the read comes after our register, so a preempt
	 * by another node either shows here or removed the registration just made. */
	for (int i = 0; i < 2; i++) {
		if (pvi_pr_read(c, t->lun, &held, &holder, &type) < 0)
			return pv_err_set(err, -EIO, PV_E_UNAVAILABLE,
					  "iSCSI target %s LUN %d: cannot read the persistent reservation",
					  t->iqn, t->lun);
		if (held && holder == key && type == PVI_PR_TYPE_WE_RO)
			return 0;
		if (held && holder != key)
			return refuse_held(c, t, key, holder, err);
		if (held)   /* our key, another type (a helper before sessions): make it WE-RO */
			st = pr_out(c, t->lun, SCSI_PERSISTENT_RESERVE_PREEMPT, PVI_PR_TYPE_WE_RO, key, key);
		else        /* none (the target restarted): take it; a sibling may win the race */
			st = pr_out(c, t->lun, SCSI_PERSISTENT_RESERVE_RESERVE, PVI_PR_TYPE_WE_RO, key, 0);
		if (st != SCSI_STATUS_GOOD && st != SCSI_STATUS_RESERVATION_CONFLICT)
			break;
	}
	return pv_err_set(err, -EIO, PV_E_UNAVAILABLE,
			  "iSCSI target %s LUN %d: cannot take the persistent reservation (status 0x%x)",
			  t->iqn, t->lun, st);
}

int pvi_pr_release(struct iscsi_context *c, int lun, uint64_t key)
{
	bool held = false;
	uint64_t holder = 0, keys[64];
	size_t n = 0, ours = 0;
	int type = 0, st = SCSI_STATUS_GOOD;

	if (pvi_pr_keys(c, lun, keys, 64, &n) == 0)
		for (size_t i = 0; i < n; i++)
			ours += keys[i] == key;
	if (pvi_pr_read(c, lun, &held, &holder, &type) < 0)
		return -EIO;
	if (held && holder == key) {
		/* Other registrations of our key (sibling sessions, sessions lost on the way):
		 * preempting our own key drops them all and makes this session the holder,
		 * which then may release. */
		if (ours > 1)
			st = pr_out(c, lun, SCSI_PERSISTENT_RESERVE_PREEMPT, type, key, key);
		if (st == SCSI_STATUS_GOOD)
			st = pr_out(c, lun, SCSI_PERSISTENT_RESERVE_RELEASE, type, key, 0);
	} else if (ours > 1) {
		/* not reserved by us (preempted, target restarted): still drop our stale
		 * registrations before our own */
		st = pr_out(c, lun, SCSI_PERSISTENT_RESERVE_PREEMPT, type ? type : PVI_PR_TYPE_WE_RO, key, key);
		if (held && st == SCSI_STATUS_RESERVATION_CONFLICT)
			st = SCSI_STATUS_GOOD;
	}
	int st2 = pr_out(c, lun, SCSI_PERSISTENT_RESERVE_REGISTER, 0, key, 0);
	return (st == SCSI_STATUS_GOOD && st2 == SCSI_STATUS_GOOD) ? 0 : -EIO;
}

int pvi_fence_release(const struct pvi_target *t, uint64_t victim, uint64_t own,
		      struct pv_err *err)
{
	struct iscsi_context *c = NULL;
	char portal[128];
	uint64_t keys[64];
	size_t n = 0;
	bool registered = false, held = false;
	uint64_t holder = 0;
	int type = 0, r, st;

	r = pvi_login(t, &c, portal, sizeof(portal), err);
	if (r < 0)
		return r;
	if (pvi_pr_keys(c, t->lun, keys, 64, &n) < 0) {
		r = pv_err_set(err, -EIO, PV_E_UNAVAILABLE,
			       "iSCSI target %s LUN %d at %s: cannot read registered keys", t->iqn,
			       t->lun, portal);
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		registered |= keys[i] == victim;
	if (!registered)
		goto out;   /* nothing to break: success */
	pvi_pr_read(c, t->lun, &held, &holder, &type);
	st = pr_out(c, t->lun, SCSI_PERSISTENT_RESERVE_REGISTER_AND_IGNORE_EXISTING_KEY, 0, 0, own);
	if (st == SCSI_STATUS_GOOD)
		st = pr_out(c, t->lun, SCSI_PERSISTENT_RESERVE_PREEMPT, held ? type : PVI_PR_TYPE_WE,
			    own, victim);
	if (st != SCSI_STATUS_GOOD) {
		r = pv_err_set(err, -EIO, PV_E_UNAVAILABLE,
			       "iSCSI target %s LUN %d at %s: PREEMPT of key %016llx failed (status 0x%x)",
			       t->iqn, t->lun, portal, (unsigned long long)victim, st);
		goto out;
	}
	/* We hold the reservation now if the victim did: give it up and unregister. */
	pvi_pr_release(c, t->lun, own);
out:
	pvi_logout(c);
	return r;
}
