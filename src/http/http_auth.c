/* Authentication: HS256 tokens, users from the config, login and refresh.
 *
 * Tokens carry sub (the user), role, iat and exp. libjwt 1.10 verifies the
 * signature only: it accepts an expired token and one signed with HS512 by
 * the same key, so both are checked here, and the key is always passed (a
 * NULL key skips verification). A token also needs its user to be in the
 * config still, and the role in force is the config's, so removing or
 * demoting a user takes effect at the next reload.
 *
 * Password hashes are crypt(3) (yescrypt costs ~200 ms here), so they are
 * checked on a worker thread and the login answers when the result comes
 * back through a loop mailbox: the loop never waits for a hash. An unknown
 * user is hashed against a configured user's hash too, so the answer takes
 * as long as for a wrong password. A failed login is answered late, longer
 * for each recent failure of that client, and after max-login-attempts in a
 * minute the client gets 429 without a hash being tried. */
#include <crypt.h>
#include <errno.h>
#include <jwt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "http/http_int.h"
#include "loop/loop.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/xalloc.h"

#define SECRET_SETTING "web.jwt-secret"
#define SECRET_BYTES   32
#define MAX_TOKEN      4096
#define MAX_CREDENTIAL 1024
#define HASHER_QUEUE   32
#define FAIL_DELAY_NS  (250 * NS_PER_MS)
#define FAIL_DELAY_MAX (2 * NS_PER_SEC)

struct hash_job {
	struct hash_job *next;
	struct http_req *r; /* loop thread only: the worker never touches it */
	char *username;
	char *password;
	char *hash;
	bool known; /* the user exists; otherwise the hash is a stand-in */
	bool match; /* set by the worker */
};

struct http_hasher {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct hash_job *head, *tail;
	int queued;
	bool quit;
	struct loop_mailbox *results;
};

bool http_secret_equal(const char *a, size_t alen, const char *b, size_t blen)
{
	unsigned char diff = alen != blen;
	size_t n = alen < blen ? alen : blen;
	for (size_t i = 0; i < n; i++)
		diff |= (unsigned char)(a[i] ^ b[i]);
	return diff == 0;
}

/* ---- the hasher thread ---- */

static void *hasher_main(void *arg)
{
	struct http_hasher *hs = arg;
	struct crypt_data *cd = xcalloc(1, sizeof *cd);

	pthread_mutex_lock(&hs->lock);
	for (;;) {
		while (hs->head == NULL && !hs->quit)
			pthread_cond_wait(&hs->wake, &hs->lock);
		if (hs->head == NULL)
			break;
		struct hash_job *job = hs->head;
		hs->head = job->next;
		if (hs->head == NULL)
			hs->tail = NULL;
		pthread_mutex_unlock(&hs->lock);

		memset(cd, 0, sizeof *cd);
		const char *out = crypt_rn(job->password, job->hash, cd, sizeof *cd);
		/* crypt_rn fails with NULL or a string starting with '*'. */
		job->match = out && out[0] != '*' &&
		             http_secret_equal(out, strlen(out), job->hash, strlen(job->hash));
		explicit_bzero(job->password, strlen(job->password));
		loop_mailbox_post(hs->results, job);

		pthread_mutex_lock(&hs->lock);
		hs->queued--;
	}
	pthread_mutex_unlock(&hs->lock);
	explicit_bzero(cd, sizeof *cd);
	free(cd);
	return NULL;
}

static void hash_job_free(struct hash_job *job)
{
	free(job->username);
	free(job->password);
	free(job->hash);
	free(job);
}

/* ---- tokens ---- */

static const struct config_user *find_user(const struct config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->web.nusers; i++)
		if (strcmp(cfg->web.users[i].username, name) == 0)
			return &cfg->web.users[i];
	return NULL;
}

char *http_token_sign(struct http *h, const char *user, const char *role, int64_t now_ns,
                      int64_t ttl_ns, int64_t *expires_ns)
{
	jwt_t *j = NULL;
	char *token = NULL;
	long now = (long)(now_ns / NS_PER_SEC), exp = (long)((now_ns + ttl_ns) / NS_PER_SEC);

	if (jwt_new(&j) != 0)
		return NULL;
	if (jwt_add_grant(j, "sub", user) == 0 && jwt_add_grant(j, "role", role) == 0 &&
	    jwt_add_grant_int(j, "iat", now) == 0 && jwt_add_grant_int(j, "exp", exp) == 0 &&
	    jwt_set_alg(j, JWT_ALG_HS256, (const unsigned char *)h->secret, (int)h->secret_len) ==
	        0)
		token = jwt_encode_str(j);
	jwt_free(j);
	*expires_ns = (int64_t)exp * NS_PER_SEC;
	return token;
}

