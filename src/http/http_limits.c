/* Limits and the headers every response carries: who the client is
 * (X-Forwarded-For only from trusted proxies), the per-client rate limit,
 * the failed-login window, CORS and the security headers.
 *
 * The rate limit is a token bucket per client address, the model of Go's
 * x/time/rate: it refills at requests-per-minute / 60 tokens a second up to
 * `burst`, and each /api/ request takes one. X-RateLimit-Limit is the
 * per-minute rate, -Remaining the requests the client may make right now,
 * -Reset the Unix time at which the bucket is full again. The table of
 * clients is swept every minute of entries that are back to a full bucket
 * and have no recent failed login, so it stays as small as the set of
 * active clients. */
#include <arpa/inet.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/http_int.h"
#include "loop/loop.h"
#include "util/clock.h"
#include "util/xalloc.h"

/* Failed logins remembered per client: the config's upper bound. */
#define FAIL_RING 100
/* Past this many clients the table is swept at once, not in a minute. */
#define CLIENTS_SOFT_MAX 65536

static const char default_methods[] = "GET, POST, PUT, PATCH, DELETE, OPTIONS";
static const char default_headers[] = "Authorization, Content-Type";
static const char exposed_headers[] =
    "X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, Retry-After";

/* ---- addresses ---- */

int http_cidr_parse(const char *text, struct http_cidr *out)
{
	char addr[64];
	const char *slash = strchr(text, '/');
	size_t len = slash ? (size_t)(slash - text) : strlen(text);

	if (len == 0 || len >= sizeof addr)
		return -1;
	memcpy(addr, text, len);
	addr[len] = '\0';
	memset(out, 0, sizeof *out);
	if (inet_pton(AF_INET, addr, out->addr) == 1) {
		out->family = AF_INET;
		out->bits = 32;
	} else if (inet_pton(AF_INET6, addr, out->addr) == 1) {
		out->family = AF_INET6;
		out->bits = 128;
	} else {
		return -1;
	}
	if (slash) {
		char *end;
		long bits = strtol(slash + 1, &end, 10);
		if (slash[1] == '\0' || *end != '\0' || bits < 0 || bits > out->bits)
			return -1;
		out->bits = (int)bits;
	}
	return 0;
}

bool http_cidr_match(const struct http_cidr *c, const char *addr)
{
	unsigned char a[16];
	if (inet_pton(c->family, addr, a) != 1)
		return false;
	int full = c->bits / 8, rest = c->bits % 8;
	if (memcmp(a, c->addr, (size_t)full) != 0)
		return false;
	if (rest == 0)
		return true;
	unsigned char mask = (unsigned char)(0xFF << (8 - rest));
	return (a[full] & mask) == (c->addr[full] & mask);
}

/* load_proxies parses the config's trusted proxies when they changed. */
static void load_proxies(struct http *h, const struct strv *list)
{
	if (strv_equal(&h->proxies_text, list))
		return;
	strv_free(&h->proxies_text);
	strv_copy(&h->proxies_text, list);
	free(h->proxies);
	h->proxies = xcalloc(list->n + 1, sizeof *h->proxies);
	h->nproxies = 0;
	for (size_t i = 0; i < list->n; i++)
		if (http_cidr_parse(list->v[i], &h->proxies[h->nproxies]) == 0)
			h->nproxies++;
}

static bool trusted(const struct http *h, const char *addr)
{
	for (size_t i = 0; i < h->nproxies; i++)
		if (http_cidr_match(&h->proxies[i], addr))
			return true;
	return false;
}

static bool is_ip(const char *s)
{
	unsigned char a[16];
	return inet_pton(AF_INET, s, a) == 1 || inet_pton(AF_INET6, s, a) == 1;
}

void http_resolve_client(struct http_req *r)
{
	struct http *h = r->h;
	snprintf(r->client, sizeof r->client, "%s", r->peer);
	load_proxies(h, &r->cfg->web.trusted_proxies);
	if (h->nproxies == 0 || !trusted(h, r->peer) || r->headers == NULL)
		return;

	/* Every hop appends; walk from the nearest and stop at the first
	 * address no trusted proxy vouches for. Repeated headers are one list. */
	for (ssize_t i = (ssize_t)r->headers->size - 1; i >= 0; i--) {
		const h2o_header_t *hd = &r->headers->entries[i];
		if (hd->name != &H2O_TOKEN_X_FORWARDED_FOR->buf)
			continue;
		const char *start = hd->value.base, *end = start + hd->value.len;
		while (end > start) {
			const char *comma = end;
			while (comma > start && comma[-1] != ',')
				comma--;
			const char *a = comma, *b = end;
			while (a < b && (*a == ' ' || *a == '\t'))
				a++;
			while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
				b--;
			char hop[64];
			if ((size_t)(b - a) >= sizeof hop)
				return;
			memcpy(hop, a, (size_t)(b - a));
			hop[b - a] = '\0';
			if (!is_ip(hop))
				return;
			snprintf(r->client, sizeof r->client, "%s", hop);
			if (!trusted(h, hop))
				return;
			end = comma > start ? comma - 1 : start;
		}
	}
}

