/* yaml: ofelia.yaml through libyaml's document API. libyaml resolves no
 * types, accepts duplicate keys and leaves merge keys (<<) alone, so this file
 * does all three: every value is text handed to the key tables, a key given
 * twice in one mapping (in any spelling) is an error, and "<<: *anchor"
 * merges the anchored mapping under the keys written beside it. Only the
 * layout below is walked, so a deep or cyclic document costs no more than
 * its shape allows:
 *
 *   global: {settings}   docker: {settings}   web: {settings, auth, cors, ...}
 *   jobs: {NAME: {type: exec|run|local|service, job keys...}}
 *   webhooks: {NAME: {preset, url, id, secret, trigger, ...}}
 *
 * Top-level keys starting with "x-" are skipped (a place for anchors, as in
 * docker-compose files). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <yaml.h>

#include "config/config_int.h"
#include "util/words.h"
#include "util/xalloc.h"

#define MAX_MERGE_DEPTH 32
/* Mappings and lists nested deeper than this are refused before the
 * document is built: libyaml's scanner does work in proportion to the
 * nesting for every token, so a deep document cost the square of its size
 * (200 KB of "[" took 17 s; 12 MB nested 60 deep still took 10 s). A config
 * needs five or six levels. With the 4 MiB bound on the file the worst case
 * (4 MiB nested 19 deep) parses in 2.5 s, on the reload thread. */
#define MAX_DEPTH 20

struct yl {
	struct config_ld *ld;
	yaml_document_t doc;
};

struct ypair {
	yaml_node_t *key, *val;
	const yaml_node_t *map; /* the mapping the pair is written in */
	char *norm;             /* the key as compared */
	size_t rank;            /* position: written pairs first, merged ones after */
};

struct pairs {
	struct ypair *v;
	size_t n;
	const yaml_node_t **merged; /* mappings already merged in */
	size_t nmerged;
};

static struct config_pos pos_of(const yaml_node_t *n)
{
	return (struct config_pos){(int)n->start_mark.line + 1, (int)n->start_mark.column + 1};
}

static yaml_node_t *node(struct yl *y, int id)
{
	return yaml_document_get_node(&y->doc, id);
}

/* text returns a scalar's text; NULL for other nodes and for text holding a
 * NUL character (a "\0" escape), which no setting can take. */
static const char *text(const yaml_node_t *n)
{
	if (n->type != YAML_SCALAR_NODE)
		return NULL;
	const char *s = (const char *)n->data.scalar.value;
	return strlen(s) == n->data.scalar.length ? s : NULL;
}

static bool is_null(const yaml_node_t *n)
{
	static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};
	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	for (size_t i = 0; i < sizeof nulls / sizeof nulls[0]; i++)
		if (strcmp((const char *)n->data.scalar.value, nulls[i]) == 0)
			return true;
	return false;
}

static const char *shape(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_MAPPING_NODE:
		return "a mapping";
	case YAML_SEQUENCE_NODE:
		return "a list";
	default:
		return "text with a NUL character";
	}
}

/* ---- mappings: pairs, duplicates, merge keys ---- */

static void collect(struct yl *y, const yaml_node_t *map, bool fold, const char *where, int depth,
                    struct pairs *out);

static void merge(struct yl *y, yaml_node_t *src, bool fold, const char *where, int depth,
                  struct pairs *out)
{
	if (src->type == YAML_SEQUENCE_NODE) {
		for (yaml_node_item_t *it = src->data.sequence.items.start;
		     it < src->data.sequence.items.top; it++) {
			yaml_node_t *item = node(y, *it);
			if (item && item->type == YAML_SEQUENCE_NODE)
				config_error(y->ld, pos_of(item),
				             "%s: << merges mappings, not lists", where);
			else if (item)
				merge(y, item, fold, where, depth, out);
		}
		return;
	}
	if (src->type != YAML_MAPPING_NODE) {
		config_error(y->ld, pos_of(src), "%s: << merges mappings, not %s", where,
		             src->type == YAML_SCALAR_NODE ? "text" : shape(src));
		return;
	}
	for (size_t i = 0; i < out->nmerged; i++)
		if (out->merged[i] == src)
			return;
	if (depth >= MAX_MERGE_DEPTH) {
		config_error(y->ld, pos_of(src), "%s: merge keys nest deeper than %d", where,
		             MAX_MERGE_DEPTH);
		return;
	}
	collect(y, src, fold, where, depth + 1, out);
}

