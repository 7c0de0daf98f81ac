/* The session thread ("ofelia-cluster"): this node's lease, the election,
 * the node registry and the slot claims. One thread, so the order of its
 * requests is simple to reason about; each request is bounded by a
 * timeout well under the lease TTL.
 *
 * DESIGN.
 * - The lease is granted with lease-ttl and kept alive at a third of it.
 *   lease_until is when the lease certainly still lives: the time the last
 *   successful keepalive was *sent* plus the TTL (etcd restarts the TTL
 *   when it receives it, later). The node leads only until lease_until less
 *   a margin, by the monotonic clock, which keeps counting while the
 *   process is stopped (SIGSTOP) or the machine is suspended: a leader that
 *   wakes after its lease ended knows it before it talks to anyone.
 * - The leader key /<name>/leader is created in a transaction only if it
 *   does not exist, attached to the lease: it disappears with the lease.
 *   Followers try again every third of the TTL, so a dead leader's place is
 *   taken within about 1.3 TTL (its lease runs out, then the next try).
 *   A node whose key survived a gap (the lease outlived a lost quorum:
 *   etcd gives leases a fresh TTL when it elects a new raft leader)
 *   finds its own lease on the key and leads again.
 * - A slot's claim /<name>/slots/<job>/<slot> is created in a transaction
 *   that also compares the leader key's create revision with this node's:
 *   a deposed leader (paused, partitioned) cannot claim even if it does not
 *   know yet. Claims hang on a lease of their own, claim-retention long,
 *   renewed every tenth of that, so old ones expire in etcd. Up to 64
 *   slots go in one transaction (etcd allows 128 operations).
 * - The node registry /<name>/nodes/<node> holds the node's API URL and
 *   the hash of its job set, on the session lease: it is gone when the
 *   node is. Every third of the TTL the thread lists it for the loop
 *   (replication peers, configuration drift). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster/cluster_int.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/xalloc.h"

#define CHUNK          64
#define RETRY_NS       (200 * NS_PER_MS)
#define REQ_MIN_NS     (250 * NS_PER_MS)
#define REQ_MAX_NS     (2 * NS_PER_SEC)
#define RESIGN_WAIT_NS (500 * NS_PER_MS)

struct session {
	struct cluster *c;
	struct etcd *etcd;
	int64_t ttl_ns, timeout_ns, margin_ns;
	int64_t lease;       /* 0: none */
	int64_t lease_until; /* monotonic */
	int64_t next_keepalive, next_campaign, next_nodes;
	int64_t leader_rev; /* our leader key's create revision; 0 when not leading */
	int64_t claims_lease, claims_lease_at;
	bool published;
	char leader_key[128], node_key[160];
};

/* ---- helpers ---- */

static json_t *b64s(const char *s)
{
	char *e = etcd_b64(s, strlen(s));
	json_t *v = json_string(e);
	free(e);
	return v;
}

static json_t *int_text(int64_t v)
{
	char text[32];
	snprintf(text, sizeof text, "%lld", (long long)v);
	return json_string(text);
}

/* prefix_end is the range end of every key starting with prefix. */
static char *prefix_end(const char *prefix)
{
	char *end = xstrdup(prefix);
	end[strlen(end) - 1]++;
	return end;
}

static void health(struct session *se, bool ok, const char *err)
{
	struct cluster *c = se->c;
	pthread_mutex_lock(&c->lock);
	if (!ok && c->etcd_ok)
		log_kv(LOG_WARN, "cluster: etcd does not answer", "error", err, NULL);
	else if (ok && !c->etcd_ok)
		log_kv(LOG_INFO, "cluster: etcd answers", "endpoint", etcd_endpoint(se->etcd),
		       NULL);
	c->etcd_ok = ok;
	snprintf(c->etcd_error, sizeof c->etcd_error, "%s", ok ? "" : err);
	pthread_mutex_unlock(&c->lock);
}

