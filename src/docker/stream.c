/* Decoding of container output: the engine's frames, then lines. Pure (no
 * I/O), so tests and the fuzzer feed it any chunking.
 *
 * Without a TTY the engine multiplexes stdout and stderr into frames: an
 * 8-byte header ([0] stream: 0 stdin, 1 stdout, 2 stderr, 3 an error of the
 * engine itself; [1..3] zero; [4..7] payload length, big-endian) and the
 * payload. With a TTY the stream is the terminal's raw bytes, "\r\n"
 * included. Frames split anywhere across chunks, so the decoder keeps a
 * partial header and the bytes left in the current frame; the payload goes
 * to one line splitter per stream (util/lines.h, shared with local jobs:
 * bounded lines, valid UTF-8, no trailing '\r'). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "docker/docker.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/lines.h"
#include "util/xalloc.h"

#define STREAM_SYSERR 3

struct sink {
	struct docker_demux *m;
	enum docker_stream stream;
	struct lines lines;
	bool cont; /* the last piece had more: the next one has no timestamp */
};

struct docker_demux {
	bool raw;
	bool timestamps;
	docker_on_line_fn *on_line;
	void *arg;

	unsigned char header[8];
	size_t header_len;
	bool in_frame;
	int frame_stream;
	size_t frame_left; /* payload bytes of the current frame still to come */

	struct sink out[2]; /* stdout, stderr */
	struct buf syserr;
	char *error;
};

struct docker_demux *docker_demux_new(bool raw, bool timestamps, size_t line_max,
                                      docker_on_line_fn *on_line, void *arg)
{
	struct docker_demux *m = xcalloc(1, sizeof *m);
	m->raw = raw;
	m->timestamps = timestamps;
	m->on_line = on_line;
	m->arg = arg;
	for (int i = 0; i < 2; i++) {
		m->out[i].m = m;
		m->out[i].stream = i ? DOCKER_STDERR : DOCKER_STDOUT;
		lines_init(&m->out[i].lines, line_max ? line_max : DOCKER_LINE_MAX);
	}
	return m;
}

void docker_demux_free(struct docker_demux *m)
{
	if (!m)
		return;
	lines_fini(&m->out[0].lines);
	lines_fini(&m->out[1].lines);
	buf_free(&m->syserr);
	free(m->error);
	free(m);
}

const char *docker_demux_error(const struct docker_demux *m)
{
	return m->error;
}

/* on_piece passes one line to the callback, reading the timestamp that
 * timestamps=1 puts before it ("2026-01-01T00:00:00.123456789Z "). */
static void on_piece(void *arg, const char *data, size_t len, bool more)
{
	struct sink *s = arg;
	struct docker_line line = {.stream = s->stream, .data = data, .len = len, .more = more};
	const char *sp =
	    s->m->timestamps && !s->cont ? memchr(data, ' ', len < 40 ? len : 40) : NULL;
	s->cont = more;
	if (sp) {
		char ts[41];
		size_t n = (size_t)(sp - data);
		memcpy(ts, data, n);
		ts[n] = '\0';
		if (clock_parse_rfc3339(ts, &line.time_ns) == 0) {
			line.data = sp + 1;
			line.len = len - n - 1;
		} else {
			line.time_ns = 0;
		}
	}
	s->m->on_line(s->m->arg, &line);
}

static void take(struct docker_demux *m, enum docker_stream s, const char *p, size_t n)
{
	struct sink *sink = &m->out[s == DOCKER_STDERR];
	lines_feed(&sink->lines, p, n, on_piece, sink);
}

static int fail(struct docker_demux *m, char *msg)
{
	m->error = msg;
	return -1;
}

int docker_demux_feed(struct docker_demux *m, const void *data, size_t len)
{
	const char *p = data;
	if (m->error)
		return -1;
	if (m->raw) {
		take(m, DOCKER_STDOUT, p, len);
		return 0;
	}
	while (len) {
		if (!m->in_frame) {
			size_t k = sizeof m->header - m->header_len;
			k = k < len ? k : len;
			memcpy(m->header + m->header_len, p, k);
			m->header_len += k;
			p += k;
			len -= k;
			if (m->header_len < sizeof m->header)
				break;
			const unsigned char *h = m->header;
			if (h[0] > STREAM_SYSERR || h[1] || h[2] || h[3])
				return fail(m, xasprintf("bad frame header in the output stream: "
				                         "%02x %02x %02x %02x %02x %02x %02x %02x",
				                         h[0], h[1], h[2], h[3], h[4], h[5], h[6],
				                         h[7]));
			m->header_len = 0;
			m->frame_stream = h[0];
			m->frame_left = (size_t)h[4] << 24 | (size_t)h[5] << 16 |
			                (size_t)h[6] << 8 | (size_t)h[7];
			if (m->frame_stream == STREAM_SYSERR && m->frame_left == 0)
				return fail(m, xstrdup("error from the Docker engine in the "
				                       "output stream"));
			m->in_frame = m->frame_left > 0;
			continue;
		}
		size_t k = m->frame_left < len ? m->frame_left : len;
		if (m->frame_stream == STREAM_SYSERR) {
			/* The engine's own error, e.g. from a log driver: keep a
			 * bounded amount of it for the message. */
			size_t keep = m->syserr.len < 1024 ? 1024 - m->syserr.len : 0;
			buf_append(&m->syserr, p, k < keep ? k : keep);
		} else {
			take(m, m->frame_stream == 2 ? DOCKER_STDERR : DOCKER_STDOUT, p, k);
		}
		p += k;
		len -= k;
		m->frame_left -= k;
		if (m->frame_left == 0) {
			m->in_frame = false;
			if (m->frame_stream == STREAM_SYSERR)
				return fail(m, xasprintf("error from the Docker engine in the "
				                         "output stream: %s",
				                         buf_cstr(&m->syserr)));
		}
	}
	return 0;
}

void docker_demux_finish(struct docker_demux *m)
{
	for (int i = 0; i < 2; i++)
		lines_finish(&m->out[i].lines, on_piece, &m->out[i]);
}
