/*
 * log.c — the node log: one line per event on stderr, text or JSON, with a level.
 * Callers never pass secrets here (requests are stripped before logging, see
 * pv_secret_looking); messages are plain sentences.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <pthread.h>

#include <jansson.h>

#include "pvnode/driver/os.h"

static enum pv_log_level log_level = PV_LOG_WARN;
static bool log_json;
static const char *log_prog = "pvnode";
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

void pv_log_setup(enum pv_log_level level, bool json, const char *prog)
{
	log_level = level;
	log_json = json;
	if (prog)
		log_prog = prog;
}

void pv_log(enum pv_log_level level, const char *fmt, ...)
{
	static const char *const names[] = { "error", "warning", "info", "debug" };
	char msg[1024], ts[40];
	struct timespec now;
	struct tm tm;
	va_list ap;

	if (level > log_level)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, now.tv_nsec / 1000000);
	pthread_mutex_lock(&log_lock);
	if (log_json) {
		json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "time", ts, "level", names[level],
				      "prog", log_prog, "msg", msg);
		char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
		if (s)
			fprintf(stderr, "%s\n", s);
		free(s);
		json_decref(o);
	} else {
		fprintf(stderr, "%s %s %s: %s\n", ts, log_prog, names[level], msg);
	}
	pthread_mutex_unlock(&log_lock);
}

void pv_progress(bool enabled, const char *fmt, ...)
{
	va_list ap;

	if (!enabled || !isatty(STDERR_FILENO))
		return;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fflush(stderr);
}
