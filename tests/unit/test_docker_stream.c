/* The output stream decoder and the event parser of src/docker, fed with
 * every chunking a network could produce. No engine needed. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "docker/docker.h"
#include "util/buf.h"

/* Collected lines as text: "1:hello" per stdout line, "2:..." per stderr. */
struct got {
	struct buf text;
	int64_t last_time;
	size_t max_len;
};

static void on_line(void *arg, const struct docker_line *l)
{
	struct got *g = arg;
	buf_printf(&g->text, "%d:%.*s|", (int)l->stream, (int)l->len, l->data);
	g->last_time = l->time_ns;
	if (l->len > g->max_len)
		g->max_len = l->len;
}

static void frame(struct buf *b, int stream, const char *payload)
{
	size_t n = strlen(payload);
	unsigned char h[8] = {(unsigned char)stream,
	                      0,
	                      0,
	                      0,
	                      (unsigned char)(n >> 24),
	                      (unsigned char)(n >> 16),
	                      (unsigned char)(n >> 8),
	                      (unsigned char)n};
	buf_append(b, h, 8);
	buf_append(b, payload, n);
}

/* decode feeds data in chunks cut at the given offsets (ascending). */
static char *decode(bool raw, size_t line_max, const char *data, size_t len, const size_t *cuts,
                    size_t ncuts, int *rc)
{
	struct got g = {BUF_INIT, 0, 0};
	struct docker_demux *m = docker_demux_new(raw, false, line_max, on_line, &g);
	size_t at = 0;
	*rc = 0;
	for (size_t i = 0; i <= ncuts; i++) {
		size_t end = i < ncuts ? cuts[i] : len;
		if (docker_demux_feed(m, data + at, end - at) < 0)
			*rc = -1;
		at = end;
	}
	docker_demux_finish(m);
	docker_demux_free(m);
	return buf_steal(&g.text);
}

static const char *mixed(struct buf *b)
{
	frame(b, 1, "hello\nwor");
	frame(b, 2, "err1\nerr");
	frame(b, 1, "");
	frame(b, 1, "ld\n\n");
	frame(b, 2, "2 no newline");
	return "1:hello|2:err1|1:world|1:|2:err2 no newline|";
}

Test(docker_stream, frames_split_at_every_offset)
{
	struct buf b = BUF_INIT;
	const char *want = mixed(&b);
	for (size_t i = 0; i <= b.len; i++) {
		int rc;
		char *got = decode(false, 0, b.data, b.len, &i, 1, &rc);
		cr_assert_eq(rc, 0);
		cr_assert_str_eq(got, want, "cut at %zu", i);
		free(got);
	}
	buf_free(&b);
}

Test(docker_stream, frames_split_at_every_pair_of_offsets)
{
	struct buf b = BUF_INIT;
	const char *want = mixed(&b);
	for (size_t i = 0; i <= b.len; i++) {
		for (size_t j = i; j <= b.len; j++) {
			size_t cuts[2] = {i, j};
			int rc;
			char *got = decode(false, 0, b.data, b.len, cuts, 2, &rc);
			cr_assert_eq(rc, 0);
			cr_assert_str_eq(got, want, "cuts at %zu, %zu", i, j);
			free(got);
		}
	}
	buf_free(&b);
}

Test(docker_stream, one_byte_at_a_time)
{
	struct buf b = BUF_INIT;
	const char *want = mixed(&b);
	size_t *cuts = calloc(b.len, sizeof *cuts);
	for (size_t i = 0; i < b.len; i++)
		cuts[i] = i;
	int rc;
	char *got = decode(false, 0, b.data, b.len, cuts, b.len, &rc);
	cr_assert_eq(rc, 0);
	cr_assert_str_eq(got, want);
	free(got);
	free(cuts);
	buf_free(&b);
}

