/* The loop side of the cluster: start and stop, the messages of the
 * session and pull threads (leadership, claim answers, the node registry,
 * pulled pages), replication rounds, configuration drift, and what
 * readiness, the status and /metrics show. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cluster/cluster_int.h"
#include "job/job.h"
#include "lazycurl/lazycurl.h"
#include "loop/loop.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/xalloc.h"

const double cluster_latency_bounds[CLUSTER_LATENCY_BUCKETS] = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
};

/* ---- names and hashes ---- */

void cluster_node_name(const struct config *c, char *out, size_t len)
{
	if (c->cluster.node && *c->cluster.node) {
		snprintf(out, len, "%s", c->cluster.node);
		return;
	}
	char host[256] = "";
	if (gethostname(host, sizeof host - 1) < 0 || host[0] == '\0')
		snprintf(host, sizeof host, "ofelia");
	/* A node name goes into keys and URLs: the host name's first label. */
	host[strcspn(host, ".")] = '\0';
	snprintf(out, len, "%s", host);
}

static int by_name(const void *a, const void *b)
{
	const struct job *x = *(struct job *const *)a, *y = *(struct job *const *)b;
	return strcmp(x->name, y->name);
}

char *cluster_jobs_hash(struct job *const *jobs, size_t n)
{
	/* FNV-1a over the API form of each job, by name: where a job came from
	 * (its file and line) is no difference, its definition is. */
	struct job **v = xcalloc(n ? n : 1, sizeof *v);
	uint64_t h = 1469598103934665603ULL;
	memcpy(v, jobs, n * sizeof *v);
	qsort(v, n, sizeof *v, by_name);
	for (size_t i = 0; i < n; i++) {
		json_t *o = job_to_json(v[i]);
		json_object_del(o, "source");
		json_object_del(o, "origin");
		char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
		for (const unsigned char *p = (const unsigned char *)text; *p; p++)
			h = (h ^ *p) * 1099511628211ULL;
		h = (h ^ '\n') * 1099511628211ULL;
		free(text);
		json_decref(o);
	}
	free(v);
	return xasprintf("%016llx", (unsigned long long)h);
}

/* ---- configuration copy ---- */

static void cfg_copy(struct config_cluster *dst, const struct config_cluster *src)
{
	*dst = *src;
	memset(&dst->etcd_endpoints, 0, sizeof dst->etcd_endpoints);
	strv_copy(&dst->etcd_endpoints, &src->etcd_endpoints);
	char **strings[] = {&dst->name,          &dst->node,     &dst->etcd_ca,
	                    &dst->etcd_cert,     &dst->etcd_key, &dst->etcd_username,
	                    &dst->etcd_password, &dst->secret,   &dst->advertise_address};
	for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++)
		*strings[i] = xstrdup(*strings[i]);
}

static void cfg_free(struct config_cluster *c)
{
	strv_free(&c->etcd_endpoints);
	char *strings[] = {c->name,          c->node,     c->etcd_ca,
	                   c->etcd_cert,     c->etcd_key, c->etcd_username,
	                   c->etcd_password, c->secret,   c->advertise_address};
	for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++) {
		/* The secrets do not linger in freed memory. */
		if (strings[i] && (strings[i] == c->secret || strings[i] == c->etcd_password))
			memset(strings[i], 0, strlen(strings[i]));
		free(strings[i]);
	}
}

/* ---- messages ---- */

void cluster_post(struct cluster *c, struct cluster_msg *m)
{
	loop_mailbox_post(c->mailbox, m);
}

static void batch_free(struct cluster_batch *b)
{
	if (b == NULL)
		return;
	free(b->v);
	free(b);
}

static void msg_free(struct cluster_msg *m)
{
	batch_free(m->batch);
	free(m->peers);
	json_decref(m->page);
	free(m);
}

static const struct cluster_peer *own_entry(const struct cluster *c)
{
	for (size_t i = 0; i < c->npeers; i++)
		if (strcmp(c->peers[i].name, c->node) == 0)
			return &c->peers[i];
	return NULL;
}

/* take_peers keeps the registry and says when the nodes' job sets start or
 * stop differing. */
