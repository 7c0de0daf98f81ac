/* strv: a growable array of owned C strings (environment, volumes, argv).
 * A value type; strv_free releases the strings and the array. */
#ifndef OFELIA_UTIL_STRV_H
#define OFELIA_UTIL_STRV_H

#include <stdbool.h>
#include <stddef.h>

struct strv {
	char **v; /* NULL-terminated when n > 0, so it can serve as an argv */
	size_t n;
};

#define STRV_INIT                                                                                  \
	{                                                                                          \
		NULL, 0                                                                            \
	}

/* strv_push appends a copy of s. */
void strv_push(struct strv *sv, const char *s);
/* strv_push_owned appends s itself; the strv now owns it. */
void strv_push_owned(struct strv *sv, char *s);
void strv_copy(struct strv *dst, const struct strv *src);
bool strv_equal(const struct strv *a, const struct strv *b);
void strv_free(struct strv *sv);

#endif
