/* The handle and the address of the engine, the calls made of one request
 * (JSON replies, output streams, the version check) and the JSON helpers
 * the other files share. The exchange itself is in wire.c. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "docker/internal.h"
#include "util/clock.h"
#include "util/xalloc.h"

#define JSONL_LINE_MAX (1u << 20)

int docker_fail(struct docker *d, enum docker_status st, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(d->errmsg, sizeof d->errmsg, fmt, ap);
	va_end(ap);
	d->status = st;
	return -1;
}

static int tls_file(char **out, const char *dir, const char *name, char *err, size_t errlen)
{
	*out = xasprintf("%s/%s", dir, name);
	if (access(*out, R_OK) == 0)
		return 0;
	snprintf(err, errlen, "DOCKER_TLS_VERIFY is set but %s is not readable", *out);
	return -1;
}

/* parse_host fills the address fields of d from host, as Docker's clients
 * read DOCKER_HOST. */
static int parse_host(struct docker *d, const char *host, char *err, size_t errlen)
{
	if (strncmp(host, "unix://", 7) == 0) {
		const char *path = host[7] ? host + 7 : "/var/run/docker.sock";
		d->unix_path = xstrdup(path);
		d->host_header = xstrdup("localhost");
		return 0;
	}
	if (strncmp(host, "tcp://", 6) != 0 || !host[6]) {
		snprintf(err, errlen,
		         "unsupported Docker host \"%s\": use unix:///path or tcp://host:port",
		         host);
		return -1;
	}
	const char *addr = host + 6;
	size_t len = strcspn(addr, "/");
	const char *tls = getenv("DOCKER_TLS_VERIFY");
	bool use_tls = tls && *tls;
	/* A port after the last ':' outside an IPv6 literal's brackets. */
	const char *colon = memrchr(addr, ':', len);
	const char *bracket = memrchr(addr, ']', len);
	bool has_port = colon && (!bracket || colon > bracket);
	size_t name_len = has_port ? (size_t)(colon - addr) : len;
	d->tcp_port =
	    has_port ? xstrndup(colon + 1, len - name_len - 1) : xstrdup(use_tls ? "2376" : "2375");
	/* An IPv6 literal connects without its brackets. */
	if (name_len >= 2 && addr[0] == '[' && addr[name_len - 1] == ']')
		d->tcp_name = xstrndup(addr + 1, name_len - 2);
	else
		d->tcp_name = xstrndup(addr, name_len);
	d->host_header = xasprintf("%.*s:%s", (int)name_len, addr, d->tcp_port);
	if (!use_tls)
		return 0;
	const char *dir = getenv("DOCKER_CERT_PATH");
	char *home_dir = NULL;
	if (!dir || !*dir) {
		const char *home = getenv("HOME");
		if (!home || !*home) {
			snprintf(err, errlen,
			         "DOCKER_TLS_VERIFY is set but neither DOCKER_CERT_PATH "
			         "nor HOME is");
			return -1;
		}
		dir = home_dir = xasprintf("%s/.docker", home);
	}
	int rc = 0;
	if (tls_file(&d->tls_ca, dir, "ca.pem", err, errlen) < 0 ||
	    tls_file(&d->tls_cert, dir, "cert.pem", err, errlen) < 0 ||
	    tls_file(&d->tls_key, dir, "key.pem", err, errlen) < 0)
		rc = -1;
	free(home_dir);
	return rc;
}

struct docker *docker_new(const char *host, char *err, size_t errlen)
{
	if (!host || !*host) {
		host = getenv("DOCKER_HOST");
		if (!host || !*host)
			host = DOCKER_DEFAULT_HOST;
	}
	struct docker *d = xcalloc(1, sizeof *d);
	atomic_init(&d->cancelled, false);
	d->host = xstrdup(host);
	if (parse_host(d, host, err, errlen) < 0)
		goto fail;
	return d;
fail:
	docker_free(d);
	return NULL;
}

void docker_free(struct docker *d)
{
	if (!d)
		return;
	docker_wire_free(d);
	free(d->host);
	free(d->host_header);
	free(d->unix_path);
	free(d->tcp_name);
	free(d->tcp_port);
	free(d->tls_cert);
	free(d->tls_key);
	free(d->tls_ca);
	free(d);
}

const char *docker_host(const struct docker *d)
{
	return d->host;
}

enum docker_status docker_status(const struct docker *d)
{
	return d->status;
}