/* ---- the Host header ---- */

/* A DNS rebinding page (http://attacker.example:8080, its name pointed at
 * 127.0.0.1 once loaded) talks to us as same-origin; only the Host header
 * gives it away. An IP literal cannot be rebound (the page's origin is that
 * address itself) and localhost never leaves the machine, so those pass;
 * any other name must be listed. */
static bool is_ip_literal(const char *name, size_t len)
{
	char text[64];
	unsigned char a[16];
	if (len >= sizeof text)
		return false;
	memcpy(text, name, len);
	text[len] = '\0';
	return inet_pton(AF_INET, text, a) == 1 || inet_pton(AF_INET6, text, a) == 1;
}

static bool ends_with(const char *s, size_t len, const char *suffix)
{
	size_t n = strlen(suffix);
	return len >= n && strncasecmp(s + len - n, suffix, n) == 0;
}

bool http_host_name_allowed(const struct strv *allowed, const char *name, size_t len)
{
	if (len && name[len - 1] == '.')
		len--; /* "localhost." is "localhost" */
	if (len == 0)
		return false;
	if (is_ip_literal(name, len) || (len == 9 && strncasecmp(name, "localhost", 9) == 0) ||
	    ends_with(name, len, ".localhost"))
		return true;
	for (size_t i = 0; i < allowed->n; i++) {
		const char *a = allowed->v[i];
		size_t alen = strlen(a);
		if (strcmp(a, "*") == 0 || (alen == len && strncasecmp(a, name, len) == 0) ||
		    (alen > 2 && a[0] == '*' && a[1] == '.' && len > alen - 1 &&
		     ends_with(name, len, a + 1)))
			return true;
	}
	return false;
}

bool http_host_allowed(struct http_req *r)
{
	const struct config_web *w = &r->cfg->web;
	h2o_iovec_t host = r->host;

	/* Only browsers rebind, and they always send Host. With auth on every
	 * interface the token is the guard and names are not known: open
	 * unless allowed-hosts lists them. */
	if (host.len == 0 || (r->h->wildcard && w->auth_enabled && w->allowed_hosts.n == 0))
		return true;
	const char *name = host.base, *end = host.base + host.len;
	if (*name == '[') {
		const char *close = memchr(name, ']', host.len);
		if (close && (close + 1 == end || close[1] == ':')) {
			name++;
			end = close;
		}
	} else {
		const char *colon = memchr(name, ':', host.len);
		if (colon)
			end = colon;
	}
	size_t len = (size_t)(end - name);
	if (http_host_name_allowed(&w->allowed_hosts, name, len))
		return true;
	/* The name the address was given with ("myhost:8080") is allowed too. */
	const char *bound = w->address, *colon = bound ? strrchr(bound, ':') : NULL;
	if (colon && (size_t)(colon - bound) == len && strncasecmp(bound, name, len) == 0)
		return true;
	http_reply_error(r, 403, "FORBIDDEN", NULL, NULL,
	                 "Host \"%.*s\" is not allowed: list it in web.allowed-hosts",
	                 (int)(end - name), name);
	return false;
}

/* ---- headers on every response ---- */

void http_security_headers(struct http_req *r)
{
	h2o_add_header_by_str(r->pool, &r->res_headers, H2O_STRLIT("x-content-type-options"), 0,
	                      NULL, H2O_STRLIT("nosniff"));
	h2o_add_header_by_str(r->pool, &r->res_headers, H2O_STRLIT("x-frame-options"), 0, NULL,
	                      H2O_STRLIT("DENY"));
	h2o_add_header_by_str(r->pool, &r->res_headers, H2O_STRLIT("referrer-policy"), 0, NULL,
	                      H2O_STRLIT("no-referrer"));
}