/* collect appends the pairs written in map, then those its << keys merge in. */
static void collect(struct yl *y, const yaml_node_t *map, bool fold, const char *where, int depth,
                    struct pairs *out)
{
	const yaml_node_pair_t *p, *start = map->data.mapping.pairs.start;
	const yaml_node_pair_t *top = map->data.mapping.pairs.top;
	char norm[256];

	out->merged = xreallocarray(out->merged, out->nmerged + 1, sizeof *out->merged);
	out->merged[out->nmerged++] = map;
	for (p = start; p < top; p++) {
		yaml_node_t *k = node(y, p->key), *v = node(y, p->value);
		const char *key = k ? text(k) : NULL;
		if (k == NULL || v == NULL)
			continue;
		if (key == NULL) {
			config_error(y->ld, pos_of(k), "%s: a key must be text, not %s", where,
			             shape(k));
			continue;
		}
		if (strcmp(key, "<<") == 0 && k->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
			continue;
		if (fold)
			words_normalize(key, norm, sizeof norm);
		out->v = xreallocarray(out->v, out->n + 1, sizeof *out->v);
		out->v[out->n] =
		    (struct ypair){k, v, map, fold ? xstrdup(norm) : xstrdup(key), out->n};
		out->n++;
	}
	for (p = start; p < top; p++) {
		yaml_node_t *k = node(y, p->key), *v = node(y, p->value);
		const char *key = k ? text(k) : NULL;
		if (key && v && strcmp(key, "<<") == 0 &&
		    k->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
			merge(y, v, fold, where, depth, out);
	}
}

static int by_norm_rank(const void *a, const void *b)
{
	const struct ypair *x = a, *y = b;
	int c = strcmp(x->norm, y->norm);
	return c ? c : (x->rank > y->rank) - (x->rank < y->rank);
}

static int by_rank(const void *a, const void *b)
{
	const struct ypair *x = a, *y = b;
	return (x->rank > y->rank) - (x->rank < y->rank);
}

static void pairs_free(struct ypair *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].norm);
	free(v);
}

/* map_pairs returns the pairs of map in file order, merged keys included.
 * A key written twice in one mapping is an error (fold: in any spelling,
 * else exactly); a merged key gives way to one written beside it. */
static size_t map_pairs(struct yl *y, const yaml_node_t *map, bool fold, const char *where,
                        struct ypair **out)
{
	struct pairs all = {NULL, 0, NULL, 0};
	size_t kept = 0;

	collect(y, map, fold, where, 0, &all);
	free(all.merged);
	if (all.n > 1)
		qsort(all.v, all.n, sizeof *all.v, by_norm_rank);
	for (size_t i = 0; i < all.n; i++) {
		struct ypair *first = kept ? &all.v[kept - 1] : NULL;
		if (first && strcmp(first->norm, all.v[i].norm) == 0) {
			if (first->map == all.v[i].map)
				config_error(y->ld, pos_of(all.v[i].key),
				             "%s: duplicate key \"%s\" (first at line %d)", where,
				             text(all.v[i].key), pos_of(first->key).line);
			free(all.v[i].norm);
			continue;
		}
		all.v[kept++] = all.v[i];
	}
	if (kept > 1)
		qsort(all.v, kept, sizeof *all.v, by_rank);
	*out = all.v;
	return kept;
}

/* ---- settings ---- */

static bool is_list_kind(enum config_kind k)
{
	return k == CK_LIST || k == CK_FILTERS || k == CK_CIDRS || k == CK_URLS;
}

static void set_scalar(struct yl *y, const struct config_key *k, const char *where,
                       const yaml_node_t *v)
{
	char *value = config_envsubst(text(v));
	config_key_set(y->ld, k, where, value, pos_of(v));
	free(value);
}

static void users(struct yl *y, const yaml_node_t *seq, const char *where);

static void setting(struct yl *y, const struct config_key *table, const char *where,
                    const struct ypair *p);

