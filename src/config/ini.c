/* ini: Ofelia's INI file, read the way netresearch/ofelia reads it (go-ini
 * with AllowShadows and InsensitiveKeys, then its own section rules), so an
 * Ofelia user can point ofelia at their file unchanged:
 *
 * - "#" or ";" starts a comment line; in a value, the first "#" or ";"
 *   starts a comment too (go-ini has no escape for them). A value wrapped in
 *   `backquotes` or """triple quotes""" is taken as is, comment characters
 *   and line breaks included; one wrapped in '...' or "..." loses the quotes.
 *   A line ending in "\" continues on the next line.
 * - Keys are "=" or ":" separated, case-insensitive, '-' and '_' ignored.
 *   A repeated key collects its values (identical ones once, empty ones not):
 *   a list for list keys (environment, volume, ...); for any other key two
 *   different values are an error, as Ofelia's decoder rejects them too.
 * - [global] and [docker] hold settings; [job-exec "name"], [job-run "name"],
 *   [job-local "name"] and [job-service-run "name"] hold jobs. ${VAR} and
 *   ${VAR:-default} are replaced in values and job names.
 *
 * Where Ofelia would merge two sections of one job, or keep the last of two
 * jobs with one name, ofelia reports the second as a duplicate. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config_int.h"
#include "util/argv.h"
#include "util/buf.h"
#include "util/map.h"
#include "util/words.h"
#include "util/xalloc.h"

struct ini_entry {
	char *key; /* lowercased, as go-ini keeps it */
	char *value;
	struct config_pos pos;
	bool bare; /* a key alone on its line: gcfg's true for a boolean */
	int cut;   /* column of the "#" or ";" that cut the value, or 0 */
	char cut_char;
};

struct ini_section {
	char *name; /* as written between the brackets */
	struct config_pos pos;
	struct config_pos again; /* where the header is repeated (go-ini merges) */
	struct ini_entry *e;
	size_t n;
};

struct ini {
	struct config_ld *ld;
	const char *p, *end; /* what is left of the text */
	int line;            /* of the line read last */
	struct ini_section *s;
	size_t n;
	struct map by_name; /* section name -> index + 1 */
	struct ini_section *cur;
};

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* next_line returns the next line with its '\n' (none on the last line);
 * false at the end of the text. */
static bool next_line(struct ini *in, const char **s, size_t *n)
{
	if (in->p >= in->end)
		return false;
	const char *nl = memchr(in->p, '\n', (size_t)(in->end - in->p));
	*s = in->p;
	*n = nl ? (size_t)(nl + 1 - in->p) : (size_t)(in->end - in->p);
	in->p += *n;
	in->line++;
	return true;
}

/* trim returns s[0..*n) without surrounding white space. */
static const char *trim(const char *s, size_t *n)
{
	while (*n && is_space(*s))
		s++, (*n)--;
	while (*n && is_space(s[*n - 1]))
		(*n)--;
	return s;
}

/* span returns the index of the first byte of s[0..n) that is in stop, or n. */
static size_t span(const char *s, size_t n, const char *stop)
{
	for (size_t i = 0; i < n; i++)
		if (strchr(stop, s[i]))
			return i;
	return n;
}

static const char *find(const char *s, size_t n, const char *what)
{
	return memmem(s, n, what, strlen(what));
}

static const char *find_last(const char *s, size_t n, const char *what)
{
	size_t m = strlen(what);
	for (size_t i = n; i >= m; i--)
		if (memcmp(s + i - m, what, m) == 0)
			return s + i - m;
	return NULL;
}

static int syntax(struct ini *in, int col, const char *what, const char *s, size_t n)
{
	n = span(s, n, "\r\n");
	config_error(in->ld, (struct config_pos){in->line, col}, "%s: %.*s", what, (int)n, s);
	return -1;
}

/* ---- values (go-ini's readValue) ---- */

/* multiline reads a value opened by quote and not closed on its first line:
 * the lines up to the one holding the closing quote, line breaks kept. */
static int multiline(struct ini *in, const char *quote, struct buf *val, int col)
{
	const char *s;
	size_t n;
	int first = in->line;
	while (next_line(in, &s, &n)) {
		const char *close = find_last(s, n, quote);
		if (close) {
			buf_append(val, s, (size_t)(close - s));
			return 0;
		}
		buf_append(val, s, n);
	}
	in->line = first;
	return syntax(in, col, "a quoted value is never closed", quote, strlen(quote));
}