static bool origin_allowed(const struct strv *origins, h2o_iovec_t origin)
{
	for (size_t i = 0; i < origins->n; i++)
		if (strcmp(origins->v[i], "*") == 0 ||
		    (strlen(origins->v[i]) == origin.len &&
		     strncasecmp(origins->v[i], origin.base, origin.len) == 0))
			return true;
	return false;
}

/* ---- cross-site requests ---- */

/* same_origin compares the host[:port] of an Origin ("http://h:8080")
 * with the Host header: a page of this server. */
static bool same_origin(h2o_iovec_t origin, h2o_iovec_t host)
{
	const char *sep = origin.len > 3 ? memmem(origin.base, origin.len, "://", 3) : NULL;
	if (sep == NULL || host.len == 0)
		return false;
	const char *auth = sep + 3;
	size_t len = (size_t)(origin.base + origin.len - auth);
	return len == host.len && strncasecmp(auth, host.base, len) == 0;
}

bool http_origin_allowed(struct http_req *r)
{
	h2o_iovec_t origin = http_find_header(r, "origin");
	if (origin.len == 0 || same_origin(origin, r->host) ||
	    origin_allowed(&r->cfg->web.cors_origins, origin))
		return true;
	http_reply_error(r, 403, "FORBIDDEN", NULL, NULL,
	                 "Origin \"%.*s\" is not this server nor in web.cors.allowed-origins",
	                 (int)(origin.len < 200 ? origin.len : 200), origin.base);
	return false;
}

bool http_json_only(struct http_req *r)
{
	h2o_iovec_t type = http_find_header(r, "content-type");
	if (r->body.len == 0 && type.len == 0)
		return true;
	/* "application/json", any case, parameters (charset) allowed */
	size_t n = 0;
	while (n < type.len && type.base[n] != ';' && type.base[n] != ' ' && type.base[n] != '\t')
		n++;
	if (n == 16 && strncasecmp(type.base, "application/json", 16) == 0)
		return true;
	http_reply_error(r, 415, "UNSUPPORTED_MEDIA_TYPE", NULL, NULL,
	                 "A request body must be JSON sent as Content-Type: application/json");
	return false;
}

/* join writes a list as "a, b, c" into the pool, or dflt when empty. */
static const char *join(struct http_req *r, const struct strv *list, const char *dflt)
{
	if (list->n == 0)
		return dflt;
	size_t len = 0;
	for (size_t i = 0; i < list->n; i++)
		len += strlen(list->v[i]) + 2;
	char *out = h2o_mem_alloc_pool(r->pool, len + 1);
	out[0] = '\0';
	for (size_t i = 0; i < list->n; i++) {
		if (i)
			strcat(out, ", ");
		strcat(out, list->v[i]);
	}
	return out;
}

bool http_cors(struct http_req *r)
{
	const struct config_web *w = &r->cfg->web;
	h2o_iovec_t origin = http_find_header(r, "origin");

	if (w->cors_origins.n == 0 || origin.len == 0 || !origin_allowed(&w->cors_origins, origin))
		return false;
	http_header(r, "access-control-allow-origin", http_strdup(r, origin.base, origin.len));
	http_header(r, "vary", "Origin");
	http_header(r, "access-control-expose-headers", exposed_headers);
	if (r->method != HTTP_OPTIONS ||
	    http_find_header(r, "access-control-request-method").len == 0)
		return false;
	char age[24];
	snprintf(age, sizeof age, "%d", w->cors_max_age);
	http_header(r, "access-control-allow-methods", join(r, &w->cors_methods, default_methods));
	http_header(r, "access-control-allow-headers", join(r, &w->cors_headers, default_headers));
	http_header(r, "access-control-max-age", age);
	http_reply_bytes(r, 204, NULL, NULL, 0);
	return true;
}

/* ---- the client table ---- */

static struct http_client *client_get(struct http_req *r)
{
	struct http *h = r->h;
	struct http_client *c = map_get(&h->clients, r->client);
	if (c)
		return c;
	if (h->clients.count >= CLIENTS_SOFT_MAX)
		loop_timer_after(h->sweep_timer, 0);
	c = xcalloc(1, sizeof *c);
	c->tokens = r->cfg->web.rate_burst;
	c->refilled_ns = r->now_ns;
	map_put(&h->clients, r->client, c);
	return c;
}

static int recent_fails(const struct http_client *c, int64_t now_ns)
{
	int n = 0;
	for (int i = 0; i < c->nfails; i++)
		n += c->fails[i] > now_ns - HTTP_CLIENT_WINDOW_NS;
	return n;
}