/* call is etcd_call with this session's timeout and health reporting. */
static json_t *call(struct session *se, enum etcd_op op, json_t *body, int *code)
{
	char err[256];
	json_t *o = etcd_call(se->etcd, op, body, se->timeout_ns, code, err, sizeof err);
	/* A refusal is an answer: etcd works. */
	health(se, o != NULL || *code > 0, err);
	if (o == NULL && *code > 0)
		log_kv(LOG_DEBUG, "cluster: etcd refused", "op", etcd_op_name(op), "error", err,
		       NULL);
	return o;
}

static void set_leader(struct session *se, const char *name, const char *url)
{
	struct cluster *c = se->c;
	pthread_mutex_lock(&c->lock);
	bool changed = strcmp(c->leader, name) != 0;
	snprintf(c->leader, sizeof c->leader, "%s", name);
	snprintf(c->leader_url, sizeof c->leader_url, "%s", url);
	pthread_mutex_unlock(&c->lock);
	if (changed && *name && strcmp(name, c->node) != 0)
		log_kv(LOG_INFO, "cluster: following", "leader", name, "url", url, NULL);
}

/* ---- leadership ---- */

static void post_lead(struct session *se, bool leading)
{
	struct cluster_msg *m = xcalloc(1, sizeof *m);
	m->kind = CMSG_LEAD;
	m->leading = leading;
	cluster_post(se->c, m);
}

static void win(struct session *se, int64_t rev, bool again)
{
	se->leader_rev = rev;
	atomic_store(&se->c->leader_until, se->lease_until - se->margin_ns);
	set_leader(se, se->c->node, se->c->url);
	atomic_fetch_add(&se->c->ctr.elections_won, 1);
	log_kv(LOG_INFO,
	       again ? "cluster: leading again (the lease outlived the gap)" : "cluster: leading",
	       "node", se->c->node, NULL);
	post_lead(se, true);
}

static void lose(struct session *se, const char *why)
{
	if (se->leader_rev == 0)
		return;
	se->leader_rev = 0;
	atomic_store(&se->c->leader_until, 0);
	set_leader(se, "", "");
	atomic_fetch_add(&se->c->ctr.leadership_lost, 1);
	log_kv(LOG_WARN, "cluster: not leading any more", "reason", why, NULL);
	post_lead(se, false);
}

/* ---- the lease ---- */

static int64_t grant(struct session *se, int64_t ttl_ns)
{
	int code;
	json_t *body = json_pack("{s:o}", "TTL", int_text((ttl_ns + NS_PER_SEC - 1) / NS_PER_SEC));
	json_t *o = call(se, ETCD_GRANT, body, &code);
	int64_t id = o ? etcd_int(json_object_get(o, "ID")) : 0;
	json_decref(o);
	return id;
}

static void new_lease(struct session *se)
{
	int64_t sent = clock_mono_ns();
	se->lease = grant(se, se->ttl_ns);
	if (se->lease == 0) {
		se->next_keepalive = sent + RETRY_NS;
		return;
	}
	se->lease_until = sent + se->ttl_ns;
	se->next_keepalive = sent + se->ttl_ns / 3;
	se->next_campaign = 0;
	se->published = false;
}

static void keepalive(struct session *se)
{
	int code;
	int64_t sent = clock_mono_ns();
	json_t *o = call(se, ETCD_KEEPALIVE, json_pack("{s:o}", "ID", int_text(se->lease)), &code);
	if (o == NULL) {
		se->next_keepalive = sent + RETRY_NS;
		return;
	}
	int64_t ttl = etcd_int(json_object_get(o, "TTL"));
	json_decref(o);
	if (ttl <= 0) {
		/* Expired: this node paused or was cut off past the TTL. */
		se->lease = 0;
		lose(se, "the lease expired");
		se->next_keepalive = 0;
		return;
	}
	se->lease_until = sent + se->ttl_ns;
	se->next_keepalive = sent + se->ttl_ns / 3;
	if (se->leader_rev)
		atomic_store(&se->c->leader_until, se->lease_until - se->margin_ns);
}

/* resign revokes the lease on the way out, with a client of its own: the
 * session's requests are being aborted (cluster_stop), this one is short. */
