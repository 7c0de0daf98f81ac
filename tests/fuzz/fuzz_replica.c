/* fuzz_replica: any bytes as a page of another cluster node's changes
 * (GET /internal/cluster/changes, docs/cluster.md), applied to a real store
 * as a follower, then served again as this node's feed. A peer holds the
 * cluster secret, but its pages are still input: whatever they hold, the
 * store must not crash or leak, must keep the database sound (the page is
 * applied whole or not at all), and must keep serving its own feed. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/store.h"

static struct store *st;

static void open_store(void)
{
	char dir[] = "/tmp/fuzz-replica-XXXXXX", path[64], err[256];
	if (mkdtemp(dir) == NULL)
		abort();
	snprintf(path, sizeof path, "%s/ofelia.db", dir);
	struct store_options o = {.path = path};
	st = store_open(&o, err, sizeof err);
	if (st == NULL || store_cluster_enable(st, "b") < 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct store_applied a;
	if (st == NULL)
		open_store();
	json_t *page = json_loadb((const char *)data, size, 0, NULL);
	if (page == NULL)
		return 0;
	/* Leading or not changes which job rows are taken. */
	store_cluster_lead(st, size & 1);
	if (store_changes_apply(st, "a", page, &a) == 0)
		store_applied_fini(&a);
	json_decref(page);
	json_t *feed = store_changes_read(st, NULL);
	if (feed == NULL)
		abort();
	json_decref(feed);
	return 0;
}
