/* Responses: JSON bodies, the error envelope every failure uses, and the
 * small readers of the request (body, query, headers) the handlers share.
 *
 * The envelope is spec/API.md's:
 *   {"error": {"code": "JOB_NOT_FOUND", "message": "Job 'backup' not found",
 *              "details": {"job": "backup", "timestamp": "2024-01-01T12:00:00Z"}}}
 * Everything is allocated in the request's pool, so nothing here is freed. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http_int.h"
#include "util/clock.h"
#include "util/lines.h"
#include "util/xalloc.h"

const struct config *http_config_now(struct http *h)
{
	return h->deps.config(h->deps.arg);
}

char *http_strdup(struct http_req *r, const char *s, size_t len)
{
	char *p = h2o_mem_alloc_pool(r->pool, len + 1);
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

void http_header(struct http_req *r, const char *name, const char *value)
{
	size_t nlen = strlen(name), vlen = strlen(value);
	char *n = http_strdup(r, name, nlen);
	char *v = http_strdup(r, value, vlen);
	const h2o_token_t *token = h2o_lookup_token(n, nlen);
	if (token)
		h2o_add_header(r->pool, &r->res_headers, token, NULL, v, vlen);
	else
		h2o_add_header_by_str(r->pool, &r->res_headers, n, nlen, 0, NULL, v, vlen);
}

void http_reply_bytes(struct http_req *r, int status, const char *content_type, const char *data,
                      size_t len)
{
	r->status = status;
	if (content_type)
		h2o_add_header(r->pool, &r->res_headers, H2O_TOKEN_CONTENT_TYPE, NULL, content_type,
		               strlen(content_type));
	r->res_body = h2o_iovec_init(data, len);
}

void http_reply_json(struct http_req *r, int status, json_t *body)
{
	if (body == NULL) {
		/* json_pack refused a value: a bug here, not the client's fault. */
		http_reply_error(r, 500, "INTERNAL_ERROR", NULL, NULL, "Cannot build the response");
		return;
	}
	/* One pass to text (dumping costs more than the copy into the pool). */
	char *dumped = json_dumps(body, JSON_COMPACT);
	size_t len = strlen(dumped);
	char *text = http_strdup(r, dumped, len);
	free(dumped);
	json_decref(body);
	http_reply_bytes(r, status, "application/json", text, len);
}

void http_reply_error(struct http_req *r, int status, const char *code, const char *detail_key,
                      const char *detail_value, const char *fmt, ...)
{
	char message[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof message, fmt, ap);
	va_end(ap);
	json_t *details = json_object();
	if (detail_key && detail_value)
		json_object_set_new(details, detail_key, http_string(detail_value));
	json_object_set_new(details, "timestamp", http_time(r->now_ns));
	http_reply_json(r, status,
	                json_pack("{s:{s:s,s:o,s:o}}", "error", "code", code, "message",
	                          http_string(message), "details", details));
}

void http_reply_sched_error(struct http_req *r, enum scheduler_rc rc, const char *code,
                            const char *detail_key, const char *detail_value, const char *err)
{
	bool job = detail_key && strcmp(detail_key, "job") == 0;
	switch (rc) {
	case SCHED_NOT_FOUND:
		http_reply_error(r, 404, job ? "JOB_NOT_FOUND" : "EXECUTION_NOT_FOUND", detail_key,
		                 detail_value, "%s", err);
		break;
	case SCHED_INVALID:
		http_reply_error(r, 400, code ? code : "VALIDATION_ERROR", detail_key, detail_value,
		                 "%s", err);
		break;
	case SCHED_CONFLICT:
		http_reply_error(r, 409, code ? code : "CONFLICT", detail_key, detail_value, "%s",
		                 err);
		break;
	case SCHED_UNAVAILABLE:
		http_reply_error(r, 503, "UNAVAILABLE", detail_key, detail_value, "%s", err);
		break;
	case SCHED_BUSY:
		http_reply_error(r, 429, "QUEUE_FULL", detail_key, detail_value, "%s", err);
		break;
	default:
		http_reply_error(r, 500, "INTERNAL_ERROR", detail_key, detail_value, "%s", err);
		break;
	}
}