static void resign(struct session *se, int64_t lease)
{
	atomic_bool keep = false;
	char err[256];
	int code;
	struct etcd *e = etcd_new(&se->c->cfg, &se->c->ctr, &keep);
	json_decref(etcd_call(e, ETCD_REVOKE, json_pack("{s:o}", "ID", int_text(lease)),
	                      RESIGN_WAIT_NS, &code, err, sizeof err));
	etcd_free(e);
}

/* ---- election ---- */

static void campaign(struct session *se)
{
	struct cluster *c = se->c;
	int code;
	json_t *value = json_pack("{s:s,s:s}", "node", c->node, "url", c->url);
	char *v = json_dumps(value, JSON_COMPACT);
	json_decref(value);
	json_t *key = b64s(se->leader_key);
	json_t *body =
	    json_pack("{s:[{s:O,s:s,s:s,s:s}],s:[{s:{s:O,s:o,s:o}}],s:[{s:{s:O}}]}", "compare",
	              "key", key, "target", "CREATE", "result", "EQUAL", "create_revision", "0",
	              "success", "request_put", "key", key, "value", b64s(v), "lease",
	              int_text(se->lease), "failure", "request_range", "key", key);
	json_decref(key);
	free(v);
	json_t *o = call(se, ETCD_TXN, body, &code);
	se->next_campaign = clock_mono_ns() + se->ttl_ns / 3;
	if (o == NULL)
		return;
	if (json_is_true(json_object_get(o, "succeeded"))) {
		win(se, etcd_int(json_object_get(json_object_get(o, "header"), "revision")), false);
		json_decref(o);
		return;
	}
	json_t *kv = json_array_get(
	    json_object_get(json_object_get(json_array_get(json_object_get(o, "responses"), 0),
	                                    "response_range"),
	                    "kvs"),
	    0);
	if (kv && etcd_int(json_object_get(kv, "lease")) == se->lease) {
		win(se, etcd_int(json_object_get(kv, "create_revision")), true);
	} else if (kv) {
		char *text =
		    etcd_unb64(json_string_value(json_object_get(kv, "value")) ?: "", NULL);
		json_t *lv = text ? json_loads(text, 0, NULL) : NULL;
		const char *name = json_string_value(json_object_get(lv, "node"));
		const char *url = json_string_value(json_object_get(lv, "url"));
		set_leader(se, name ? name : "?", url ? url : "");
		json_decref(lv);
		free(text);
	}
	json_decref(o);
}

/* ---- the node registry ---- */

static void publish(struct session *se)
{
	struct cluster *c = se->c;
	int code;
	pthread_mutex_lock(&c->lock);
	json_t *value = json_pack("{s:s,s:s,s:s,s:s}", "node", c->node, "url", c->url, "jobsHash",
	                          c->jobs_hash ? c->jobs_hash : "", "version", OFELIA_VERSION);
	c->hash_dirty = false;
	pthread_mutex_unlock(&c->lock);
	char *v = json_dumps(value, JSON_COMPACT);
	json_decref(value);
	json_t *body = json_pack("{s:o,s:o,s:o}", "key", b64s(se->node_key), "value", b64s(v),
	                         "lease", int_text(se->lease));
	free(v);
	json_t *o = call(se, ETCD_PUT, body, &code);
	se->published = o != NULL;
	if (o == NULL) {
		pthread_mutex_lock(&c->lock);
		c->hash_dirty = true;
		pthread_mutex_unlock(&c->lock);
	}
	json_decref(o);
}