int http_token_verify(struct http *h, const struct config *cfg, const char *token, size_t len,
                      int64_t now_ns, const char **user, const char **role)
{
	char text[MAX_TOKEN];
	jwt_t *j = NULL;
	int rc = -1;

	if (len == 0 || len >= sizeof text)
		return -1;
	memcpy(text, token, len);
	text[len] = '\0';
	if (jwt_decode(&j, text, (const unsigned char *)h->secret, (int)h->secret_len) != 0)
		return -1;
	if (jwt_get_alg(j) != JWT_ALG_HS256)
		goto out;
	errno = 0;
	long exp = jwt_get_grant_int(j, "exp");
	if (errno != 0 || exp <= now_ns / NS_PER_SEC)
		goto out;
	const char *sub = jwt_get_grant(j, "sub");
	const struct config_user *u = sub ? find_user(cfg, sub) : NULL;
	if (u == NULL)
		goto out;
	*user = u->username;
	*role = u->role ? u->role : "viewer";
	rc = 0;
out:
	jwt_free(j);
	return rc;
}

/* bearer returns the token of "Authorization: Bearer <token>", or len 0. */
static h2o_iovec_t bearer(const struct http_req *r)
{
	h2o_iovec_t v = http_find_header(r, "authorization");
	if (v.len > 7 && strncasecmp(v.base, "bearer ", 7) == 0) {
		v.base += 7;
		v.len -= 7;
		while (v.len && *v.base == ' ') {
			v.base++;
			v.len--;
		}
		return v;
	}
	return h2o_iovec_init(NULL, 0);
}

static bool unauthorized(struct http_req *r, const char *message)
{
	http_header(r, "www-authenticate", "Bearer");
	http_reply_error(r, 401, "UNAUTHORIZED", NULL, NULL, "%s", message);
	return false;
}

bool http_auth_check(struct http_req *r)
{
	const struct http_route *rt = r->route;
	const struct config_web *w = &r->cfg->web;
	bool needed = rt->is_metrics ? w->metrics_auth : !rt->is_public && w->auth_enabled;
	if (!needed)
		return true;

	h2o_iovec_t token = bearer(r);
	/* Browsers cannot set headers on a WebSocket: the token may come in
	 * the query there. */
	if (token.len == 0 && r->route->on[HTTP_GET] == http_on_ws) {
		const char *q = http_query(r, "token");
		if (q)
			token = h2o_iovec_init(q, strlen(q));
	}
	if (token.len == 0)
		return unauthorized(r,
		                    "Authentication required: send Authorization: Bearer <token> "
		                    "(from POST /api/login)");
	if (http_token_verify(r->h, r->cfg, token.base, token.len, r->now_ns, &r->user, &r->role) <
	    0)
		return unauthorized(r, "The token is invalid or expired");
	if (r->method != HTTP_GET && r->method != HTTP_HEAD && strcmp(r->role, "admin") != 0) {
		http_reply_error(r, 403, "FORBIDDEN", NULL, NULL,
		                 "User '%s' has role '%s': changes need role 'admin'", r->user,
		                 r->role);
		return false;
	}
	return true;
}

static void reply_token(struct http_req *r, const char *user, const char *role)
{
	int64_t expires;
	char *token =
	    http_token_sign(r->h, user, role, r->now_ns, r->cfg->web.token_expiry_ns, &expires);
	if (token == NULL) {
		http_reply_error(r, 500, "INTERNAL_ERROR", NULL, NULL, "Cannot sign a token");
		return;
	}
	http_reply_json(r, 200,
	                json_pack("{s:s,s:o}", "token", token, "expires", http_time(expires)));
	free(token);
}

/* ---- login ---- */

static void finish_late(struct http_req *r)
{
	http_req_finish(r);
}

