/* The webhook channel: netresearch's presets and custom templates. The URL
 * is the webhook's url, else the preset's url_scheme with {id}, {secret}
 * and {url} replaced; the body is the preset's template rendered on the
 * notice; the headers are the preset's, with the same variables replaced.
 * Every request carries Idempotency-Key: a receiver that sees a key twice
 * (a retry after a lost answer, a restart) can drop the repeat. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "notify/notify_int.h"
#include "util/xalloc.h"

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
	struct buf *b = arg;
	if (b->len < NOTIFY_ANSWER_MAX)
		buf_append(b, data, size * n < NOTIFY_ANSWER_MAX ? size * n : NOTIFY_ANSWER_MAX);
	return size * n;
}

static bool has_header(const struct strv *headers, const char *name)
{
	size_t n = strlen(name);
	for (size_t i = 0; i < headers->n; i++)
		if (strncasecmp(headers->v[i], name, n) == 0 && headers->v[i][n] == ':')
			return true;
	return false;
}

int notify_http_send(const struct notify_msg *m, atomic_bool *abort, const char *method,
                     const char *url, const struct strv *headers, const char *body, size_t len,
                     struct notify_attempt *a)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *list = NULL;
	struct buf answer = BUF_INIT;
	bool everyone = m->allowed_hosts.n == 0 ||
	                (m->allowed_hosts.n == 1 && strcmp(m->allowed_hosts.v[0], "*") == 0);
	int rc = -1;

	if (strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0) {
		snprintf(a->error, sizeof a->error, "the URL is not http:// or https://");
		a->permanent = true;
		return -1;
	}
	if (!notify_host_allowed(&m->allowed_hosts, url, a->error, sizeof a->error)) {
		a->permanent = true;
		return -1;
	}
	CURL *c = notify_curl_take(a->error, sizeof a->error);
	if (c == NULL)
		return -1;
	for (size_t i = 0; i < headers->n; i++)
		list = curl_slist_append(list, headers->v[i]);
	if (!has_header(headers, "Idempotency-Key") && *m->d.idempotency_key) {
		char *h = xasprintf("Idempotency-Key: %s", m->d.idempotency_key);
		list = curl_slist_append(list, h);
		free(h);
	}
	/* curl would otherwise send "Expect: 100-continue" for large bodies. */
	list = curl_slist_append(list, "Expect:");
	notify_curl_common(c, m->timeout_ns, abort);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &answer);
	if (everyone) {
		/* As Go's http.Client does; with an allow-list a redirect could
		 * leave it, so none is followed then. */
		curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
		curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
		curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	}
	if (strcasecmp(method, "GET") == 0) {
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	} else {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body ? len : 0));
		if (strcasecmp(method, "POST") != 0)
			curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	}
	CURLcode code = curl_easy_perform(c);
	if (code != CURLE_OK) {
		notify_curl_error((int)code, errbuf, abort, a);
	} else {
		long status = 0;
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
		rc = notify_http_status(status, answer.data ? answer.data : "", answer.len, a);
	}
	curl_slist_free_all(list);
	buf_free(&answer);
	return rc;
}

static int deliver(const struct notify_msg *m, atomic_bool *abort, struct notify_attempt *a)
{
	char why[400];
	struct buf body = BUF_INIT;
	struct strv headers = STRV_INIT;
	int rc = -1;
	const char *vars[] = {"id",  m->d.preset_id,  "secret", m->d.preset_secret,
	                      "url", m->d.preset_url, NULL};

	if (m->body && tmpl_render(m->body, &m->d, &body, why, sizeof why) < 0) {
		snprintf(a->error, sizeof a->error, "preset %s: %s", m->preset.name, why);
		a->permanent = true;
		goto out;
	}
	if (strstr(m->webhook_url, "{") && strstr(m->webhook_url, "}")) {
		snprintf(a->error, sizeof a->error, "the URL has variables nobody set");
		a->permanent = true;
		goto out;
	}
	for (size_t i = 0; i < m->preset.headers.n; i++)
		strv_push_owned(&headers, notify_replace(m->preset.headers.v[i], vars));
	rc = notify_http_send(m, abort, m->preset.method ? m->preset.method : "POST",
	                      m->webhook_url, &headers, body.data ? body.data : "", body.len, a);
out:
	strv_free(&headers);
	buf_free(&body);
	return rc;
}

const struct notify_ops notify_webhook_ops = {"webhook", deliver};
