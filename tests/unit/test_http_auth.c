/* The pure parts of the http module: token signing and the checks libjwt
 * 1.10 leaves to us (expiry, algorithm, a user still configured), the
 * constant-time compare, the token bucket and the CIDR matching of trusted
 * proxies. Hostile tokens are made with libjwt itself, as an attacker
 * would make them. */
#include <string.h>

#include <criterion/criterion.h>
#include <jwt.h>

#include "http/http_int.h"
#include "util/clock.h"

#define NOW (1767225600LL * NS_PER_SEC) /* 2026-01-01T00:00:00Z */
#define KEY "unit-secret-0123456789abcdef"
#define EXP 1767229200L /* NOW + 1h, in seconds */

static struct config_user users[] = {
    {"admin", "$y$unused", "admin"},
    {"viewer", "$y$unused", "viewer"},
};

static struct http h;
static struct config cfg;

static void setup(void)
{
	memset(&h, 0, sizeof h);
	memset(&cfg, 0, sizeof cfg);
	h.secret = KEY;
	h.secret_len = strlen(KEY);
	cfg.web.users = users;
	cfg.web.nusers = 2;
	cfg.web.token_expiry_ns = 3600 * NS_PER_SEC;
	cfg.web.max_session_age_ns = 7 * 24 * 3600 * NS_PER_SEC;
}

TestSuite(http_auth, .init = setup);

/* forge_with returns a token (free it) for sub with the given exp (0: none,
 * -1: as a string) and iat, and the claims and headers of the JSON texts
 * grants and headers (NULL: none), signed with alg and key. */
static char *forge_with(const char *sub, const char *role, long exp, long iat, const char *grants,
                        const char *headers, jwt_alg_t alg, const char *key)
{
	jwt_t *j;
	jwt_new(&j);
	jwt_add_grant(j, "sub", sub);
	jwt_add_grant(j, "role", role);
	if (iat)
		jwt_add_grant_int(j, "iat", iat);
	if (grants)
		cr_assert_eq(jwt_add_grants_json(j, grants), 0, "%s", grants);
	if (headers)
		cr_assert_eq(jwt_add_headers_json(j, headers), 0, "%s", headers);
	if (exp > 0)
		jwt_add_grant_int(j, "exp", exp);
	else if (exp < 0)
		jwt_add_grant(j, "exp", "1767229200");
	jwt_set_alg(j, alg, alg == JWT_ALG_NONE ? NULL : (const unsigned char *)key,
	            alg == JWT_ALG_NONE ? 0 : (int)strlen(key));
	char *tok = jwt_encode_str(j);
	jwt_free(j);
	return tok;
}

static char *forge(const char *sub, const char *role, long exp, jwt_alg_t alg, const char *key)
{
	return forge_with(sub, role, exp, NOW / NS_PER_SEC, NULL, NULL, alg, key);
}

static int verify_at(const char *token, int64_t now, const char **user, const char **role)
{
	struct http_claims c;
	int rc = http_token_verify(&h, &cfg, token, strlen(token), now, &c);
	*user = rc == 0 ? c.user : NULL;
	*role = rc == 0 ? c.role : NULL;
	return rc;
}

static int verify(const char *token, const char **user, const char **role)
{
	return verify_at(token, NOW, user, role);
}

static struct http_claims session(const char *user, int64_t auth_time)
{
	struct http_claims c = {user, user, "0123456789abcdef0123456789abcdef", auth_time};
	return c;
}

Test(http_auth, sign_then_verify)
{
	int64_t exp;
	const char *user, *role;
	struct http_claims c = session("admin", NOW);
	char *tok = http_token_sign(&h, &cfg, &c, NOW, &exp);
	cr_assert_not_null(tok);
	cr_assert_eq(exp, NOW + 3600 * NS_PER_SEC);
	cr_assert_eq(verify(tok, &user, &role), 0);
	cr_assert_str_eq(user, "admin");
	cr_assert_str_eq(role, "admin");
	/* an hour later it has expired */
	cr_assert_eq(verify_at(tok, exp, &user, &role), -1);
	free(tok);
}