static void take_peers(struct cluster *c, struct cluster_peer *v, size_t n)
{
	memcpy(c->peers, v, n * sizeof *v);
	c->npeers = n;
	const struct cluster_peer *me = own_entry(c);
	struct buf others = BUF_INIT;
	bool drift = false;
	for (size_t i = 0; me && i < n; i++) {
		if (&c->peers[i] == me || c->peers[i].jobs_hash[0] == '\0' ||
		    strcmp(c->peers[i].jobs_hash, me->jobs_hash) == 0)
			continue;
		drift = true;
		buf_printf(&others, "%s%s", others.len ? "," : "", c->peers[i].name);
	}
	if (drift && !c->drift)
		log_kv(LOG_WARN,
		       "cluster: the nodes' job sets differ (config drift): which jobs run "
		       "depends on which node leads",
		       "node", c->node, "differs_from", others.data, NULL);
	else if (!drift && c->drift)
		log_kv(LOG_INFO, "cluster: the nodes' job sets agree again", NULL);
	c->drift = drift;
	buf_free(&others);
}

static void on_pull_timer(void *arg);

/* fetch asks the pull thread for source's next page. */
static void fetch(struct cluster *c, const struct cluster_peer *p)
{
	char *cursor = NULL;
	if (store_cluster_cursor(c->store, p->name, &cursor) < 0) {
		log_kv(LOG_ERROR, "cluster: cannot read a replication cursor", "error",
		       store_errmsg(c->store), NULL);
		return;
	}
	cluster_pull_fetch(c->pull, p->name, p->url, cursor);
	free(cursor);
}

static const struct cluster_peer *peer(const struct cluster *c, const char *name)
{
	for (size_t i = 0; i < c->npeers; i++)
		if (strcmp(c->peers[i].name, name) == 0)
			return &c->peers[i];
	return NULL;
}

static void take_page(struct cluster *c, struct cluster_msg *m)
{
	struct store_applied a;
	cluster_pull_done(c->pull, m->source);
	if (m->page == NULL) {
		log_kv(LOG_DEBUG, "cluster: pull failed", "from", m->source, "error", m->error,
		       NULL);
		return;
	}
	if (store_changes_apply(c->store, m->source, m->page, &a) < 0) {
		log_kv(LOG_ERROR, "cluster: cannot apply a page of changes", "from", m->source,
		       "error", store_errmsg(c->store), NULL);
		return;
	}
	atomic_fetch_add(&c->ctr.pulled_rows, (uint_fast64_t)a.executions + a.jobs.n);
	c->last_pulled_ns = clock_now_ns();
	if ((a.executions || a.jobs.n) && c->hooks.on_replicated)
		c->hooks.on_replicated(c->hooks.arg, &a);
	store_applied_fini(&a);
	/* The rest of a long history follows at once. */
	const struct cluster_peer *p = peer(c, m->source);
	if (json_is_true(json_object_get(m->page, "more")) && p)
		fetch(c, p);
}

static void on_message(void *msg, void *arg)
{
	struct cluster *c = arg;
	struct cluster_msg *m = msg;
	if (c->stopped) {
		msg_free(m);
		return;
	}
	switch (m->kind) {
	case CMSG_LEAD:
		if (m->leading != c->leading) {
			c->leading = m->leading;
			store_cluster_lead(c->store, m->leading);
			if (c->hooks.on_lead)
				c->hooks.on_lead(c->hooks.arg, m->leading);
		}
		break;
	case CMSG_CLAIMED:
		if (c->hooks.on_claimed)
			c->hooks.on_claimed(c->hooks.arg, m->batch->id, m->batch->v, m->batch->n);
		break;
	case CMSG_PEERS:
		take_peers(c, m->peers, m->npeers);
		break;
	case CMSG_PAGE:
		take_page(c, m);
		break;
	}
	msg_free(m);
}

static void on_pull_timer(void *arg)
{
	struct cluster *c = arg;
	for (size_t i = 0; i < c->npeers; i++)
		if (strcmp(c->peers[i].name, c->node) != 0 && c->peers[i].url[0])
			fetch(c, &c->peers[i]);
	loop_timer_after(c->pull_timer, c->cfg.replication_interval_ns);
}

