/*
 * util.h — small pieces every part of pvnode uses (front ends, the library, drivers and
 * helper programs): cleanup attributes, files, paths, logging, process hardening.
 * The operating-system helpers only drivers and the library need (loop devices, mounts,
 * spawning) are in pvnode/driver/os.h.
 */
#ifndef PVNODE_UTIL_H
#define PVNODE_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "pvnode/error.h"

/* systemd-style cleanup: `_cleanup_(pv_freep) char *x = NULL;` frees x on every return;
 * `return TAKE_PTR(x);` hands it over instead. */
#define _cleanup_(f) __attribute__((cleanup(f)))
#define TAKE_PTR(p)                       \
	({                                \
		__typeof__(p) _taken = (p); \
		(p) = NULL;               \
		_taken;                   \
	})
#define TAKE_FD(fd)                 \
	({                          \
		int _taken = (fd);  \
		(fd) = -1;          \
		_taken;             \
	})
void pv_freep(void *p);     /* for _cleanup_(pv_freep) char *x */
void pv_closep(int *fd);    /* for _cleanup_(pv_closep) int fd = -1 */
void pv_strv_free(char **v); /* a NULL-terminated array of strings */
void pv_strv_freep(char ***v);
void pv_json_decrefp(void *p);  /* for _cleanup_(pv_json_decrefp) json_t *o (jansson) */

/* --- lib/os/fsutil.c --- */
/* CLOCK_MONOTONIC in milliseconds (csi/h2.c keeps its own: it builds alone for fuzzing). */
int64_t pv_mono_ms(void);
/* Write `len` bytes to `path` atomically: temp file in the same dir with `mode`, fsync,
 * rename, fsync of the directory. */
int pv_write_atomic(const char *path, const void *data, size_t len, mode_t mode, struct pv_err *err);
/* Is `name` a temp file of pv_write_atomic (or of the file driver's image create):
 * "<name>.tmp.<digits>"? */
bool pv_temp_name(const char *name);
/* A temp file (in directory fd `dirfd`) whose writer was killed: one older than
 * PV_TEMP_STALE_S. Age, not the pid in its name: pvnodes in separate pid namespaces (the
 * containers of a node's pod) share the state directory, so a pid says nothing here. */
#define PV_TEMP_STALE_S 120
bool pv_temp_stale(int dirfd, const char *name);
int pv_read_file(const char *path, char **data, size_t *len, struct pv_err *err);
int pv_mkdir_p(const char *path, mode_t mode, struct pv_err *err);
/* path is absolute, normalised, has no ".." component and no control characters. */
bool pv_path_clean(const char *path);
/* path == prefix or path is below prefix (component-wise). */
bool pv_path_under(const char *path, const char *prefix);

/* --- lib/os/spawn.c --- */
/* Absolute path of one of pvnode's helper programs: $PVNODE_HELPER_DIR, then the
 * directory of /proc/self/exe, then the configured libexecdir. */
int pv_helper_path(const char *name, char *buf, size_t len, struct pv_err *err);

/* --- lib/os/proc.c --- */
/* Processes that hold secrets (pvctl, pvnode, helpers with CHAP or cephx keys in
 * memory for reconnects): no core dumps, no ptrace by other users. */
void pv_process_harden(void);

/* --- lib/log.c --- */
enum pv_log_level { PV_LOG_ERROR = 0, PV_LOG_WARN, PV_LOG_INFO, PV_LOG_DEBUG };
void pv_log_setup(enum pv_log_level level, bool json, const char *prog);
void pv_log(enum pv_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Report progress on stderr when it is a terminal: "\rFormatting ... 40%". */
void pv_progress(bool enabled, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define pv_error(...) pv_log(PV_LOG_ERROR, __VA_ARGS__)
#define pv_warn(...) pv_log(PV_LOG_WARN, __VA_ARGS__)
#define pv_info(...) pv_log(PV_LOG_INFO, __VA_ARGS__)
#define pv_debug(...) pv_log(PV_LOG_DEBUG, __VA_ARGS__)

#endif