long docker_http_status(const struct docker *d)
{
	return d->http_status;
}

const char *docker_errmsg(const struct docker *d)
{
	return d->status == DOCKER_OK ? "" : d->errmsg;
}

const char *docker_status_name(enum docker_status s)
{
	static const char *const names[] = {
	    [DOCKER_OK] = "ok",
	    [DOCKER_E_CONNECT] = "cannot connect",
	    [DOCKER_E_NOT_FOUND] = "not found",
	    [DOCKER_E_CONFLICT] = "conflict",
	    [DOCKER_E_NOT_RUNNING] = "not running",
	    [DOCKER_E_BAD_REQUEST] = "bad request",
	    [DOCKER_E_ENGINE] = "engine error",
	    [DOCKER_E_PROTOCOL] = "protocol error",
	    [DOCKER_E_VERSION] = "engine too old",
	    [DOCKER_E_CANCELLED] = "cancelled",
	    [DOCKER_E_TIMEOUT] = "timed out",
	};
	return (size_t)s < sizeof names / sizeof names[0] ? names[s] : "unknown";
}

void docker_cancel(struct docker *d)
{
	atomic_store(&d->cancelled, true);
}

void docker_cancel_clear(struct docker *d)
{
	atomic_store(&d->cancelled, false);
}

void docker_set_deadline(struct docker *d, int64_t deadline_ns)
{
	d->deadline_ns = deadline_ns;
}

char *docker_escape(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	struct buf b = BUF_INIT;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~') {
			buf_putc(&b, (char)c);
		} else {
			char pct[3] = {'%', hex[c >> 4], hex[c & 15]};
			buf_append(&b, pct, 3);
		}
	}
	return buf_steal(&b);
}

json_t *docker_call_json(struct docker *d, const char *method, const char *path, json_t *body)
{
	struct docker_req r = {.method = method, .path = path, .body = body};
	struct buf resp = BUF_INIT;
	json_t *j = NULL;
	if (docker_request(d, &r, &resp) == 0) {
		json_error_t e;
		j = json_loadb(buf_cstr(&resp), resp.len, 0, &e);
		if (!j)
			docker_fail(d, DOCKER_E_PROTOCOL, "%s %s: reply is not JSON: %s", method,
			            path, e.text);
	}
	buf_free(&resp);
	return j;
}

int docker_call(struct docker *d, const char *method, const char *path, json_t *body)
{
	struct docker_req r = {.method = method, .path = path, .body = body};
	return docker_request(d, &r, NULL);
}

int docker_jsonl_feed(struct docker *d, struct docker_jsonl *jl, const char *data, size_t len)
{
	buf_append(&jl->pending, data, len);
	size_t start = 0;
	int rc = 0;
	const char *nl;
	while (rc == 0 &&
	       (nl = memchr(jl->pending.data + start, '\n', jl->pending.len - start)) != NULL) {
		const char *line = jl->pending.data + start;
		size_t n = (size_t)(nl - line);
		start += n + 1;
		if (n == 0 || (n == 1 && line[0] == '\r'))
			continue;
		json_t *obj = json_loadb(line, n, 0, NULL);
		rc = jl->on_object(jl->arg, obj, line, n);
		json_decref(obj);
	}
	buf_consume(&jl->pending, start);
	if (rc == 0 && jl->pending.len > JSONL_LINE_MAX)
		rc = docker_fail(d, DOCKER_E_PROTOCOL,
		                 "a line of the engine's stream exceeds %u bytes", JSONL_LINE_MAX);
	return rc;
}