/* login_failed answers 401, later the more this client failed lately. */
static void login_failed(struct http_req *r, const char *username)
{
	int fails = http_login_failed(r);
	int64_t delay = fails * FAIL_DELAY_NS;
	log_kv(LOG_WARN, "login failed", "user", username, "client", r->client, NULL);
	http_reply_error(r, 401, "UNAUTHORIZED", NULL, NULL, "Invalid username or password");
	http_req_defer(r, r->now_ns + (delay < FAIL_DELAY_MAX ? delay : FAIL_DELAY_MAX),
	               finish_late);
}

static void on_hashed(void *msg, void *arg)
{
	struct hash_job *job = msg;
	struct http_req *r = job->r;
	(void)arg;

	/* The config may have been reloaded while the hash ran. */
	r->cfg = http_config_now(r->h);
	r->now_ns = clock_now_ns();
	const struct config_user *u = find_user(r->cfg, job->username);
	if (job->match && job->known && u) {
		log_kv(LOG_INFO, "login", "user", u->username, "client", r->client, NULL);
		reply_token(r, u->username, u->role ? u->role : "viewer");
		http_req_finish(r);
	} else {
		login_failed(r, job->username);
	}
	hash_job_free(job);
}

static const char *string_field(json_t *body, const char *key)
{
	json_t *v = json_object_get(body, key);
	const char *s = json_is_string(v) ? json_string_value(v) : NULL;
	return s && *s && strlen(s) <= MAX_CREDENTIAL ? s : NULL;
}

void http_on_login(struct http_req *r)
{
	struct http_hasher *hs = r->h->hasher;
	json_t *body = http_body_object(r);
	if (body == NULL)
		return;
	const char *username = string_field(body, "username");
	const char *password = string_field(body, "password");
	if (username == NULL || password == NULL) {
		http_reply_error(r, 400, "VALIDATION_ERROR", NULL, NULL,
		                 "username and password must be non-empty strings");
		goto out;
	}
	if (http_login_blocked(r)) {
		http_header(r, "retry-after", "60");
		http_reply_error(r, 429, "RATE_LIMITED", NULL, NULL,
		                 "Too many failed logins from this client; try again in a minute");
		goto out;
	}
	const struct config_user *u = find_user(r->cfg, username);
	const char *hash = u                    ? u->password_hash
	                   : r->cfg->web.nusers ? r->cfg->web.users[0].password_hash
	                                        : NULL;
	if (hash == NULL) {
		/* No user at all: there is nothing whose existence to hide. */
		r->pending = true;
		login_failed(r, username);
		goto out;
	}
	pthread_mutex_lock(&hs->lock);
	bool full = hs->queued >= HASHER_QUEUE;
	if (!full) {
		struct hash_job *job = xcalloc(1, sizeof *job);
		job->r = r;
		job->username = xstrdup(username);
		job->password = xstrdup(password);
		job->hash = xstrdup(hash);
		job->known = u != NULL;
		if (hs->tail)
			hs->tail->next = job;
		else
			hs->head = job;
		hs->tail = job;
		hs->queued++;
		pthread_cond_signal(&hs->wake);
	}
	pthread_mutex_unlock(&hs->lock);
	if (full) {
		http_header(r, "retry-after", "1");
		http_reply_error(r, 429, "RATE_LIMITED", NULL, NULL,
		                 "Too many logins in progress; try again in a second");
	} else {
		r->pending = true;
	}
out:
	/* The body held the password: do not leave it in freed memory. */
	if (json_is_string(json_object_get(body, "password")))
		explicit_bzero((char *)json_string_value(json_object_get(body, "password")),
		               json_string_length(json_object_get(body, "password")));
	json_decref(body);
}

void http_on_refresh(struct http_req *r)
{
	h2o_iovec_t token = bearer(r);
	const char *user, *role;
	if (token.len == 0) {
		unauthorized(r, "POST /api/refresh needs Authorization: Bearer <token>");
		return;
	}
	if (http_token_verify(r->h, r->cfg, token.base, token.len, r->now_ns, &user, &role) < 0) {
		unauthorized(r, "The token is invalid or expired");
		return;
	}
	reply_token(r, user, role);
}

/* ---- who is asking ---- */

bool http_can_write(const struct http_req *r)
{
	if (!r->cfg->web.auth_enabled)
		return true;
	return r->role && strcmp(r->role, "admin") == 0;
}

