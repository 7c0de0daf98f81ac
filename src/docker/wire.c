/* One HTTP/1.1 exchange with the engine (docker_request): over its unix
 * socket, or TCP with TLS through OpenSSL when DOCKER_TLS_VERIFY is set.
 * ofelia speaks HTTP itself rather than through libcurl, whose dependencies
 * (GnuTLS, Kerberos, LDAP, SSH) were most of an idle daemon's memory.
 *
 * Each exchange has a connection of its own ("Connection: close"): a unix
 * socket connects in microseconds, and a connection the engine closed can
 * never be reused by mistake. Every wait is a poll of at most 200 ms, so
 * docker_cancel, the handle's deadline and the limit of short calls are
 * noticed while a stream is idle. */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "docker/internal.h"
#include "util/clock.h"
#include "util/xalloc.h"

/* Replies that are not streams are small (inspect, lists); this caps a
 * broken engine's reply. */
#define REPLY_MAX       (64u << 20)
#define HEAD_MAX        (64u << 10)
#define CHUNK_LINE_MAX  1024
#define SHORT_LIMIT_S   60
#define CONNECT_LIMIT_S 10
#define SLICE_MS        200

/* The state of one exchange. */
struct conn {
	struct docker *d;
	const struct docker_req *r;
	int fd;
	SSL *ssl;         /* NULL without TLS */
	bool connected;   /* for the words of a failure */
	int64_t limit_ns; /* monotonic end of the current phase, or 0 */
	struct buf in;    /* bytes read and not yet used */
	struct buf *body; /* collects the reply, or the error body of a stream */
};

static int fail_io(struct conn *c, const char *why)
{
	struct docker *d = c->d;
	return docker_fail(d, DOCKER_E_CONNECT, "%s the Docker engine at %s: %s",
	                   d->http_status ? "lost the connection to" : "cannot connect to", d->host,
	                   why);
}

static int fail_errno(struct conn *c, int err)
{
	char ebuf[128];
	return fail_io(c, strerror_r(err, ebuf, sizeof ebuf));
}

static int fail_timeout(struct conn *c)
{
	struct docker *d = c->d;
	if (!c->connected)
		return docker_fail(d, DOCKER_E_TIMEOUT,
		                   "cannot connect to the Docker engine at %s within %d s", d->host,
		                   CONNECT_LIMIT_S);
	return docker_fail(d, DOCKER_E_TIMEOUT,
	                   "the Docker engine at %s did not answer %s %s within %d s", d->host,
	                   c->r->method, c->r->path, SHORT_LIMIT_S);
}

static int fail_protocol(struct conn *c, const char *what)
{
	return docker_fail(c->d, DOCKER_E_PROTOCOL, "%s %s: %s from the Docker engine at %s",
	                   c->r->method, c->r->path, what, c->d->host);
}

/* fail_tls reports a TLS failure with OpenSSL's reason: the certificate
 * check's when that is what failed. */
static int fail_tls(struct conn *c, const char *doing)
{
	char why[256];
	long verify = c->ssl ? SSL_get_verify_result(c->ssl) : X509_V_OK;
	unsigned long e = ERR_peek_last_error();
	if (verify != X509_V_OK)
		snprintf(why, sizeof why, "%s: certificate verify failed: %s", doing,
		         X509_verify_cert_error_string(verify));
	else if (e != 0)
		snprintf(why, sizeof why, "%s: %s", doing, ERR_reason_error_string(e));
	else
		snprintf(why, sizeof why, "%s: the connection was closed", doing);
	ERR_clear_error();
	return fail_io(c, why);
}

/* wait_fd waits until fd is ready for events, in slices that notice
 * cancellation, the deadline and the phase's limit. */
static int wait_fd(struct conn *c, int fd, short events)
{
	struct docker *d = c->d;
	for (;;) {
		if (atomic_load(&d->cancelled))
			return docker_fail(d, DOCKER_E_CANCELLED, "cancelled");
		int64_t now = clock_mono_ns();
		if (d->deadline_ns && now >= d->deadline_ns)
			return docker_fail(d, DOCKER_E_TIMEOUT, "deadline passed during %s %s",
			                   c->r->method, c->r->path);
		if (c->limit_ns && now >= c->limit_ns)
			return fail_timeout(c);
		struct pollfd p = {.fd = fd, .events = events};
		int n = poll(&p, 1, SLICE_MS);
		/* An error or hang-up is ready too: the next read or write says which. */
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return fail_errno(c, errno);
	}
}

