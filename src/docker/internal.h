/* Shared by the files of src/docker only: the handle and the request
 * machinery every operation goes through (docker.c). */
#ifndef OFELIA_DOCKER_INTERNAL_H
#define OFELIA_DOCKER_INTERNAL_H

#include <stdatomic.h>

#include <jansson.h>
#include <openssl/ssl.h>

#include "docker/docker.h"
#include "util/buf.h"

struct docker {
	char *host;                        /* as given or found, for messages */
	char *host_header;                 /* "localhost", "host:2376" */
	char *unix_path;                   /* NULL for tcp */
	char *tcp_name, *tcp_port;         /* NULL for a unix socket */
	char *tls_cert, *tls_key, *tls_ca; /* all NULL without TLS */
	SSL_CTX *tls;                      /* made at the first TLS connection */
	atomic_bool cancelled;
	int64_t deadline_ns;
	enum docker_status status;
	long http_status;
	char errmsg[1024];
};

/* One HTTP exchange. path is below /v1.41 unless unversioned, already
 * escaped, with its query. */
struct docker_req {
	const char *method;
	const char *path;
	json_t *body;              /* borrowed; sent as application/json; NULL: no body */
	const char *registry_auth; /* X-Registry-Auth (pull, service create), or NULL */
	bool unversioned;
	bool is_long; /* streams, waits, stop, pull: no 60 s limit */
	/* When set, a 2xx reply body goes here as it arrives instead of being
	 * collected. Return 0, or -1 after docker_fail to abort the exchange. */
	int (*on_data)(void *arg, const char *data, size_t len);
	void *arg;
};

/* docker_request runs r (wire.c); resp (may be NULL) gets the reply body when
 * on_data is not set. Returns 0 for HTTP 1xx-3xx, -1 with the error set for
 * anything else, including 4xx/5xx replies (engine message kept). */
int docker_request(struct docker *d, const struct docker_req *r, struct buf *resp);
/* docker_call_json runs a short request and returns its JSON reply (a new
 * reference), or NULL with the error set. */
json_t *docker_call_json(struct docker *d, const char *method, const char *path, json_t *body);
/* docker_call runs a short request whose reply body does not matter. */
int docker_call(struct docker *d, const char *method, const char *path, json_t *body);
/* docker_wire_free frees what docker_request keeps on d between calls. */
void docker_wire_free(struct docker *d);
/* docker_fail records a failure on d and returns -1. */
int docker_fail(struct docker *d, enum docker_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* docker_escape percent-encodes s for a path segment or a query value; the
 * caller frees the result. */
char *docker_escape(const char *s);

/* Splits a stream of JSON objects, one per line (events, pull progress). */
struct docker_jsonl {
	struct buf pending; /* an incomplete last line */
	int (*on_object)(void *arg, json_t *obj, const char *line, size_t len);
	void *arg;
};

/* docker_jsonl_feed buffers data and hands every complete non-empty line,
 * parsed, to on_object (the object is released after it returns; NULL when
 * the line is not JSON). Returns -1 when on_object does, or when a line grows
 * past 1 MiB. */
int docker_jsonl_feed(struct docker *d, struct docker_jsonl *jl, const char *data, size_t len);

/* JSON field readers that tolerate missing or mistyped fields. */
const char *docker_json_str(json_t *obj, const char *key);
char *docker_json_strdup(json_t *obj, const char *key);
/* docker_json_time reads an RFC 3339 field as Unix ns; 0 if absent or zero. */
int64_t docker_json_time(json_t *obj, const char *key);
/* docker_json_from_strv returns a new array of the strings in sv. */
json_t *docker_json_from_strv(const struct strv *sv);
/* docker_json_labels returns a new object from "key=value" strings. */
json_t *docker_json_labels(const struct strv *sv);

/* docker_stream_output runs a request whose reply is container output
 * (logs, attached exec start), decoding it (framed, or raw when raw) to
 * on_line. */
int docker_stream_output(struct docker *d, const char *method, const char *path, json_t *body,
                         bool raw, bool timestamps, docker_on_line_fn *on_line, void *arg);

/* docker_logs_query appends the query of a logs request to path. */
void docker_logs_query(struct buf *path, const struct docker_logs_options *o);

#endif
