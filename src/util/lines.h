/* lines: split a byte stream (a job's stdout or stderr) into lines, with
 * bounded memory: a line longer than the cap is emitted in pieces. Every
 * emitted line is valid UTF-8 (bad bytes become U+FFFD) without NUL bytes
 * (a NUL becomes the two characters "\0", so it stays visible and nothing
 * reading C strings cuts the line there): it can go into JSON and SQLite
 * text as it is. A trailing '\r' is dropped. */
#ifndef OFELIA_UTIL_LINES_H
#define OFELIA_UTIL_LINES_H

#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"

/* more: the piece was cut from a line longer than the cap, whose next piece
 * follows (the last piece of a line has more = false). */
typedef void lines_emit_fn(void *arg, const char *line, size_t len, bool more);

struct lines {
	struct buf partial; /* the line being collected */
	struct buf clean;   /* scratch for the UTF-8 repair */
	size_t max;         /* longest line emitted whole */
};

/* lines_init prepares l to emit lines of at most max bytes. */
void lines_init(struct lines *l, size_t max);
/* lines_feed consumes data, calling emit for each complete line. */
void lines_feed(struct lines *l, const char *data, size_t len, lines_emit_fn *emit, void *arg);
/* lines_finish emits a last line that had no newline, if any. */
void lines_finish(struct lines *l, lines_emit_fn *emit, void *arg);
void lines_fini(struct lines *l);

/* lines_utf8_valid_prefix returns how many leading bytes of s form whole,
 * valid UTF-8 sequences, stopping before an incomplete one at the end. */
size_t lines_utf8_valid_prefix(const char *s, size_t len);

#endif
