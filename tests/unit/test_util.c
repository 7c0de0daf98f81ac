/* The base layer: line splitting, the hash map, time text, buffers. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "util/buf.h"
#include "util/clock.h"
#include "util/lines.h"
#include "util/map.h"
#include "util/strv.h"

struct collected {
	struct strv lines;
	char more[64]; /* '+' for a piece with more to come, '.' for a line's end */
};

static void collect(void *arg, const char *line, size_t len, bool more)
{
	struct collected *c = arg;
	if (c->lines.n < sizeof c->more - 1)
		c->more[c->lines.n] = more ? '+' : '.';
	struct buf b = BUF_INIT;
	buf_append(&b, line, len);
	strv_push_owned(&c->lines, buf_steal(&b));
}

static void feed_split(const char *input, size_t max, size_t chunk, struct collected *c)
{
	struct lines l;
	lines_init(&l, max);
	size_t n = strlen(input);
	for (size_t i = 0; i < n; i += chunk)
		lines_feed(&l, input + i, n - i < chunk ? n - i : chunk, collect, c);
	lines_finish(&l, collect, c);
	lines_fini(&l);
}

Test(lines, splits_at_every_chunking)
{
	const char *input = "alpha\nbeta\r\n\ngamma without newline";
	for (size_t chunk = 1; chunk <= strlen(input); chunk++) {
		struct collected c = {.lines = STRV_INIT};
		feed_split(input, 1024, chunk, &c);
		cr_assert_eq(c.lines.n, 4, "chunk %zu gave %zu lines", chunk, c.lines.n);
		cr_expect_str_eq(c.lines.v[0], "alpha");
		cr_expect_str_eq(c.lines.v[1], "beta");
		cr_expect_str_eq(c.lines.v[2], "");
		cr_expect_str_eq(c.lines.v[3], "gamma without newline");
		strv_free(&c.lines);
	}
}

Test(lines, long_lines_come_in_pieces_of_at_most_max)
{
	char input[100];
	memset(input, 'x', 99);
	input[99] = '\0';
	struct collected c = {.lines = STRV_INIT};
	feed_split(input, 40, 7, &c);
	cr_assert_eq(c.lines.n, 3);
	cr_expect_eq(strlen(c.lines.v[0]), 40);
	cr_expect_eq(strlen(c.lines.v[1]), 40);
	cr_expect_eq(strlen(c.lines.v[2]), 19);
	/* The pieces say which line goes on, so `output` joins them again. */
	cr_expect_str_eq(c.more, "++.");
	strv_free(&c.lines);
}

Test(lines, nul_bytes_stay_visible)
{
	/* A NUL used to cut the line (and `output`) wherever C strings are read. */
	static const char input[] = "before\0after\n\0\0\nend\0";
	struct collected c = {.lines = STRV_INIT};
	struct lines l;
	lines_init(&l, 1024);
	lines_feed(&l, input, sizeof input - 1, collect, &c);
	lines_finish(&l, collect, &c);
	lines_fini(&l);
	cr_assert_eq(c.lines.n, 3);
	cr_expect_str_eq(c.lines.v[0], "before\\0after");
	cr_expect_str_eq(c.lines.v[1], "\\0\\0");
	cr_expect_str_eq(c.lines.v[2], "end\\0");
	strv_free(&c.lines);
}

Test(lines, a_cut_never_splits_a_character)
{
	/* "é" is two bytes; with max 9 the cut must fall before or after it. */
	const char *input = "abcdefghé-tail\n";
	struct collected c = {.lines = STRV_INIT};
	feed_split(input, 9, 3, &c);
	for (size_t i = 0; i < c.lines.n; i++)
		cr_expect_eq(lines_utf8_valid_prefix(c.lines.v[i], strlen(c.lines.v[i])),
		             strlen(c.lines.v[i]), "piece %zu is not whole UTF-8", i);
	struct buf joined = BUF_INIT;
	for (size_t i = 0; i < c.lines.n; i++)
		buf_puts(&joined, c.lines.v[i]);
	cr_expect_str_eq(buf_cstr(&joined), "abcdefghé-tail");
	buf_free(&joined);
	strv_free(&c.lines);
}

