/* The sender: a small pool of threads ("notify-N") taking messages from a
 * bounded queue and delivering each through its channel's ops. A slow or
 * dead receiver holds one sender thread for at most its time-out; nothing
 * here ever blocks the loop. Results go back through on_result, which the
 * outbox turns into a loop-mailbox message.
 *
 * Stopping raises one flag that every transfer's progress callback polls,
 * so an in-flight request ends within a fraction of a second; aborted
 * attempts are not reported (their notices stay pending and are sent after
 * the next start). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "lazycurl/lazycurl.h"
#include "notify/notify_int.h"
#include "util/log.h"
#include "util/xalloc.h"

struct notify {
	pthread_mutex_t lock;
	pthread_cond_t ready;
	struct notify_msg **queue; /* ring of cap */
	size_t cap, head, len;
	size_t busy;
	bool stopping, stopped;
	atomic_bool abort;
	pthread_t *threads;
	int nthreads;
	void (*on_result)(const struct notify_result *r, void *arg);
	void *arg;
};

const struct notify_ops *notify_ops_of(enum notify_channel c)
{
	switch (c) {
	case NOTIFY_SLACK:
		return &notify_slack_ops;
	case NOTIFY_MAIL:
		return &notify_mail_ops;
	case NOTIFY_SAVE:
		return &notify_save_ops;
	case NOTIFY_WEBHOOK:
		return &notify_webhook_ops;
	}
	return NULL;
}

/* ---- what the channels share ---- */

/* Each sender thread keeps one libcurl handle, so connections to a
 * receiver are reused from one notice to the next. */
static __thread CURL *thread_curl;

void *notify_curl_take(char *err, size_t errlen)
{
	if (lazycurl_load(err, errlen) < 0)
		return NULL;
	if (thread_curl)
		curl_easy_reset(thread_curl);
	else
		thread_curl = curl_easy_init();
	if (thread_curl == NULL)
		snprintf(err, errlen, "libcurl cannot make a handle");
	return thread_curl;
}

static void curl_release(void)
{
	curl_easy_cleanup(thread_curl);
	thread_curl = NULL;
}

static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
	(void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
	return atomic_load((atomic_bool *)arg) ? 1 : 0;
}

void notify_curl_common(void *curl, int64_t timeout_ns, atomic_bool *abort)
{
	CURL *c = curl;
	long ms = (long)(timeout_ns / 1000000);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, ms > 0 ? ms : 10000L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, ms > 0 && ms < 10000 ? ms : 10000L);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, abort);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "ofelia/" OFELIA_VERSION);
}

int notify_curl_error(int code, const char *errbuf, atomic_bool *abort, struct notify_attempt *a)
{
	if (atomic_load(abort) || code == CURLE_ABORTED_BY_CALLBACK) {
		snprintf(a->error, sizeof a->error, "stopped: ofelia is shutting down");
		return -1;
	}
	snprintf(a->error, sizeof a->error, "%s",
	         errbuf && *errbuf ? errbuf : curl_easy_strerror((CURLcode)code));
	/* A URL curl cannot use (a bad scheme, a malformed URL) will not improve. */
	a->permanent = code == CURLE_UNSUPPORTED_PROTOCOL || code == CURLE_URL_MALFORMAT ||
	               code == CURLE_LOGIN_DENIED;
	return -1;
}

int notify_http_status(long status, const char *body, size_t len, struct notify_attempt *a)
{
	if (status >= 200 && status < 300)
		return 0;
	size_t n = len < NOTIFY_ANSWER_MAX ? len : NOTIFY_ANSWER_MAX;
	char text[NOTIFY_ANSWER_MAX + 1];
	for (size_t i = 0; i < n; i++)
		text[i] = body[i] == '\n' || body[i] == '\r' ? ' ' : body[i];
	text[n] = '\0';
	snprintf(a->error, sizeof a->error, "HTTP %ld%s%s", status, n ? ": " : "", text);
	a->permanent = !(status == 408 || status == 425 || status == 429 || status >= 500);
	return -1;
}

