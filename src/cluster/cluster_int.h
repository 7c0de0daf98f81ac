/* Private to the cluster module: the etcd client (etcd.c), the session
 * thread (session.c), the pull thread (pull.c) and the loop side
 * (cluster.c) share these. */
#ifndef OFELIA_CLUSTER_CLUSTER_INT_H
#define OFELIA_CLUSTER_CLUSTER_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <curl/curl.h>
#include <jansson.h>

#include "cluster/cluster.h"
#include "config/config.h"
#include "util/buf.h"
#include "util/map.h"

/* ---- counters (any thread) ---- */

enum etcd_op {
	ETCD_AUTH,
	ETCD_GRANT,
	ETCD_KEEPALIVE,
	ETCD_REVOKE,
	ETCD_TXN,
	ETCD_RANGE,
	ETCD_PUT,
	ETCD_OPS
};

/* Upper bounds (seconds) of the claim latency histogram; +Inf follows. */
#define CLUSTER_LATENCY_BUCKETS 10
extern const double cluster_latency_bounds[CLUSTER_LATENCY_BUCKETS];

struct cluster_counters {
	atomic_uint_fast64_t requests[ETCD_OPS];
	atomic_uint_fast64_t request_errors;
	atomic_uint_fast64_t claims;          /* slots asked for */
	atomic_uint_fast64_t claim_conflicts; /* ... that another node held */
	atomic_uint_fast64_t claim_refused;   /* ... refused: not the leader */
	atomic_uint_fast64_t latency[CLUSTER_LATENCY_BUCKETS + 1];
	atomic_uint_fast64_t latency_sum_ns;
	atomic_uint_fast64_t elections_won;   /* this node became leader */
	atomic_uint_fast64_t leadership_lost; /* ... and stopped leading */
	atomic_uint_fast64_t pulls, pull_errors, pulled_rows;
};

/* ---- etcd.c: the v3 JSON gateway over libcurl ---- */

/* An HTTP answer of the cluster's clients (etcd, pulls), collected by curl
 * up to max bytes; a transfer is aborted once *stop is set. The owner
 * frees body with buf_free. */
struct cluster_reply {
	struct buf body;
	size_t max;
	bool too_big;
	const atomic_bool *stop;
};
/* cluster_reply_attach empties a and points curl's write and progress
 * callbacks at it; call it after curl_easy_reset. */
void cluster_reply_attach(struct cluster_reply *a, CURL *curl);

struct etcd;

/* etcd_new makes a client of cfg's endpoints (TLS and user from cfg,
 * copied); one per thread. A request stops early once *stop is set. */
struct etcd *etcd_new(const struct config_cluster *cfg, struct cluster_counters *ctr,
                      const atomic_bool *stop);
void etcd_free(struct etcd *e);
/* etcd_call posts body (taken) to op's path and returns the answer (the
 * caller owns it), trying the endpoints in turn from the last that
 * answered, each for at most timeout_ns. NULL with the reason in err: no
 * endpoint answered, or etcd refused (then *code is etcd's gRPC code,
 * else -1). */
json_t *etcd_call(struct etcd *e, enum etcd_op op, json_t *body, int64_t timeout_ns, int *code,
                  char *err, size_t errlen);
/* etcd_endpoint is the endpoint that answered last. */
const char *etcd_endpoint(const struct etcd *e);
const char *etcd_op_name(enum etcd_op op);

/* Base64 as the gateway carries keys and values; caller frees. unb64
 * returns NULL on bad input and NUL-terminates. */
char *etcd_b64(const char *s, size_t n);
char *etcd_unb64(const char *s, size_t *n);
/* etcd_int reads an int64 the gateway writes as a string (or a number). */
int64_t etcd_int(const json_t *v);

/* ---- the nodes as etcd lists them ---- */

struct cluster_peer {
	char name[65];
	char url[512];
	char jobs_hash[65];
};

/* ---- the state the threads share (struct cluster) ---- */

#define CLUSTER_CLAIMS_MAX 16384
#define CLUSTER_PEERS_MAX  64

struct cluster_batch {
	uint64_t id;
	struct cluster_claim *v;
	size_t n;
	int64_t asked_ns; /* monotonic, for the latency */
	struct cluster_batch *next;
};

struct cluster {
	struct loop *loop;
	struct store *store;
	struct cluster_hooks hooks;
	struct config_cluster cfg; /* copied; cfg.node is this node's name */
	char node[65];
	char url[512]; /* this node's API, as peers reach it */
	char prefix[80];
	struct cluster_counters ctr;
	atomic_bool stop;

	/* leadership: the session thread writes, any thread reads */
	atomic_int_fast64_t leader_until; /* monotonic ns; 0 when not leading */
	pthread_mutex_t lock;
	pthread_cond_t wake;
	char leader[65];      /* lock: the leader's name, "" when none is known */
	char leader_url[512]; /* lock */
	bool etcd_ok;         /* lock: the last request answered */
	char etcd_error[256]; /* lock: why not */
	char *jobs_hash;      /* lock: published when it changes */
	bool hash_dirty;      /* lock */
	struct cluster_batch *claims, **claims_tail; /* lock: asked, not yet sent */
	size_t nclaims;                              /* lock */
	bool resign;                                 /* lock: give up the lease (stop) */

	pthread_t session;
	bool session_started;
	struct loop_mailbox *mailbox;

	/* loop thread */
	bool leading; /* as last told to the hooks */
	struct cluster_peer peers[CLUSTER_PEERS_MAX];
	size_t npeers;
	bool drift;
	int64_t last_pulled_ns; /* a page of changes applied */
	struct loop_timer *pull_timer;
	struct cluster_pull *pull;
	bool stopped;
};

/* session.c: the session thread's body. */
void *cluster_session_main(void *arg);

/* Messages to the loop thread (cluster.c takes them). */
enum cluster_msg_kind { CMSG_LEAD, CMSG_CLAIMED, CMSG_PEERS, CMSG_PAGE };
struct cluster_msg {
	enum cluster_msg_kind kind;
	bool leading;
	struct cluster_batch *batch;
	struct cluster_peer *peers;
	size_t npeers;
	char source[65]; /* CMSG_PAGE */
	json_t *page;    /* CMSG_PAGE; NULL when the pull failed */
	char error[256];
};
void cluster_post(struct cluster *c, struct cluster_msg *m);

/* pull.c: the pull thread fetches pages of peers' changes. */
struct cluster_pull;
struct cluster_pull *cluster_pull_start(struct cluster *c);
/* cluster_pull_fetch asks for source's changes after cursor (copied) from
 * url; false when one for source is already under way. */
bool cluster_pull_fetch(struct cluster_pull *p, const char *source, const char *url,
                        const char *cursor);
/* cluster_pull_done marks source's fetch as answered (loop thread). */
void cluster_pull_done(struct cluster_pull *p, const char *source);
/* cluster_pull_pending is the number of fetches queued or under way. */
size_t cluster_pull_pending(struct cluster_pull *p);
void cluster_pull_stop(struct cluster_pull *p);

#endif
