/* argv: split a job's command into an argv the way Ofelia does (gobs/args:
 * words separated by blanks, single and double quotes group, no shell, no
 * expansion), so a command means the same here as there. */
#ifndef OFELIA_UTIL_ARGV_H
#define OFELIA_UTIL_ARGV_H

#include <stddef.h>

#include "util/strv.h"

/* argv_split appends the words of cmd to out. Returns 0, or -1 with a message
 * in err (an unterminated quote). */
int argv_split(const char *cmd, struct strv *out, char *err, size_t errlen);

#endif