Test(docker_stream, interleaved_partial_lines_stay_apart)
{
	struct buf b = BUF_INIT;
	frame(&b, 1, "out-a ");
	frame(&b, 2, "err-a ");
	frame(&b, 1, "out-b\n");
	frame(&b, 2, "err-b\n");
	int rc;
	char *got = decode(false, 0, b.data, b.len, NULL, 0, &rc);
	cr_assert_str_eq(got, "1:out-a out-b|2:err-a err-b|");
	free(got);
	buf_free(&b);
}

Test(docker_stream, tty_raw_passthrough)
{
	/* A TTY merges both streams and ends lines with \r\n; the "header-like"
	 * bytes are plain output here. */
	const char data[] = "one\r\n\x02\x01\x01two\r\n\r\nlast";
	for (size_t i = 0; i <= sizeof data - 1; i++) {
		int rc;
		char *got = decode(true, 0, data, sizeof data - 1, &i, 1, &rc);
		cr_assert_eq(rc, 0);
		cr_assert_str_eq(got, "1:one|1:\x02\x01\x01two|1:|1:last|", "cut at %zu", i);
		free(got);
	}
}

Test(docker_stream, long_lines_come_in_pieces)
{
	char line[101];
	memset(line, 'x', 100);
	line[100] = '\0';
	struct buf b = BUF_INIT;
	frame(&b, 1, line);
	frame(&b, 1, "\nshort\n");
	struct got g = {BUF_INIT, 0, 0};
	struct docker_demux *m = docker_demux_new(false, false, 32, on_line, &g);
	for (size_t i = 0; i < b.len; i += 5)
		cr_assert_eq(docker_demux_feed(m, b.data + i, b.len - i < 5 ? b.len - i : 5), 0);
	docker_demux_finish(m);
	docker_demux_free(m);
	cr_assert_eq(g.max_len, 32);
	/* 100 = 32 + 32 + 32 + 4, then the short line. */
	cr_assert_str_eq(g.text.data + strlen(g.text.data) - strlen("|1:xxxx|1:short|"),
	                 "|1:xxxx|1:short|");
	size_t pieces = 0;
	for (const char *p = g.text.data; (p = strstr(p, "1:")) != NULL; p++)
		pieces++;
	cr_assert_eq(pieces, 5);
	buf_free(&g.text);
	buf_free(&b);
}

Test(docker_stream, missing_final_newline_is_flushed_at_the_end)
{
	struct buf b = BUF_INIT;
	frame(&b, 2, "partial");
	int rc;
	char *got = decode(false, 0, b.data, b.len, NULL, 0, &rc);
	cr_assert_str_eq(got, "2:partial|");
	free(got);
	buf_free(&b);
}

Test(docker_stream, garbage_header_fails_and_stays_failed)
{
	struct got g = {BUF_INIT, 0, 0};
	struct docker_demux *m = docker_demux_new(false, false, 0, on_line, &g);
	/* What a raw (TTY) stream looks like to a frame decoder. */
	cr_assert_eq(docker_demux_feed(m, "Error: exec has already run\n", 28), -1);
	cr_assert_not_null(docker_demux_error(m));
	cr_assert(strstr(docker_demux_error(m), "bad frame header"), "%s", docker_demux_error(m));
	cr_assert_eq(docker_demux_feed(m, "\x01\0\0\0\0\0\0\x01x", 9), -1);
	docker_demux_finish(m);
	docker_demux_free(m);
	cr_assert_str_eq(buf_cstr(&g.text), "");
	buf_free(&g.text);
}

Test(docker_stream, engine_error_frame_fails_with_its_text)
{
	struct buf b = BUF_INIT;
	frame(&b, 1, "before\n");
	frame(&b, 3, "log driver exploded");
	struct got g = {BUF_INIT, 0, 0};
	struct docker_demux *m = docker_demux_new(false, false, 0, on_line, &g);
	cr_assert_eq(docker_demux_feed(m, b.data, b.len), -1);
	cr_assert(strstr(docker_demux_error(m), "log driver exploded"));
	docker_demux_free(m);
	cr_assert_str_eq(g.text.data, "1:before|");
	buf_free(&g.text);
	buf_free(&b);
}

