/* cluster: high availability on etcd (docs/cluster.md). Several daemons
 * share one etcd cluster; one of them leads and only it starts executions.
 *
 * A session thread keeps this node's lease alive (at a third of its TTL),
 * campaigns for the leader key, publishes the node (its API address and
 * the hash of its job set) and claims slots for the scheduler: a claim is
 * created in a transaction that also checks that the leader key is still
 * this node's, so a deposed leader cannot claim. A pull thread fetches the
 * other nodes' changes (their executions, log lines and job rows) through
 * their API; the loop thread applies them to the store. Everything this
 * module reports back (leadership, claim answers, pulled pages) arrives on
 * the loop thread through hooks. Only the etcd client and the pull thread
 * make requests (libcurl). */
#ifndef OFELIA_CLUSTER_CLUSTER_H
#define OFELIA_CLUSTER_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct loop;
struct store;
struct config;
struct buf;
struct store_applied;
struct cluster;

enum cluster_answer {
	CLUSTER_GRANTED, /* the slot is this node's to give an outcome */
	CLUSTER_TAKEN,   /* another node claimed it first (owner, owner_id) */
	CLUSTER_REFUSED, /* this node does not lead (any more): nothing to record */
};

/* One slot claim: the request (job, slot, id of the execution that will run
 * it) and, once answered, the answer. */
struct cluster_claim {
	char job[201];
	int64_t slot_ns;
	char id[37];
	enum cluster_answer answer;
	char owner[65];    /* the node that holds the claim (TAKEN) */
	char owner_id[37]; /* the execution it named, "" if none */
};

/* Called on the loop thread. */
struct cluster_hooks {
	/* on_lead: this node starts (leading) or stops leading. */
	void (*on_lead)(void *arg, bool leading);
	/* on_claimed: the answers of batch (v[0..n), in the order asked). */
	void (*on_claimed)(void *arg, uint64_t batch, const struct cluster_claim *v, size_t n);
	/* on_replicated: a page of another node's changes was applied. */
	void (*on_replicated)(void *arg, const struct store_applied *a);
	void *arg;
};

/* cluster_start joins the cluster c->cluster describes, as its node, with
 * jobs_hash the hash of this node's job set (cluster_jobs_hash). The store
 * must be enabled for the cluster (store_cluster_enable) and outlive it.
 * Nothing leads until the session thread wins; the hooks are called from
 * the next loop turn on. NULL with the reason in err. */
struct cluster *cluster_start(struct loop *loop, struct store *store, const struct config *c,
                              const char *jobs_hash, const struct cluster_hooks *hooks, char *err,
                              size_t errlen);
/* cluster_stop gives up the leadership (the lease is revoked, so another
 * node takes over at once), stops both threads and joins them, within
 * two seconds (the lease is revoked with a short request). Hooks are not called after it. NULL is
 * fine. */
void cluster_stop(struct cluster *c);
/* cluster_free stops c if needed and releases it. NULL is fine. */
void cluster_free(struct cluster *c);

/* cluster_node_name returns the node name c->cluster gives, else the host
 * name, in out. */
void cluster_node_name(const struct config *c, char *out, size_t len);
/* cluster_jobs_hash returns the hash of a job set (hex, caller frees): the
 * same definitions in any order give the same text. */
struct job;
char *cluster_jobs_hash(struct job *const *jobs, size_t n);

/* cluster_leading tells whether this node leads now: it won and its lease
 * is certainly still alive (any thread). */
bool cluster_leading(const struct cluster *c);
/* cluster_claim asks for the slots v[0..n) (copied) as batch; the answers
 * come to hooks->on_claimed. Loop thread. */
void cluster_claim(struct cluster *c, uint64_t batch, const struct cluster_claim *v, size_t n);
/* cluster_set_jobs_hash publishes a new hash of this node's job set (after
 * a reload). */
void cluster_set_jobs_hash(struct cluster *c, const char *hash);
/* cluster_leader fills the leader's name and API URL ("" when none is
 * known) and returns whether this node is it. */
bool cluster_leader(struct cluster *c, char *name, size_t namelen, char *url, size_t urllen);
/* cluster_status returns the cluster's part of readiness and the
 * scheduler status: role, node, leader, etcd health, drift (the caller
 * owns it). *healthy tells whether etcd answers. */
json_t *cluster_status(struct cluster *c, bool *healthy);
/* cluster_metrics appends the ofelia_cluster_* series to b. */
void cluster_metrics(struct cluster *c, struct buf *b);

#endif