void notify_scrub(const struct notify_msg *m, char *text, size_t size)
{
	static const char mask[] = "********";
	for (size_t i = 0; i < m->secrets.n; i++) {
		const char *s = m->secrets.v[i];
		size_t n = strlen(s);
		char *at;
		while (n && (at = strstr(text, s)) != NULL) {
			size_t tail = strlen(at + n);
			if ((size_t)(at - text) + sizeof mask + tail > size)
				tail = size - (size_t)(at - text) - sizeof mask;
			memmove(at + sizeof mask - 1, at + n, tail);
			memcpy(at, mask, sizeof mask - 1);
			at[sizeof mask - 1 + tail] = '\0';
		}
	}
}

/* ---- the pool ---- */

static void deliver(struct notify *n, struct notify_msg *m)
{
	struct notify_attempt a = {0};
	struct notify_result r = {.id = m->id};
	const struct notify_ops *ops = notify_ops_of(m->channel);
	int rc = ops->deliver(m, &n->abort, &a);
	if (atomic_load(&n->abort))
		return;
	r.delivered = rc == 0;
	r.permanent = rc != 0 && a.permanent;
	if (rc != 0) {
		notify_scrub(m, a.error, sizeof a.error);
		snprintf(r.error, sizeof r.error, "%s", a.error);
	}
	n->on_result(&r, n->arg);
}

static void *worker(void *arg)
{
	struct notify *n = arg;
	pthread_mutex_lock(&n->lock);
	for (;;) {
		while (!n->stopping && n->len == 0)
			pthread_cond_wait(&n->ready, &n->lock);
		if (n->stopping)
			break;
		struct notify_msg *m = n->queue[n->head];
		n->head = (n->head + 1) % n->cap;
		n->len--;
		n->busy++;
		pthread_mutex_unlock(&n->lock);
		deliver(n, m);
		notify_msg_free(m);
		pthread_mutex_lock(&n->lock);
		n->busy--;
	}
	pthread_mutex_unlock(&n->lock);
	curl_release();
	return NULL;
}

struct notify *notify_start(int workers, size_t queue_max,
                            void (*on_result)(const struct notify_result *r, void *arg), void *arg)
{
	struct notify *n = xcalloc(1, sizeof *n);
	pthread_mutex_init(&n->lock, NULL);
	pthread_cond_init(&n->ready, NULL);
	n->cap = queue_max ? queue_max : 1;
	n->queue = xcalloc(n->cap, sizeof *n->queue);
	n->on_result = on_result;
	n->arg = arg;
	atomic_init(&n->abort, false);
	n->threads = xcalloc((size_t)(workers > 0 ? workers : 1), sizeof *n->threads);
	for (int i = 0; i < (workers > 0 ? workers : 1); i++) {
		if (pthread_create(&n->threads[n->nthreads], NULL, worker, n) != 0) {
			log_warn("notify: cannot start sender thread %d", i);
			break;
		}
		char name[16];
		snprintf(name, sizeof name, "notify-%d", i);
		pthread_setname_np(n->threads[n->nthreads], name);
		n->nthreads++;
	}
	return n;
}

bool notify_submit(struct notify *n, struct notify_msg *m)
{
	pthread_mutex_lock(&n->lock);
	bool ok = !n->stopping && n->nthreads > 0 && n->len < n->cap;
	if (ok) {
		n->queue[(n->head + n->len) % n->cap] = m;
		n->len++;
		pthread_cond_signal(&n->ready);
	}
	pthread_mutex_unlock(&n->lock);
	return ok;
}

size_t notify_backlog(struct notify *n)
{
	pthread_mutex_lock(&n->lock);
	size_t k = n->len + n->busy;
	pthread_mutex_unlock(&n->lock);
	return k;
}

void notify_stop(struct notify *n)
{
	if (n == NULL || n->stopped)
		return;
	pthread_mutex_lock(&n->lock);
	n->stopping = true;
	atomic_store(&n->abort, true);
	pthread_cond_broadcast(&n->ready);
	pthread_mutex_unlock(&n->lock);
	for (int i = 0; i < n->nthreads; i++)
		pthread_join(n->threads[i], NULL);
	while (n->len) {
		notify_msg_free(n->queue[n->head]);
		n->head = (n->head + 1) % n->cap;
		n->len--;
	}
	n->stopped = true;
}

void notify_free(struct notify *n)
{
	if (n == NULL)
		return;
	notify_stop(n);
	pthread_mutex_destroy(&n->lock);
	pthread_cond_destroy(&n->ready);
	free(n->queue);
	free(n->threads);
	free(n);
}