/* ---- lifecycle ---- */

struct cluster *cluster_start(struct loop *loop, struct store *store, const struct config *cfg,
                              const char *jobs_hash, const struct cluster_hooks *hooks, char *err,
                              size_t errlen)
{
	pthread_condattr_t attr;

	/* etcd is spoken to through libcurl: without it there is no cluster. */
	if (lazycurl_load(err, errlen) < 0)
		return NULL;
	struct cluster *c = xcalloc(1, sizeof *c);
	c->loop = loop;
	c->store = store;
	c->hooks = *hooks;
	cfg_copy(&c->cfg, &cfg->cluster);
	cluster_node_name(cfg, c->node, sizeof c->node);
	if (cfg->cluster.advertise_address && *cfg->cluster.advertise_address)
		snprintf(c->url, sizeof c->url, "%s", cfg->cluster.advertise_address);
	else
		snprintf(c->url, sizeof c->url, "http://%s", cfg->web.address);
	/* No trailing slash: paths are appended. */
	size_t ul = strlen(c->url);
	while (ul > 0 && c->url[ul - 1] == '/')
		c->url[--ul] = '\0';
	snprintf(c->prefix, sizeof c->prefix, "/%s/", c->cfg.name);
	c->jobs_hash = xstrdup(jobs_hash ? jobs_hash : "");
	c->claims_tail = &c->claims;
	c->etcd_ok = true;
	atomic_store(&c->leader_until, 0);
	pthread_mutex_init(&c->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&c->wake, &attr);
	pthread_condattr_destroy(&attr);
	c->mailbox = loop_mailbox_new(loop, on_message, c);
	c->pull = cluster_pull_start(c);
	c->pull_timer = loop_timer_new(loop, on_pull_timer, c);
	loop_timer_after(c->pull_timer, c->cfg.replication_interval_ns);
	if (pthread_create(&c->session, NULL, cluster_session_main, c) != 0) {
		snprintf(err, errlen, "cannot start the cluster thread");
		cluster_free(c);
		return NULL;
	}
	c->session_started = true;
	log_kv(LOG_INFO, "cluster: joining", "cluster", c->cfg.name, "node", c->node, "url", c->url,
	       "etcd", c->cfg.etcd_endpoints.v[0], NULL);
	return c;
}

void cluster_stop(struct cluster *c)
{
	if (c == NULL || c->stopped)
		return;
	c->stopped = true;
	atomic_store(&c->leader_until, 0);
	/* Requests under way are aborted; the session thread then revokes the
	 * lease with a short request of its own. */
	atomic_store(&c->stop, true);
	pthread_mutex_lock(&c->lock);
	c->resign = true;
	pthread_cond_signal(&c->wake);
	pthread_mutex_unlock(&c->lock);
	if (c->session_started)
		pthread_join(c->session, NULL);
	c->session_started = false;
	cluster_pull_stop(c->pull);
	c->pull = NULL;
	loop_timer_stop(c->pull_timer);
	store_cluster_lead(c->store, false);
}

void cluster_free(struct cluster *c)
{
	if (c == NULL)
		return;
	cluster_stop(c);
	loop_mailbox_free(c->mailbox);
	loop_timer_free(c->pull_timer);
	while (c->claims) {
		struct cluster_batch *b = c->claims;
		c->claims = b->next;
		batch_free(b);
	}
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->wake);
	free(c->jobs_hash);
	cfg_free(&c->cfg);
	free(c);
}

/* ---- what the scheduler and the API ask ---- */

bool cluster_leading(const struct cluster *c)
{
	int64_t until = atomic_load(&c->leader_until);
	return until != 0 && clock_mono_ns() < until;
}

