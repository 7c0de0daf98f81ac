/* log: one line per event on stderr, as logfmt (default) or JSON, safe to call
 * from any thread. Two verbs per level, after OpenSMTPD: log_warn appends
 * strerror(errno), log_warnx does not. log_kv adds key/value fields. */
#ifndef OFELIA_UTIL_LOG_H
#define OFELIA_UTIL_LOG_H

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };
enum log_format { LOG_LOGFMT, LOG_JSON };

/* log_setup sets the lowest level written and the line format. */
void log_setup(enum log_level min, enum log_format format);
/* log_parse_level / log_parse_format read "debug".."error" / "logfmt","json"
 * (case-insensitive; "warning" too); return 0, or -1 for anything else. */
int log_parse_level(const char *s, enum log_level *out);
int log_parse_format(const char *s, enum log_format *out);
/* log_enabled tells whether a line at this level would be written. */
int log_enabled(enum log_level level);

/* log_kv writes msg and then pairs of (const char *key, const char *value)
 * ending with NULL; a NULL value is skipped. */
void log_kv(enum log_level level, const char *msg, ...) __attribute__((sentinel));

void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_errorx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