/* GET /api/session tells the UI what the request's token (or its lack)
 * allows, so it shows only the controls that work. It is public: a missing,
 * invalid or expired token is an anonymous session, not a 401. */
void http_on_session(struct http_req *r)
{
	const struct config_web *w = &r->cfg->web;
	h2o_iovec_t token = bearer(r);
	if (w->auth_enabled && token.len &&
	    http_token_verify(r->h, r->cfg, token.base, token.len, r->now_ns, &r->user, &r->role) <
	        0) {
		r->user = NULL;
		r->role = NULL;
	}
	http_reply_json(r, 200,
	                json_pack("{s:b,s:o,s:o,s:b}", "authEnabled", w->auth_enabled, "user",
	                          r->user ? http_string(r->user) : json_null(), "role",
	                          r->role ? json_string(r->role) : json_null(), "canWrite",
	                          http_can_write(r)));
}

/* ---- set-up ---- */

/* load_secret picks the signing key: the config's (which the daemon fills
 * from --web-secret-key, OFELIA_WEB_SECRET_KEY or OFELIA_JWT_SECRET), else
 * the one generated at the first start and kept in the store, so tokens
 * survive restarts. */
static int load_secret(struct http *h, char *err, size_t errlen)
{
	const struct config *cfg = http_config_now(h);
	char *kept = NULL;

	if (cfg->web.secret && *cfg->web.secret) {
		h->secret = xstrdup(cfg->web.secret);
		h->secret_len = strlen(h->secret);
		if (h->secret_len < 16)
			log_kv(LOG_WARN, "the web secret key is short; use 32 random bytes or more",
			       NULL);
		return 0;
	}
	if (store_setting_get(h->deps.store, SECRET_SETTING, &kept) < 0) {
		snprintf(err, errlen, "cannot read the token key: %s", store_errmsg(h->deps.store));
		return -1;
	}
	if (kept == NULL) {
		unsigned char raw[SECRET_BYTES];
		if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw) {
			snprintf(err, errlen, "getrandom: %s", strerror(errno));
			return -1;
		}
		kept = xmalloc(2 * SECRET_BYTES + 1);
		for (int i = 0; i < SECRET_BYTES; i++)
			snprintf(kept + 2 * i, 3, "%02x", raw[i]);
		explicit_bzero(raw, sizeof raw);
		if (store_setting_put(h->deps.store, SECRET_SETTING, kept) < 0) {
			snprintf(err, errlen, "cannot keep the token key: %s",
			         store_errmsg(h->deps.store));
			free(kept);
			return -1;
		}
		log_kv(LOG_INFO, "generated the token signing key (kept in the database)", NULL);
	}
	h->secret = kept;
	h->secret_len = strlen(kept);
	return 0;
}

int http_auth_init(struct http *h, char *err, size_t errlen)
{
	if (load_secret(h, err, errlen) < 0)
		return -1;
	struct http_hasher *hs = xcalloc(1, sizeof *hs);
	pthread_mutex_init(&hs->lock, NULL);
	pthread_cond_init(&hs->wake, NULL);
	hs->results = loop_mailbox_new(h->deps.loop, on_hashed, h);
	if (pthread_create(&hs->thread, NULL, hasher_main, hs) != 0) {
		snprintf(err, errlen, "cannot start the password hasher thread");
		loop_mailbox_free(hs->results);
		free(hs);
		return -1;
	}
	h->hasher = hs;
	return 0;
}

void http_auth_fini(struct http *h)
{
	struct http_hasher *hs = h->hasher;
	if (hs) {
		/* The worker finishes what is queued; the mailbox then delivers
		 * the results, which answers those logins. */
		pthread_mutex_lock(&hs->lock);
		hs->quit = true;
		pthread_cond_signal(&hs->wake);
		pthread_mutex_unlock(&hs->lock);
		pthread_join(hs->thread, NULL);
		loop_mailbox_free(hs->results);
		pthread_mutex_destroy(&hs->lock);
		pthread_cond_destroy(&hs->wake);
		free(hs);
		h->hasher = NULL;
	}
	if (h->secret)
		explicit_bzero(h->secret, h->secret_len);
	free(h->secret);
	h->secret = NULL;
}
