/* map: a hash map from C strings to pointers (jobs by name, executions by
 * id, clients by address). Keys are copied; values belong to the caller.
 * A value type: map_init it, map_fini it. */
#ifndef OFELIA_UTIL_MAP_H
#define OFELIA_UTIL_MAP_H

#include <stdbool.h>
#include <stddef.h>

struct map_entry;

struct map {
	struct map_entry **buckets;
	size_t nbuckets;
	size_t count;
};

struct map_iter {
	size_t bucket;
	struct map_entry *next;
};

void map_init(struct map *m);
/* map_fini frees the map's own memory, not the values. */
void map_fini(struct map *m);
/* map_get returns the value stored under key, or NULL. */
void *map_get(const struct map *m, const char *key);
/* map_put stores value under key, replacing (and returning) a previous one. */
void *map_put(struct map *m, const char *key, void *value);
/* map_remove deletes key and returns its value, or NULL. */
void *map_remove(struct map *m, const char *key);
/* map_iter_init / map_iter_next walk the entries in no particular order;
 * removing the entry just returned is allowed. */
void map_iter_init(const struct map *m, struct map_iter *it);
bool map_iter_next(const struct map *m, struct map_iter *it, const char **key, void **value);

#endif
