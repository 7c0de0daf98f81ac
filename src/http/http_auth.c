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
 * back through a loop mailbox: the loop never waits for a hash. Every login
 * hashes the password once per cost among the configured users (bcrypt 12,
 * yescrypt, ...), the named user's own hash for its cost, so a bcrypt user,
 * a yescrypt user and an unknown name take the same time. An attempt counts
 * against the client when it starts (refunded when it succeeds): after
 * max-login-attempts in a minute the client gets 429 without a hash being
 * tried, parallel attempts included. A failed login is answered late,
 * longer for each recent attempt of that client. */
#include <crypt.h>
#include <errno.h>
#include <jwt.h>
#include <limits.h>
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
/* Clock skew forgiven on iat, nbf and auth_time. */
#define TOKEN_LEEWAY_S 30

/* One login for the worker: the password against one hash of each cost
 * among the configured users (the user's own for its kind), so every login
 * takes the same time whoever it names. */
struct hash_job {
	struct hash_job *next;
	struct http_req *r; /* loop thread only: the worker never touches it */
	int64_t attempt_ns; /* when the attempt was counted */
	char *username;
	char *password;
	struct strv hashes;
	int own;    /* index of the user's hash in hashes; -1: no such user */
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

		for (size_t i = 0; i < job->hashes.n; i++) {
			const char *hash = job->hashes.v[i];
			memset(cd, 0, sizeof *cd);
			const char *out = crypt_rn(job->password, hash, cd, sizeof *cd);
			/* crypt_rn fails with NULL or a string starting with '*'. */
			bool match = out && out[0] != '*' &&
			             http_secret_equal(out, strlen(out), hash, strlen(hash));
			if ((int)i == job->own)
				job->match = match;
		}
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
	strv_free(&job->hashes);
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

/* session_end is when a session begun at auth_time must log in again;
 * INT64_MAX without a max-session-age. */
static int64_t session_end(const struct config *cfg, int64_t auth_time_ns)
{
	int64_t age = cfg->web.max_session_age_ns;
	return age > 0 && auth_time_ns <= INT64_MAX - age ? auth_time_ns + age : INT64_MAX;
}

char *http_token_sign(struct http *h, const struct config *cfg, const struct http_claims *c,
                      int64_t now_ns, int64_t *expires_ns)
{
	jwt_t *j = NULL;
	char *token = NULL;
	int64_t ttl = cfg->web.token_expiry_ns, end = session_end(cfg, c->auth_time_ns);
	int64_t exp_ns = now_ns <= end - ttl ? now_ns + ttl : end;
	long now = (long)(now_ns / NS_PER_SEC), exp = (long)(exp_ns / NS_PER_SEC);

	if (exp <= now || jwt_new(&j) != 0)
		return NULL;
	if (jwt_add_grant(j, "sub", c->user) == 0 && jwt_add_grant(j, "role", c->role) == 0 &&
	    jwt_add_grant(j, "sid", c->sid) == 0 &&
	    jwt_add_grant_int(j, "auth_time", (long)(c->auth_time_ns / NS_PER_SEC)) == 0 &&
	    jwt_add_grant_int(j, "iat", now) == 0 && jwt_add_grant_int(j, "exp", exp) == 0 &&
	    jwt_set_alg(j, JWT_ALG_HS256, (const unsigned char *)h->secret, (int)h->secret_len) ==
	        0)
		token = jwt_encode_str(j);
	jwt_free(j);
	*expires_ns = (int64_t)exp * NS_PER_SEC;
	return token;
}

/* int_claim reads a whole-number claim of claims: 1 when there, 0 when
 * absent, -1 when it is something else ("123", 1.5). */
static int int_claim(json_t *claims, const char *name, long *out)
{
	json_t *v = json_object_get(claims, name);
	if (v == NULL)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > LONG_MAX)
		return -1;
	*out = (long)json_integer_value(v);
	return 1;
}

