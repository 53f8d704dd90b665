/*
 * helper_stats.c — the counters file of a data-path helper (include/pvnode/driver/
 * helper_stats.h): created by the parent, mapped and counted into by the helper, read
 * by pvnode's metrics and pvctl describe.
 *
 * The file is one page: a header that says what it is (magic, layout version, size of
 * the layout, the serving helper's pid) and the counters, each a 64-bit word changed
 * only with relaxed atomic adds by the helper and read with relaxed atomic loads by a
 * reader that maps the same page. A scrape costs an open, an mmap and a munmap per
 * volume, plus /proc/<pid>/statm for the helper's resident memory; the helper does not
 * notice it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pvnode/driver/helper_stats.h"

#define STATS_MAGIC "PVIOSTAT"
#define STATS_VERSION 1
#define STATS_FILE_SIZE 4096

enum { C_READ_BYTES, C_WRITE_BYTES, C_READS, C_WRITES, C_FLUSHES, C_DISCARDS, C_ERRORS, C_N };

/* Layout version 1. New counters go into `reserved` with a version bump; readers
 * check magic, version and size before reading anything else. */
struct stats_page {
	char magic[8];          /* "PVIOSTAT" */
	uint32_t version;       /* STATS_VERSION */
	uint32_t size;          /* sizeof(struct stats_page) */
	int32_t pid;            /* the helper counting into it, written when it maps it */
	uint32_t pad;
	uint64_t counter[C_N];
	uint64_t reserved[24];
};
_Static_assert(sizeof(struct stats_page) <= STATS_FILE_SIZE, "one page");

static struct stats_page *g_page;   /* the helper's mapping, NULL: not counting */

void pv_helper_stats_count(enum pv_io_op op, uint64_t bytes, int result)
{
	struct stats_page *p = g_page;
	static const int count_of[] = { [PV_IO_READ] = C_READS, [PV_IO_WRITE] = C_WRITES,
					[PV_IO_FLUSH] = C_FLUSHES, [PV_IO_DISCARD] = C_DISCARDS };

	if (!p || (unsigned)op > PV_IO_DISCARD)
		return;
	__atomic_fetch_add(&p->counter[count_of[op]], 1, __ATOMIC_RELAXED);
	if (result < 0) {
		if (!(op == PV_IO_DISCARD && result == -EOPNOTSUPP))
			__atomic_fetch_add(&p->counter[C_ERRORS], 1, __ATOMIC_RELAXED);
		return;
	}
	if (op == PV_IO_READ)
		__atomic_fetch_add(&p->counter[C_READ_BYTES], bytes, __ATOMIC_RELAXED);
	else if (op == PV_IO_WRITE)
		__atomic_fetch_add(&p->counter[C_WRITE_BYTES], bytes, __ATOMIC_RELAXED);
}

static bool header_ok(const struct stats_page *p)
{
	return memcmp(p->magic, STATS_MAGIC, 8) == 0 && p->version == STATS_VERSION &&
	       p->size == sizeof(struct stats_page);
}

int pv_helper_stats_attach(int fd)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) || st.st_size != STATS_FILE_SIZE)
		return -EINVAL;
	struct stats_page *p = mmap(NULL, STATS_FILE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	if (!header_ok(p)) {
		munmap(p, STATS_FILE_SIZE);
		return -EINVAL;
	}
	__atomic_store_n(&p->pid, (int32_t)getpid(), __ATOMIC_RELEASE);
	g_page = p;   /* kept for the life of the helper */
	return 0;
}

int pv_helper_stats_create(const char *run_dir)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	struct stats_page h = { .version = STATS_VERSION, .size = sizeof(struct stats_page) };

	if (snprintf(path, sizeof(path), "%s/%s", run_dir, PV_HELPER_STATS_FILE) >= (int)sizeof(path) ||
	    snprintf(tmp, sizeof(tmp), "%s.%d.tmp", path, (int)getpid()) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	memcpy(h.magic, STATS_MAGIC, 8);
	int fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return -errno;
	int r = 0;
	if (pwrite(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h) || ftruncate(fd, STATS_FILE_SIZE) < 0 ||
	    rename(tmp, path) < 0)
		r = errno ? -errno : -EIO;
	if (r < 0) {
		unlink(tmp);
		close(fd);
		return r;
	}
	return fd;
}

/* Resident memory of pid from /proc/<pid>/statm ("size resident shared ..." in pages),
 * and how much of it is not file-backed (resident - shared: its anonymous memory). */
static void memory_of(pid_t pid, uint64_t *resident, uint64_t *anon)
{
	char path[64], line[128], *end, *end2;
	unsigned long long res, shared;

	*resident = *anon = 0;
	snprintf(path, sizeof(path), "/proc/%d/statm", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	ssize_t n = read(fd, line, sizeof(line) - 1);
	close(fd);
	if (n <= 0)
		return;
	line[n] = '\0';
	strtoull(line, &end, 10);   /* size, then resident, then shared */
	if (end == line || *end != ' ')
		return;
	res = strtoull(end + 1, &end2, 10);
	if (end2 == end + 1)
		return;
	*resident = (uint64_t)res * (uint64_t)sysconf(_SC_PAGESIZE);
	if (*end2 == ' ' && (shared = strtoull(end2 + 1, NULL, 10)) <= res)
		*anon = (uint64_t)(res - shared) * (uint64_t)sysconf(_SC_PAGESIZE);
}

int pv_helper_stats_read(const char *run_dir, pid_t pid, struct pv_helper_io *out)
{
	char path[PATH_MAX];
	struct stat st;
	int r = 0;

	memset(out, 0, sizeof(*out));
	if (pid <= 0 || snprintf(path, sizeof(path), "%s/%s", run_dir, PV_HELPER_STATS_FILE) >= (int)sizeof(path))
		return -ENOENT;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -ENOENT;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size < (off_t)sizeof(struct stats_page)) {
		close(fd);
		return -EPROTO;
	}
	const struct stats_page *p = mmap(NULL, sizeof(struct stats_page), PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return -errno;
	if (!header_ok(p))
		r = -EPROTO;
	else if (__atomic_load_n(&p->pid, __ATOMIC_ACQUIRE) != (int32_t)pid)
		r = -ENOENT;   /* an older helper's file, or this one has not mapped it yet */
	else {
		uint64_t c[C_N];
		for (int i = 0; i < C_N; i++)
			c[i] = __atomic_load_n(&p->counter[i], __ATOMIC_RELAXED);
		out->read_bytes = c[C_READ_BYTES];
		out->write_bytes = c[C_WRITE_BYTES];
		out->reads = c[C_READS];
		out->writes = c[C_WRITES];
		out->flushes = c[C_FLUSHES];
		out->discards = c[C_DISCARDS];
		out->errors = c[C_ERRORS];
	}
	munmap((void *)p, sizeof(struct stats_page));
	if (r == 0)
		memory_of(pid, &out->resident_bytes, &out->anon_bytes);
	return r;
}
