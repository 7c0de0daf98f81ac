/* envsubst: ${VAR} and ${VAR:-default} in config values, exactly as
 * netresearch/ofelia's ExpandEnvVars (a regular expression replaced
 * left to right): a variable that is set and not empty gives its value; else
 * a default, when there is one; else the text stays as written, so a typo
 * shows in the logs. $VAR without braces is left alone, so shell commands and
 * cron specs keep their dollars. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "config/config_int.h"
#include "util/buf.h"
#include "util/xalloc.h"

static bool name_start(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static bool name_char(char c)
{
	return name_start(c) || (c >= '0' && c <= '9');
}

/* expand_one tries a reference at s ("${..."): on a match it appends the
 * replacement to out and returns the length matched, else 0. */
static size_t expand_one(const char *s, struct buf *out)
{
	const char *p = s + 2, *name = p, *def = NULL, *end;
	if (!name_start(*p))
		return 0;
	while (name_char(*p))
		p++;
	size_t nlen = (size_t)(p - name);
	if (p[0] == ':' && p[1] == '-') {
		def = p + 2;
		end = strchr(def, '}');
	} else {
		end = *p == '}' ? p : NULL;
	}
	if (end == NULL)
		return 0;

	char *var = xstrndup(name, nlen);
	const char *val = getenv(var);
	free(var);
	if (val && *val)
		buf_puts(out, val);
	else if (def)
		buf_append(out, def, (size_t)(end - def));
	else
		buf_append(out, s, (size_t)(end + 1 - s));
	return (size_t)(end + 1 - s);
}

char *config_envsubst(const char *s)
{
	struct buf out = BUF_INIT;
	while (*s) {
		size_t n = s[0] == '$' && s[1] == '{' ? expand_one(s, &out) : 0;
		if (n) {
			s += n;
			continue;
		}
		buf_putc(&out, *s++);
	}
	return buf_steal(&out);
}