Test(docker_stream, timestamps_are_read_and_stripped)
{
	struct buf b = BUF_INIT;
	frame(&b, 1, "2026-01-02T03:04:05.123456789Z hello world\n");
	frame(&b, 2, "not a time here\n");
	struct got g = {BUF_INIT, 0, 0};
	struct docker_demux *m = docker_demux_new(false, true, 0, on_line, &g);
	cr_assert_eq(docker_demux_feed(m, b.data, 20), 0);
	cr_assert_eq(docker_demux_feed(m, b.data + 20, 50), 0);
	cr_assert_str_eq(g.text.data, "1:hello world|");
	cr_assert_eq(g.last_time, 1767323045123456789LL);
	cr_assert_eq(docker_demux_feed(m, b.data + 70, b.len - 70), 0);
	cr_assert_str_eq(g.text.data, "1:hello world|2:not a time here|");
	cr_assert_eq(g.last_time, 0);
	docker_demux_free(m);
	buf_free(&g.text);
	buf_free(&b);
}

Test(docker_stream, invalid_utf8_is_repaired)
{
	struct buf b = BUF_INIT;
	frame(&b, 1,
	      "a\xff"
	      "b\n");
	int rc;
	char *got = decode(false, 0, b.data, b.len, NULL, 0, &rc);
	cr_assert_str_eq(got, "1:a\xEF\xBF\xBD"
	                      "b|");
	free(got);
	buf_free(&b);
}

/* ---- events ---- */

Test(docker_stream, event_parse_exec_start)
{
	const char *line =
	    "{\"status\":\"exec_start: sh -c echo hi\",\"id\":\"abc\",\"from\":\"busybox:local\","
	    "\"Type\":\"container\",\"Action\":\"exec_start: sh -c echo hi\",\"Actor\":{\"ID\":"
	    "\"abc\",\"Attributes\":{\"image\":\"busybox:local\",\"name\":\"web\",\"ofelia."
	    "enabled\":\"true\"}},\"scope\":\"local\",\"time\":1767323045,\"timeNano\":"
	    "1767323045123456789}";
	struct docker_event ev;
	cr_assert_eq(docker_event_parse(line, strlen(line), &ev), 0);
	cr_assert_str_eq(ev.type, "container");
	cr_assert_str_eq(ev.action, "exec_start");
	cr_assert_str_eq(ev.id, "abc");
	cr_assert_eq(ev.time_ns, 1767323045123456789LL);
	cr_assert_str_eq(docker_event_attr(&ev, "name"), "web");
	cr_assert_str_eq(docker_event_attr(&ev, "ofelia.enabled"), "true");
	cr_assert_null(docker_event_attr(&ev, "missing"));
	docker_event_fini(&ev);
}

Test(docker_stream, event_parse_without_nanoseconds_or_attributes)
{
	const char *line = "{\"Type\":\"network\",\"Action\":\"connect\",\"Actor\":{\"ID\":\"n1\"},"
	                   "\"time\":5}";
	struct docker_event ev;
	cr_assert_eq(docker_event_parse(line, strlen(line), &ev), 0);
	cr_assert_str_eq(ev.action, "connect");
	cr_assert_eq(ev.time_ns, 5000000000LL);
	cr_assert_null(ev.attributes);
	cr_assert_null(docker_event_attr(&ev, "name"));
	docker_event_fini(&ev);
}

Test(docker_stream, event_parse_rejects_what_is_not_an_event)
{
	const char *bad[] = {"",
	                     "null",
	                     "[1,2]",
	                     "{\"Type\":\"container\"}",
	                     "{\"Type\":1,\"Action\":\"start\",\"id\":\"x\"}",
	                     "{\"Type\":\"container\",\"Action\":\"start\",\"Actor\":{}}",
	                     "{\"Type\":\"container\",\"Action\":\"start\",\"id\":\"x\"",
	                     "\xff\xfe"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct docker_event ev;
		cr_assert_eq(docker_event_parse(bad[i], strlen(bad[i]), &ev), -1, "%s", bad[i]);
		cr_assert_null(ev.json);
		docker_event_fini(&ev);
	}
}
