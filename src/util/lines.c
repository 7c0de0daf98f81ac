#include <stdbool.h>
#include <string.h>

#include "util/lines.h"

void lines_init(struct lines *l, size_t max)
{
	l->partial = (struct buf)BUF_INIT;
	l->clean = (struct buf)BUF_INIT;
	l->max = max < 8 ? 8 : max;
}

void lines_fini(struct lines *l)
{
	buf_free(&l->partial);
	buf_free(&l->clean);
}

/* seq_len returns the length of the valid UTF-8 sequence at s (at most n
 * bytes available), 0 when it is invalid, or -1 when it is a valid but
 * incomplete prefix. Overlong forms, surrogates and values above U+10FFFF
 * are invalid, as the Unicode standard says. */
static int seq_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	int len;
	unsigned char lo = 0x80, hi = 0xBF;

	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		len = 2;
	else if (c >= 0xE0 && c <= 0xEF) {
		len = 3;
		if (c == 0xE0)
			lo = 0xA0;
		else if (c == 0xED)
			hi = 0x9F;
	} else if (c >= 0xF0 && c <= 0xF4) {
		len = 4;
		if (c == 0xF0)
			lo = 0x90;
		else if (c == 0xF4)
			hi = 0x8F;
	} else {
		return 0;
	}
	for (int i = 1; i < len; i++) {
		if ((size_t)i >= n)
			return -1;
		unsigned char min = i == 1 ? lo : 0x80, max = i == 1 ? hi : 0xBF;
		if (s[i] < min || s[i] > max)
			return 0;
	}
	return len;
}

size_t lines_utf8_valid_prefix(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;
	while (i < len) {
		int n = seq_len(p + i, len - i);
		if (n <= 0)
			break;
		i += (size_t)n;
	}
	return i;
}

static void emit_clean(struct lines *l, const char *s, size_t len, bool more, lines_emit_fn *emit,
                       void *arg)
{
	if (!more && len > 0 && s[len - 1] == '\r')
		len--;
	size_t ok = lines_utf8_valid_prefix(s, len);
	if (ok == len && memchr(s, '\0', len) == NULL) {
		emit(arg, s, len, more);
		return;
	}
	buf_reset(&l->clean);
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;
	while (i < len) {
		int n = seq_len(p + i, len - i);
		if (n == 1 && p[i] == 0) {
			buf_append(&l->clean, "\\0", 2);
			i++;
		} else if (n > 0) {
			buf_append(&l->clean, p + i, (size_t)n);
			i += (size_t)n;
		} else {
			buf_append(&l->clean, "\xEF\xBF\xBD", 3);
			i++;
		}
	}
	emit(arg, l->clean.data, l->clean.len, more);
}

/* cut_point finds where to split an over-long line: at most max bytes, and
 * not inside a UTF-8 sequence. */
static size_t cut_point(const char *s, size_t max)
{
	size_t cut = max;
	for (int back = 0; back < 3 && cut > 1; back++) {
		if (((unsigned char)s[cut] & 0xC0) != 0x80)
			break;
		cut--;
	}
	return ((unsigned char)s[cut] & 0xC0) == 0x80 ? max : cut;
}

static void flush_long(struct lines *l, lines_emit_fn *emit, void *arg)
{
	while (l->partial.len > l->max) {
		size_t cut = cut_point(l->partial.data, l->max);
		emit_clean(l, l->partial.data, cut, true, emit, arg);
		buf_consume(&l->partial, cut);
	}
}

void lines_feed(struct lines *l, const char *data, size_t len, lines_emit_fn *emit, void *arg)
{
	while (len > 0) {
		const char *nl = memchr(data, '\n', len);
		size_t take = nl ? (size_t)(nl - data) : len;
		if (l->partial.len == 0 && nl && take <= l->max) {
			emit_clean(l, data, take, false, emit, arg);
		} else {
			buf_append(&l->partial, data, take);
			flush_long(l, emit, arg);
			if (nl) {
				emit_clean(l, l->partial.data ? l->partial.data : "",
				           l->partial.len, false, emit, arg);
				buf_reset(&l->partial);
			}
		}
		if (!nl)
			return;
		data = nl + 1;
		len -= take + 1;
	}
}

void lines_finish(struct lines *l, lines_emit_fn *emit, void *arg)
{
	if (l->partial.len > 0)
		emit_clean(l, l->partial.data, l->partial.len, false, emit, arg);
	buf_reset(&l->partial);
}
