/* words: how ofelia compares the key names users write. Case and '-'/'_'
 * are ignored ("no-overlap" == "noOverlap" == "NO_OVERLAP"), and an unknown
 * key is answered with the nearest known one, in every config format and in
 * the API alike. */
#ifndef OFELIA_UTIL_WORDS_H
#define OFELIA_UTIL_WORDS_H

#include <stddef.h>

/* words_normalize writes key lowercased without '-' and '_' into out. */
void words_normalize(const char *key, char *out, size_t outlen);
/* words_nearest returns the entry of words whose normalized spelling is
 * nearest to key's (edit distance), or NULL when even that one is farther
 * than a third of the key: a different word, not a typo. */
const char *words_nearest(const char *key, const char *const *words, size_t nwords);

#endif