/* wait_io waits until the connection's socket is ready for events. */
static int wait_io(struct conn *c, short events)
{
	return wait_fd(c, c->fd, events);
}

/* tls_context loads the certificates of d once, for every connection. */
static int tls_context(struct conn *c)
{
	struct docker *d = c->d;
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	ERR_clear_error();
	if (ctx == NULL || SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_load_verify_locations(ctx, d->tls_ca, NULL) != 1 ||
	    SSL_CTX_use_certificate_chain_file(ctx, d->tls_cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, d->tls_key, SSL_FILETYPE_PEM) != 1) {
		unsigned long e = ERR_peek_last_error();
		docker_fail(d, DOCKER_E_CONNECT, "cannot use the TLS files %s, %s and %s: %s",
		            d->tls_ca, d->tls_cert, d->tls_key,
		            e ? ERR_reason_error_string(e) : "out of memory");
		ERR_clear_error();
		SSL_CTX_free(ctx);
		return -1;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	/* The engine may close without close_notify; the reply's own framing
	 * tells a cut reply. */
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
	d->tls = ctx;
	return 0;
}

/* tls_wait follows an SSL call that returned rc <= 0: it waits for what
 * TLS needs (it may read to write) and returns 0 to try again, or -1 with
 * the error set. */
static int tls_wait(struct conn *c, int rc, const char *doing)
{
	int e = SSL_get_error(c->ssl, rc);
	if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
		return fail_tls(c, doing);
	return wait_io(c, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT);
}

/* tls_start runs the handshake, checking the engine's certificate against
 * the name or address of DOCKER_HOST, as Docker's clients do. */
static int tls_start(struct conn *c)
{
	struct docker *d = c->d;
	unsigned char addr[sizeof(struct in6_addr)];
	if (d->tls == NULL && tls_context(c) < 0)
		return -1;
	c->ssl = SSL_new(d->tls);
	if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1)
		return fail_tls(c, "TLS set-up");
	if (inet_pton(AF_INET, d->tcp_name, addr) == 1 ||
	    inet_pton(AF_INET6, d->tcp_name, addr) == 1) {
		if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), d->tcp_name) != 1)
			return fail_tls(c, "TLS set-up");
	} else if (SSL_set_tlsext_host_name(c->ssl, d->tcp_name) != 1 ||
	           SSL_set1_host(c->ssl, d->tcp_name) != 1) {
		return fail_tls(c, "TLS set-up");
	}
	for (;;) {
		ERR_clear_error();
		int rc = SSL_connect(c->ssl);
		if (rc == 1)
			return 0;
		if (tls_wait(c, rc, "TLS handshake") < 0)
			return -1;
	}
}

/* connect_fd connects a non-blocking socket to addr within the phase's limit. */
static int connect_fd(struct conn *c, int family, const struct sockaddr *addr, socklen_t len)
{
	c->fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return fail_errno(c, errno);
	for (;;) {
		if (connect(c->fd, addr, len) == 0)
			return 0;
		if (errno == EINTR)
			continue;
		/* A unix socket whose backlog is full says EAGAIN: try again. */
		if (errno == EAGAIN && family == AF_UNIX) {
			if (wait_io(c, 0) < 0)
				return -1;
			continue;
		}
		if (errno != EINPROGRESS)
			return fail_errno(c, errno);
		int err = 0;
		socklen_t elen = sizeof err;
		if (wait_io(c, POLLOUT) < 0)
			return -1;
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
			err = errno;
		return err ? fail_errno(c, err) : 0;
	}
}

static void close_fd(struct conn *c)
{
	if (c->ssl)
		SSL_free(c->ssl);
	c->ssl = NULL;
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

static int open_unix(struct conn *c)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	if (strlen(c->d->unix_path) >= sizeof a.sun_path)
		return fail_io(c, "the socket path is too long");
	memcpy(a.sun_path, c->d->unix_path, strlen(c->d->unix_path) + 1);
	return connect_fd(c, AF_UNIX, (struct sockaddr *)&a, sizeof a);
}

