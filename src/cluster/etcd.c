/* The etcd v3 client: JSON over HTTP to the gateway every etcd 3.4 member
 * serves at /v3/... (also /v3beta and /v3alpha; docs/cluster.md), with
 * libcurl and jansson: no gRPC. Keys and values travel base64-encoded, and
 * int64 numbers as strings.
 *
 * Endpoint failover: a request goes to the endpoint that answered last and,
 * when that one cannot be reached, times out or has no quorum leader
 * (gRPC codes Unavailable, DeadlineExceeded and the like), to the next, so
 * one member down costs one failed connection. A refusal that another
 * member would repeat (a failed compare comes back as a normal answer;
 * "lease not found", a malformed request) is the caller's answer.
 *
 * With etcd-username the client authenticates first and sends the token
 * with every request, authenticating again when etcd says it expired. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "cluster/cluster_int.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/strv.h"
#include "util/xalloc.h"

/* An answer larger than this is refused (a page of keys is far smaller). */
#define ANSWER_MAX (16 * 1024 * 1024)
/* A member that does not accept the connection within this is skipped. */
#define CONNECT_MAX_NS (500 * NS_PER_MS)

/* gRPC codes the gateway reports (google.golang.org/grpc/codes). */
#define GRPC_UNKNOWN            2
#define GRPC_DEADLINE_EXCEEDED  4
#define GRPC_RESOURCE_EXHAUSTED 8
#define GRPC_UNAVAILABLE        14
#define GRPC_UNAUTHENTICATED    16
#define GRPC_INVALID_AUTH_TOKEN 3

static const char *const paths[ETCD_OPS] = {
    [ETCD_AUTH] = "/v3/auth/authenticate",
    [ETCD_GRANT] = "/v3/lease/grant",
    [ETCD_KEEPALIVE] = "/v3/lease/keepalive",
    [ETCD_REVOKE] = "/v3/lease/revoke",
    [ETCD_TXN] = "/v3/kv/txn",
    [ETCD_RANGE] = "/v3/kv/range",
    [ETCD_PUT] = "/v3/kv/put",
};

static const char *const names[ETCD_OPS] = {
    [ETCD_AUTH] = "auth",
    [ETCD_GRANT] = "lease_grant",
    [ETCD_KEEPALIVE] = "lease_keepalive",
    [ETCD_REVOKE] = "lease_revoke",
    [ETCD_TXN] = "txn",
    [ETCD_RANGE] = "range",
    [ETCD_PUT] = "put",
};

struct etcd {
	CURL *curl;
	struct strv endpoints;
	size_t current;
	char *ca, *cert, *key, *user, *password;
	char *token; /* etcd auth token, NULL until authenticated */
	struct cluster_counters *ctr;
	const atomic_bool *stop;
	struct cluster_reply answer;
};

const char *etcd_op_name(enum etcd_op op)
{
	return names[op];
}

/* ---- base64 ---- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *etcd_b64(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	char *out = xmalloc((n + 2) / 3 * 4 + 1), *o = out;
	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)p[i] << 16;
		if (i + 1 < n)
			v |= (unsigned)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		*o++ = b64[(v >> 18) & 63];
		*o++ = b64[(v >> 12) & 63];
		*o++ = i + 1 < n ? b64[(v >> 6) & 63] : '=';
		*o++ = i + 2 < n ? b64[v & 63] : '=';
	}
	*o = '\0';
	return out;
}

static int b64_value(char c)
{
	const char *at = c ? strchr(b64, c) : NULL;
	return at ? (int)(at - b64) : -1;
}

char *etcd_unb64(const char *s, size_t *n)
{
	size_t len = strlen(s);
	if (len % 4)
		return NULL;
	char *out = xmalloc(len / 4 * 3 + 1);
	size_t k = 0;
	for (size_t i = 0; i < len; i += 4) {
		int v[4];
		for (int j = 0; j < 4; j++)
			v[j] = s[i + j] == '=' && i + 4 == len && j >= 2 ? 0 : b64_value(s[i + j]);
		if (v[0] < 0 || v[1] < 0 || v[2] < 0 || v[3] < 0 ||
		    (s[i + 2] == '=' && s[i + 3] != '=')) {
			free(out);
			return NULL;
		}
		unsigned w = (unsigned)v[0] << 18 | (unsigned)v[1] << 12 | (unsigned)v[2] << 6 |
		             (unsigned)v[3];
		out[k++] = (char)(w >> 16);
		if (s[i + 2] != '=')
			out[k++] = (char)(w >> 8 & 0xff);
		if (s[i + 3] != '=')
			out[k++] = (char)(w & 0xff);
	}
	out[k] = '\0';
	if (n)
		*n = k;
	return out;
}

int64_t etcd_int(const json_t *v)
{
	if (json_is_integer(v))
		return json_integer_value(v);
	if (json_is_string(v))
		return strtoll(json_string_value(v), NULL, 10);
	return 0;
}

/* ---- the client ---- */

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct cluster_reply *a = arg;
	size_t n = size * nmemb;
	if (a->body.len + n > a->max) {
		a->too_big = true;
		return 0;
	}
	buf_append(&a->body, ptr, n);
	return n;
}

