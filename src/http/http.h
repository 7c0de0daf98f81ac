/* http: the API of spec/API.md and the web UI, on h2o sharing the daemon's
 * loop. Handlers read the store and call the scheduler; nothing here runs
 * off the loop thread. Auth (JWT), rate limits, CORS, the error envelope,
 * Prometheus metrics and the WebSocket event stream live here too. */
#ifndef OFELIA_HTTP_HTTP_H
#define OFELIA_HTTP_HTTP_H

#include <stdbool.h>
#include <stddef.h>

struct loop;
struct store;
struct scheduler;
struct events;
struct config;
struct http;
struct buf;
struct json_t;

/* What the server shows of a cluster (docs/cluster.md); all NULL without
 * one. Loop thread. */
struct http_cluster {
	/* leader fills the leader's node name and API URL ("" when none is
	 * known) and tells whether this node is it. */
	bool (*leader)(void *arg, char *name, size_t namelen, char *url, size_t urllen);
	/* status returns the cluster's status object (the caller owns it);
	 * *healthy tells whether etcd answers. */
	struct json_t *(*status)(void *arg, bool *healthy);
	/* metrics appends the cluster's series to b. */
	void (*metrics)(void *arg, struct buf *b);
	void *arg;
};
/* What the server needs from the daemon; every pointer outlives the server. */
struct http_deps {
	struct loop *loop;
	struct store *store;
	struct scheduler *scheduler;
	struct events *events;
	/* config returns the config in force (it changes on reload). */
	const struct config *(*config)(void *arg);
	/* docker_state returns "connected", "disconnected" or "n/a" (no Docker
	 * jobs and no label discovery); NULL means "n/a". */
	const char *(*docker_state)(void *arg);
	void *arg;
	struct http_cluster cluster;
};

/* http_config_check tells whether http_start would refuse c's web
 * settings (auth without users; without auth, an address that is not
 * loopback unless web.insecure), for `ofelia validate` too. Returns 0, or
 * -1 with the reason in err. */
int http_config_check(const struct config *c, char *err, size_t errlen);
/* http_start listens on the config's web address (127.0.0.1:8080 by
 * default) and serves until http_stop. Returns NULL with the reason in err. */
struct http *http_start(const struct http_deps *deps, char *err, size_t errlen);
/* http_stop stops accepting and closes the WebSocket connections. */
void http_stop(struct http *h);
/* http_free releases the server after http_stop; NULL is fine. */
void http_free(struct http *h);
/* http_config_apply_saved puts the global settings changed through the API
 * (PATCH /api/config/global, kept in the store) over c, which the daemon
 * does at start and at each reload. Returns 0, or -1 with the reason in err. */
int http_config_apply_saved(struct store *store, struct config *c, char *err, size_t errlen);

#endif
