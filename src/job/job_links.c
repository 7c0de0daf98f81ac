/* Loops through the links of a set of jobs. The links form a graph whose
 * edges say "runs before": from a dependency to the job that depends on it
 * (depends-on), and from a job to the jobs it triggers (on-success,
 * on-failure). A loop would trigger itself for ever, or make two jobs wait
 * for each other until their dependency-timeout, so config and scheduler
 * refuse one, naming it. Names outside the set are not edges. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "job/job.h"
#include "util/map.h"
#include "util/xalloc.h"

/* An edge of the graph and the key that made it. */
struct edge {
	size_t from, to;
	size_t holder; /* the job whose key it is */
	enum job_link key;
};

/* DFS state of a node. */
enum { WHITE, GREY, BLACK };

/* describe writes the loop that the edge e closes: the path on the stack
 * from e->to up to e's source (the top), then e->to again. */
static void describe(struct job *const *jobs, const size_t *stack, size_t depth,
                     const struct edge *e, char *out, size_t outlen)
{
	size_t start = depth;
	while (start > 0 && stack[start - 1] != e->to)
		start--;
	if (start > 0)
		start--;
	size_t used = 0;
	out[0] = '\0';
	for (size_t i = start; i < depth && used < outlen; i++)
		used += (size_t)snprintf(out + used, outlen - used, "%s -> ", jobs[stack[i]]->name);
	if (used < outlen)
		snprintf(out + used, outlen - used, "%s", jobs[e->to]->name);
}

int job_links_cycle(struct job *const *jobs, size_t n, size_t *holder, enum job_link *key,
                    char *out, size_t outlen)
{
	struct map index;
	struct edge *edges = NULL;
	size_t nedges = 0, cap = 0;
	int rc = 0;

	map_init(&index);
	for (size_t i = 0; i < n; i++)
		map_put(&index, jobs[i]->name, (void *)(uintptr_t)(i + 1));
	for (size_t i = 0; i < n; i++)
		for (int l = 0; l < JOB_LINK_COUNT; l++) {
			const struct strv *v = job_links(jobs[i], (enum job_link)l);
			for (size_t k = 0; k < v->n; k++) {
				size_t other = (size_t)(uintptr_t)map_get(&index, v->v[k]);
				if (other-- == 0)
					continue;
				if (nedges == cap) {
					cap = cap ? cap * 2 : 16;
					edges = xreallocarray(edges, cap, sizeof *edges);
				}
				bool dep = l == JOB_LINK_DEPENDS_ON;
				edges[nedges++] = (struct edge){dep ? other : i, dep ? i : other, i,
				                                (enum job_link)l};
			}
		}
	/* Per-node runs of edges (a counting sort by source): first[v] ..
	 * first[v + 1]. */
	size_t *first = xcalloc(n + 1, sizeof *first), *fill = xcalloc(n + 1, sizeof *fill);
	struct edge *sorted = xcalloc(nedges + 1, sizeof *sorted);
	for (size_t e = 0; e < nedges; e++)
		first[edges[e].from + 1]++;
	for (size_t i = 0; i < n; i++)
		first[i + 1] += first[i];
	for (size_t e = 0; e < nedges; e++)
		sorted[first[edges[e].from] + fill[edges[e].from]++] = edges[e];
	free(fill);
	free(edges);

	/* Iterative DFS: stack of nodes and, per node, the next edge to try. */
	unsigned char *color = xcalloc(n + 1, 1);
	size_t *stack = xcalloc(n + 1, sizeof *stack), *next = xcalloc(n + 1, sizeof *next);
	for (size_t root = 0; root < n && rc == 0; root++) {
		if (color[root] != WHITE)
			continue;
		size_t depth = 0;
		stack[depth++] = root;
		color[root] = GREY;
		next[root] = first[root];
		while (depth > 0 && rc == 0) {
			size_t v = stack[depth - 1];
			if (next[v] == first[v + 1]) {
				color[v] = BLACK;
				depth--;
				continue;
			}
			const struct edge *e = &sorted[next[v]++];
			if (color[e->to] == GREY) {
				describe(jobs, stack, depth, e, out, outlen);
				*holder = e->holder;
				*key = e->key;
				rc = -1;
			} else if (color[e->to] == WHITE) {
				color[e->to] = GREY;
				next[e->to] = first[e->to];
				stack[depth++] = e->to;
			}
		}
	}
	free(color);
	free(stack);
	free(next);
	free(sorted);
	free(first);
	map_fini(&index);
	return rc;
}
