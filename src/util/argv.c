/* argv: a rune-for-rune port of the tokenizer Ofelia runs every command
 * through (github.com/gobs/args GetArgs, no options), so a command line means
 * the same words here as there. Its rules, some of them surprising:
 *
 * - Words are separated by Unicode white space (Go's unicode.IsSpace).
 * - A quote (' " `) opens a quoted word only as the first character of a
 *   word; the closing quote ends the word, so "a"b is two words and a"b" is
 *   one word with the quotes kept. '' gives an empty word.
 * - A backslash takes the next character literally, inside ' and " too;
 *   inside ` it is an ordinary character.
 * - A word starting with { [ ( runs to the matching bracket, brackets kept.
 * - A word starting with | > < # takes the rest of the line, as is.
 * - Input is decoded as UTF-8 the way Go's bufio.Reader does: an invalid byte
 *   becomes U+FFFD. Outside quotes U+FFFD ends the word and is dropped,
 *   because gobs/args uses it as its "no quote" marker.
 *
 * The one deliberate difference: gobs/args silently closes a quote left open
 * at the end of the line; argv_split reports it, since that is a typo that
 * would otherwise run a different command than the one written. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "util/argv.h"
#include "util/buf.h"

#define NO_QUOTE   0xFFFDu /* gobs/args' marker, and Go's replacement rune */
#define IS_CONT(b) (((b)&0xC0u) == 0x80u)

struct rune {
	uint32_t c;
	size_t len; /* bytes consumed */
	bool bad;   /* an invalid sequence: written back as U+FFFD */
};

/* decode reads one rune as Go's utf8.DecodeRune does: overlong forms,
 * surrogates and values past U+10FFFF are invalid and consume one byte. */
static struct rune decode(const unsigned char *s)
{
	struct rune r = {NO_QUOTE, 1, true};
	unsigned b0 = s[0];
	if (b0 < 0x80)
		return (struct rune){b0, 1, false};
	if (b0 >= 0xC2 && b0 <= 0xDF) {
		if (IS_CONT(s[1]))
			r = (struct rune){((b0 & 0x1Fu) << 6) | (s[1] & 0x3Fu), 2, false};
		return r;
	}
	if (b0 >= 0xE0 && b0 <= 0xEF) {
		unsigned lo = b0 == 0xE0 ? 0xA0 : 0x80, hi = b0 == 0xED ? 0x9F : 0xBF;
		if (s[1] >= lo && s[1] <= hi && IS_CONT(s[2]))
			r = (struct rune){((b0 & 0x0Fu) << 12) | ((s[1] & 0x3Fu) << 6) |
			                      (s[2] & 0x3Fu),
			                  3, false};
		return r;
	}
	if (b0 >= 0xF0 && b0 <= 0xF4) {
		unsigned lo = b0 == 0xF0 ? 0x90 : 0x80, hi = b0 == 0xF4 ? 0x8F : 0xBF;
		if (s[1] >= lo && s[1] <= hi && IS_CONT(s[2]) && IS_CONT(s[3]))
			r = (struct rune){((b0 & 0x07u) << 18) | ((s[1] & 0x3Fu) << 12) |
			                      ((s[2] & 0x3Fu) << 6) | (s[3] & 0x3Fu),
			                  4, false};
		return r;
	}
	return r;
}

/* is_space is Go's unicode.IsSpace. */
static bool is_space(uint32_t c)
{
	switch (c) {
	case '\t':
	case '\n':
	case '\v':
	case '\f':
	case '\r':
	case ' ':
	case 0x85:
	case 0xA0:
	case 0x1680:
	case 0x2028:
	case 0x2029:
	case 0x202F:
	case 0x205F:
	case 0x3000:
		return true;
	default:
		return c >= 0x2000 && c <= 0x200A;
	}
}

static bool is_quote(uint32_t c)
{
	return c == '\'' || c == '"' || c == '`';
}

static char closing_bracket(uint32_t c)
{
	return c == '{' ? '}' : c == '[' ? ']' : c == '(' ? ')' : 0;
}

static void put(struct buf *b, const unsigned char *p, const struct rune *r)
{
	if (r->bad)
		buf_append(b, "\xEF\xBF\xBD", 3);
	else
		buf_append(b, p, r->len);
}

struct scan {
	const unsigned char *p;
	struct buf brackets; /* a stack of the closing brackets still expected */
	char *err;
	size_t errlen;
};

/* word reads one word into b. Returns 1 when a word was read, 0 at the end of
 * the input, -1 for an unterminated quote. */
static int word(struct scan *s, struct buf *b)
{
	bool first = true, escape = false, raw = false;
	uint32_t quote = NO_QUOTE;
	struct buf *open = &s->brackets;

	buf_reset(b);
	buf_reset(open);
	while (*s->p) {
		const unsigned char *at = s->p;
		struct rune r = decode(at);
		uint32_t c = r.bad ? NO_QUOTE : r.c;
		s->p += r.len;

		if (c == '\\' && !escape && !raw) {
			escape = true;
			first = false;
			continue;
		}
		if (escape) {
			escape = false;
			put(b, at, &r);
			continue;
		}
		if (first) {
			if (is_space(c))
				continue;
			first = false;
			if (is_quote(c)) {
				quote = c;
				raw = c == '`';
				continue;
			}
			if (closing_bracket(c)) {
				buf_putc(open, closing_bracket(c));
				put(b, at, &r);
				continue;
			}
			if (c == '|' || c == '>' || c == '<' || c == '#') {
				buf_append(b, at, strlen((const char *)at));
				s->p += strlen((const char *)s->p);
				return 1;
			}
		}
		if (open->len == 0) {
			if (is_space(c) && quote == NO_QUOTE)
				return 1;
			if (c == quote) /* also U+FFFD outside quotes: see the top */
				return 1;
			put(b, at, &r);
			continue;
		}
		put(b, at, &r);
		if (quote != NO_QUOTE) {
			if (c == quote) {
				quote = NO_QUOTE;
				raw = false;
			}
		} else if (c == (unsigned char)open->data[open->len - 1]) {
			if (--open->len == 0)
				return 1;
		} else if (is_quote(c)) {
			quote = c;
			raw = c == '`';
		} else if (closing_bracket(c)) {
			buf_putc(open, closing_bracket(c));
		}
	}
	if (open->len == 0 && quote != NO_QUOTE) {
		snprintf(s->err, s->errlen, "unterminated %c quote", (char)quote);
		return -1;
	}
	return b->len > 0 ? 1 : 0;
}

int argv_split(const char *cmd, struct strv *out, char *err, size_t errlen)
{
	struct scan s = {(const unsigned char *)cmd, BUF_INIT, err, errlen};
	struct buf b = BUF_INIT;
	int rc;

	while ((rc = word(&s, &b)) > 0)
		strv_push(out, buf_cstr(&b));
	buf_free(&b);
	buf_free(&s.brackets);
	return rc < 0 ? -1 : 0;
}
