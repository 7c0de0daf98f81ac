/* Text forms of Ofelia's payloads: Go writes them with encoding/json,
 * fmt's %q, url.QueryEscape, html/template and time.Time's layouts, so
 * receivers that parse Ofelia's messages get the same bytes from here. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "notify/notify_int.h"
#include "util/clock.h"
#include "util/xalloc.h"

/* utf8_len returns the length of the valid UTF-8 sequence at s (at most n
 * bytes), or 0 when it is not one. */
static size_t utf8_len(const unsigned char *s, size_t n, unsigned *cp)
{
	unsigned c = s[0];
	size_t len;
	unsigned v;
	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xC2 && c <= 0xDF)
		len = 2, v = c & 0x1F;
	else if (c >= 0xE0 && c <= 0xEF)
		len = 3, v = c & 0x0F;
	else if (c >= 0xF0 && c <= 0xF4)
		len = 4, v = c & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		v = (v << 6) | (s[i] & 0x3F);
	}
	if ((len == 3 && v < 0x800) || (len == 4 && (v < 0x10000 || v > 0x10FFFF)) ||
	    (v >= 0xD800 && v <= 0xDFFF))
		return 0;
	*cp = v;
	return len;
}

/* json_short_escape appends the two-character JSON escape of c, when c
 * has one; both JSON writers below share it. */
static bool json_short_escape(struct buf *b, unsigned c)
{
	static const char esc[] = "\"\\\b\f\n\r\t";
	static const char name[] = "\"\\bfnrt";
	const char *e = c ? strchr(esc, (int)c) : NULL;
	if (e == NULL)
		return false;
	buf_putc(b, '\\');
	buf_putc(b, name[e - esc]);
	return true;
}

void notify_json_string(struct buf *b, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	buf_putc(b, '"');
	for (size_t i = 0; i < len;) {
		unsigned c = p[i], cp;
		if (c < 0x80) {
			i++;
			if (json_short_escape(b, c))
				continue;
			/* Go's encoder also escapes <, > and & (HTML-safe). */
			if (c < 0x20 || c == '<' || c == '>' || c == '&')
				buf_printf(b, "\\u%04x", c);
			else
				buf_putc(b, (char)c);
			continue;
		}
		size_t n = utf8_len(p + i, len - i, &cp);
		if (n == 0) {
			buf_puts(b, "\\ufffd");
			i++;
		} else if (cp == 0x2028 || cp == 0x2029) {
			buf_printf(b, "\\u%04x", cp);
			i += n;
		} else {
			buf_append(b, p + i, n);
			i += n;
		}
	}
	buf_putc(b, '"');
}

void notify_json_escape(struct buf *b, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (json_short_escape(b, c))
			continue;
		if (c < 0x20)
			buf_printf(b, "\\u%04x", c);
		else
			buf_putc(b, (char)c);
	}
}

void notify_go_quote(struct buf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t len = strlen(s);
	buf_putc(b, '"');
	for (size_t i = 0; i < len;) {
		unsigned c = p[i], cp;
		size_t n = c < 0x80 ? 1 : utf8_len(p + i, len - i, &cp);
		if (n == 0) {
			buf_printf(b, "\\x%02x", c);
			i++;
			continue;
		}
		if (c >= 0x80) {
			buf_append(b, p + i, n);
			i += n;
			continue;
		}
		static const char esc[] = "\a\b\f\n\r\t\v";
		static const char name[] = "abfnrtv";
		const char *e = c ? strchr(esc, (int)c) : NULL;
		if (c == '"' || c == '\\')
			buf_printf(b, "\\%c", c);
		else if (e)
			buf_printf(b, "\\%c", name[e - esc]);
		else if (c < 0x20 || c == 0x7F)
			buf_printf(b, "\\x%02x", c);
		else
			buf_putc(b, (char)c);
		i++;
	}
	buf_putc(b, '"');
}

void notify_query_escape(struct buf *b, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~')
			buf_putc(b, (char)c);
		else if (c == ' ')
			buf_putc(b, '+');
		else
			buf_printf(b, "%%%02X", c);
	}
}

void notify_html_escape(struct buf *b, const char *s)
{
	for (; *s; s++)
		switch (*s) {
		case '"':
			buf_puts(b, "&#34;");
			break;
		case '&':
			buf_puts(b, "&amp;");
			break;
		case '\'':
			buf_puts(b, "&#39;");
			break;
		case '+':
			buf_puts(b, "&#43;");
			break;
		case '<':
			buf_puts(b, "&lt;");
			break;
		case '>':
			buf_puts(b, "&gt;");
			break;
		default:
			buf_putc(b, *s);
		}
}

