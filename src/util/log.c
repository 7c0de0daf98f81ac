#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/clock.h"
#include "util/log.h"

static enum log_level min_level = LOG_INFO;
static enum log_format line_format = LOG_LOGFMT;

static const char *level_names[] = {"debug", "info", "warn", "error"};

void log_setup(enum log_level min, enum log_format format)
{
	min_level = min;
	line_format = format;
}

int log_parse_level(const char *s, enum log_level *out)
{
	for (int i = LOG_DEBUG; i <= LOG_ERROR; i++)
		if (strcasecmp(s, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	if (strcasecmp(s, "warning") == 0) {
		*out = LOG_WARN;
		return 0;
	}
	return -1;
}

int log_parse_format(const char *s, enum log_format *out)
{
	if (strcasecmp(s, "logfmt") == 0 || strcasecmp(s, "text") == 0)
		*out = LOG_LOGFMT;
	else if (strcasecmp(s, "json") == 0)
		*out = LOG_JSON;
	else
		return -1;
	return 0;
}

int log_enabled(enum log_level level)
{
	return level >= min_level;
}

static bool needs_quotes(const char *v)
{
	if (*v == '\0')
		return true;
	for (const unsigned char *p = (const unsigned char *)v; *p; p++)
		if (*p <= ' ' || *p == '=' || *p == '"' || *p == '\\' || *p == 0x7f)
			return true;
	return false;
}

static void put_escaped(struct buf *b, const char *v, bool json)
{
	for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
		switch (*p) {
		case '"':
			buf_puts(b, "\\\"");
			break;
		case '\\':
			buf_puts(b, "\\\\");
			break;
		case '\n':
			buf_puts(b, "\\n");
			break;
		case '\r':
			buf_puts(b, "\\r");
			break;
		case '\t':
			buf_puts(b, "\\t");
			break;
		default:
			if (*p < 0x20 || (json && *p == 0x7f))
				buf_printf(b, "\\u%04x", *p);
			else
				buf_putc(b, (char)*p);
		}
	}
}

static void put_field(struct buf *b, const char *key, const char *value)
{
	if (line_format == LOG_JSON) {
		buf_puts(b, b->len > 1 ? ",\"" : "\"");
		put_escaped(b, key, true);
		buf_puts(b, "\":\"");
		put_escaped(b, value, true);
		buf_putc(b, '"');
		return;
	}
	if (b->len)
		buf_putc(b, ' ');
	buf_puts(b, key);
	buf_putc(b, '=');
	if (needs_quotes(value)) {
		buf_putc(b, '"');
		put_escaped(b, value, false);
		buf_putc(b, '"');
	} else {
		buf_puts(b, value);
	}
}

static void emit(enum log_level level, const char *msg, va_list *pairs)
{
	struct buf b = BUF_INIT;
	char now[CLOCK_TEXT_MAX];

	clock_format_iso(clock_now_ns(), now);
	if (line_format == LOG_JSON)
		buf_putc(&b, '{');
	put_field(&b, "time", now);
	put_field(&b, "level", level_names[level]);
	put_field(&b, "msg", msg);
	if (pairs) {
		const char *key;
		while ((key = va_arg(*pairs, const char *)) != NULL) {
			const char *value = va_arg(*pairs, const char *);
			if (value)
				put_field(&b, key, value);
		}
	}
	buf_puts(&b, line_format == LOG_JSON ? "}\n" : "\n");
	/* One write per line keeps lines from different threads whole. */
	ssize_t ignored = write(STDERR_FILENO, b.data, b.len);
	(void)ignored;
	buf_free(&b);
}

void log_kv(enum log_level level, const char *msg, ...)
{
	if (level < min_level)
		return;
	va_list ap;
	va_start(ap, msg);
	emit(level, msg, &ap);
	va_end(ap);
}

static void logv(enum log_level level, bool with_errno, const char *fmt, va_list ap)
{
	if (level < min_level)
		return;
	int saved = errno;
	struct buf msg = BUF_INIT;
	buf_vprintf(&msg, fmt, ap);
	if (with_errno)
		buf_printf(&msg, ": %s", strerror(saved));
	emit(level, buf_cstr(&msg), NULL);
	buf_free(&msg);
	errno = saved;
}

#define LOG_FN(name, level, with_errno)                                                            \
	void name(const char *fmt, ...)                                                            \
	{                                                                                          \
		va_list ap;                                                                        \
		va_start(ap, fmt);                                                                 \
		logv(level, with_errno, fmt, ap);                                                  \
		va_end(ap);                                                                        \
	}

LOG_FN(log_debug, LOG_DEBUG, false)
LOG_FN(log_info, LOG_INFO, false)
LOG_FN(log_warn, LOG_WARN, true)
LOG_FN(log_warnx, LOG_WARN, false)
LOG_FN(log_error, LOG_ERROR, true)
LOG_FN(log_errorx, LOG_ERROR, false)