void cluster_claim(struct cluster *c, uint64_t batch, const struct cluster_claim *v, size_t n)
{
	struct cluster_batch *b = xcalloc(1, sizeof *b);
	b->id = batch;
	b->n = n;
	b->v = xcalloc(n ? n : 1, sizeof *b->v);
	memcpy(b->v, v, n * sizeof *v);
	b->asked_ns = clock_mono_ns();
	atomic_fetch_add(&c->ctr.claims, n);
	pthread_mutex_lock(&c->lock);
	bool room = c->nclaims + n <= CLUSTER_CLAIMS_MAX && !c->resign;
	if (room) {
		*c->claims_tail = b;
		c->claims_tail = &b->next;
		c->nclaims += n;
		pthread_cond_signal(&c->wake);
	}
	pthread_mutex_unlock(&c->lock);
	if (room)
		return;
	/* The session thread is that far behind: etcd does not keep up, and
	 * these slots are not this node's to record. */
	log_kv(LOG_ERROR, "cluster: too many claims waiting for etcd; refused", NULL);
	for (size_t i = 0; i < n; i++)
		b->v[i].answer = CLUSTER_REFUSED;
	atomic_fetch_add(&c->ctr.claim_refused, n);
	struct cluster_msg *m = xcalloc(1, sizeof *m);
	m->kind = CMSG_CLAIMED;
	m->batch = b;
	cluster_post(c, m);
}

void cluster_set_jobs_hash(struct cluster *c, const char *hash)
{
	pthread_mutex_lock(&c->lock);
	if (strcmp(c->jobs_hash, hash) != 0) {
		free(c->jobs_hash);
		c->jobs_hash = xstrdup(hash);
		c->hash_dirty = true;
		pthread_cond_signal(&c->wake);
	}
	pthread_mutex_unlock(&c->lock);
}

bool cluster_leader(struct cluster *c, char *name, size_t namelen, char *url, size_t urllen)
{
	bool me = cluster_leading(c);
	pthread_mutex_lock(&c->lock);
	snprintf(name, namelen, "%s", me ? c->node : c->leader);
	snprintf(url, urllen, "%s", me ? c->url : c->leader_url);
	pthread_mutex_unlock(&c->lock);
	return me;
}

json_t *cluster_status(struct cluster *c, bool *healthy)
{
	char leader[65], url[512];
	bool me = cluster_leader(c, leader, sizeof leader, url, sizeof url);
	pthread_mutex_lock(&c->lock);
	bool ok = c->etcd_ok;
	json_t *etcd_error = ok ? json_null() : json_string(c->etcd_error);
	json_t *hash = json_string(c->jobs_hash);
	size_t claims = c->nclaims;
	pthread_mutex_unlock(&c->lock);
	json_t *nodes = json_array();
	json_t *drifted = json_array();
	const struct cluster_peer *mine = own_entry(c);
	for (size_t i = 0; i < c->npeers; i++) {
		const struct cluster_peer *p = &c->peers[i];
		json_array_append_new(nodes, json_pack("{s:s,s:s,s:s}", "node", p->name, "url",
		                                       p->url, "jobsHash", p->jobs_hash));
		if (mine && p != mine && p->jobs_hash[0] && strcmp(p->jobs_hash, mine->jobs_hash))
			json_array_append_new(drifted, json_string(p->name));
	}
	*healthy = ok;
	char pulled[CLOCK_TEXT_MAX] = "";
	if (c->last_pulled_ns)
		clock_format_rfc3339(c->last_pulled_ns, pulled);
	json_t *o = json_pack("{s:s,s:s,s:s,s:o,s:o,s:s,s:o,s:o,s:b,s:o,s:o,s:I,s:I}", "role",
	                      me          ? "leader"
	                      : leader[0] ? "follower"
	                                  : "candidate",
	                      "node", c->node, "cluster", c->cfg.name, "leader",
	                      leader[0] ? json_string(leader) : json_null(), "leaderUrl",
	                      url[0] ? json_string(url) : json_null(), "etcd",
	                      ok ? "healthy" : "unreachable", "etcdError", etcd_error, "jobsHash",
	                      hash, "configDrift", c->drift, "driftNodes", drifted, "nodes", nodes,
	                      "claimsPending", (json_int_t)claims, "replicationPending",
	                      (json_int_t)(c->pull ? cluster_pull_pending(c->pull) : 0));
	/* When a page of another node's changes was last taken. */
	json_object_set_new(o, "lastReplicated", pulled[0] ? json_string(pulled) : json_null());
	return o;
}

static void counter(struct buf *b, const char *name, const char *help, uint64_t v)
{
	buf_printf(b, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", name, help, name, name,
	           (unsigned long long)v);
}