/* continuation joins the lines after one ending in '\' (each trimmed) until
 * one that does not end in '\' or is empty. */
static void continuation(struct ini *in, struct buf *val)
{
	const char *s;
	size_t n;
	while (next_line(in, &s, &n)) {
		s = trim(s, &n);
		if (n == 0)
			return;
		buf_append(val, s, n);
		if (val->data[val->len - 1] != '\\')
			return;
		val->data[--val->len] = '\0';
	}
}

static bool surrounded(const char *s, size_t n, char q)
{
	return n >= 2 && s[0] == q && s[n - 1] == q && memchr(s + 1, q, n - 2) == NULL;
}

static int read_value(struct ini *in, const char *s, size_t n, int col, struct buf *val,
                      const char **cut)
{
	*cut = NULL;
	while (n && is_space(*s))
		s++, n--;
	if (n == 0)
		return 0;

	const char *quote = n > 3 && memcmp(s, "\"\"\"", 3) == 0 ? "\"\"\""
	                    : s[0] == '`'                        ? "`"
	                                                         : NULL;
	if (quote) {
		size_t q = strlen(quote);
		const char *close = find_last(s + q, n - q, quote);
		if (close) {
			buf_append(val, s + q, (size_t)(close - s - q));
			return 0;
		}
		buf_append(val, s + q, n - q);
		return multiline(in, quote, val, col);
	}

	s = trim(s, &n);
	if (s[n - 1] == '\\') {
		buf_append(val, s, n - 1);
		continuation(in, val);
		return 0;
	}
	size_t comment = span(s, n, "#;");
	if (comment < n) {
		*cut = s + comment;
		n = comment;
		s = trim(s, &n);
	}
	if (surrounded(s, n, '\'') || surrounded(s, n, '"'))
		s++, n -= 2;
	buf_append(val, s, n);
	return 0;
}

/* ---- lines ---- */

static struct ini_section *section(struct ini *in, const char *name, size_t n,
                                   struct config_pos pos)
{
	char *copy = xstrndup(name, n);
	uintptr_t at = (uintptr_t)map_get(&in->by_name, copy);
	if (at) {
		struct ini_section *sec = &in->s[at - 1];
		if (sec->again.line == 0)
			sec->again = pos;
		free(copy);
		return sec;
	}
	in->s = xreallocarray(in->s, in->n + 1, sizeof *in->s);
	in->s[in->n] = (struct ini_section){copy, pos, {0, 0}, NULL, 0};
	map_put(&in->by_name, copy, (void *)(uintptr_t)(in->n + 1));
	return &in->s[in->n++];
}

static int section_line(struct ini *in, const char *s, size_t n, int col)
{
	const char *close = NULL;
	for (size_t i = n; i > 0; i--)
		if (s[i - 1] == ']') {
			close = s + i - 1;
			break;
		}
	if (close == NULL)
		return syntax(in, col, "a section header is never closed", s, n);
	if (close == s + 1)
		return syntax(in, col, "a section needs a name", s, n);
	in->cur = section(in, s + 1, (size_t)(close - s - 1), (struct config_pos){in->line, col});
	return 0;
}

/* key_name splits "key = value" (or "key: value", or a "quoted key"); returns
 * the offset of the value, or -1 after an error. */
static long key_name(struct ini *in, const char *s, size_t n, int col, char **key)
{
	const char *start = s, *stop;
	size_t skip = 0;
	if (s[0] == '"' || s[0] == '`') {
		const char *q = n > 6 && memcmp(s, "\"\"\"", 3) == 0 ? "\"\"\""
		                : s[0] == '"'                        ? "\""
		                                                     : "`";
		skip = strlen(q);
		stop = find(s + skip, n - skip, q);
		if (stop == NULL)
			return syntax(in, col, "a quoted key is never closed", s, n);
		start = s + skip;
	}
	const char *delim = s + skip;
	if (skip)
		delim = stop + skip;
	size_t at = span(delim, (size_t)(s + n - delim), "=:");
	if (delim + at == s + n)
		return syntax(in, col, "not a section, a comment or key = value", s, n);
	if (!skip)
		stop = delim + at;
	size_t klen = (size_t)(stop - start);
	start = trim(start, &klen);
	if (klen == 0)
		return syntax(in, col, "a key needs a name", s, n);
	*key = xstrndup(start, klen);
	for (char *c = *key; *c; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c + 32);
	return (long)(delim + at + 1 - s);
}