Test(lines, invalid_utf8_becomes_replacement_characters)
{
	struct collected c = {.lines = STRV_INIT};
	feed_split("a\xff"
	           "b\xc3\n"
	           "\xed\xa0\x80z\n",
	           1024, 1, &c);
	cr_assert_eq(c.lines.n, 2);
	cr_expect_str_eq(c.lines.v[0], "a\xef\xbf\xbd"
	                               "b\xef\xbf\xbd");
	/* an encoded surrogate is invalid: each byte is replaced */
	cr_expect_str_eq(c.lines.v[1], "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdz");
	strv_free(&c.lines);
}

Test(map, put_get_remove_and_grow)
{
	struct map m;
	char key[32];
	map_init(&m);
	for (long i = 0; i < 5000; i++) {
		snprintf(key, sizeof key, "job-%ld", i);
		cr_assert_null(map_put(&m, key, (void *)(i + 1)));
	}
	cr_assert_eq(m.count, 5000);
	for (long i = 0; i < 5000; i++) {
		snprintf(key, sizeof key, "job-%ld", i);
		cr_assert_eq(map_get(&m, key), (void *)(i + 1));
	}
	cr_expect_eq(map_put(&m, "job-7", (void *)99), (void *)8);
	cr_expect_eq(map_remove(&m, "job-7"), (void *)99);
	cr_expect_null(map_get(&m, "job-7"));
	cr_expect_null(map_remove(&m, "missing"));

	struct map_iter it;
	const char *k;
	size_t seen = 0;
	map_iter_init(&m, &it);
	while (map_iter_next(&m, &it, &k, NULL)) {
		if (strcmp(k, "job-9") == 0)
			map_remove(&m, k);
		seen++;
	}
	cr_expect_eq(seen, 4999);
	cr_expect_eq(m.count, 4998);
	map_fini(&m);
}

Test(clock, iso_and_rfc3339_round_trip)
{
	char text[CLOCK_TEXT_MAX];
	int64_t t = 1767225600LL * NS_PER_SEC + 123 * NS_PER_MS; /* 2026-01-01 */
	clock_format_iso(t, text);
	cr_expect_str_eq(text, "2026-01-01T00:00:00.123Z");
	clock_format_rfc3339(t, text);
	cr_expect_str_eq(text, "2026-01-01T00:00:00.123Z");
	clock_format_rfc3339(t - 123 * NS_PER_MS, text);
	cr_expect_str_eq(text, "2026-01-01T00:00:00Z");
	clock_format_rfc3339(t - 3 * NS_PER_MS, text);
	cr_expect_str_eq(text, "2026-01-01T00:00:00.12Z");

	int64_t back;
	cr_assert_eq(clock_parse_rfc3339("2026-01-01T00:00:00.123Z", &back), 0);
	cr_expect_eq(back, t);
	cr_assert_eq(clock_parse_rfc3339("2026-01-01T01:30:00.123+01:30", &back), 0);
	cr_expect_eq(back, t);
	cr_assert_eq(clock_parse_rfc3339("1969-12-31T23:59:59Z", &back), 0);
	cr_expect_eq(back, -NS_PER_SEC);
	clock_format_iso(-NS_PER_SEC, text);
	cr_expect_str_eq(text, "1969-12-31T23:59:59.000Z");
}

Test(clock, rejects_what_is_not_rfc3339)
{
	const char *bad[] = {"",
	                     "2026-01-01",
	                     "2026-01-01T00:00:00",
	                     "2026-13-01T00:00:00Z",
	                     "2026-02-29T00:00:00Z",
	                     "2026-01-01T24:00:00Z",
	                     "2026-01-01T00:00:00.Z",
	                     "2026-01-01T00:00:00+0100",
	                     "2026-01-01T00:00:00Z trailing"};
	int64_t t;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		cr_expect_eq(clock_parse_rfc3339(bad[i], &t), -1, "accepted \"%s\"", bad[i]);
	cr_expect_eq(clock_parse_rfc3339("2024-02-29T00:00:00Z", &t), 0);
}

Test(buf, printf_consume_steal)
{
	struct buf b = BUF_INIT;
	cr_expect_str_eq(buf_cstr(&b), "");
	buf_printf(&b, "%s-%d", "x", 42);
	buf_puts(&b, "|tail");
	cr_expect_str_eq(buf_cstr(&b), "x-42|tail");
	buf_consume(&b, 4);
	cr_expect_str_eq(buf_cstr(&b), "|tail");
	char *s = buf_steal(&b);
	cr_expect_str_eq(s, "|tail");
	cr_expect_eq(b.len, 0);
	free(s);
}