int http_token_verify(struct http *h, const struct config *cfg, const char *token, size_t len,
                      int64_t now_ns, struct http_claims *out)
{
	char text[MAX_TOKEN], *crit = NULL, *grants = NULL;
	jwt_t *j = NULL;
	json_t *claims = NULL;
	long now = (long)(now_ns / NS_PER_SEC), exp, iat, nbf = 0, auth_time;
	int rc = -1;

	if (len == 0 || len >= sizeof text)
		return -1;
	memcpy(text, token, len);
	text[len] = '\0';
	if (jwt_decode(&j, text, (const unsigned char *)h->secret, (int)h->secret_len) != 0)
		return -1;
	/* RFC 7515 4.1.11: a "crit" header names extensions the reader must
	 * understand; this one understands none. */
	crit = jwt_get_headers_json(j, "crit");
	if (jwt_get_alg(j) != JWT_ALG_HS256 || crit != NULL)
		goto out;
	/* libjwt reads a claim of another type as a number: read them here. */
	grants = jwt_get_grants_json(j, NULL);
	claims = grants ? json_loads(grants, 0, NULL) : NULL;
	/* exp has to lie ahead; iat and nbf (optional) not, which they would
	 * in a token made to outlive its expiry. auth_time is the session's
	 * start, kept across refreshes (iat in tokens older than it). */
	if (int_claim(claims, "exp", &exp) != 1 || exp <= now ||
	    int_claim(claims, "iat", &iat) != 1 || iat > now + TOKEN_LEEWAY_S ||
	    int_claim(claims, "nbf", &nbf) < 0 || nbf > now + TOKEN_LEEWAY_S)
		goto out;
	switch (int_claim(claims, "auth_time", &auth_time)) {
	case 0:
		auth_time = iat;
		break;
	case -1:
		goto out;
	}
	if (auth_time > now + TOKEN_LEEWAY_S ||
	    session_end(cfg, (int64_t)auth_time * NS_PER_SEC) <= now_ns)
		goto out;
	const char *sub = jwt_get_grant(j, "sub");
	const struct config_user *u = sub ? find_user(cfg, sub) : NULL;
	if (u == NULL)
		goto out;
	const char *sid = jwt_get_grant(j, "sid");
	out->user = u->username;
	out->role = u->role ? u->role : "viewer";
	out->auth_time_ns = (int64_t)auth_time * NS_PER_SEC;
	snprintf(out->sid, sizeof out->sid, "%s", sid && strlen(sid) < sizeof out->sid ? sid : "");
	rc = 0;
out:
	json_decref(claims);
	free(grants);
	free(crit);
	jwt_free(j);
	return rc;
}

/* verify checks a token and, when it is good, makes its user and role the
 * request's. */
static bool verify(struct http_req *r, h2o_iovec_t token, struct http_claims *c)
{
	if (http_token_verify(r->h, r->cfg, token.base, token.len, r->now_ns, c) < 0)
		return false;
	r->user = c->user;
	r->role = c->role;
	return true;
}

/* new_session_id writes 32 random hex digits: the sid a login starts and
 * refreshes keep. */
static void new_session_id(char sid[static 33])
{
	unsigned char raw[16];
	if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw)
		memset(raw, 0, sizeof raw); /* an id for logs only; the token is signed */
	for (size_t i = 0; i < sizeof raw; i++)
		snprintf(sid + 2 * i, 3, "%02x", raw[i]);
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
	bool change = r->method != HTTP_GET && r->method != HTTP_HEAD;
	if (!needed) {
		/* Without auth anything that reaches the port (a local user, a
		 * web page through the browser) would be a shell: read-only
		 * unless the operator says otherwise. */
		if (change && !rt->is_public && !w->auth_enabled && !w->insecure) {
			http_reply_error(r, 403, "FORBIDDEN", NULL, NULL,
			                 "The API is read-only: changes need web.auth (a login "
			                 "with role admin) or web.insecure: true (anyone who "
			                 "reaches the API may change jobs and run commands)");
			return false;
		}
		return true;
	}

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
	struct http_claims claims;
	if (!verify(r, token, &claims))
		return unauthorized(r, "The token is invalid or expired");
	if (change && !http_can_write(r)) {
		http_reply_error(r, 403, "FORBIDDEN", NULL, NULL,
		                 "User '%s' has role '%s': changes need role 'admin'", r->user,
		                 r->role);
		return false;
	}
	return true;
}

/* reply_token answers a new token of the session c; a session past
 * max-session-age gets none. */