/* bare_key tells whether s[0..n) is a key name alone on its line (gcfg reads
 * it as a boolean set to true). */
static bool bare_key(const char *s, size_t n)
{
	s = trim(s, &n);
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(s[i] == '-' || s[i] == '_' || s[i] == '.' || (s[i] >= '0' && s[i] <= '9') ||
		      ((s[i] | 32) >= 'a' && (s[i] | 32) <= 'z')))
			return false;
	return true;
}

static int key_line(struct ini *in, const char *s, size_t n, int col)
{
	struct buf val = BUF_INIT;
	char *key = NULL;
	const char *cut = NULL;
	int line = in->line;
	bool bare = span(s, n, "=:") == n && bare_key(s, n);
	long off = 0;
	if (bare) {
		size_t klen = n;
		const char *k = trim(s, &klen);
		key = xstrndup(k, klen);
		for (char *c = key; *c; c++)
			if (*c >= 'A' && *c <= 'Z')
				*c = (char)(*c + 32);
		buf_append(&val, "true", 4);
	} else if ((off = key_name(in, s, n, col, &key)) < 0 ||
	           read_value(in, s + off, n - (size_t)off, col, &val, &cut) < 0) {
		free(key);
		buf_free(&val);
		return -1;
	}
	if (in->cur == NULL)
		in->cur = section(in, "DEFAULT", 7, (struct config_pos){line, col});
	struct ini_section *sec = in->cur;
	sec->e = xreallocarray(sec->e, sec->n + 1, sizeof *sec->e);
	sec->e[sec->n++] = (struct ini_entry){
	    key,           buf_steal(&val), {line, col}, bare, cut ? col + (int)(cut - s) : 0,
	    cut ? *cut : 0};
	return 0;
}

static int parse(struct ini *in)
{
	const char *s;
	size_t n;
	if (in->end - in->p >= 3 && memcmp(in->p, "\xEF\xBB\xBF", 3) == 0)
		in->p += 3;
	while (next_line(in, &s, &n)) {
		int col = 1;
		while (n && is_space(*s))
			s++, n--, col++;
		if (n == 0 || s[0] == '#' || s[0] == ';')
			continue;
		if (s[0] == '[' ? section_line(in, s, n, col) < 0 : key_line(in, s, n, col) < 0)
			return -1;
	}
	return 0;
}

/* ---- applying sections ---- */

/* A key of a section with its distinct, non-empty values (go-ini's
 * ValueWithShadows), gathered over every spelling of the key. */
struct ini_key {
	const char *key; /* as first written */
	struct config_pos pos;
	const struct ini_entry **v;
	size_t n;
	const struct ini_entry *bare; /* a bare occurrence, or NULL */
};

static size_t group(const struct ini_section *sec, struct ini_key **out)
{
	struct ini_key *keys = NULL;
	struct map by_norm, seen; /* norm -> key index + 1; "index:value" once */
	size_t nkeys = 0;
	char norm[64];

	map_init(&by_norm);
	map_init(&seen);
	for (size_t i = 0; i < sec->n; i++) {
		const struct ini_entry *e = &sec->e[i];
		words_normalize(e->key, norm, sizeof norm);
		size_t k = (uintptr_t)map_get(&by_norm, norm);
		if (k == 0) {
			keys = xreallocarray(keys, nkeys + 1, sizeof *keys);
			keys[nkeys++] = (struct ini_key){e->key, e->pos, NULL, 0, NULL};
			map_put(&by_norm, norm, (void *)(uintptr_t)nkeys);
			k = nkeys;
		}
		struct ini_key *key = &keys[k - 1];
		if (e->bare && key->bare == NULL)
			key->bare = e;
		char *id = xasprintf("%zu:%s", k, e->value);
		if (e->value[0] && map_get(&seen, id) == NULL) {
			map_put(&seen, id, key);
			key->v = xreallocarray(key->v, key->n + 1, sizeof *key->v);
			key->v[key->n++] = e;
		}
		free(id);
	}
	map_fini(&by_norm);
	map_fini(&seen);
	*out = keys;
	return nkeys;
}