static void local_tm(int64_t ns, struct tm *tm)
{
	time_t t = (time_t)(ns / NS_PER_SEC);
	if (ns < 0 && ns % NS_PER_SEC)
		t--;
	localtime_r(&t, tm);
}

void notify_time_rfc3339(int64_t ns, char out[64])
{
	struct tm tm;
	local_tm(ns, &tm);
	size_t n = strftime(out, 64, "%Y-%m-%dT%H:%M:%S", &tm);
	long off = tm.tm_gmtoff;
	if (off == 0)
		snprintf(out + n, 64 - n, "Z");
	else
		snprintf(out + n, 64 - n, "%c%02ld:%02ld", off < 0 ? '-' : '+',
		         (off < 0 ? -off : off) / 3600, ((off < 0 ? -off : off) % 3600) / 60);
}

void notify_time_go(int64_t ns, char out[96])
{
	struct tm tm;
	char frac[16] = "";
	local_tm(ns, &tm);
	long sub = (long)(((ns % NS_PER_SEC) + NS_PER_SEC) % NS_PER_SEC);
	if (sub) {
		snprintf(frac, sizeof frac, ".%09ld", sub);
		for (size_t n = strlen(frac); n > 1 && frac[n - 1] == '0'; n--)
			frac[n - 1] = '\0';
	}
	size_t n = strftime(out, 96, "%Y-%m-%d %H:%M:%S", &tm);
	long off = tm.tm_gmtoff, a = off < 0 ? -off : off;
	snprintf(out + n, 96 - n, "%s %c%02ld%02ld %s", frac, off < 0 ? '-' : '+', a / 3600,
	         (a % 3600) / 60, tm.tm_zone ? tm.tm_zone : "UTC");
}

/* host_of finds the host of url (no user, no port) into out, lowercase. */
static bool host_of(const char *url, char *out, size_t outlen)
{
	const char *p = strstr(url, "://");
	if (p == NULL)
		return false;
	p += 3;
	size_t n = strcspn(p, "/?#");
	const char *at = memchr(p, '@', n);
	if (at) {
		n -= (size_t)(at + 1 - p);
		p = at + 1;
	}
	if (n && *p == '[') {
		const char *close = memchr(p, ']', n);
		if (close == NULL)
			return false;
		p++;
		n = (size_t)(close - p);
	} else {
		const char *colon = memchr(p, ':', n);
		if (colon)
			n = (size_t)(colon - p);
	}
	if (n == 0 || n >= outlen)
		return false;
	for (size_t i = 0; i < n; i++)
		out[i] = (char)tolower((unsigned char)p[i]);
	out[n] = '\0';
	return true;
}

bool notify_host_allowed(const struct strv *allowed, const char *url, char *err, size_t errlen)
{
	char host[256];
	if (allowed->n == 0)
		return true;
	if (!host_of(url, host, sizeof host)) {
		snprintf(err, errlen, "the URL has no host");
		return false;
	}
	for (size_t i = 0; i < allowed->n; i++) {
		const char *a = allowed->v[i];
		if (strcmp(a, "*") == 0 || strcasecmp(a, host) == 0)
			return true;
		size_t hn = strlen(host), an = strlen(a);
		if (a[0] == '*' && a[1] == '.' && hn > an - 1 &&
		    strcasecmp(host + hn - (an - 1), a + 1) == 0)
			return true;
	}
	snprintf(err, errlen, "host \"%s\" is not in webhook-allowed-hosts", host);
	return false;
}

char *notify_mask_url(const char *url)
{
	const char *host = strstr(url, "://");
	if (host == NULL)
		return xstrdup("********");
	host += 3;
	size_t len = strcspn(host, "/?#");
	const char *at = memchr(host, '@', len);
	if (at) {
		len -= (size_t)(at + 1 - host);
		host = at + 1;
	}
	return xasprintf("%.*s%.*s/...", (int)(strstr(url, "://") + 3 - url), url, (int)len, host);
}

char *notify_replace(const char *s, const char *const *vars)
{
	struct buf b = BUF_INIT;
	while (*s) {
		bool done = false;
		if (*s == '{')
			for (size_t i = 0; vars[i]; i += 2) {
				size_t n = strlen(vars[i]);
				if (strncmp(s + 1, vars[i], n) == 0 && s[1 + n] == '}') {
					buf_puts(&b, vars[i + 1] ? vars[i + 1] : "");
					s += n + 2;
					done = true;
					break;
				}
			}
		if (!done)
			buf_putc(&b, *s++);
	}
	return b.data ? buf_steal(&b) : xstrdup("");
}