static void read_nodes(struct session *se)
{
	struct cluster *c = se->c;
	char prefix[128];
	int code;
	snprintf(prefix, sizeof prefix, "%snodes/", c->prefix);
	char *end = prefix_end(prefix);
	json_t *o =
	    call(se, ETCD_RANGE,
	         json_pack("{s:o,s:o}", "key", b64s(prefix), "range_end", b64s(end)), &code);
	free(end);
	se->next_nodes = clock_mono_ns() + se->ttl_ns / 3;
	if (o == NULL)
		return;
	json_t *kvs = json_object_get(o, "kvs");
	struct cluster_msg *m = xcalloc(1, sizeof *m);
	m->kind = CMSG_PEERS;
	m->peers = xcalloc(CLUSTER_PEERS_MAX, sizeof *m->peers);
	size_t i;
	json_t *kv;
	json_array_foreach(kvs, i, kv)
	{
		if (m->npeers == CLUSTER_PEERS_MAX)
			break;
		char *text =
		    etcd_unb64(json_string_value(json_object_get(kv, "value")) ?: "", NULL);
		json_t *v = text ? json_loads(text, 0, NULL) : NULL;
		const char *name = json_string_value(json_object_get(v, "node"));
		if (name) {
			struct cluster_peer *p = &m->peers[m->npeers++];
			snprintf(p->name, sizeof p->name, "%s", name);
			snprintf(p->url, sizeof p->url, "%s",
			         json_string_value(json_object_get(v, "url")) ?: "");
			snprintf(p->jobs_hash, sizeof p->jobs_hash, "%s",
			         json_string_value(json_object_get(v, "jobsHash")) ?: "");
		}
		json_decref(v);
		free(text);
	}
	json_decref(o);
	cluster_post(c, m);
}

/* ---- claims ---- */

static bool leading(const struct session *se)
{
	return se->leader_rev != 0 && clock_mono_ns() < se->lease_until - se->margin_ns;
}

static int ensure_claims_lease(struct session *se)
{
	int64_t now = clock_mono_ns();
	int64_t keep = se->c->cfg.claim_retention_ns;
	if (se->claims_lease && now - se->claims_lease_at < keep / 10)
		return 0;
	int64_t id = grant(se, keep);
	if (id == 0)
		return -1;
	se->claims_lease = id;
	se->claims_lease_at = now;
	return 0;
}

static void slot_key(const struct session *se, const struct cluster_claim *cl, char *out,
                     size_t len)
{
	time_t t = (time_t)(cl->slot_ns / NS_PER_SEC);
	struct tm tm;
	char when[32];
	gmtime_r(&t, &tm);
	strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
	snprintf(out, len, "%sslots/%s/%s", se->c->prefix, cl->job, when);
}

static json_t *kv_of(json_t *responses, size_t i)
{
	return json_array_get(
	    json_object_get(json_object_get(json_array_get(responses, i), "response_range"), "kvs"),
	    0);
}

/* take_over reads a claim another node (or an earlier life of this one)
 * made into cl. */
static void take_over(struct session *se, struct cluster_claim *cl, json_t *kv)
{
	char *text = etcd_unb64(json_string_value(json_object_get(kv, "value")) ?: "", NULL);
	json_t *v = text ? json_loads(text, 0, NULL) : NULL;
	const char *owner = json_string_value(json_object_get(v, "node"));
	const char *id = json_string_value(json_object_get(v, "execution"));
	snprintf(cl->owner, sizeof cl->owner, "%s", owner ? owner : "");
	snprintf(cl->owner_id, sizeof cl->owner_id, "%s", id && strlen(id) == 36 ? id : "");
	/* Claimed by this node before (a restart): it is still its to record. */
	cl->answer = strcmp(cl->owner, se->c->node) == 0 ? CLUSTER_GRANTED : CLUSTER_TAKEN;
	if (cl->answer == CLUSTER_TAKEN)
		atomic_fetch_add(&se->c->ctr.claim_conflicts, 1);
	else if (cl->owner_id[0])
		memcpy(cl->id, cl->owner_id, sizeof cl->id);
	json_decref(v);
	free(text);
}

/* claim_chunk asks for v[0..n) in one transaction and answers those it
 * can; -1 when etcd could not be asked (try again later). */
