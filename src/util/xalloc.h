/* xalloc: allocation that never returns NULL. Running out of memory in a
 * scheduler has no sane recovery, so these abort with a message instead of
 * making every caller test for NULL. */
#ifndef OFELIA_UTIL_XALLOC_H
#define OFELIA_UTIL_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *p, size_t n);
/* xreallocarray grows an array to count elements of size bytes, checking overflow. */
void *xreallocarray(void *p, size_t count, size_t size);
/* xstrdup copies s; NULL gives NULL. The caller frees the copy. */
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* xasprintf returns a formatted string the caller frees. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