static void keys_free(struct ini_key *keys, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(keys[i].v);
	free(keys);
}

/* one_value reports a key that wants one value but was given several. */
static bool one_value(struct ini *in, const struct ini_key *k, const char *where)
{
	if (k->n <= 1)
		return true;
	config_error(in->ld, k->v[1]->pos,
	             "%s: key \"%s\" is given %zu different values (first at line %d); it takes "
	             "one",
	             where, k->key, k->n, k->v[0]->pos.line);
	return false;
}

static void bare_error(struct ini *in, const struct ini_key *k, const char *where)
{
	config_error(in->ld, k->bare->pos,
	             "%s: key \"%s\" has no value: only a boolean key may stand alone (it "
	             "means true); write %s = VALUE",
	             where, k->key, k->key);
}

static bool list_kind(enum config_kind k)
{
	return k == CK_LIST || k == CK_FILTERS || k == CK_CIDRS || k == CK_URLS;
}

static void settings(struct ini *in, const struct ini_section *sec, const struct config_key *table,
                     const char *where)
{
	struct ini_key *keys;
	size_t n = group(sec, &keys);
	for (size_t i = 0; i < n; i++) {
		const struct config_key *k = config_key_find(table, keys[i].key);
		if (k == NULL) {
			config_key_unknown(in->ld, table, where, keys[i].key, keys[i].pos);
			continue;
		}
		if (k->kind == CK_IGNORED) {
			config_key_set(in->ld, k, where, "", keys[i].pos);
			continue;
		}
		if (keys[i].bare && k->kind != CK_BOOL) {
			bare_error(in, &keys[i], where);
			continue;
		}
		if (config_key_claim(in->ld, k, where, keys[i].key, keys[i].pos) < 0 ||
		    (!list_kind(k->kind) && !one_value(in, &keys[i], where)))
			continue;
		if (keys[i].n == 0) /* only empty values: the default, or default-user's "" */
			config_key_set(in->ld, k, where, "", keys[i].pos);
		for (size_t v = 0; v < keys[i].n; v++) {
			char *value = config_envsubst(keys[i].v[v]->value);
			config_key_set(in->ld, k, where, value, keys[i].v[v]->pos);
			free(value);
		}
	}
	keys_free(keys, n);
}

/* command_splits tells whether a command's quotes are balanced. */
static bool command_splits(const char *command)
{
	struct strv words = STRV_INIT;
	char why[128];
	int rc = argv_split(command, &words, why, sizeof why);
	strv_free(&words);
	return rc == 0;
}

/* job_values sets one key of j; -1 after an error. */
static int job_values(struct ini *in, struct job *j, const struct job_field *f,
                      const struct ini_key *k, const char *where)
{
	char err[512];
	int rc = 0;
	if (k->bare && f->kind != JOB_F_BOOL) {
		bare_error(in, k, where);
		return -1;
	}
	if (f->kind != JOB_F_LIST && !one_value(in, k, where))
		return -1;
	if (f->offset == offsetof(struct job, command) && k->n == 1 && k->v[0]->cut &&
	    !command_splits(k->v[0]->value)) {
		const struct ini_entry *e = k->v[0];
		config_error(in->ld, e->pos,
		             "%s: command: the \"%c\" at column %d starts a comment in an INI "
		             "value, which cut the command to `%s` and left a quote open; to "
		             "keep \"#\" and \";\" write the whole value in backquotes: %s = "
		             "`...`",
		             where, e->cut_char, e->cut, e->value, k->key);
		return -1;
	}
	for (size_t v = 0; v < k->n; v++) {
		char *value = config_envsubst(k->v[v]->value);
		if (*value && job_field_set(j, f, value, err, sizeof err) < 0) {
			config_error(in->ld, k->v[v]->pos, "%s: %s", where, err);
			rc = -1;
		}
		free(value);
	}
	return rc;
}