static void settings(struct yl *y, const struct config_key *table, const char *where,
                     const yaml_node_t *map)
{
	struct ypair *pairs;
	if (is_null(map))
		return;
	if (map->type != YAML_MAPPING_NODE) {
		config_error(y->ld, pos_of(map), "%s: wants a mapping of settings, not %s", where,
		             map->type == YAML_SCALAR_NODE ? "text" : shape(map));
		return;
	}
	size_t n = map_pairs(y, map, true, where, &pairs);
	for (size_t i = 0; i < n; i++)
		setting(y, table, where, &pairs[i]);
	pairs_free(pairs, n);
}

static void setting(struct yl *y, const struct config_key *table, const char *where,
                    const struct ypair *p)
{
	const char *key = text(p->key);
	const yaml_node_t *v = p->val;
	const struct config_key *k = config_key_find(table, key);
	char sub[128];

	if (k == NULL) {
		config_key_unknown(y->ld, table, where, key, pos_of(p->key));
		return;
	}
	if (k->kind == CK_IGNORED) {
		config_key_set(y->ld, k, where, "", pos_of(p->key));
		return;
	}
	if (k->kind == CK_MAP) {
		snprintf(sub, sizeof sub, "%s.%s", where, k->key);
		settings(y, k->extra, sub, v);
		return;
	}
	if (config_key_claim(y->ld, k, where, key, pos_of(p->key)) < 0)
		return;
	if (is_null(v)) {
		config_key_set(y->ld, k, where, "", pos_of(v));
	} else if (k->kind == CK_USERS) {
		snprintf(sub, sizeof sub, "%s.%s", where, k->key);
		users(y, v, sub);
	} else if (text(v)) {
		set_scalar(y, k, where, v);
	} else if (v->type == YAML_SEQUENCE_NODE && is_list_kind(k->kind)) {
		for (yaml_node_item_t *it = v->data.sequence.items.start;
		     it < v->data.sequence.items.top; it++) {
			yaml_node_t *item = node(y, *it);
			if (item && text(item))
				set_scalar(y, k, where, item);
			else if (item && !is_null(item))
				config_error(y->ld, pos_of(item),
				             "%s: %s: a list item must be text, not %s", where,
				             k->key, shape(item));
		}
	} else {
		config_error(y->ld, pos_of(v), "%s: %s: wants %s, not %s", where, k->key,
		             is_list_kind(k->kind) ? "a list" : "a single value", shape(v));
	}
}

/* ---- web users ---- */

static bool user_complete(struct yl *y, const struct config_user *u, const char *where,
                          const yaml_node_t *item)
{
	const char *missing = !u->username        ? "username"
	                      : !u->password_hash ? "password-hash"
	                      : !u->role          ? "role"
	                                          : NULL;
	if (missing) {
		config_error(y->ld, pos_of(item), "%s: a user needs %s", where, missing);
		return false;
	}
	return true;
}

static void user(struct yl *y, const yaml_node_t *item, const char *where)
{
	struct config_user u = {NULL, NULL, NULL};
	struct ypair *pairs;
	bool ok = true;

	size_t n = map_pairs(y, item, true, where, &pairs);
	for (size_t i = 0; i < n; i++) {
		const char *key = text(pairs[i].key);
		const struct config_key *k = config_key_find(config_user_keys, key);
		const yaml_node_t *v = pairs[i].val;
		if (k == NULL) {
			config_key_unknown(y->ld, config_user_keys, where, key,
			                   pos_of(pairs[i].key));
		} else if (text(v) == NULL || is_null(v)) {
			config_error(y->ld, pos_of(v), "%s: %s: wants text", where, k->key);
			ok = false;
		} else {
			char **field = (char **)((char *)&u + k->offset);
			free(*field);
			*field = config_envsubst(text(v));
		}
	}
	pairs_free(pairs, n);

	if (ok && user_complete(y, &u, where, item)) {
		if (strcasecmp(u.role, "admin") != 0 && strcasecmp(u.role, "viewer") != 0) {
			config_error(y->ld, pos_of(item),
			             "%s: user \"%s\": role \"%s\" is not admin or viewer", where,
			             u.username, u.role);
		} else if (!config_hash_ok(u.password_hash)) {
			config_error(y->ld, pos_of(item),
			             "%s: user \"%s\": password-hash is not a crypt(3) hash ($y$, "
			             "$2b$, $6$ or $5$); make one with `ofelia hash-password`",
			             where, u.username);
		} else {
			for (char *r = u.role; *r; r++)
				*r = (char)(*r >= 'A' && *r <= 'Z' ? *r + 32 : *r);
			config_user_add(y->ld->c, u.username, u.password_hash, u.role);
		}
	}
	free(u.username);
	free(u.password_hash);
	free(u.role);
}