static int on_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	(void)dt, (void)dn, (void)ut, (void)un;
	const struct cluster_reply *a = arg;
	return atomic_load(a->stop) ? 1 : 0;
}

void cluster_reply_attach(struct cluster_reply *a, CURL *curl)
{
	buf_reset(&a->body);
	a->too_big = false;
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, a);
	curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(curl, CURLOPT_XFERINFODATA, a);
}

struct etcd *etcd_new(const struct config_cluster *cfg, struct cluster_counters *ctr,
                      const atomic_bool *stop)
{
	struct etcd *e = xcalloc(1, sizeof *e);
	strv_copy(&e->endpoints, &cfg->etcd_endpoints);
	e->ca = xstrdup(cfg->etcd_ca);
	e->cert = xstrdup(cfg->etcd_cert);
	e->key = xstrdup(cfg->etcd_key);
	e->user = xstrdup(cfg->etcd_username);
	e->password = xstrdup(cfg->etcd_password);
	e->ctr = ctr;
	e->stop = stop;
	e->answer.max = ANSWER_MAX;
	e->answer.stop = stop;
	e->curl = curl_easy_init();
	return e;
}

void etcd_free(struct etcd *e)
{
	if (e == NULL)
		return;
	if (e->curl)
		curl_easy_cleanup(e->curl);
	strv_free(&e->endpoints);
	free(e->ca);
	free(e->cert);
	free(e->key);
	free(e->user);
	if (e->password)
		memset(e->password, 0, strlen(e->password));
	free(e->password);
	free(e->token);
	buf_free(&e->answer.body);
	free(e);
}

const char *etcd_endpoint(const struct etcd *e)
{
	return e->endpoints.n ? e->endpoints.v[e->current] : "";
}

/* perform posts text to one endpoint: the HTTP status, or -1 with err. */
static long perform(struct etcd *e, const char *endpoint, const char *path, const char *text,
                    int64_t timeout_ns, char *err, size_t errlen)
{
	CURL *c = e->curl;
	struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
	char url[640], auth[600];
	long status = -1;

	snprintf(url, sizeof url, "%s%s", endpoint, path);
	if (e->token) {
		snprintf(auth, sizeof auth, "Authorization: %s", e->token);
		hdrs = curl_slist_append(hdrs, auth);
	}
	curl_easy_reset(c);
	cluster_reply_attach(&e->answer, c);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_POST, 1L);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, text);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(timeout_ns / NS_PER_MS));
	curl_easy_setopt(
	    c, CURLOPT_CONNECTTIMEOUT_MS,
	    (long)((timeout_ns < CONNECT_MAX_NS ? timeout_ns : CONNECT_MAX_NS) / NS_PER_MS));
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	if (e->ca)
		curl_easy_setopt(c, CURLOPT_CAINFO, e->ca);
	if (e->cert) {
		curl_easy_setopt(c, CURLOPT_SSLCERT, e->cert);
		curl_easy_setopt(c, CURLOPT_SSLKEY, e->key);
	}
	CURLcode rc = curl_easy_perform(c);
	if (rc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	else if (e->answer.too_big)
		snprintf(err, errlen, "%s: the answer is larger than %d bytes", endpoint,
		         ANSWER_MAX);
	else
		snprintf(err, errlen, "%s: %s", endpoint, curl_easy_strerror(rc));
	curl_slist_free_all(hdrs);
	return status;
}

/* retryable tells whether another member may answer where this one did
 * not: it has no leader, timed out, or is overloaded. */
static bool retryable(int code)
{
	return code == GRPC_UNAVAILABLE || code == GRPC_DEADLINE_EXCEEDED || code == GRPC_UNKNOWN ||
	       code == GRPC_RESOURCE_EXHAUSTED;
}