static void job(struct ini *in, const struct ini_section *sec, enum job_type type, const char *name)
{
	char where[300], warn[256];
	struct ini_key *keys;
	struct config_job_pos at = {.job = sec->pos};
	bool bad = false;
	struct job *j = job_new(name, type);

	snprintf(where, sizeof where, "job \"%s\"", name);
	size_t n = group(sec, &keys);
	for (size_t i = 0; i < n; i++) {
		const struct job_field *f = config_job_field(j, keys[i].key, warn, sizeof warn);
		if (f == NULL) {
			config_warning(in->ld, keys[i].pos, "%s: %s", where, warn);
			continue;
		}
		config_job_note_key(&at, f, keys[i].pos);
		if (job_values(in, j, f, &keys[i], where) < 0)
			bad = true;
	}
	keys_free(keys, n);
	if (bad)
		job_free(j);
	else
		config_job_add(in->ld, j, &at);
}

static const struct {
	const char *prefix;
	enum job_type type;
} job_sections[] = {
    {"job-exec", JOB_EXEC},
    {"job-service-run", JOB_SERVICE},
    {"job-run", JOB_RUN},
    {"job-local", JOB_LOCAL},
};

/* job_name is netresearch's parseJobName: after the type, without spaces
 * and quotes around it, with ${VAR} replaced. The caller frees it. */
static char *job_name(const char *section, size_t skip)
{
	size_t n = strlen(section + skip);
	const char *s = section + skip;
	s = trim(s, &n);
	while (n && *s == '"')
		s++, n--;
	while (n && s[n - 1] == '"')
		n--;
	char *raw = xstrndup(s, n), *name = config_envsubst(raw);
	free(raw);
	return name;
}

static void apply(struct ini *in, const struct ini_section *sec)
{
	size_t n = strlen(sec->name);
	const char *name = trim(sec->name, &n);

	if (strcmp(sec->name, "global") == 0) {
		settings(in, sec, config_global_keys, "[global]");
		return;
	}
	if (strcmp(sec->name, "docker") == 0) {
		settings(in, sec, config_docker_keys, "[docker]");
		return;
	}
	if (strcmp(sec->name, "cluster") == 0) {
		settings(in, sec, config_cluster_keys, "[cluster]");
		return;
	}
	if (strcmp(sec->name, "DEFAULT") == 0) {
		if (sec->n)
			config_warning(in->ld, sec->e[0].pos,
			               "a key before the first section is ignored");
		return;
	}
	for (size_t i = 0; i < sizeof job_sections / sizeof job_sections[0]; i++) {
		size_t plen = strlen(job_sections[i].prefix);
		if (n >= plen && strncmp(name, job_sections[i].prefix, plen) == 0) {
			char *jname = job_name(name, plen);
			if (sec->again.line)
				config_error(in->ld, sec->again,
				             "job \"%s\" is defined twice (first at line %d)",
				             jname, sec->pos.line);
			else
				job(in, sec, job_sections[i].type, jname);
			free(jname);
			return;
		}
	}
	if (strncmp(name, "webhook", 7) == 0 && (name[7] == ' ' || name[7] == '"')) {
		char *wname = job_name(name, 7);
		struct config_webhook *w =
		    sec->again.line ? NULL : config_webhook_add(in->ld, wname, sec->pos);
		if (sec->again.line)
			config_error(in->ld, sec->again,
			             "webhook \"%s\" is defined twice (first at line %d)", wname,
			             sec->pos.line);
		for (size_t k = 0; w && k < sec->n; k++) {
			char *value = config_envsubst(sec->e[k].value);
			config_webhook_set(in->ld, w, sec->e[k].key, value, sec->e[k].pos);
			free(value);
		}
		free(wname);
		return;
	}
	config_warning(in->ld, sec->pos, "section [%s] is %s (ignored)", sec->name,
	               strncmp(name, "job-compose", 11) == 0 ? "not supported" : "unknown");
}

void config_ini_load(struct config_ld *ld, const char *text, size_t len)
{
	struct ini in = {.ld = ld, .p = text, .end = text + len};

	map_init(&in.by_name);
	if (parse(&in) == 0)
		for (size_t i = 0; i < in.n; i++)
			apply(&in, &in.s[i]);
	for (size_t i = 0; i < in.n; i++) {
		for (size_t k = 0; k < in.s[i].n; k++) {
			free(in.s[i].e[k].key);
			free(in.s[i].e[k].value);
		}
		free(in.s[i].e);
		free(in.s[i].name);
	}
	free(in.s);
	map_fini(&in.by_name);
}