static int claim_chunk(struct session *se, struct cluster_claim **v, size_t n)
{
	struct cluster *c = se->c;
	json_t *cmp = json_array(), *ok = json_array(), *no = json_array();
	json_t *lkey = b64s(se->leader_key);
	char key[512], *val;
	int code;

	json_array_append_new(cmp, json_pack("{s:O,s:s,s:s,s:o}", "key", lkey, "target", "CREATE",
	                                     "result", "EQUAL", "create_revision",
	                                     int_text(se->leader_rev)));
	json_array_append_new(no, json_pack("{s:{s:O}}", "request_range", "key", lkey));
	json_decref(lkey);
	for (size_t i = 0; i < n; i++) {
		slot_key(se, v[i], key, sizeof key);
		json_t *value = json_pack("{s:s,s:s}", "node", c->node, "execution", v[i]->id);
		val = json_dumps(value, JSON_COMPACT);
		json_decref(value);
		json_t *k = b64s(key);
		json_array_append_new(cmp,
		                      json_pack("{s:O,s:s,s:s,s:s}", "key", k, "target", "CREATE",
		                                "result", "EQUAL", "create_revision", "0"));
		json_array_append_new(ok, json_pack("{s:{s:O,s:o,s:o}}", "request_put", "key", k,
		                                    "value", b64s(val), "lease",
		                                    int_text(se->claims_lease)));
		json_array_append_new(no, json_pack("{s:{s:O}}", "request_range", "key", k));
		json_decref(k);
		free(val);
	}
	json_t *o =
	    call(se, ETCD_TXN,
	         json_pack("{s:o,s:o,s:o}", "compare", cmp, "success", ok, "failure", no), &code);
	if (o == NULL) {
		/* The claims lease ran out (etcd lost it, or it aged): a new one. */
		if (code == 5)
			se->claims_lease = 0;
		return -1;
	}
	if (json_is_true(json_object_get(o, "succeeded"))) {
		for (size_t i = 0; i < n; i++)
			v[i]->answer = CLUSTER_GRANTED;
		json_decref(o);
		return 0;
	}
	json_t *rs = json_object_get(o, "responses");
	json_t *lk = kv_of(rs, 0);
	if (lk == NULL || etcd_int(json_object_get(lk, "create_revision")) != se->leader_rev) {
		lose(se, "the leader key is not this node's any more");
		for (size_t i = 0; i < n; i++)
			v[i]->answer = CLUSTER_REFUSED;
		json_decref(o);
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		json_t *kv = kv_of(rs, i + 1);
		if (kv)
			take_over(se, v[i], kv);
	}
	json_decref(o);
	return 0;
}

static void observe_latency(struct cluster *c, int64_t ns, size_t n)
{
	size_t b = 0;
	while (b < CLUSTER_LATENCY_BUCKETS && (double)ns > cluster_latency_bounds[b] * NS_PER_SEC)
		b++;
	atomic_fetch_add(&c->ctr.latency[b], n);
	atomic_fetch_add(&c->ctr.latency_sum_ns, (uint_fast64_t)ns * n);
}

/* serve answers one batch; false when etcd could not be asked (the batch
 * waits for the next round). */
static bool serve(struct session *se, struct cluster_batch *b)
{
	struct cluster_claim **open = xcalloc(b->n, sizeof *open);
	bool done = true;
	for (size_t i = 0; i < b->n; i++)
		b->v[i].answer = (enum cluster_answer) - 1;
	for (int round = 0; round < 4 && done; round++) {
		size_t n = 0;
		for (size_t i = 0; i < b->n; i++)
			if ((int)b->v[i].answer == -1)
				open[n++] = &b->v[i];
		if (n == 0)
			break;
		if (!leading(se)) {
			for (size_t i = 0; i < n; i++)
				open[i]->answer = CLUSTER_REFUSED;
			break;
		}
		if (ensure_claims_lease(se) < 0) {
			done = false;
			break;
		}
		for (size_t at = 0; at < n && done; at += CHUNK)
			done = claim_chunk(se, open + at, n - at < CHUNK ? n - at : CHUNK) == 0;
	}
	/* Still open after the rounds (claims raced): another node holds them
	 * or will; this one records nothing. */
	for (size_t i = 0; done && i < b->n; i++)
		if ((int)b->v[i].answer == -1)
			b->v[i].answer = CLUSTER_REFUSED;
	free(open);
	if (!done && !leading(se)) {
		for (size_t i = 0; i < b->n; i++)
			b->v[i].answer = CLUSTER_REFUSED;
		done = true;
	}
	return done;
}