const char *docker_json_str(json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

char *docker_json_strdup(json_t *obj, const char *key)
{
	return xstrdup(docker_json_str(obj, key));
}

int64_t docker_json_time(json_t *obj, const char *key)
{
	const char *s = docker_json_str(obj, key);
	int64_t ns;
	/* Go's zero time, 0001-01-01T00:00:00Z, means "never". */
	if (!s || clock_parse_rfc3339(s, &ns) < 0 || ns <= 0)
		return 0;
	return ns;
}

json_t *docker_json_from_strv(const struct strv *sv)
{
	json_t *a = json_array();
	for (size_t i = 0; sv && i < sv->n; i++)
		json_array_append_new(a, json_string(sv->v[i]));
	return a;
}

json_t *docker_json_labels(const struct strv *sv)
{
	json_t *o = json_object();
	for (size_t i = 0; sv && i < sv->n; i++) {
		const char *eq = strchr(sv->v[i], '=');
		char *key = eq ? xstrndup(sv->v[i], (size_t)(eq - sv->v[i])) : xstrdup(sv->v[i]);
		json_object_set_new(o, key, json_string(eq ? eq + 1 : ""));
		free(key);
	}
	return o;
}

/* ---- engine ---- */

int docker_ping(struct docker *d)
{
	struct docker_req r = {.method = "GET", .path = "/_ping", .unversioned = true};
	return docker_request(d, &r, NULL);
}

static void copy_field(char *dst, size_t size, json_t *obj, const char *key)
{
	const char *s = docker_json_str(obj, key);
	snprintf(dst, size, "%s", s ? s : "");
}

int docker_version_get(struct docker *d, struct docker_version *out)
{
	/* Unversioned: an engine older than 1.41 refuses /v1.41/version with a
	 * less helpful message than the one docker_connect gives. */
	struct docker_req r = {.method = "GET", .path = "/version", .unversioned = true};
	struct buf resp = BUF_INIT;
	int rc = docker_request(d, &r, &resp);
	json_t *j = rc == 0 ? json_loadb(buf_cstr(&resp), resp.len, 0, NULL) : NULL;
	buf_free(&resp);
	if (rc < 0)
		return -1;
	if (!docker_json_str(j, "ApiVersion")) {
		json_decref(j);
		return docker_fail(d, DOCKER_E_PROTOCOL,
		                   "GET /version: no ApiVersion in the reply");
	}
	copy_field(out->version, sizeof out->version, j, "Version");
	copy_field(out->api_version, sizeof out->api_version, j, "ApiVersion");
	copy_field(out->min_api_version, sizeof out->min_api_version, j, "MinAPIVersion");
	copy_field(out->os, sizeof out->os, j, "Os");
	copy_field(out->arch, sizeof out->arch, j, "Arch");
	json_decref(j);
	return 0;
}

/* api_cmp compares "major.minor" versions like strcmp. */
static int api_cmp(const char *a, const char *b)
{
	int amaj = 0, amin = 0, bmaj = 0, bmin = 0;
	sscanf(a, "%d.%d", &amaj, &amin);
	sscanf(b, "%d.%d", &bmaj, &bmin);
	return amaj != bmaj ? (amaj > bmaj) - (amaj < bmaj) : (amin > bmin) - (amin < bmin);
}

int docker_connect(struct docker *d, struct docker_version *out)
{
	struct docker_version v;
	if (docker_version_get(d, &v) < 0)
		return -1;
	if (out)
		*out = v;
	if (api_cmp(v.api_version, DOCKER_API_VERSION) < 0)
		return docker_fail(d, DOCKER_E_VERSION,
		                   "Docker engine API %s is older than the %s ofelia needs",
		                   v.api_version, DOCKER_API_VERSION);
	return 0;
}

/* ---- output streams ---- */

struct output {
	struct docker *d;
	struct docker_demux *demux;
};

static int output_data(void *arg, const char *data, size_t len)
{
	struct output *o = arg;
	if (docker_demux_feed(o->demux, data, len) < 0)
		return docker_fail(o->d, DOCKER_E_PROTOCOL, "%s", docker_demux_error(o->demux));
	return 0;
}

int docker_stream_output(struct docker *d, const char *method, const char *path, json_t *body,
                         bool raw, bool timestamps, docker_on_line_fn *on_line, void *arg)
{
	struct output o = {d, docker_demux_new(raw, timestamps, DOCKER_LINE_MAX, on_line, arg)};
	struct docker_req r = {.method = method,
	                       .path = path,
	                       .body = body,
	                       .is_long = true,
	                       .on_data = output_data,
	                       .arg = &o};
	int rc = docker_request(d, &r, NULL);
	/* Even a cut stream delivers its last partial line. */
	docker_demux_finish(o.demux);
	docker_demux_free(o.demux);
	return rc;
}

void docker_logs_query(struct buf *path, const struct docker_logs_options *o)
{
	buf_puts(path, "?stdout=1&stderr=1");
	if (o->follow)
		buf_puts(path, "&follow=1");
	if (o->timestamps)
		buf_puts(path, "&timestamps=1");
	if (o->since_ns > 0)
		buf_printf(path, "&since=%lld.%09lld", (long long)(o->since_ns / NS_PER_SEC),
		           (long long)(o->since_ns % NS_PER_SEC));
}
