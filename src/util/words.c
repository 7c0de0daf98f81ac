#include <ctype.h>
#include <string.h>

#include "util/words.h"

/* Keys longer than this are never suggested for (nor from). */
#define WORD_MAX 64

void words_normalize(const char *key, char *out, size_t outlen)
{
	size_t w = 0;
	for (; *key && w + 1 < outlen; key++)
		if (*key != '-' && *key != '_')
			out[w++] = (char)tolower((unsigned char)*key);
	out[w] = '\0';
}

/* edit_distance is Levenshtein's, one row at a time. */
static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), row[WORD_MAX];
	if (lb >= WORD_MAX)
		return (size_t)-1;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j], best = diag + (a[i - 1] != b[j - 1]);
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

const char *words_nearest(const char *key, const char *const *words, size_t nwords)
{
	char want[WORD_MAX], have[WORD_MAX];
	const char *best = NULL;
	size_t best_d = (size_t)-1;

	if (strlen(key) >= sizeof want)
		return NULL;
	words_normalize(key, want, sizeof want);
	for (size_t i = 0; i < nwords; i++) {
		words_normalize(words[i], have, sizeof have);
		size_t d = edit_distance(want, have);
		if (d < best_d) {
			best_d = d;
			best = words[i];
		}
	}
	return best_d <= strlen(want) / 3 + 1 ? best : NULL;
}
