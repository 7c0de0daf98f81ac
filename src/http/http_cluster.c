/* The API of a cluster node (docs/cluster.md, docs/api.md):
 *
 * - Reads are answered by every node from its own store, which holds the
 *   cluster's history. Changes are the leader's to make: a follower answers
 *   them 421 NOT_LEADER with the leader's URL (and the request's URL there)
 *   in the error envelope; while no node leads, 503 NO_LEADER. Nothing is
 *   forwarded: a client, or a proxy in front of the nodes, repeats the
 *   request at the leader with its own credentials.
 * - GET /internal/cluster/changes?after=CURSOR serves this node's changes
 *   to the other nodes. It is authenticated by the cluster secret
 *   (Authorization: Bearer <secret>), compared in constant time and never
 *   logged; without a cluster the route does not exist. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "http/http_int.h"
#include "util/clock.h"

bool http_not_leader(struct http_req *r)
{
	const struct http_cluster *c = &r->h->deps.cluster;
	char name[65], url[512];
	if (c->leader == NULL || c->leader(c->arg, name, sizeof name, url, sizeof url))
		return false;
	json_t *details = json_pack("{s:o}", "timestamp", http_time(r->now_ns));
	if (name[0] == '\0') {
		char retry[32];
		int64_t ttl = r->cfg->cluster.lease_ttl_ns / NS_PER_SEC;
		snprintf(retry, sizeof retry, "%lld", (long long)(ttl > 0 ? ttl : 1));
		http_header(r, "retry-after", retry);
		http_reply_json(
		    r, 503,
		    json_pack("{s:{s:s,s:s,s:o}}", "error", "code", "NO_LEADER", "message",
		              "No node leads the cluster now (an election is under way, or etcd "
		              "has lost its quorum): changes cannot be made; try again shortly",
		              "details", details));
		return true;
	}
	json_object_set_new(details, "leader", http_string(name));
	json_object_set_new(details, "leaderUrl", url[0] ? http_string(url) : json_null());
	/* The same request at the leader, for a client to repeat it there. */
	if (url[0]) {
		json_t *at = json_sprintf("%s%.*s%s%.*s", url, (int)r->path.len, r->path.base,
		                          r->query.len ? "?" : "", (int)r->query.len,
		                          r->query.base ? r->query.base : "");
		json_object_set_new(details, "location", at);
	}
	http_reply_json(r, 421,
	                json_pack("{s:{s:s,s:o,s:o}}", "error", "code", "NOT_LEADER", "message",
	                          json_sprintf("This node follows; changes go to the leader, "
	                                       "node %s%s%s",
	                                       name, url[0] ? " at " : "", url),
	                          "details", details));
	return true;
}

json_t *http_cluster_status(struct http *h, bool *healthy)
{
	const struct http_cluster *c = &h->deps.cluster;
	*healthy = true;
	return c->status ? c->status(c->arg, healthy) : NULL;
}

/* secret_ok checks the request's bearer against the cluster secret. */
static bool secret_ok(struct http_req *r)
{
	const char *secret = r->cfg->cluster.secret;
	h2o_iovec_t auth = http_find_header(r, "authorization");
	static const char scheme[] = "Bearer ";
	size_t skip = sizeof scheme - 1;
	if (secret == NULL || auth.len <= skip || strncasecmp(auth.base, scheme, skip) != 0)
		return false;
	return http_secret_equal(auth.base + skip, auth.len - skip, secret, strlen(secret));
}

void http_on_cluster_changes(struct http_req *r)
{
	struct store *st = r->h->deps.store;
	if (r->h->deps.cluster.status == NULL || r->cfg->cluster.etcd_endpoints.n == 0) {
		http_reply_error(r, 404, "NOT_FOUND", NULL, NULL,
		                 "No route for GET /internal/cluster/changes: not a cluster node");
		return;
	}
	if (!secret_ok(r)) {
		http_header(r, "www-authenticate", "Bearer");
		http_reply_error(r, 401, "UNAUTHORIZED", NULL, NULL,
		                 "The cluster's replication needs the cluster secret");
		return;
	}
	json_t *page = store_changes_read(st, http_query(r, "after"));
	if (page == NULL) {
		http_reply_error(r, 500, "INTERNAL_ERROR", NULL, NULL,
		                 "Cannot read the changes: %s", store_errmsg(st));
		return;
	}
	http_reply_json(r, 200, page);
}
