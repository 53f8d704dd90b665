/*
 * helper_stats.h — a data-path helper's per-volume I/O counters, read by pvnode's
 * metrics and `pvctl describe` without talking to the helper.
 *
 * pv_helper_start (lib/helper.c) makes a fresh counters file, <run_dir>/helper.iostats,
 * and passes it to the helper as fd 4; pv_helper_child_init maps it. The helper counts
 * every request it completes for the kernel with one pv_helper_stats_count() call
 * (relaxed atomic adds on the shared mapping: no lock, no system call). Readers map the
 * file read-only and trust it only when the pid in its header is the helper the journal
 * records as running. The layout is private to lib/helper_stats.c and versioned (magic,
 * version, size in the header); a reader refuses a layout it does not know.
 */
#ifndef PVNODE_DRIVER_HELPER_STATS_H
#define PVNODE_DRIVER_HELPER_STATS_H

#include <stdint.h>
#include <sys/types.h>

enum pv_io_op {
	PV_IO_READ,
	PV_IO_WRITE,
	PV_IO_FLUSH,     /* fsync / flush: a cache flush or commit at the backend */
	PV_IO_DISCARD,   /* punch hole / zero range */
};

/* The file's name in a volume's run directory. */
#define PV_HELPER_STATS_FILE "helper.iostats"
/* The fd pv_helper_start passes it on (after the readiness pipe on fd 3). */
#define PV_HELPER_STATS_FD 4

/* --- in the helper program --- */
/* Count one completed request: `bytes` it moved (0 for a flush), `result` what the
 * kernel gets (a negative errno counts as an error; -EOPNOTSUPP of a discard does not:
 * the kernel falls back). Any thread; does nothing when no counters file was passed. */
void pv_helper_stats_count(enum pv_io_op op, uint64_t bytes, int result);
/* Map the counters file passed on `fd` (called by pv_helper_child_init); 0, or -errno
 * when fd is not a counters file (the helper then counts nothing). */
int pv_helper_stats_attach(int fd);

/* --- in pvnode / pvctl --- */
struct pv_helper_io {
	uint64_t read_bytes, write_bytes;
	uint64_t reads, writes, flushes, discards;
	uint64_t errors;           /* requests answered with an error */
	uint64_t resident_bytes;   /* the helper's resident memory, 0: unknown */
	uint64_t anon_bytes;       /* ...of it its own (resident, not file-backed: the shared
				    * library text every helper maps counts once per node) */
};
/* Make <run_dir>/helper.iostats afresh (zeroed, header written; atomically replacing
 * an old one) and return an fd open on it for the helper, or -errno. */
int pv_helper_stats_create(const char *run_dir);
/* The counters of the helper `pid` serving from run_dir, and its resident memory:
 * 0, or -ENOENT when no file of that helper is there, -EPROTO for an unknown layout. */
int pv_helper_stats_read(const char *run_dir, pid_t pid, struct pv_helper_io *out);

#endif