static bool auth_expired(int code, const char *msg)
{
	return code == GRPC_UNAUTHENTICATED ||
	       (code == GRPC_INVALID_AUTH_TOKEN && msg && strstr(msg, "auth token"));
}

/* error_of reads the gateway's error object: {"error","code","message"},
 * or, in a stream such as keepalive's, {"error":{"grpc_code","message"}}. */
static bool error_of(const json_t *o, int *code, const char **msg)
{
	json_t *err = json_object_get(o, "error");
	if (err == NULL)
		return false;
	if (json_is_object(err)) {
		*code = (int)etcd_int(json_object_get(err, "grpc_code"));
		*msg = json_string_value(json_object_get(err, "message"));
	} else {
		*code = (int)etcd_int(json_object_get(o, "code"));
		*msg = json_string_value(json_object_get(o, "message"));
		if (*msg == NULL)
			*msg = json_string_value(err);
	}
	if (*msg == NULL)
		*msg = "(no message)";
	return true;
}

static int authenticate(struct etcd *e, const char *endpoint, int64_t timeout_ns, char *err,
                        size_t errlen)
{
	json_t *body = json_pack("{s:s,s:s}", "name", e->user, "password", e->password);
	char *text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	free(e->token);
	e->token = NULL;
	atomic_fetch_add(&e->ctr->requests[ETCD_AUTH], 1);
	long status = perform(e, endpoint, paths[ETCD_AUTH], text, timeout_ns, err, errlen);
	memset(text, 0, strlen(text));
	free(text);
	if (status < 0)
		return -1;
	json_t *o =
	    json_loadb(e->answer.body.data ? e->answer.body.data : "", e->answer.body.len, 0, NULL);
	const char *token = json_string_value(json_object_get(o, "token"));
	int code;
	const char *msg;
	if (status == 200 && token)
		e->token = xstrdup(token);
	else if (o && error_of(o, &code, &msg))
		snprintf(err, errlen, "%s: authentication refused: %s", endpoint, msg);
	else
		snprintf(err, errlen, "%s: authentication: HTTP %ld", endpoint, status);
	json_decref(o);
	return e->token ? 0 : -1;
}

json_t *etcd_call(struct etcd *e, enum etcd_op op, json_t *body, int64_t timeout_ns, int *code,
                  char *err, size_t errlen)
{
	char *text = json_dumps(body, JSON_COMPACT);
	json_t *result = NULL;
	bool reauth = false;

	json_decref(body);
	*code = -1;
	snprintf(err, errlen, "no etcd endpoint");
	for (size_t tries = 0; tries < e->endpoints.n && !atomic_load(e->stop); tries++) {
		size_t at = (e->current + tries) % e->endpoints.n;
		const char *ep = e->endpoints.v[at];
		if (e->user && e->token == NULL && authenticate(e, ep, timeout_ns, err, errlen) < 0)
			continue;
		atomic_fetch_add(&e->ctr->requests[op], 1);
		long status = perform(e, ep, paths[op], text, timeout_ns, err, errlen);
		if (status < 0)
			continue;
		json_t *o = json_loadb(e->answer.body.data ? e->answer.body.data : "",
		                       e->answer.body.len, 0, NULL);
		const char *msg;
		int c;
		if (o == NULL) {
			snprintf(err, errlen, "%s%s: HTTP %ld, not JSON", ep, paths[op], status);
			continue;
		}
		if (error_of(o, &c, &msg)) {
			snprintf(err, errlen, "%s: %s", ep, msg);
			*code = c;
			json_decref(o);
			if (e->user && !reauth && auth_expired(c, msg)) {
				free(e->token);
				e->token = NULL;
				reauth = true;
				tries--;
				continue;
			}
			if (retryable(c))
				continue;
			e->current = at;
			break;
		}
		if (status != 200) {
			snprintf(err, errlen, "%s%s: HTTP %ld", ep, paths[op], status);
			json_decref(o);
			continue;
		}
		/* keepalive streams its answer as {"result": {...}}. */
		json_t *inner = json_object_get(o, "result");
		if (json_is_object(inner)) {
			result = json_incref(inner);
			json_decref(o);
		} else {
			result = o;
		}
		e->current = at;
		*code = 0;
		break;
	}
	if (result == NULL)
		atomic_fetch_add(&e->ctr->request_errors, 1);
	free(text);
	return result;
}