static void serve_claims(struct session *se)
{
	struct cluster *c = se->c;
	for (;;) {
		pthread_mutex_lock(&c->lock);
		struct cluster_batch *b = c->claims;
		if (b) {
			c->claims = b->next;
			if (c->claims == NULL)
				c->claims_tail = &c->claims;
		}
		pthread_mutex_unlock(&c->lock);
		if (b == NULL)
			return;
		if (!serve(se, b)) {
			/* Back to the front: etcd did not answer; keepalives first. */
			pthread_mutex_lock(&c->lock);
			b->next = c->claims;
			c->claims = b;
			if (b->next == NULL)
				c->claims_tail = &b->next;
			pthread_mutex_unlock(&c->lock);
			return;
		}
		int64_t took = clock_mono_ns() - b->asked_ns;
		size_t refused = 0;
		for (size_t i = 0; i < b->n; i++)
			refused += b->v[i].answer == CLUSTER_REFUSED;
		atomic_fetch_add(&c->ctr.claim_refused, refused);
		observe_latency(c, took, b->n);
		pthread_mutex_lock(&c->lock);
		c->nclaims -= b->n;
		pthread_mutex_unlock(&c->lock);
		struct cluster_msg *m = xcalloc(1, sizeof *m);
		m->kind = CMSG_CLAIMED;
		m->batch = b;
		cluster_post(c, m);
	}
}

/* ---- the thread ---- */

static int64_t min64(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

static void wait_next(struct session *se)
{
	struct cluster *c = se->c;
	int64_t now = clock_mono_ns();
	int64_t until = min64(se->next_keepalive, se->next_nodes);
	if (se->lease && se->leader_rev == 0)
		until = min64(until, se->next_campaign);
	if (se->leader_rev)
		until = min64(until, se->lease_until - se->margin_ns);
	pthread_mutex_lock(&c->lock);
	if (c->claims == NULL && !c->resign && !c->hash_dirty && until > now) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		int64_t wake = (int64_t)ts.tv_sec * NS_PER_SEC + ts.tv_nsec + (until - now);
		ts.tv_sec = (time_t)(wake / NS_PER_SEC);
		ts.tv_nsec = (long)(wake % NS_PER_SEC);
		pthread_cond_timedwait(&c->wake, &c->lock, &ts);
	}
	pthread_mutex_unlock(&c->lock);
}

void *cluster_session_main(void *arg)
{
	struct cluster *c = arg;
	struct session se = {.c = c};
	int64_t ttl = c->cfg.lease_ttl_ns;

	pthread_setname_np(pthread_self(), "ofelia-cluster");
	se.etcd = etcd_new(&c->cfg, &c->ctr, &c->stop);
	se.ttl_ns = ttl;
	se.timeout_ns = ttl / 4 < REQ_MIN_NS   ? REQ_MIN_NS
	                : ttl / 4 > REQ_MAX_NS ? REQ_MAX_NS
	                                       : ttl / 4;
	se.margin_ns = ttl / 10;
	snprintf(se.leader_key, sizeof se.leader_key, "%sleader", c->prefix);
	snprintf(se.node_key, sizeof se.node_key, "%snodes/%s", c->prefix, c->node);

	for (;;) {
		pthread_mutex_lock(&c->lock);
		bool resign_now = c->resign, dirty = c->hash_dirty;
		pthread_mutex_unlock(&c->lock);
		if (resign_now || atomic_load(&c->stop))
			break;
		int64_t now = clock_mono_ns();
		if (se.leader_rev && now >= se.lease_until - se.margin_ns)
			lose(&se, "the lease could not be renewed in time");
		if (se.lease == 0 && now >= se.next_keepalive)
			new_lease(&se);
		else if (se.lease && now >= se.next_keepalive)
			keepalive(&se);
		if (se.lease && (!se.published || dirty))
			publish(&se);
		if (se.lease && se.leader_rev == 0 && clock_mono_ns() >= se.next_campaign)
			campaign(&se);
		if (clock_mono_ns() >= se.next_nodes)
			read_nodes(&se);
		serve_claims(&se);
		wait_next(&se);
	}
	/* Resigning: the leader key goes with the lease, so another node
	 * leads at its next try instead of after the TTL. */
	atomic_store(&c->leader_until, 0);
	if (se.lease)
		resign(&se, se.lease);
	etcd_free(se.etcd);
	return NULL;
}
