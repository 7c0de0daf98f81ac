/* duration: Go's duration syntax ("1h30m", "1.5h", "90s", "500ms"), which
 * Ofelia users write for @every, max-runtime and the like. Parsing follows
 * time.ParseDuration exactly, so a value Ofelia accepts means the same here. */
#ifndef OFELIA_UTIL_DURATION_H
#define OFELIA_UTIL_DURATION_H

#include <stddef.h>
#include <stdint.h>

#define DURATION_TEXT_MAX 40

/* duration_parse reads s into *ns; returns 0, or -1 with a message in err. */
int duration_parse(const char *s, int64_t *ns, char *err, size_t errlen);
/* duration_format writes ns as Go's Duration.String does: "1h30m0s", "1.5s", "0s". */
void duration_format(int64_t ns, char out[DURATION_TEXT_MAX]);

#endif