static void users(struct yl *y, const yaml_node_t *seq, const char *where)
{
	if (seq->type != YAML_SEQUENCE_NODE) {
		config_error(y->ld, pos_of(seq), "%s: wants a list of users, not %s", where,
		             seq->type == YAML_SCALAR_NODE ? "text" : shape(seq));
		return;
	}
	for (yaml_node_item_t *it = seq->data.sequence.items.start;
	     it < seq->data.sequence.items.top; it++) {
		yaml_node_t *item = node(y, *it);
		if (item && item->type == YAML_MAPPING_NODE)
			user(y, item, where);
		else if (item)
			config_error(y->ld, pos_of(item),
			             "%s: a user is a mapping (username, password-hash, role)",
			             where);
	}
}

/* ---- jobs ---- */

static const struct ypair *find_pair(const struct ypair *pairs, size_t n, const char *norm)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(pairs[i].norm, norm) == 0)
			return &pairs[i];
	return NULL;
}

/* job_value sets one job key from v; -1 after an error. */
static int job_value(struct yl *y, struct job *j, const struct job_field *f, const char *where,
                     const yaml_node_t *v)
{
	char err[512];
	int rc = 0;

	if (is_null(v))
		return 0;
	if (text(v)) {
		char *value = config_envsubst(text(v));
		if (*value && job_field_set(j, f, value, err, sizeof err) < 0) {
			config_error(y->ld, pos_of(v), "%s: %s", where, err);
			rc = -1;
		}
		free(value);
		return rc;
	}
	if (v->type != YAML_SEQUENCE_NODE || f->kind != JOB_F_LIST) {
		config_error(y->ld, pos_of(v), "%s: %s: wants %s, not %s", where, f->key,
		             f->kind == JOB_F_LIST ? "a list" : "a single value", shape(v));
		return -1;
	}
	for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top;
	     it++) {
		yaml_node_t *item = node(y, *it);
		if (item == NULL || is_null(item))
			continue;
		if (text(item) == NULL) {
			config_error(y->ld, pos_of(item),
			             "%s: %s: a list item must be text, not %s", where, f->key,
			             shape(item));
			rc = -1;
		} else if (job_value(y, j, f, where, item) < 0) {
			rc = -1;
		}
	}
	return rc;
}

/* job_type reads the type key of a job; -1 after an error. */
static int job_type(struct yl *y, const yaml_node_t *name_node, const struct ypair *type,
                    const char *where, enum job_type *out)
{
	if (type == NULL || is_null(type->val)) {
		config_error(y->ld, pos_of(name_node),
		             "%s: missing type (exec, run, local or service)", where);
		return -1;
	}
	const char *s = text(type->val);
	if (s == NULL || job_type_parse(s, out) < 0) {
		config_error(y->ld, pos_of(type->val),
		             "%s: unknown type \"%s\" (exec, run, local or service)", where,
		             s ? s : shape(type->val));
		return -1;
	}
	return 0;
}

static void job(struct yl *y, const char *name, const yaml_node_t *name_node,
                const yaml_node_t *def)
{
	char where[300], warn[256];
	struct ypair *pairs;
	struct config_job_pos at = {.job = pos_of(name_node)};
	enum job_type type;
	bool bad = false;

	snprintf(where, sizeof where, "job \"%s\"", name);
	if (def->type != YAML_MAPPING_NODE) {
		config_error(y->ld, pos_of(def), "%s: wants a mapping of job keys, not %s", where,
		             is_null(def)                    ? "nothing"
		             : def->type == YAML_SCALAR_NODE ? "text"
		                                             : shape(def));
		return;
	}
	size_t n = map_pairs(y, def, true, where, &pairs);
	if (job_type(y, name_node, find_pair(pairs, n, "type"), where, &type) < 0) {
		pairs_free(pairs, n);
		return;
	}
	struct job *j = job_new(name, type);
	for (size_t i = 0; i < n; i++) {
		const char *key = text(pairs[i].key);
		if (strcmp(pairs[i].norm, "type") == 0)
			continue;
		const struct job_field *f = config_job_field(j, key, warn, sizeof warn);
		if (f == NULL) {
			config_warning(y->ld, pos_of(pairs[i].key), "%s: %s", where, warn);
			continue;
		}
		config_job_note_key(&at, f, pos_of(pairs[i].key));
		if (job_value(y, j, f, where, pairs[i].val) < 0)
			bad = true;
	}
	pairs_free(pairs, n);
	if (bad)
		job_free(j);
	else
		config_job_add(y->ld, j, &at);
}

