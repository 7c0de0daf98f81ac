/* The pull thread ("ofelia-pull"): fetches pages of the other nodes'
 * changes from their API (GET /internal/cluster/changes, authenticated by
 * the cluster secret) and hands them to the loop thread, which applies
 * them. The loop decides what to fetch and with which cursor (the cursor
 * lives in the store, written with the page it belongs to); this thread
 * only makes the requests.
 *
 * The queue holds at most one fetch per node: a node's next page is asked
 * for only once the previous one was applied. At shutdown a transfer in
 * progress is aborted. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "cluster/cluster_int.h"
#include "loop/loop.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/xalloc.h"

/* A page is about a megabyte; a slow peer gets this long. */
#define FETCH_TIMEOUT_MS 15000
#define CONNECT_MS       1000
#define PAGE_MAX         (64 * 1024 * 1024)

struct fetch {
	char source[65];
	char url[640];
	struct fetch *next;
};

struct cluster_pull {
	struct cluster *c;
	pthread_t thread;
	bool started;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct fetch *queue, **tail; /* lock */
	struct map busy;             /* lock: sources queued or under way */
	atomic_bool stop;
	char auth[1200];
	struct cluster_reply answer;
};

/* fetch_one makes the request; the page, or NULL with the reason. */
static json_t *fetch_one(struct cluster_pull *p, CURL *curl, const struct fetch *f, char *err,
                         size_t errlen)
{
	struct curl_slist *hdrs = curl_slist_append(NULL, p->auth);
	long status = 0;
	json_t *page = NULL;

	curl_easy_reset(curl);
	cluster_reply_attach(&p->answer, curl);
	curl_easy_setopt(curl, CURLOPT_URL, f->url);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)FETCH_TIMEOUT_MS);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, (long)CONNECT_MS);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(curl, CURLOPT_ACCEPT_ENCODING, "");
	atomic_fetch_add(&p->c->ctr.pulls, 1);
	CURLcode rc = curl_easy_perform(curl);
	curl_slist_free_all(hdrs);
	if (rc != CURLE_OK) {
		snprintf(err, errlen, "%s",
		         p->answer.too_big ? "the page is too large" : curl_easy_strerror(rc));
		return NULL;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200) {
		/* The answer is an error envelope: its message says why. */
		json_t *o = json_loadb(p->answer.body.data ? p->answer.body.data : "",
		                       p->answer.body.len, 0, NULL);
		const char *msg =
		    json_string_value(json_object_get(json_object_get(o, "error"), "message"));
		snprintf(err, errlen, "HTTP %ld%s%s", status, msg ? ": " : "", msg ? msg : "");
		json_decref(o);
		return NULL;
	}
	json_error_t jerr;
	page = json_loadb(p->answer.body.data ? p->answer.body.data : "", p->answer.body.len, 0,
	                  &jerr);
	if (page == NULL)
		snprintf(err, errlen, "the page is not JSON: %s", jerr.text);
	else if (strcmp(json_string_value(json_object_get(page, "node")) ?: "", f->source) != 0) {
		snprintf(err, errlen, "the page is not node %s's", f->source);
		json_decref(page);
		page = NULL;
	}
	return page;
}

static void *pull_main(void *arg)
{
	struct cluster_pull *p = arg;
	CURL *curl = curl_easy_init();

	pthread_setname_np(pthread_self(), "ofelia-pull");
	for (;;) {
		pthread_mutex_lock(&p->lock);
		while (p->queue == NULL && !atomic_load(&p->stop))
			pthread_cond_wait(&p->cond, &p->lock);
		struct fetch *f = p->queue;
		if (f && !atomic_load(&p->stop)) {
			p->queue = f->next;
			if (p->queue == NULL)
				p->tail = &p->queue;
		}
		pthread_mutex_unlock(&p->lock);
		if (atomic_load(&p->stop))
			break;
		struct cluster_msg *m = xcalloc(1, sizeof *m);
		m->kind = CMSG_PAGE;
		snprintf(m->source, sizeof m->source, "%s", f->source);
		m->page = curl ? fetch_one(p, curl, f, m->error, sizeof m->error) : NULL;
		if (curl == NULL)
			snprintf(m->error, sizeof m->error, "libcurl did not start");
		if (m->page == NULL)
			atomic_fetch_add(&p->c->ctr.pull_errors, 1);
		free(f);
		cluster_post(p->c, m);
	}
	if (curl)
		curl_easy_cleanup(curl);
	return NULL;
}

struct cluster_pull *cluster_pull_start(struct cluster *c)
{
	struct cluster_pull *p = xcalloc(1, sizeof *p);
	p->c = c;
	p->answer.max = PAGE_MAX;
	p->answer.stop = &p->stop;
	p->tail = &p->queue;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	map_init(&p->busy);
	snprintf(p->auth, sizeof p->auth, "Authorization: Bearer %s", c->cfg.secret);
	p->started = pthread_create(&p->thread, NULL, pull_main, p) == 0;
	return p;
}

bool cluster_pull_fetch(struct cluster_pull *p, const char *source, const char *url,
                        const char *cursor)
{
	pthread_mutex_lock(&p->lock);
	bool busy = map_get(&p->busy, source) != NULL;
	if (!busy) {
		struct fetch *f = xcalloc(1, sizeof *f);
		char *esc = curl_easy_escape(NULL, cursor ? cursor : "", 0);
		snprintf(f->source, sizeof f->source, "%s", source);
		snprintf(f->url, sizeof f->url, "%s/internal/cluster/changes?after=%s", url,
		         esc ? esc : "");
		curl_free(esc);
		*p->tail = f;
		p->tail = &f->next;
		map_put(&p->busy, source, (void *)1);
		pthread_cond_signal(&p->cond);
	}
	pthread_mutex_unlock(&p->lock);
	return !busy;
}

void cluster_pull_done(struct cluster_pull *p, const char *source)
{
	pthread_mutex_lock(&p->lock);
	map_remove(&p->busy, source);
	pthread_mutex_unlock(&p->lock);
}

size_t cluster_pull_pending(struct cluster_pull *p)
{
	pthread_mutex_lock(&p->lock);
	size_t n = p->busy.count;
	pthread_mutex_unlock(&p->lock);
	return n;
}

void cluster_pull_stop(struct cluster_pull *p)
{
	if (p == NULL)
		return;
	pthread_mutex_lock(&p->lock);
	atomic_store(&p->stop, true);
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
	if (p->started)
		pthread_join(p->thread, NULL);
	while (p->queue) {
		struct fetch *f = p->queue;
		p->queue = f->next;
		free(f);
	}
	memset(p->auth, 0, sizeof p->auth);
	buf_free(&p->answer.body);
	map_fini(&p->busy);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->cond);
	free(p);
}