static void gauge(struct buf *b, const char *name, const char *help, double v)
{
	buf_printf(b, "# HELP %s %s\n# TYPE %s gauge\n%s %g\n", name, help, name, name, v);
}

void cluster_metrics(struct cluster *c, struct buf *b)
{
	struct cluster_counters *k = &c->ctr;
	bool healthy;
	json_decref(cluster_status(c, &healthy));
	pthread_mutex_lock(&c->lock);
	size_t claims = c->nclaims;
	pthread_mutex_unlock(&c->lock);

	gauge(b, "ofelia_cluster_is_leader",
	      "1 when this node leads the cluster and may start jobs", cluster_leading(c));
	counter(b, "ofelia_cluster_failovers_total",
	        "Times this node became the leader (elections won)",
	        atomic_load(&k->elections_won));
	counter(b, "ofelia_cluster_leadership_lost_total",
	        "Times this node stopped leading (lease lost, quorum lost, shut down)",
	        atomic_load(&k->leadership_lost));
	gauge(b, "ofelia_cluster_etcd_up", "1 when etcd answered the last request", healthy);
	buf_printf(b, "# HELP ofelia_cluster_etcd_requests_total Requests to etcd, by operation\n"
	              "# TYPE ofelia_cluster_etcd_requests_total counter\n");
	for (int op = 0; op < ETCD_OPS; op++)
		buf_printf(b, "ofelia_cluster_etcd_requests_total{op=\"%s\"} %llu\n",
		           etcd_op_name((enum etcd_op)op),
		           (unsigned long long)atomic_load(&k->requests[op]));
	counter(b, "ofelia_cluster_etcd_errors_total",
	        "Requests no etcd endpoint answered (or that etcd refused)",
	        atomic_load(&k->request_errors));
	counter(b, "ofelia_cluster_claims_total", "Slots this node asked etcd for",
	        atomic_load(&k->claims));
	counter(b, "ofelia_cluster_claim_conflicts_total", "Slot claims another node held already",
	        atomic_load(&k->claim_conflicts));
	counter(b, "ofelia_cluster_claims_refused_total",
	        "Slot claims refused because this node did not lead",
	        atomic_load(&k->claim_refused));
	gauge(b, "ofelia_cluster_claims_pending", "Slot claims waiting for etcd (backlog)",
	      (double)claims);
	buf_printf(b, "# HELP ofelia_cluster_claim_duration_seconds Time from a slot's claim to "
	              "etcd's answer\n# TYPE ofelia_cluster_claim_duration_seconds histogram\n");
	uint64_t cumulative = 0;
	for (int i = 0; i <= CLUSTER_LATENCY_BUCKETS; i++) {
		cumulative += atomic_load(&k->latency[i]);
		if (i < CLUSTER_LATENCY_BUCKETS)
			buf_printf(b,
			           "ofelia_cluster_claim_duration_seconds_bucket{le=\"%g\"} %llu\n",
			           cluster_latency_bounds[i], (unsigned long long)cumulative);
		else
			buf_printf(
			    b, "ofelia_cluster_claim_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
			    (unsigned long long)cumulative);
	}
	buf_printf(b, "ofelia_cluster_claim_duration_seconds_sum %.9g\n",
	           (double)atomic_load(&k->latency_sum_ns) / 1e9);
	buf_printf(b, "ofelia_cluster_claim_duration_seconds_count %llu\n",
	           (unsigned long long)cumulative);
	gauge(b, "ofelia_cluster_config_drift",
	      "1 when another node's job set differs from this one's", c->drift);
	gauge(b, "ofelia_cluster_replication_pending",
	      "Pulls of other nodes' changes queued or under way (backlog)",
	      (double)(c->pull ? cluster_pull_pending(c->pull) : 0));
	counter(b, "ofelia_cluster_replication_pulls_total", "Pages asked of other nodes",
	        atomic_load(&k->pulls));
	counter(b, "ofelia_cluster_replication_errors_total", "Pulls that failed",
	        atomic_load(&k->pull_errors));
	counter(b, "ofelia_cluster_replicated_rows_total",
	        "Executions and job rows taken from other nodes", atomic_load(&k->pulled_rows));
}