/* A name is looked up on a thread of its own: getaddrinfo cannot be
 * interrupted, and the connect limit and a cancel must bound the lookup as
 * they bound the connect (a resolver that does not answer holds it for
 * timeout x attempts x servers). The caller and the thread share the
 * lookup; the one that lets go last frees it. */
struct lookup {
	atomic_int refs;
	int done_fd; /* eventfd, written when getaddrinfo has returned */
	char *name, *port;
	int rc, err;
	struct addrinfo *list;
};

static void lookup_release(struct lookup *l)
{
	if (atomic_fetch_sub(&l->refs, 1) != 1)
		return;
	if (l->list)
		freeaddrinfo(l->list);
	if (l->done_fd >= 0)
		close(l->done_fd);
	free(l->name);
	free(l->port);
	free(l);
}

static void look_up(struct lookup *l)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
	l->rc = getaddrinfo(l->name, l->port, &hints, &l->list);
	l->err = errno;
}

static void *lookup_thread(void *arg)
{
	struct lookup *l = arg;
	uint64_t one = 1;
	look_up(l);
	/* The write orders the results before the caller's poll sees it. */
	ssize_t ignored = write(l->done_fd, &one, sizeof one);
	(void)ignored;
	lookup_release(l);
	return NULL;
}

/* start_lookup runs l on a detached thread, which holds one reference. */
static int start_lookup(struct lookup *l)
{
	pthread_attr_t attr;
	pthread_t t;
	l->done_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (l->done_fd < 0)
		return -1;
	atomic_fetch_add(&l->refs, 1);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	int rc = pthread_create(&t, &attr, lookup_thread, l);
	pthread_attr_destroy(&attr);
	if (rc != 0)
		atomic_fetch_sub(&l->refs, 1);
	return rc == 0 ? 0 : -1;
}

/* resolve fills *list with the engine's addresses; the caller frees it. An
 * address needs no lookup; a name is looked up on a thread, or here when no
 * thread can be made. */
static int resolve(struct conn *c, struct addrinfo **list)
{
	struct docker *d = c->d;
	struct addrinfo hints = {
	    .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST};
	int rc = getaddrinfo(d->tcp_name, d->tcp_port, &hints, list);
	int err = errno;

	if (rc == EAI_NONAME) {
		struct lookup *l = xcalloc(1, sizeof *l);
		l->name = xstrdup(d->tcp_name);
		l->port = xstrdup(d->tcp_port);
		l->done_fd = -1;
		atomic_init(&l->refs, 1);
		if (start_lookup(l) < 0)
			look_up(l);
		else if (wait_fd(c, l->done_fd, POLLIN) < 0) {
			lookup_release(l);
			return -1;
		}
		rc = l->rc;
		err = l->err;
		*list = l->list;
		l->list = NULL;
		lookup_release(l);
	}
	if (rc != 0)
		return fail_io(c, rc == EAI_SYSTEM ? strerror(err) : gai_strerror(rc));
	return 0;
}