json_t *http_body_object(struct http_req *r)
{
	json_error_t jerr;

	if (r->body.len == 0) {
		http_reply_error(r, 400, "VALIDATION_ERROR", NULL, NULL,
		                 "The request needs a JSON object as its body");
		return NULL;
	}
	json_t *body = json_loadb(r->body.base, r->body.len, JSON_REJECT_DUPLICATES, &jerr);
	if (body == NULL) {
		http_reply_error(r, 400, "VALIDATION_ERROR", NULL, NULL,
		                 "The body is not valid JSON: %s (line %d, column %d)", jerr.text,
		                 jerr.line, jerr.column);
		return NULL;
	}
	if (!json_is_object(body)) {
		json_decref(body);
		http_reply_error(r, 400, "VALIDATION_ERROR", NULL, NULL,
		                 "The body must be a JSON object");
		return NULL;
	}
	return body;
}

static int hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* decode undoes percent-encoding and '+' for space into the pool. */
static char *decode(struct http_req *r, const char *s, size_t len)
{
	char *out = h2o_mem_alloc_pool(r->pool, len + 1), *w = out;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '%' && i + 2 < len && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
			*w++ = (char)(hex(s[i + 1]) << 4 | hex(s[i + 2]));
			i += 2;
		} else {
			*w++ = s[i] == '+' ? ' ' : s[i];
		}
	}
	*w = '\0';
	return out;
}

const char *http_query(struct http_req *r, const char *key)
{
	size_t klen = strlen(key);
	if (r->query.base == NULL)
		return NULL;
	const char *p = r->query.base, *end = r->query.base + r->query.len;

	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *item_end = amp ? amp : end;
		const char *eq = memchr(p, '=', (size_t)(item_end - p));
		const char *name_end = eq ? eq : item_end;
		if ((size_t)(name_end - p) == klen && memcmp(p, key, klen) == 0)
			return eq ? decode(r, eq + 1, (size_t)(item_end - eq - 1)) : "";
		p = amp ? amp + 1 : end;
	}
	return NULL;
}

int http_query_int(struct http_req *r, const char *key, int64_t dflt, int64_t min, int64_t max,
                   int64_t *out)
{
	const char *v = http_query(r, key);
	char *end;
	*out = dflt;
	if (v == NULL)
		return 0;
	errno = 0;
	long long n = strtoll(v, &end, 10);
	if (*v == '\0' || *end != '\0' || errno != 0 || n < min || n > max) {
		http_reply_error(r, 400, "VALIDATION_ERROR", NULL, NULL,
		                 "%s must be a whole number from %lld to %lld", key, (long long)min,
		                 (long long)max);
		return -1;
	}
	*out = n;
	return 0;
}

h2o_iovec_t http_find_header(const struct http_req *r, const char *name)
{
	ssize_t i = r->headers ? h2o_find_header_by_str(r->headers, name, strlen(name), -1) : -1;
	return i < 0 ? h2o_iovec_init(NULL, 0) : r->headers->entries[i].value;
}

json_t *http_string(const char *s)
{
	/* Messages and details quote what the client sent, which need not be
	 * UTF-8; jansson refuses that, so bad bytes become '?'. */
	json_t *v = json_string(s);
	if (v)
		return v;
	size_t len = strlen(s);
	char *copy = xstrdup(s);
	for (size_t i = 0; i < len; i++) {
		i += lines_utf8_valid_prefix(copy + i, len - i);
		if (i < len)
			copy[i] = '?';
	}
	v = json_string(copy);
	free(copy);
	return v ? v : json_string("?");
}

json_t *http_time(int64_t ns)
{
	char text[CLOCK_TEXT_MAX];
	if (ns == 0)
		return json_null();
	clock_format_rfc3339(ns, text);
	return json_string(text);
}

const char *http_status_reason(int status)
{
	switch (status) {
	case 101:
		return "Switching Protocols";
	case 200:
		return "OK";
	case 201:
		return "Created";
	case 202:
		return "Accepted";
	case 204:
		return "No Content";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 409:
		return "Conflict";
	case 413:
		return "Payload Too Large";
	case 414:
		return "URI Too Long";
	case 415:
		return "Unsupported Media Type";
	case 421:
		return "Misdirected Request";
	case 429:
		return "Too Many Requests";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 503:
		return "Service Unavailable";
	default:
		return "Unknown";
	}
}