Test(http_auth, role_comes_from_the_config)
{
	const char *user, *role;
	char *tok = forge("viewer", "admin", EXP, JWT_ALG_HS256, KEY);
	cr_assert_eq(verify(tok, &user, &role), 0);
	cr_assert_str_eq(role, "viewer");
	free(tok);
}

static void assert_rejected(char *tok, const char *why)
{
	const char *user, *role;
	cr_assert_not_null(tok, "%s", why);
	cr_assert_eq(verify(tok, &user, &role), -1, "%s", why);
	free(tok);
}

Test(http_auth, rejects_what_libjwt_lets_through)
{
	const char *user, *role;
	assert_rejected(forge("admin", "admin", EXP, JWT_ALG_HS512, KEY), "HS512, right key");
	assert_rejected(forge("admin", "admin", EXP, JWT_ALG_NONE, KEY), "alg none");
	assert_rejected(forge("admin", "admin", EXP, JWT_ALG_HS256, "another-key-0123456789"),
	                "another key");
	assert_rejected(forge("admin", "admin", NOW / NS_PER_SEC - 1, JWT_ALG_HS256, KEY),
	                "expired");
	assert_rejected(forge("admin", "admin", 0, JWT_ALG_HS256, KEY), "no exp");
	assert_rejected(forge("admin", "admin", -1, JWT_ALG_HS256, KEY), "exp as a string");
	assert_rejected(forge("eve", "admin", EXP, JWT_ALG_HS256, KEY), "unknown user");
	cr_assert_eq(verify("", &user, &role), -1);
	cr_assert_eq(verify("a.b.c", &user, &role), -1);
}

Test(http_auth, rejects_tokens_from_the_future_and_crit)
{
	const long now = NOW / NS_PER_SEC;
	const char *user, *role;
	/* within the leeway, a clock a little ahead is fine */
	char *tok = forge_with("admin", "admin", EXP, now + 20, "{\"nbf\": 1767225620}", NULL,
	                       JWT_ALG_HS256, KEY);
	cr_expect_eq(verify(tok, &user, &role), 0);
	free(tok);
	assert_rejected(
	    forge_with("admin", "admin", EXP, now + 3600, NULL, NULL, JWT_ALG_HS256, KEY),
	    "iat an hour ahead");
	assert_rejected(forge_with("admin", "admin", EXP, now, "{\"nbf\": 1767229000}", NULL,
	                           JWT_ALG_HS256, KEY),
	                "nbf ahead");
	assert_rejected(
	    forge_with("admin", "admin", EXP, now, "{\"nbf\": \"0\"}", NULL, JWT_ALG_HS256, KEY),
	    "nbf as a string");
	assert_rejected(forge_with("admin", "admin", EXP, 0, NULL, NULL, JWT_ALG_HS256, KEY),
	                "no iat");
	assert_rejected(forge_with("admin", "admin", EXP, now, NULL, "{\"crit\": [\"exp\"]}",
	                           JWT_ALG_HS256, KEY),
	                "crit");
	assert_rejected(
	    forge_with("admin", "admin", EXP, now, NULL, "{\"crit\": []}", JWT_ALG_HS256, KEY),
	    "empty crit");
	assert_rejected(forge_with("admin", "admin", EXP, now, "{\"auth_time\": 1767229000}", NULL,
	                           JWT_ALG_HS256, KEY),
	                "auth_time ahead");
	assert_rejected(
	    forge_with("admin", "admin", EXP, now, "{\"auth_time\": -5}", NULL, JWT_ALG_HS256, KEY),
	    "auth_time negative");
	/* other headers are fine */
	tok = forge_with("admin", "admin", EXP, now, NULL, "{\"kid\": \"k1\"}", JWT_ALG_HS256, KEY);
	cr_expect_eq(verify(tok, &user, &role), 0);
	free(tok);
}