static void on_sweep(void *arg)
{
	struct http *h = arg;
	const struct config_web *w = &http_config_now(h)->web;
	int64_t now = clock_now_ns();
	struct map_iter it;
	const char *key;
	void *v;

	map_iter_init(&h->clients, &it);
	while (map_iter_next(&h->clients, &it, &key, &v)) {
		struct http_client *c = v;
		double tokens = c->tokens;
		int64_t at = c->refilled_ns;
		/* A bucket that would be full again holds nothing worth keeping
		 * (take refills it, then takes one). */
		bool full = w->rate_limit <= 0 ||
		            (http_bucket_take(&tokens, &at, now, w->rate_limit, w->rate_burst) &&
		             tokens + 1 >= w->rate_burst);
		if (full && recent_fails(c, now) == 0) {
			map_remove(&h->clients, key);
			free(c->fails);
			free(c);
		}
	}
	loop_timer_after(h->sweep_timer, HTTP_CLIENT_WINDOW_NS);
}

void http_limits_init(struct http *h)
{
	map_init(&h->clients);
	h->sweep_timer = loop_timer_new(h->deps.loop, on_sweep, h);
	loop_timer_after(h->sweep_timer, HTTP_CLIENT_WINDOW_NS);
}

void http_limits_fini(struct http *h)
{
	struct map_iter it;
	void *v;
	map_iter_init(&h->clients, &it);
	while (map_iter_next(&h->clients, &it, NULL, &v)) {
		struct http_client *c = v;
		free(c->fails);
		free(c);
	}
	map_fini(&h->clients);
	loop_timer_free(h->sweep_timer);
	strv_free(&h->proxies_text);
	free(h->proxies);
}

/* ---- rate limit ---- */

bool http_bucket_take(double *tokens, int64_t *refilled_ns, int64_t now_ns, int per_minute,
                      int burst)
{
	double rate = per_minute / 60.0 / 1e9; /* tokens per ns */
	if (now_ns > *refilled_ns) {
		*tokens += (double)(now_ns - *refilled_ns) * rate;
		*refilled_ns = now_ns;
	}
	if (*tokens > burst)
		*tokens = burst;
	if (*tokens < 1)
		return false;
	*tokens -= 1;
	return true;
}

static void number_header(struct http_req *r, const char *name, long long value)
{
	char text[24];
	snprintf(text, sizeof text, "%lld", value);
	http_header(r, name, text);
}

bool http_rate_limit(struct http_req *r)
{
	const struct config_web *w = &r->cfg->web;
	if (w->rate_limit <= 0)
		return true;
	struct http_client *c = client_get(r);
	bool ok =
	    http_bucket_take(&c->tokens, &c->refilled_ns, r->now_ns, w->rate_limit, w->rate_burst);
	double per_sec = w->rate_limit / 60.0;
	long long now_s = r->now_ns / NS_PER_SEC;
	number_header(r, "x-ratelimit-limit", w->rate_limit);
	number_header(r, "x-ratelimit-remaining", (long long)floor(c->tokens));
	number_header(r, "x-ratelimit-reset",
	              now_s + (long long)ceil((w->rate_burst - c->tokens) / per_sec));
	if (ok)
		return true;
	number_header(r, "retry-after", (long long)ceil((1 - c->tokens) / per_sec));
	http_reply_error(r, 429, "RATE_LIMITED", NULL, NULL,
	                 "Too many requests: the limit is %d a minute with bursts of %d",
	                 w->rate_limit, w->rate_burst);
	return false;
}

/* ---- login attempts ---- */

bool http_login_begin(struct http_req *r)
{
	struct http_client *c = client_get(r);
	if (c->fails && recent_fails(c, r->now_ns) >= r->cfg->web.max_login_attempts)
		return false;
	if (c->fails == NULL)
		c->fails = xcalloc(FAIL_RING, sizeof *c->fails);
	c->fails[c->fail_at] = r->now_ns;
	c->fail_at = (c->fail_at + 1) % FAIL_RING;
	if (c->nfails < FAIL_RING)
		c->nfails++;
	return true;
}

void http_login_refund(struct http_req *r, int64_t at_ns)
{
	struct http_client *c = map_get(&r->h->clients, r->client);
	for (int i = 0; c && c->fails && i < c->nfails; i++)
		if (c->fails[i] == at_ns) {
			c->fails[i] = 0;
			return;
		}
}

int http_login_recent(struct http_req *r)
{
	struct http_client *c = map_get(&r->h->clients, r->client);
	return c && c->fails ? recent_fails(c, r->now_ns) : 0;
}
