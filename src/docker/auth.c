/* Registry credentials for pulls, found as the Docker CLI (and Ofelia,
 * through go-dockerclient) finds them: config.json in $DOCKER_CONFIG, else
 * ~/.docker. For the image's registry (Docker Hub when the first part of
 * the name has no '.' or ':' and is not localhost), in this order:
 *
 * - "credHelpers": {registry: NAME}: run docker-credential-NAME get;
 * - "auths": {registry: {auth: base64(user:password)}} (or username and
 *   password, or identitytoken), under any of the spellings the CLI writes;
 * - "credsStore": NAME: run docker-credential-NAME get.
 *
 * A helper gets the registry on stdin and answers {"Username", "Secret"}; a
 * Username of "<token>" makes the secret an identity token. The result is
 * the engine's X-Registry-Auth header: base64url of
 * {"username","password","serveraddress"} or {"identitytoken",...}. The file
 * is read at each pull, so changed credentials apply without a restart. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "docker/internal.h"
#include "util/xalloc.h"

#define DOCKER_HUB      "https://index.docker.io/v1/"
#define HELPER_TIMEOUT  10000 /* ms */
#define HELPER_MAX_READ 65536

extern char **environ;

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* base64url returns the URL-safe encoding of s (with padding, as the CLI
 * writes it). */
static char *base64url(const char *s)
{
	size_t n = strlen(s);
	char *out = xmalloc(4 * ((n + 2) / 3) + 1), *o = out;
	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned char)s[i] << 16;
		if (i + 1 < n)
			v |= (unsigned char)s[i + 1] << 8;
		if (i + 2 < n)
			v |= (unsigned char)s[i + 2];
		*o++ = b64[v >> 18 & 63];
		*o++ = b64[v >> 12 & 63];
		*o++ = i + 1 < n ? b64[v >> 6 & 63] : '=';
		*o++ = i + 2 < n ? b64[v & 63] : '=';
	}
	*o = '\0';
	for (o = out; *o; o++)
		*o = *o == '+' ? '-' : *o == '/' ? '_' : *o;
	return out;
}

/* base64_decode decodes standard base64 (padding optional); NULL when s is
 * not base64. */
static char *base64_decode(const char *s)
{
	size_t n = strlen(s);
	char *out = xmalloc(n + 1), *o = out;
	unsigned v = 0;
	int bits = 0;
	for (size_t i = 0; i < n && s[i] != '='; i++) {
		const char *p = strchr(b64, s[i]);
		if (p == NULL || s[i] == '\0') {
			free(out);
			return NULL;
		}
		v = v << 6 | (unsigned)(p - b64);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			*o++ = (char)(v >> bits & 0xff);
		}
	}
	*o = '\0';
	return out;
}

/* registry_of names the registry of an image reference as the CLI does. */
static char *registry_of(const char *image)
{
	const char *slash = strchr(image, '/');
	if (slash == NULL)
		return xstrdup(DOCKER_HUB);
	size_t n = (size_t)(slash - image);
	if (memchr(image, '.', n) || memchr(image, ':', n) ||
	    (n == 9 && strncmp(image, "localhost", 9) == 0)) {
		if (n == 9 + 1 + 3 && strncmp(image, "docker.io", 9) == 0)
			return xstrdup(DOCKER_HUB);
		return xstrndup(image, n);
	}
	return xstrdup(DOCKER_HUB);
}

static json_t *load_config(void)
{
	const char *dir = getenv("DOCKER_CONFIG");
	const char *home = getenv("HOME");
	char *path = dir && *dir ? xasprintf("%s/config.json", dir)
	             : home      ? xasprintf("%s/.docker/config.json", home)
	                         : NULL;
	json_t *j = path ? json_load_file(path, 0, NULL) : NULL;
	free(path);
	return json_is_object(j) ? j : (json_decref(j), NULL);
}

/* auths_entry finds the "auths" entry of registry under the spellings the
 * CLI and older clients use. */
static json_t *auths_entry(json_t *cfg, const char *registry)
{
	json_t *auths = json_object_get(cfg, "auths");
	if (!json_is_object(auths))
		return NULL;
	const char *key;
	json_t *v;
	bool hub = strcmp(registry, DOCKER_HUB) == 0;
	json_object_foreach(auths, key, v)
	{
		const char *k = key;
		if (strncmp(k, "https://", 8) == 0)
			k += 8;
		else if (strncmp(k, "http://", 7) == 0)
			k += 7;
		size_t n = strcspn(k, "/");
		if ((hub && ((n == 15 && strncmp(k, "index.docker.io", 15) == 0) ||
		             (n == 9 && strncmp(k, "docker.io", 9) == 0))) ||
		    (!hub && n == strlen(registry) && strncmp(k, registry, n) == 0))
			return v;
	}
	return NULL;
}

/* run_helper asks docker-credential-NAME for registry's credentials; the
 * reply is a new JSON object, or NULL with the reason in err. */