static void reply_token(struct http_req *r, const struct http_claims *c)
{
	int64_t expires;
	char *token = http_token_sign(r->h, r->cfg, c, r->now_ns, &expires);
	if (token == NULL) {
		unauthorized(r, "The session has reached web.auth.max-session-age: log in again");
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

/* login_failed answers 401, later the more this client tried lately. */
static void login_failed(struct http_req *r, const char *username)
{
	int64_t delay = http_login_recent(r) * FAIL_DELAY_NS;
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
	if (job->match && u) {
		http_login_refund(r, job->attempt_ns);
		struct http_claims c = {u->username, u->role ? u->role : "viewer", "", r->now_ns};
		new_session_id(c.sid);
		log_kv(LOG_INFO, "login", "user", u->username, "client", r->client, "session",
		       c.sid, NULL);
		reply_token(r, &c);
		http_req_finish(r);
	} else {
		login_failed(r, job->username);
	}
	hash_job_free(job);
}

/* setting_len is how much of a crypt(3) hash sets its cost: "$2b$12$" for
 * bcrypt, what comes before the salt for the others ("$y$j9T$",
 * "$6$rounds=9999$"). */
static size_t setting_len(const char *hash)
{
	if (strncmp(hash, "$2", 2) == 0 && strlen(hash) > 7)
		return 7;
	const char *last = strrchr(hash, '$');
	const char *salt = last;
	while (salt && salt > hash && salt[-1] != '$')
		salt--;
	return salt && salt > hash ? (size_t)(salt - hash) : strlen(hash);
}

/* login_hashes fills hashes with one hash per cost among the configured
 * users, username's own for its cost; returns the index of that one, or -1
 * when no user has that name. Hashing against all of them, every login
 * costs the same: a bcrypt user, a yescrypt user and no user at all. */
static int login_hashes(const struct config *cfg, const char *username, struct strv *hashes)
{
	int own = -1;
	for (size_t i = 0; i < cfg->web.nusers; i++) {
		const struct config_user *u = &cfg->web.users[i];
		size_t len = setting_len(u->password_hash), k = 0;
		while (k < hashes->n && !(setting_len(hashes->v[k]) == len &&
		                          strncmp(hashes->v[k], u->password_hash, len) == 0))
			k++;
		bool mine = strcmp(u->username, username) == 0;
		if (k == hashes->n) {
			strv_push(hashes, u->password_hash);
		} else if (mine) {
			free(hashes->v[k]);
			hashes->v[k] = xstrdup(u->password_hash);
		}
		if (mine)
			own = (int)k;
	}
	return own;
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
	/* Counted now, not when the hash says no: parallel attempts would
	 * all pass a check of past failures. */
	if (!http_login_begin(r)) {
		http_header(r, "retry-after", "60");
		http_reply_error(r, 429, "RATE_LIMITED", NULL, NULL,
		                 "Too many logins from this client; try again in a minute");
		goto out;
	}
	if (r->cfg->web.nusers == 0) {
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
		job->attempt_ns = r->now_ns;
		job->username = xstrdup(username);
		job->password = xstrdup(password);
		job->own = login_hashes(r->cfg, username, &job->hashes);
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
		http_login_refund(r, r->now_ns); /* no password was tried */
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
	struct http_claims c;
	if (token.len == 0) {
		unauthorized(r, "POST /api/refresh needs Authorization: Bearer <token>");
		return;
	}
	if (!verify(r, token, &c)) {
		unauthorized(r, "The token is invalid or expired");
		return;
	}
	/* The new token keeps the session (sid, auth_time): refreshing never
	 * takes it past max-session-age. */
	reply_token(r, &c);
}

/* ---- who is asking ---- */

bool http_can_write(const struct http_req *r)
{
	if (!r->cfg->web.auth_enabled)
		return r->cfg->web.insecure;
	return r->role && strcmp(r->role, "admin") == 0;
}

/* GET /api/session tells the UI what the request's token (or its lack)
 * allows, so it shows only the controls that work. It is public: a missing,
 * invalid or expired token is an anonymous session, not a 401. */
void http_on_session(struct http_req *r)
{
	const struct config_web *w = &r->cfg->web;
	h2o_iovec_t token = bearer(r);
	struct http_claims c;
	if (w->auth_enabled && token.len)
		verify(r, token, &c);
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
