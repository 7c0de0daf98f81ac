/* libFuzzer target for what ofelia reads from the Docker engine's streams:
 * the output decoder (frames or raw TTY bytes, cut into bounded lines) and
 * the parser of event lines.
 *
 * Input: byte 0 picks raw/timestamps, byte 1 the line limit, byte 2 seeds
 * the chunk sizes; the rest is the stream. Besides the sanitizers it checks
 * that lines stay within the limit (in input bytes), and that decoding the stream in chunks
 * gives exactly what decoding it whole gives. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "docker/docker.h"

struct digest {
	uint64_t hash;
	size_t lines;
	size_t line_max;
};

static void mix(struct digest *g, const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		g->hash = (g->hash ^ b[i]) * 1099511628211ull;
}

static void on_line(void *arg, const struct docker_line *l)
{
	struct digest *g = arg;
	/* line_max counts input bytes; replacing a bad byte with U+FFFD makes
	 * three of one. */
	if (l->len > 3 * g->line_max || (l->stream != DOCKER_STDOUT && l->stream != DOCKER_STDERR))
		__builtin_trap();
	mix(g, &l->stream, sizeof l->stream);
	mix(g, &l->len, sizeof l->len);
	mix(g, l->data, l->len);
	mix(g, &l->time_ns, sizeof l->time_ns);
	g->lines++;
}

static int decode(bool raw, bool timestamps, size_t line_max, const uint8_t *data, size_t len,
                  unsigned seed, struct digest *g)
{
	memset(g, 0, sizeof *g);
	g->line_max = line_max ? (line_max < 8 ? 8 : line_max) : DOCKER_LINE_MAX;
	struct docker_demux *m = docker_demux_new(raw, timestamps, line_max, on_line, g);
	int rc = 0;
	size_t at = 0;
	while (at < len) {
		size_t n = len - at;
		if (seed) {
			seed = seed * 1103515245u + 12345u;
			size_t want = 1 + (seed >> 16) % 32;
			n = n < want ? n : want;
		}
		if (docker_demux_feed(m, data + at, n) < 0)
			rc = -1;
		at += n;
	}
	docker_demux_finish(m);
	docker_demux_free(m);
	return rc;
}

static void events(const uint8_t *data, size_t len)
{
	const char *p = (const char *)data, *end = p + len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		struct docker_event ev;
		if (docker_event_parse(p, n, &ev) == 0) {
			if (!ev.type || !ev.action || !ev.id ||
			    strlen(ev.action) >= sizeof ev.action_buf)
				__builtin_trap();
			(void)docker_event_attr(&ev, "name");
			docker_event_fini(&ev);
		}
		p += n + 1;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 3)
		return 0;
	bool raw = data[0] & 1, timestamps = data[0] & 2;
	size_t line_max = data[1] ? data[1] : 0;
	unsigned seed = data[2] | 1u;
	data += 3;
	size_t len = size - 3;

	struct digest whole, chunked;
	int rc_whole = decode(raw, timestamps, line_max, data, len, 0, &whole);
	int rc_chunked = decode(raw, timestamps, line_max, data, len, seed, &chunked);
	if (rc_whole != rc_chunked || whole.hash != chunked.hash || whole.lines != chunked.lines)
		__builtin_trap();

	events(data, len);
	return 0;
}