/* open_tcp tries each address of the engine's name in turn. */
static int open_tcp(struct conn *c)
{
	struct docker *d = c->d;
	struct addrinfo *list;
	if (resolve(c, &list) < 0)
		return -1;
	int rc = -1;
	for (struct addrinfo *ai = list; ai && rc < 0; ai = ai->ai_next) {
		rc = connect_fd(c, ai->ai_family, ai->ai_addr, ai->ai_addrlen);
		/* Only a refused or unreachable address is worth the next one. */
		if (rc < 0 && (d->status == DOCKER_E_CANCELLED || d->status == DOCKER_E_TIMEOUT))
			break;
		if (rc < 0)
			close_fd(c);
	}
	freeaddrinfo(list);
	if (rc < 0)
		return -1;
	int on = 1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
	/* Streams can be idle for hours: keep-alive finds a dead peer. */
	setsockopt(c->fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
	return d->tls_ca ? tls_start(c) : 0;
}

/* transfer sends (out) or receives up to n bytes, waiting until the socket
 * is ready: the count, 0 at the end of the stream, or -1 with the error set. */
static ssize_t transfer(struct conn *c, bool out, char *p, size_t n)
{
	for (;;) {
		if (c->ssl) {
			ERR_clear_error();
			int len = n > INT_MAX ? INT_MAX : (int)n;
			int rc = out ? SSL_write(c->ssl, p, len) : SSL_read(c->ssl, p, len);
			if (rc > 0)
				return rc;
			if (SSL_get_error(c->ssl, rc) == SSL_ERROR_ZERO_RETURN)
				return 0;
			if (tls_wait(c, rc, out ? "write" : "read") < 0)
				return -1;
		} else {
			ssize_t rc = out ? send(c->fd, p, n, MSG_NOSIGNAL) : recv(c->fd, p, n, 0);
			if (rc >= 0)
				return rc;
			if (errno != EAGAIN && errno != EINTR)
				return fail_errno(c, errno);
			if (wait_io(c, out ? POLLOUT : POLLIN) < 0)
				return -1;
		}
	}
}

static int write_all(struct conn *c, char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = transfer(c, true, p, n);
		if (w <= 0)
			return w < 0 ? -1 : fail_io(c, "the connection was closed");
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* fill reads what has arrived onto c->in, waiting for at least one byte.
 * Returns the count, 0 at the end of the stream, or -1 with the error set. */
static ssize_t fill(struct conn *c)
{
	char tmp[16384];
	ssize_t n = transfer(c, false, tmp, sizeof tmp);
	if (n > 0)
		buf_append(&c->in, tmp, (size_t)n);
	return n;
}

/* fill_more is fill where the reply is not complete yet. */
static int fill_more(struct conn *c)
{
	ssize_t n = fill(c);
	if (n == 0)
		return fail_io(c, c->d->http_status ? "the reply was cut short"
		                                    : "the connection was closed without a reply");
	return n < 0 ? -1 : 0;
}

static int send_request(struct conn *c)
{
	const struct docker_req *r = c->r;
	struct buf req = BUF_INIT;
	char *json = NULL;

	buf_printf(&req,
	           "%s %s%s HTTP/1.1\r\nHost: %s\r\nUser-Agent: ofelia\r\n"
	           "Connection: close\r\n",
	           r->method, r->unversioned ? "" : "/v" DOCKER_API_VERSION, r->path,
	           c->d->host_header);
	if (strcmp(r->method, "POST") == 0) {
		/* The engine wants a JSON content type on every body; an empty
		 * POST is fine. */
		json = r->body ? json_dumps(r->body, JSON_COMPACT) : NULL;
		if (json)
			buf_puts(&req, "Content-Type: application/json\r\n");
		if (r->registry_auth)
			buf_printf(&req, "X-Registry-Auth: %s\r\n", r->registry_auth);
		buf_printf(&req, "Content-Length: %zu\r\n", json ? strlen(json) : 0);
	}
	buf_puts(&req, "\r\n");
	if (json)
		buf_puts(&req, json);
	int rc = write_all(c, req.data, req.len);
	buf_free(&req);
	free(json);
	return rc;
}

/* deliver hands a piece of the body to the request's sink, or collects it. */
static int deliver(struct conn *c, const char *data, size_t len)
{
	const struct docker_req *r = c->r;
	if (c->d->http_status < 300 && r->on_data)
		return r->on_data(r->arg, data, len); /* it called docker_fail */
	if (c->body->len + len > REPLY_MAX)
		return docker_fail(c->d, DOCKER_E_PROTOCOL,
		                   "reply to %s %s is larger than %u bytes", r->method, r->path,
		                   REPLY_MAX);
	buf_append(c->body, data, len);
	return 0;
}

/* deliver_in delivers up to max bytes of c->in; returns how many, or -1. */
static ssize_t deliver_in(struct conn *c, uint64_t max)
{
	size_t n = c->in.len < max ? c->in.len : (size_t)max;
	if (n > 0 && deliver(c, c->in.data, n) < 0)
		return -1;
	buf_consume(&c->in, n);
	return (ssize_t)n;
}

/* The framing of a reply body, from its head. */
struct head {
	size_t len; /* of the head, blank line included */
	bool chunked;
	bool has_length;
	uint64_t length;
};

/* header_is tells whether line is the header name (any case) and points
 * *value past the colon and blanks. */
static bool header_is(const char *line, const char *name, const char **value)
{
	size_t n = strlen(name);
	if (strncasecmp(line, name, n) != 0 || line[n] != ':')
		return false;
	*value = line + n + 1 + strspn(line + n + 1, " \t");
	return true;
}

/* parse_head reads the status and the framing headers of c->in's head. */
static int parse_head(struct conn *c, struct head *h)
{
	char *head = xstrndup(c->in.data, h->len - 2);
	char *save = NULL, *line = strtok_r(head, "\r\n", &save);
	const char *v;
	int rc = 0;
	if (line == NULL || strncmp(line, "HTTP/1.", 7) != 0 || strlen(line) < 12 ||
	    line[8] != ' ' || sscanf(line + 9, "%3ld", &c->d->http_status) != 1 ||
	    c->d->http_status < 100 || c->d->http_status > 599) {
		c->d->http_status = 0;
		rc = fail_protocol(c, "a reply that is not HTTP/1.x");
		goto out;
	}
	while ((line = strtok_r(NULL, "\r\n", &save)) != NULL) {
		if (header_is(line, "Transfer-Encoding", &v)) {
			h->chunked = strcasestr(v, "chunked") != NULL;
		} else if (header_is(line, "Content-Length", &v)) {
			char *end;
			errno = 0;
			unsigned long long n = strtoull(v, &end, 10);
			if (end == v || *end != '\0' || errno || *v == '-') {
				rc = fail_protocol(c, "a bad Content-Length");
				goto out;
			}
			h->has_length = true;
			h->length = n;
		}
	}
out:
	free(head);
	return rc;
}

/* find_mark reads until c->in holds mark within its first max bytes, and
 * returns where mark starts; -1 with the error set (too_long past max). */
static ssize_t find_mark(struct conn *c, const char *mark, size_t max, const char *too_long)
{
	const char *at;
	while ((at = memmem(c->in.data ? c->in.data : "", c->in.len, mark, strlen(mark))) == NULL) {
		if (c->in.len > max)
			return fail_protocol(c, too_long);
		if (fill_more(c) < 0)
			return -1;
	}
	return at - c->in.data;
}

/* read_head reads the head of the final reply, skipping 100 Continue. */
static int read_head(struct conn *c, struct head *h)
{
	for (;;) {
		ssize_t end = find_mark(c, "\r\n\r\n", HEAD_MAX, "a reply head larger than 64 KiB");
		if (end < 0)
			return -1;
		memset(h, 0, sizeof *h);
		h->len = (size_t)end + 4;
		if (parse_head(c, h) < 0)
			return -1;
		if (c->d->http_status >= 200)
			return 0;
		if (c->d->http_status != 100)
			return fail_protocol(c, "an unexpected interim reply");
		buf_consume(&c->in, h->len);
	}
}

/* read_chunked decodes a chunked body, delivering each piece as it comes. */
static int read_chunked(struct conn *c)
{
	for (;;) {
		ssize_t eol = find_mark(c, "\r\n", CHUNK_LINE_MAX, "a bad chunk");
		if (eol < 0)
			return -1;
		char *end;
		errno = 0;
		uint64_t size = strtoull(c->in.data, &end, 16);
		if (end == c->in.data || errno || !strchr(";\r", *end) || *c->in.data == '-')
			return fail_protocol(c, "a bad chunk size");
		buf_consume(&c->in, (size_t)eol + 2);
		if (size == 0)
			break;
		while (size > 0) {
			if (c->in.len == 0 && fill_more(c) < 0)
				return -1;
			ssize_t n = deliver_in(c, size);
			if (n < 0)
				return -1;
			size -= (uint64_t)n;
		}
		while (c->in.len < 2)
			if (fill_more(c) < 0)
				return -1;
		if (memcmp(c->in.data, "\r\n", 2) != 0)
			return fail_protocol(c, "a chunk without its line end");
		buf_consume(&c->in, 2);
	}
	/* Trailers, up to the blank line; the engine sends none. */
	for (;;) {
		ssize_t eol = find_mark(c, "\r\n", HEAD_MAX, "trailers larger than 64 KiB");
		if (eol < 0)
			return -1;
		buf_consume(&c->in, (size_t)eol + 2);
		if (eol == 0)
			return 0;
	}
}

static int read_reply(struct conn *c)
{
	struct head h;
	if (read_head(c, &h) < 0)
		return -1;
	buf_consume(&c->in, h.len);
	long status = c->d->http_status;
	if (status == 204 || status == 304 || strcmp(c->r->method, "HEAD") == 0)
		return 0;
	if (h.chunked)
		return read_chunked(c);
	if (h.has_length) {
		uint64_t left = h.length;
		for (;;) {
			ssize_t n = deliver_in(c, left);
			if (n < 0)
				return -1;
			left -= (uint64_t)n;
			if (left == 0)
				return 0;
			if (fill_more(c) < 0)
				return -1;
		}
	}
	/* No framing: the body ends with the connection (an attached exec). */
	for (;;) {
		if (deliver_in(c, UINT64_MAX) < 0)
			return -1;
		ssize_t n = fill(c);
		if (n <= 0)
			return (int)n;
	}
}

/* http_error turns an error reply into the status and message, keeping the
 * engine's words: {"message":...} as JSON, or the text itself. */
static int http_error(struct docker *d, const struct docker_req *r, long code, struct buf *body)
{
	enum docker_status st = DOCKER_E_ENGINE;
	if (code == 400)
		st = DOCKER_E_BAD_REQUEST;
	else if (code == 404)
		st = DOCKER_E_NOT_FOUND;
	else if (code == 409)
		st = DOCKER_E_CONFLICT;

	json_t *j = json_loadb(buf_cstr(body), body->len, 0, NULL);
	const char *msg = docker_json_str(j, "message");
	struct buf text = BUF_INIT;
	if (!msg) {
		buf_append(&text, buf_cstr(body), body->len);
		while (text.len && strchr(" \t\r\n", text.data[text.len - 1]))
			text.data[--text.len] = '\0';
		msg = text.len ? text.data : NULL;
	}
	if (st == DOCKER_E_CONFLICT && msg && strstr(msg, "is not running"))
		st = DOCKER_E_NOT_RUNNING;
	if (msg)
		docker_fail(d, st, "%s (HTTP %ld)", msg, code);
	else
		docker_fail(d, st, "HTTP %ld from the Docker engine on %s %s", code, r->method,
		            r->path);
	buf_free(&text);
	json_decref(j);
	return -1;
}

int docker_request(struct docker *d, const struct docker_req *r, struct buf *resp)
{
	d->status = DOCKER_OK;
	d->http_status = 0;
	d->errmsg[0] = '\0';
	if (atomic_load(&d->cancelled))
		return docker_fail(d, DOCKER_E_CANCELLED, "cancelled");
	if (d->deadline_ns && clock_mono_ns() >= d->deadline_ns)
		return docker_fail(d, DOCKER_E_TIMEOUT, "deadline passed");

	struct buf body = BUF_INIT;
	struct conn c = {.d = d, .r = r, .fd = -1, .in = BUF_INIT, .body = resp ? resp : &body};
	if (resp)
		buf_reset(resp);
	int64_t start = clock_mono_ns();
	c.limit_ns = start + CONNECT_LIMIT_S * NS_PER_SEC;
	int rc = d->unix_path ? open_unix(&c) : open_tcp(&c);
	c.connected = true;
	c.limit_ns = r->is_long ? 0 : start + SHORT_LIMIT_S * NS_PER_SEC;
	if (rc == 0)
		rc = send_request(&c);
	if (rc == 0)
		rc = read_reply(&c);
	if (rc == 0 && (d->http_status >= 400 || d->http_status < 100))
		rc = http_error(d, r, d->http_status, c.body);
	close_fd(&c);
	buf_free(&c.in);
	buf_free(&body);
	return rc;
}

void docker_wire_free(struct docker *d)
{
	SSL_CTX_free(d->tls);
	d->tls = NULL;
}