Test(http_auth, sessions_end_after_max_age)
{
	const char *user, *role;
	int64_t exp, day = 24 * 3600 * NS_PER_SEC, login = NOW - 7 * day + 1800 * NS_PER_SEC;
	/* a session begun 7 days less half an hour ago gets a token for the
	 * half hour left, not for the hour of token-expiry */
	struct http_claims c = session("admin", login);
	char *tok = http_token_sign(&h, &cfg, &c, NOW, &exp);
	cr_assert_not_null(tok);
	cr_expect_eq(exp, login + 7 * day);
	cr_expect_eq(verify(tok, &user, &role), 0);
	struct http_claims back;
	cr_assert_eq(http_token_verify(&h, &cfg, tok, strlen(tok), NOW, &back), 0);
	cr_expect_eq(back.auth_time_ns, login);
	cr_expect_str_eq(back.sid, c.sid);
	cr_expect_eq(verify_at(tok, login + 7 * day, &user, &role), -1);
	free(tok);
	/* past it: nothing to sign, and an old long token is refused */
	cr_expect_null(http_token_sign(&h, &cfg, &c, login + 7 * day, &exp));
	const long old = (long)((NOW - 8 * day) / NS_PER_SEC);
	assert_rejected(forge_with("admin", "admin", EXP, old, NULL, NULL, JWT_ALG_HS256, KEY),
	                "iat 8 days ago, no auth_time");
	tok = forge_with("admin", "admin", EXP, old, NULL, NULL, JWT_ALG_HS256, KEY);
	cfg.web.max_session_age_ns = 0; /* no limit */
	cr_expect_eq(verify(tok, &user, &role), 0);
	free(tok);
}

Test(http_auth, secret_equal)
{
	cr_assert(http_secret_equal("abc", 3, "abc", 3));
	cr_assert_not(http_secret_equal("abc", 3, "abd", 3));
	cr_assert_not(http_secret_equal("abc", 3, "abcd", 4));
	cr_assert(http_secret_equal("", 0, "", 0));
}

Test(http_limits, bucket)
{
	double tokens = 10;
	int64_t at = NOW;
	int taken = 0;
	/* a burst of 10, then nothing until time passes */
	while (http_bucket_take(&tokens, &at, NOW, 100, 10))
		taken++;
	cr_assert_eq(taken, 10);
	/* 100 a minute: one every 0.6 s */
	cr_assert_not(http_bucket_take(&tokens, &at, NOW + 500 * NS_PER_MS, 100, 10));
	cr_assert(http_bucket_take(&tokens, &at, NOW + 700 * NS_PER_MS, 100, 10));
	/* never more than the burst, however long the pause */
	taken = 0;
	while (http_bucket_take(&tokens, &at, NOW + 3600 * NS_PER_SEC, 100, 10))
		taken++;
	cr_assert_eq(taken, 10);
}

Test(http_limits, cidr)
{
	struct http_cidr c;
	cr_assert_eq(http_cidr_parse("10.0.0.0/8", &c), 0);
	cr_assert(http_cidr_match(&c, "10.200.3.4"));
	cr_assert_not(http_cidr_match(&c, "11.0.0.1"));
	cr_assert_not(http_cidr_match(&c, "::1"));
	cr_assert_eq(http_cidr_parse("192.168.1.7", &c), 0);
	cr_assert(http_cidr_match(&c, "192.168.1.7"));
	cr_assert_not(http_cidr_match(&c, "192.168.1.8"));
	cr_assert_eq(http_cidr_parse("172.16.0.0/12", &c), 0);
	cr_assert(http_cidr_match(&c, "172.31.255.255"));
	cr_assert_not(http_cidr_match(&c, "172.32.0.0"));
	cr_assert_eq(http_cidr_parse("fd00::/8", &c), 0);
	cr_assert(http_cidr_match(&c, "fd12:3456::1"));
	cr_assert_not(http_cidr_match(&c, "fe80::1"));
	cr_assert_eq(http_cidr_parse("0.0.0.0/0", &c), 0);
	cr_assert(http_cidr_match(&c, "8.8.8.8"));
	cr_assert_eq(http_cidr_parse("10.0.0.0/33", &c), -1);
	cr_assert_eq(http_cidr_parse("10.0.0.0/", &c), -1);
	cr_assert_eq(http_cidr_parse("nonsense", &c), -1);
	cr_assert_eq(http_cidr_parse("", &c), -1);
}