static json_t *run_helper(const char *name, const char *registry, char *err, size_t errlen)
{
	char *prog = xasprintf("docker-credential-%s", name);
	char *argv[] = {prog, "get", NULL};
	int in[2] = {-1, -1}, out[2] = {-1, -1};
	json_t *reply = NULL;
	pid_t pid = -1;
	struct buf buf = BUF_INIT;
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0) {
		snprintf(err, errlen, "%s: pipe: %s", prog, strerror(errno));
		goto out;
	}
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	int rc = posix_spawnp(&pid, prog, &fa, NULL, argv, environ);
	if (rc != 0) {
		pid = -1;
		snprintf(err, errlen, "%s: %s", prog, strerror(rc));
		goto out;
	}
	close(in[0]);
	close(out[1]);
	in[0] = out[1] = -1;
	/* The registry is short: one write fits the pipe. */
	ssize_t w = write(in[1], registry, strlen(registry));
	(void)w;
	close(in[1]);
	in[1] = -1;
	struct timespec start;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		long left = HELPER_TIMEOUT - ((now.tv_sec - start.tv_sec) * 1000 +
		                              (now.tv_nsec - start.tv_nsec) / 1000000);
		struct pollfd p = {out[0], POLLIN, 0};
		if (left <= 0 || poll(&p, 1, (int)left) <= 0) {
			snprintf(err, errlen, "%s: no answer within %ds", prog,
			         HELPER_TIMEOUT / 1000);
			kill(pid, SIGKILL);
			goto out;
		}
		char chunk[4096];
		ssize_t n = read(out[0], chunk, sizeof chunk);
		if (n <= 0)
			break;
		if (buf.len + (size_t)n > HELPER_MAX_READ) {
			snprintf(err, errlen, "%s: answer too long", prog);
			kill(pid, SIGKILL);
			goto out;
		}
		buf_append(&buf, chunk, (size_t)n);
	}
	int status = 0;
	waitpid(pid, &status, 0);
	pid = -1;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		/* Helpers print their reason ("credentials not found") on stdout. */
		snprintf(err, errlen, "%s get: %.*s", prog, (int)strcspn(buf_cstr(&buf), "\n"),
		         buf_cstr(&buf));
		goto out;
	}
	reply = json_loadb(buf_cstr(&buf), buf.len, 0, NULL);
	if (!json_is_object(reply)) {
		json_decref(reply);
		reply = NULL;
		snprintf(err, errlen, "%s get: the answer is not a JSON object", prog);
	}
out:
	if (pid > 0)
		waitpid(pid, NULL, 0);
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (out[i] >= 0)
			close(out[i]);
	}
	posix_spawn_file_actions_destroy(&fa);
	buf_free(&buf);
	free(prog);
	return reply;
}

/* from_entry reads an "auths" entry into (user, password, token). */
static json_t *from_entry(json_t *e, const char *registry)
{
	const char *auth = docker_json_str(e, "auth");
	const char *token = docker_json_str(e, "identitytoken");
	if (token && *token)
		return json_pack("{s:s,s:s}", "identitytoken", token, "serveraddress", registry);
	if (auth && *auth) {
		char *plain = base64_decode(auth), *colon = plain ? strchr(plain, ':') : NULL;
		json_t *j = NULL;
		if (colon) {
			*colon = '\0';
			j = json_pack("{s:s,s:s,s:s}", "username", plain, "password", colon + 1,
			              "serveraddress", registry);
		}
		free(plain);
		return j;
	}
	const char *user = docker_json_str(e, "username");
	const char *pass = docker_json_str(e, "password");
	if (user && pass)
		return json_pack("{s:s,s:s,s:s}", "username", user, "password", pass,
		                 "serveraddress", registry);
	return NULL;
}

int docker_registry_auth(const char *image, char **header, char *err, size_t errlen)
{
	*header = NULL;
	err[0] = '\0';
	json_t *cfg = load_config();
	if (cfg == NULL)
		return 0;
	char *registry = registry_of(image);
	json_t *creds = NULL;
	const char *helper = docker_json_str(json_object_get(cfg, "credHelpers"), registry);
	json_t *entry = helper ? NULL : auths_entry(cfg, registry);
	if (entry)
		creds = from_entry(entry, registry);
	if (!helper && !creds)
		helper = docker_json_str(cfg, "credsStore");
	if (!creds && helper && *helper) {
		json_t *r = run_helper(helper, registry, err, errlen);
		const char *user = docker_json_str(r, "Username");
		const char *secret = docker_json_str(r, "Secret");
		if (r && user && secret)
			creds = strcmp(user, "<token>") == 0
			            ? json_pack("{s:s,s:s}", "identitytoken", secret,
			                        "serveraddress", registry)
			            : json_pack("{s:s,s:s,s:s}", "username", user, "password",
			                        secret, "serveraddress", registry);
		else if (r)
			snprintf(err, errlen, "docker-credential-%s get: no Username and Secret",
			         helper);
		json_decref(r);
	}
	if (creds) {
		char *text = json_dumps(creds, JSON_COMPACT);
		*header = base64url(text);
		free(text);
		json_decref(creds);
	}
	free(registry);
	json_decref(cfg);
	return err[0] ? -1 : 0;
}
