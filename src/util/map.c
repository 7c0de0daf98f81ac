#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/map.h"
#include "util/xalloc.h"

struct map_entry {
	struct map_entry *next;
	uint64_t hash;
	void *value;
	char key[]; /* NUL-terminated copy */
};

/* FNV-1a: short keys, no adversary worth a keyed hash (names come from the
 * operator's own config and containers). */
static uint64_t hash_of(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h;
}

void map_init(struct map *m)
{
	m->nbuckets = 16;
	m->buckets = xcalloc(m->nbuckets, sizeof *m->buckets);
	m->count = 0;
}

void map_fini(struct map *m)
{
	for (size_t i = 0; i < m->nbuckets; i++) {
		struct map_entry *e = m->buckets[i];
		while (e) {
			struct map_entry *next = e->next;
			free(e);
			e = next;
		}
	}
	free(m->buckets);
	m->buckets = NULL;
	m->nbuckets = m->count = 0;
}

static struct map_entry **find(const struct map *m, const char *key, uint64_t h)
{
	struct map_entry **p = &m->buckets[h & (m->nbuckets - 1)];
	while (*p && ((*p)->hash != h || strcmp((*p)->key, key) != 0))
		p = &(*p)->next;
	return p;
}

static void grow(struct map *m)
{
	size_t n = m->nbuckets * 2;
	struct map_entry **b = xcalloc(n, sizeof *b);
	for (size_t i = 0; i < m->nbuckets; i++) {
		struct map_entry *e = m->buckets[i];
		while (e) {
			struct map_entry *next = e->next;
			e->next = b[e->hash & (n - 1)];
			b[e->hash & (n - 1)] = e;
			e = next;
		}
	}
	free(m->buckets);
	m->buckets = b;
	m->nbuckets = n;
}

void *map_get(const struct map *m, const char *key)
{
	struct map_entry *e = *find(m, key, hash_of(key));
	return e ? e->value : NULL;
}

void *map_put(struct map *m, const char *key, void *value)
{
	uint64_t h = hash_of(key);
	struct map_entry **p = find(m, key, h);
	if (*p) {
		void *old = (*p)->value;
		(*p)->value = value;
		return old;
	}
	size_t len = strlen(key);
	struct map_entry *e = xmalloc(sizeof *e + len + 1);
	memcpy(e->key, key, len + 1);
	e->hash = h;
	e->value = value;
	e->next = NULL;
	*p = e;
	if (++m->count > m->nbuckets)
		grow(m);
	return NULL;
}

void *map_remove(struct map *m, const char *key)
{
	struct map_entry **p = find(m, key, hash_of(key));
	struct map_entry *e = *p;
	if (e == NULL)
		return NULL;
	*p = e->next;
	void *value = e->value;
	free(e);
	m->count--;
	return value;
}

void map_iter_init(const struct map *m, struct map_iter *it)
{
	it->bucket = 0;
	it->next = m->nbuckets ? m->buckets[0] : NULL;
}

bool map_iter_next(const struct map *m, struct map_iter *it, const char **key, void **value)
{
	while (it->next == NULL) {
		if (++it->bucket >= m->nbuckets)
			return false;
		it->next = m->buckets[it->bucket];
	}
	struct map_entry *e = it->next;
	it->next = e->next;
	if (key)
		*key = e->key;
	if (value)
		*value = e->value;
	return true;
}