static void jobs(struct yl *y, const yaml_node_t *map)
{
	struct ypair *pairs;
	if (is_null(map))
		return;
	if (map->type != YAML_MAPPING_NODE) {
		config_error(y->ld, pos_of(map), "jobs: wants a mapping of job names, not %s",
		             map->type == YAML_SCALAR_NODE ? "text" : shape(map));
		return;
	}
	size_t n = map_pairs(y, map, false, "jobs", &pairs);
	for (size_t i = 0; i < n; i++)
		job(y, text(pairs[i].key), pairs[i].key, pairs[i].val);
	pairs_free(pairs, n);
}

/* webhooks reads "webhooks: {NAME: {preset: slack, id: ..., ...}}". */
static void webhooks(struct yl *y, const yaml_node_t *map)
{
	struct ypair *pairs, *keys = NULL;
	if (is_null(map))
		return;
	if (map->type != YAML_MAPPING_NODE) {
		config_error(y->ld, pos_of(map),
		             "webhooks: wants a mapping of webhook names, not %s",
		             map->type == YAML_SCALAR_NODE ? "text" : shape(map));
		return;
	}
	size_t n = map_pairs(y, map, false, "webhooks", &pairs);
	for (size_t i = 0; i < n; i++) {
		const yaml_node_t *v = pairs[i].val;
		char where[300];
		snprintf(where, sizeof where, "webhook \"%s\"", text(pairs[i].key));
		if (v->type != YAML_MAPPING_NODE) {
			config_error(y->ld, pos_of(v), "%s: wants a mapping of settings, not %s",
			             where, v->type == YAML_SCALAR_NODE ? "text" : shape(v));
			continue;
		}
		struct config_webhook *w =
		    config_webhook_add(y->ld, text(pairs[i].key), pos_of(pairs[i].key));
		size_t nk = w ? map_pairs(y, v, true, where, &keys) : 0;
		for (size_t k = 0; k < nk; k++) {
			const yaml_node_t *kv = keys[k].val;
			const yaml_node_t *items[64];
			size_t nitems = 0;
			if (kv->type == YAML_SEQUENCE_NODE) {
				for (yaml_node_item_t *it = kv->data.sequence.items.start;
				     it < kv->data.sequence.items.top && nitems < 64; it++)
					items[nitems++] = node(y, *it);
			} else {
				items[nitems++] = kv;
			}
			for (size_t t = 0; t < nitems; t++) {
				if (items[t] == NULL || is_null(items[t]))
					continue;
				if (text(items[t]) == NULL) {
					config_error(y->ld, pos_of(items[t]),
					             "%s: %s: wants text, not %s", where,
					             text(keys[k].key), shape(items[t]));
					continue;
				}
				char *value = config_envsubst(text(items[t]));
				config_webhook_set(y->ld, w, text(keys[k].key), value,
				                   pos_of(items[t]));
				free(value);
			}
		}
		if (w)
			pairs_free(keys, nk);
	}
	pairs_free(pairs, n);
}

/* ---- the document ---- */