Test(http_limits, host_names)
{
	struct strv allowed = STRV_INIT;
#define OK(name) cr_expect(http_host_name_allowed(&allowed, name, strlen(name)), "%s", name)
#define NO(name) cr_expect_not(http_host_name_allowed(&allowed, name, strlen(name)), "%s", name)
	/* IP literals cannot be rebound; localhost never leaves the host */
	OK("127.0.0.1");
	OK("10.1.2.3");
	OK("::1");
	OK("localhost");
	OK("LOCALHOST.");
	OK("app.localhost");
	NO("attacker.example");
	NO("localhost.attacker.example");
	NO("127.0.0.1.nip.io");
	NO("");
	NO(".");
	strv_push(&allowed, "ofelia.example");
	strv_push(&allowed, "*.lan");
	OK("ofelia.example");
	OK("Ofelia.Example.");
	OK("box.lan");
	NO("lan");
	NO("ofelia.example.attacker.example");
	NO("xofelia.example");
	strv_push(&allowed, "*");
	OK("anything.example");
	strv_free(&allowed);
#undef OK
#undef NO
}

Test(http_conn, head_status)
{
	static char big[H2O_MAX_REQLEN + 100];
#define STATUS(text) http_head_status(text, sizeof text - 1, 0)
	cr_expect_eq(STATUS("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), 200);
	cr_expect_eq(STATUS("POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"), 200);
	cr_expect_eq(STATUS("GET / HTTP/1.1\r\nHost: x\r\n"), 0); /* more to come */
	cr_expect_eq(STATUS("GET /"), 0);
	cr_expect_eq(STATUS(""), 0);
	cr_expect_eq(STATUS("\r\n"), 0); /* h2o closes without a word */
	cr_expect_eq(STATUS("GET /a\0b HTTP/1.1\r\n\r\n"), 400);
	cr_expect_eq(STATUS("GET /a\x7f HTTP/1.1\r\n\r\n"), 400);
	cr_expect_eq(STATUS("GET /\r\n\r\n"), 400); /* HTTP/0.9 */
	cr_expect_eq(STATUS("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), 400);
	cr_expect_eq(STATUS("GET / HTTP/1.1\r\nno colon here\r\n\r\n"), 400);
#undef STATUS
	/* a request line longer than h2o reads */
	memcpy(big, "GET /", 5);
	memset(big + 5, 'a', sizeof big - 5);
	cr_expect_eq(http_head_status(big, sizeof big, 0), 414);
	cr_expect_eq(http_head_status(big, H2O_MAX_REQLEN - 1, 0), 0);
	/* a header longer than that */
	memcpy(big, "GET / HTTP/1.1\r\nx: ", 19);
	cr_expect_eq(http_head_status(big, sizeof big, 0), 431);
	/* more headers than h2o takes */
	size_t n = (size_t)sprintf(big, "GET / HTTP/1.1\r\n");
	for (int i = 0; i < 150; i++)
		n += (size_t)sprintf(big + n, "h%d: v\r\n", i);
	n += (size_t)sprintf(big + n, "\r\n");
	cr_expect_eq(http_head_status(big, n, 0), 431);
}
