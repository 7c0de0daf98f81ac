/* embedded: text files compiled into the binary at build time (tools/embed.py):
 * the SQL migrations and the default config. Read-only, static storage. */
#ifndef OFELIA_UTIL_EMBEDDED_H
#define OFELIA_UTIL_EMBEDDED_H

#include <stddef.h>

struct embedded_file {
	const char *name; /* path in the source tree, e.g. "migrations/0001_init.sql" */
	const char *data; /* NUL-terminated */
	size_t len;
};

extern const struct embedded_file embedded_files[];
extern const size_t embedded_count;

/* embedded_find returns the file with this source path, or NULL. */
const struct embedded_file *embedded_find(const char *name);

#endif