static void root(struct yl *y, const yaml_node_t *top)
{
	static const char *const sections[] = {"global", "docker",   "web",
	                                       "jobs",   "webhooks", "cluster"};
	struct ypair *pairs;

	if (top->type != YAML_MAPPING_NODE) {
		if (!is_null(top))
			config_error(
			    y->ld, pos_of(top),
			    "the file must be a mapping (global, docker, web, jobs), not %s",
			    top->type == YAML_SCALAR_NODE ? "text" : shape(top));
		return;
	}
	size_t n = map_pairs(y, top, true, "top level", &pairs);
	for (size_t i = 0; i < n; i++) {
		const char *key = text(pairs[i].key), *norm = pairs[i].norm;
		const yaml_node_t *v = pairs[i].val;
		if (strcmp(norm, "global") == 0)
			settings(y, config_global_keys, "global", v);
		else if (strcmp(norm, "docker") == 0)
			settings(y, config_docker_keys, "docker", v);
		else if (strcmp(norm, "web") == 0)
			settings(y, config_web_keys, "web", v);
		else if (strcmp(norm, "cluster") == 0)
			settings(y, config_cluster_keys, "cluster", v);
		else if (strcmp(norm, "jobs") == 0)
			jobs(y, v);
		else if (strcmp(norm, "webhooks") == 0)
			webhooks(y, v);
		else if (strncasecmp(key, "x-", 2) != 0) {
			const char *near = words_nearest(key, sections, 6);
			if (near)
				config_warning(y->ld, pos_of(pairs[i].key),
				               "unknown key \"%s\" (did you mean \"%s\"?)", key,
				               near);
			else
				config_warning(
				    y->ld, pos_of(pairs[i].key),
				    "unknown key \"%s\" (the file has global, docker, web, "
				    "jobs, webhooks and cluster)",
				    key);
		}
	}
	pairs_free(pairs, n);
}

static void syntax_error(struct config_ld *ld, const yaml_parser_t *p)
{
	const char *problem = p->problem ? p->problem : "cannot parse the file";
	if (p->error == YAML_READER_ERROR) {
		config_error(ld, (struct config_pos){0, 0}, "%s at byte %zu", problem,
		             p->problem_offset);
		return;
	}
	struct config_pos pos = {(int)p->problem_mark.line + 1, (int)p->problem_mark.column + 1};
	if (p->context)
		config_error(ld, pos, "%s (%s at line %zu)", problem, p->context,
		             p->context_mark.line + 1);
	else
		config_error(ld, pos, "%s", problem);
}

/* too_deep walks the events only (no document), stopping at MAX_DEPTH, so
 * its cost stays linear; a syntax error is left for the load to report. */
static bool too_deep(struct config_ld *ld, const char *src, size_t len)
{
	yaml_parser_t p;
	yaml_event_t ev;
	int depth = 0;
	bool deep = false;

	yaml_parser_initialize(&p);
	yaml_parser_set_input_string(&p, (const unsigned char *)src, len);
	while (!deep && yaml_parser_parse(&p, &ev)) {
		yaml_event_type_t type = ev.type;
		struct config_pos pos = {(int)ev.start_mark.line + 1,
		                         (int)ev.start_mark.column + 1};
		yaml_event_delete(&ev);
		if (type == YAML_STREAM_END_EVENT)
			break;
		if (type == YAML_MAPPING_START_EVENT || type == YAML_SEQUENCE_START_EVENT)
			depth++;
		else if (type == YAML_MAPPING_END_EVENT || type == YAML_SEQUENCE_END_EVENT)
			depth--;
		if (depth > MAX_DEPTH) {
			config_error(ld, pos, "mappings and lists nest deeper than %d levels",
			             MAX_DEPTH);
			deep = true;
		}
	}
	yaml_parser_delete(&p);
	return deep;
}

void config_yaml_load(struct config_ld *ld, const char *src, size_t len)
{
	yaml_parser_t parser;
	yaml_document_t next;
	struct yl y = {.ld = ld};

	if (too_deep(ld, src, len))
		return;
	yaml_parser_initialize(&parser);
	yaml_parser_set_input_string(&parser, (const unsigned char *)src, len);
	if (!yaml_parser_load(&parser, &y.doc)) {
		syntax_error(ld, &parser);
		yaml_parser_delete(&parser);
		return;
	}
	yaml_node_t *top = yaml_document_get_root_node(&y.doc);
	if (top) {
		if (!yaml_parser_load(&parser, &next)) {
			syntax_error(ld, &parser);
		} else {
			yaml_node_t *second = yaml_document_get_root_node(&next);
			if (second)
				config_error(ld, pos_of(second),
				             "a second YAML document: the file must hold one");
			yaml_document_delete(&next);
		}
		root(&y, top);
	}
	yaml_document_delete(&y.doc);
	yaml_parser_delete(&parser);
}
