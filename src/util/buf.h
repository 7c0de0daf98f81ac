/* buf: a growable byte buffer, always NUL-terminated so its data can be used
 * as a C string. A value type: embed it, buf_init it, buf_free it. */
#ifndef OFELIA_UTIL_BUF_H
#define OFELIA_UTIL_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
	char *data; /* NULL until the first append */
	size_t len;
	size_t cap;
};

#define BUF_INIT                                                                                   \
	{                                                                                          \
		NULL, 0, 0                                                                         \
	}

void buf_append(struct buf *b, const void *data, size_t len);
void buf_puts(struct buf *b, const char *s);
void buf_putc(struct buf *b, char c);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vprintf(struct buf *b, const char *fmt, va_list ap);
/* buf_cstr returns the contents as a C string ("" when empty); valid until the next change. */
const char *buf_cstr(const struct buf *b);
/* buf_steal hands the contents to the caller (who frees them) and empties b. */
char *buf_steal(struct buf *b);
/* buf_consume drops the first n bytes. */
void buf_consume(struct buf *b, size_t n);
void buf_reset(struct buf *b);
void buf_free(struct buf *b);

#endif
