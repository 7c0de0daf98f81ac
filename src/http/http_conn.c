/* Connections: accepting them within the descriptors the process has, and
 * the malformed requests h2o would answer in plain text.
 *
 * Descriptors. The soft RLIMIT_NOFILE is raised at start, and connections
 * are capped below it, leaving a reserve for what else needs descriptors:
 * the jobs' pipes, Docker's sockets, the store, the loop's timers. At the
 * cap the connection idle the longest (waiting for a request) is closed to
 * make room, so a flood of idle connections cannot keep a health check or
 * a user out; when none is idle the listener pauses until one closes. h2o's
 * listener is level-triggered: an accept that fails for want of
 * descriptors (EMFILE, ENFILE) and returns leaves the connection queued and
 * the loop wakes again at once, spinning. So that failure pauses the
 * listener too, until a connection closes or ACCEPT_RETRY_NS pass.
 *
 * Malformed requests. h2o answers a request head it cannot parse (a control
 * byte in the URL, HTTP/0.9, a head longer than H2O_MAX_REQLEN, more than
 * H2O_MAX_HEADERS headers) itself, with a fixed plain-text "400 Bad
 * Request", before any handler or filter. Every read of a connection
 * waiting for a request therefore goes through on_read first, which parses
 * the head as h2o will (with h2o's own parser) and, when h2o would refuse
 * it, replaces the bytes with a stand-in request that reaches the handler:
 * it answers the status (400, 414, 431) in the JSON envelope and closes the
 * connection. After each response on a keep-alive connection, on_written
 * watches the next request the same way, pipelined bytes included.
 *
 * Each connection has a struct http_conn, found through its socket's
 * on_close hook (which tells us when the socket goes) and freed there.
 * Everything here runs on the loop thread. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "http/http_int.h"
#include "loop/loop.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/xalloc.h"

/* picohttpparser, the parser inside libh2o-evloop (which exports it); its
 * header is not installed. */
struct phr_header {
	const char *name;
	size_t name_len;
	const char *value;
	size_t value_len;
};
int phr_parse_request(const char *buf, size_t len, const char **method, size_t *method_len,
                      const char **path, size_t *path_len, int *minor_version,
                      struct phr_header *headers, size_t *num_headers, size_t last_len);

/* The soft limit is raised to at most this: the jobs inherit it, and some
 * programs walk every possible descriptor at start. */
#define NOFILE_WANTED 65536
/* Descriptors kept for everything but connections, besides those open at
 * start: per runner thread (a job's pipes, a Docker socket or two) and for
 * the rest (label discovery, notifications, the store's files). */
#define RESERVE_PER_RUNNER 8
#define RESERVE_FIXED      64
/* Runners reserved for when max-concurrent sets no limit. */
#define RESERVE_RUNNERS_UNLIMITED 16
/* Fewer connections than this is no web server. */
#define MIN_CONNECTIONS 16
#define ACCEPT_RETRY_NS (100 * NS_PER_MS)
#define ACCEPT_ROUND    64
#define WARN_EVERY_NS   (60 * NS_PER_SEC)
/* A connection idle for less than this is not closed for a newer one: a
 * client gets the time to send its request. */
#define EVICT_MIN_IDLE_NS NS_PER_SEC

struct http_conn {
	struct http_conn *prev, *next;           /* every connection */
	struct http_conn *idle_prev, *idle_next; /* idle ones, oldest first */
	struct http *h;
	h2o_socket_t *sock;
	h2o_socket_cb h2o_read;  /* h2o's read callback, which on_read wraps */
	h2o_socket_cb h2o_write; /* h2o's write callback, which on_written wraps */
	size_t seen;             /* what h2o has seen of the head so far */
	size_t reqsize;          /* bytes of the request being answered */
	bool head_done;          /* h2o has the head: what comes now is a body */
	int rejected;            /* the status the stand-in request stands for */
	int64_t active_ns;       /* its last read or answer (monotonic) */
	bool idle;
	int depth;   /* inside h2o's callbacks, which may close the socket */
	bool closed; /* the socket went while inside them */
};

/* ---- the list of idle connections ---- */

static void idle_remove(struct http_conn *c)
{
	struct http *h = c->h;
	if (!c->idle)
		return;
	if (c->idle_prev)
		c->idle_prev->idle_next = c->idle_next;
	else
		h->idle_head = c->idle_next;
	if (c->idle_next)
		c->idle_next->idle_prev = c->idle_prev;
	else
		h->idle_tail = c->idle_prev;
	c->idle_prev = c->idle_next = NULL;
	c->idle = false;
}

/* idle_add puts c last: the most recently active. */
static void idle_add(struct http_conn *c)
{
	struct http *h = c->h;
	idle_remove(c);
	c->idle = true;
	c->idle_prev = h->idle_tail;
	if (h->idle_tail)
		h->idle_tail->idle_next = c;
	else
		h->idle_head = c;
	h->idle_tail = c;
}

/* ---- malformed heads ---- */

static bool crlf_only(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] != '\r' && s[i] != '\n')
			return false;
	return true;
}

int http_head_status(const char *buf, size_t len, size_t last_len)
{
	struct phr_header headers[H2O_MAX_HEADERS];
	size_t nheaders = H2O_MAX_HEADERS, mlen, plen;
	const char *method, *path;
	int minor;
	size_t n = len < H2O_MAX_REQLEN ? len : H2O_MAX_REQLEN;

	/* last_len as h2o passes it: the head is only parsed once it is
	 * complete, so the answer is h2o's. */
	int rc = phr_parse_request(buf, n, &method, &mlen, &path, &plen, &minor, headers, &nheaders,
	                           last_len);
	if (rc > 0)
		return 200;
	if (rc == -2) {
		if (n < H2O_MAX_REQLEN)
			return 0; /* more to come */
		return memchr(buf, '\n', n) ? 431 : 414;
	}
	/* h2o closes without a word on a few stray line ends */
	if (n <= 4 && crlf_only(buf, n))
		return 0;
	/* more lines than h2o takes headers: too many of them */
	size_t lines = 0;
	for (const char *p = buf; (p = memchr(p, '\n', (size_t)(buf + n - p))) != NULL; p++)
		if (++lines > H2O_MAX_HEADERS + 1)
			return 431;
	return 400;
}

/* stand_in replaces what the socket holds with a request h2o accepts and
 * routes to our handler, which answers c->rejected. h2o resumes parsing
 * where its last look ended (c->seen), so the stand-in is longer than that;
 * HTTP/1.0 without keep-alive closes the connection after the answer. */
static void stand_in(struct http_conn *c, h2o_buffer_t **input, size_t at)
{
	static const char head[] = "GET / HTTP/1.0\r\nx-ofelia-pad: ";
	size_t want = c->seen + 8;
	if (want < sizeof head + 4)
		want = sizeof head + 4;
	if (want > H2O_MAX_REQLEN) /* c->seen < H2O_MAX_REQLEN: still longer */
		want = H2O_MAX_REQLEN;
	(*input)->size = at;
	h2o_iovec_t room = h2o_buffer_reserve(input, want);
	memcpy(room.base, head, sizeof head - 1);
	memset(room.base + sizeof head - 1, 'x', want - (sizeof head - 1) - 4);
	memcpy(room.base + want - 4, "\r\n\r\n", 4);
	(*input)->size += want;
}

/* ---- connections ---- */

static void on_close(void *data);
static void on_accept(h2o_socket_t *listener, const char *err);

static struct http_conn *conn_of(h2o_req_t *req)
{
	h2o_socket_t *sock =
	    req->conn->callbacks->get_socket ? req->conn->callbacks->get_socket(req->conn) : NULL;
	return sock && sock->on_close.cb == on_close ? sock->on_close.data : NULL;
}

static void conn_free(struct http_conn *c)
{
	struct http *h = c->h;
	idle_remove(c);
	if (c->prev)
		c->prev->next = c->next;
	else
		h->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	free(c);
}

/* leave ends a call into h2o, which may have closed the socket. */
static void leave(struct http_conn *c)
{
	if (--c->depth == 0 && c->closed)
		conn_free(c);
}

static void resume_accepting(struct http *h)
{
	if (!h->accept_paused || h->listener == NULL)
		return;
	h->accept_paused = false;
	loop_timer_stop(h->accept_timer);
	h2o_socket_read_start(h->listener, on_accept);
}

/* pause_accepting stops accepting until a connection closes or, with retry_ns, that
 * long at most. */
static void pause_accepting(struct http *h, int64_t retry_ns)
{
	if (!h->accept_paused) {
		h->accept_paused = true;
		h->accept_pauses++;
		h2o_socket_read_stop(h->listener);
	}
	if (retry_ns)
		loop_timer_after(h->accept_timer, retry_ns);
}

static void on_accept_timer(void *arg)
{
	resume_accepting(arg);
}

static void on_close(void *data)
{
	struct http_conn *c = data;
	struct http *h = c->h;
	h->nconns--;
	c->closed = true;
	if (c->depth == 0)
		conn_free(c);
	else
		idle_remove(c);
	resume_accepting(h);
}

static void on_read(h2o_socket_t *sock, const char *err)
{
	struct http_conn *c = sock->on_close.data;
	if (err == NULL && c->rejected == 0 && !c->head_done) {
		int status = http_head_status(sock->input->bytes, sock->input->size, c->seen);
		if (status == 200) {
			c->head_done = true;
		} else if (status) {
			c->rejected = status;
			stand_in(c, &sock->input, 0);
		}
	}
	size_t n = sock->input->size;
	c->seen = n < H2O_MAX_REQLEN ? n : H2O_MAX_REQLEN;
	c->active_ns = clock_mono_ns();
	idle_add(c); /* the most recently active goes last */
	c->depth++;
	c->h2o_read(sock, err);
	leave(c);
}

/* watch puts on_read in front of h2o's reads (again), when h2o reads. */
static void watch(struct http_conn *c)
{
	h2o_socket_t *sock = c->sock;
	if (c->closed || sock->_cb.read == NULL || sock->_cb.read == on_read)
		return;
	c->h2o_read = sock->_cb.read;
	sock->_cb.read = on_read;
	c->active_ns = clock_mono_ns();
	idle_add(c);
}

static void on_written(h2o_socket_t *sock, const char *err)
{
	struct http_conn *c = sock->on_close.data;
	h2o_buffer_t *in = sock->input;
	/* h2o parses a request pipelined behind the answered one as soon as
	 * the answer is out, without a read: look at it first. */
	c->head_done = false;
	c->seen = 0; /* h2o starts the next head afresh */
	if (err == NULL && c->rejected == 0 && in->size > c->reqsize) {
		int status = http_head_status(in->bytes + c->reqsize, in->size - c->reqsize, 0);
		if (status != 0 && status != 200) {
			c->rejected = status;
			stand_in(c, &sock->input, c->reqsize);
		}
	}
	c->depth++;
	c->h2o_write(sock, err);
	if (!c->closed) {
		/* what h2o looked at of the next head, if anything */
		size_t n = sock->input->size;
		c->seen = n < H2O_MAX_REQLEN ? n : H2O_MAX_REQLEN;
	}
	watch(c);
	leave(c);
}

/* evict closes the connection idle the longest, if it has been idle a
 * while, the way h2o closes one whose read failed; false when there is no
 * such connection. */
static bool evict(struct http *h)
{
	int64_t now = clock_mono_ns();
	struct http_conn *c = h->idle_head;
	/* Oldest first; skip one h2o is answering (a 413 on its way out). */
	while (c && (c->sock->_cb.read != on_read || c->sock->_cb.write != NULL))
		c = c->idle_next;
	if (c == NULL || now - c->active_ns < EVICT_MIN_IDLE_NS)
		return false;
	h->evicted++;
	c->depth++;
	c->h2o_read(c->sock, "closed to make room for a new connection");
	leave(c);
	return true;
}

/* warn logs a reason to pause at most once a minute. */
static void warn(struct http *h, const char *msg, const char *detail)
{
	int64_t now = clock_mono_ns();
	if (h->warned_ns && now - h->warned_ns < WARN_EVERY_NS)
		return;
	h->warned_ns = now;
	char max[16];
	snprintf(max, sizeof max, "%d", h->max_conns);
	log_kv(LOG_WARN, msg, "max", max, detail ? "error" : NULL, detail, NULL);
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
	struct http *h = listener->data;
	if (err != NULL)
		return;
	for (int i = 0; i < ACCEPT_ROUND; i++) {
		if (h->nconns >= h->max_conns && !evict(h)) {
			warn(h, "HTTP connections at their limit: new ones wait", NULL);
			pause_accepting(h, ACCEPT_RETRY_NS);
			return;
		}
		h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
		if (sock == NULL) {
			/* Out of descriptors: the connection stays queued, and
			 * returning would wake the loop again at once. */
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				warn(h, "cannot accept HTTP connections: pausing", strerror(errno));
				pause_accepting(h, ACCEPT_RETRY_NS);
			}
			return;
		}
		struct http_conn *c = xcalloc(1, sizeof *c);
		c->h = h;
		c->sock = sock;
		c->next = h->conns;
		if (h->conns)
			h->conns->prev = c;
		h->conns = c;
		h->nconns++;
		sock->on_close.cb = on_close;
		sock->on_close.data = c;
		c->depth++;
		h2o_accept(&h->accept_ctx, sock);
		watch(c);
		leave(c);
	}
}

int http_conn_request(h2o_req_t *req)
{
	struct http_conn *c = conn_of(req);
	if (c == NULL)
		return 0;
	idle_remove(c); /* busy until answered */
	return c->rejected;
}

void http_conn_sent(h2o_req_t *req)
{
	struct http_conn *c = conn_of(req);
	h2o_socket_t *sock = c ? c->sock : NULL;
	if (c == NULL || sock->_cb.write == NULL || sock->_cb.write == on_written)
		return;
	/* What h2o consumes once the answer is out: the head and the body (a
	 * chunked body is decoded in place to its length). */
	struct phr_header headers[H2O_MAX_HEADERS];
	size_t nheaders = H2O_MAX_HEADERS, mlen, plen;
	const char *method, *path;
	int minor;
	int head = phr_parse_request(sock->input->bytes, sock->input->size, &method, &mlen, &path,
	                             &plen, &minor, headers, &nheaders, 0);
	c->reqsize = head > 0 ? (size_t)head + req->entity.len : sock->input->size;
	c->h2o_write = sock->_cb.write;
	sock->_cb.write = on_written;
}

/* open_descriptors counts this process's open descriptors. */
static int open_descriptors(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;
	if (d == NULL)
		return 64;
	while (readdir(d))
		n++;
	closedir(d);
	return n - 3; /* ".", ".." and the directory's own */
}

void http_conn_init(struct http *h, const struct config *cfg)
{
	struct rlimit rl;
	char nofile[24], max[16];

	h->accept_timer = loop_timer_new(h->deps.loop, on_accept_timer, h);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rlim_t want = rl.rlim_max < NOFILE_WANTED ? rl.rlim_max : NOFILE_WANTED;
		if (rl.rlim_cur < want) {
			rl.rlim_cur = want;
			if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
				getrlimit(RLIMIT_NOFILE, &rl);
		}
	} else {
		rl.rlim_cur = 1024;
	}
	long long soft = rl.rlim_cur == RLIM_INFINITY ? NOFILE_WANTED : (long long)rl.rlim_cur;
	int runners =
	    cfg->global.max_concurrent > 0 ? cfg->global.max_concurrent : RESERVE_RUNNERS_UNLIMITED;
	long long reserve =
	    open_descriptors() + RESERVE_FIXED + (long long)RESERVE_PER_RUNNER * runners;
	long long conns = soft - reserve;
	h->max_conns = conns < MIN_CONNECTIONS ? MIN_CONNECTIONS
	               : conns > INT32_MAX     ? INT32_MAX
	                                       : (int)conns;
	snprintf(nofile, sizeof nofile, "%lld", soft);
	snprintf(max, sizeof max, "%d", h->max_conns);
	if (conns < MIN_CONNECTIONS)
		log_kv(LOG_WARN,
		       "few descriptors: jobs may fail with \"Too many open files\" under many "
		       "connections",
		       "nofile", nofile, "max_connections", max, NULL);
	else
		log_kv(LOG_INFO, "HTTP connections", "max", max, "nofile", nofile, NULL);
}

void http_conn_listen(struct http *h)
{
	h->listener->data = h;
	h2o_socket_read_start(h->listener, on_accept);
}

void http_conn_fini(struct http *h)
{
	/* Sockets still open at exit (a warning was logged) outlive us. */
	for (struct http_conn *c = h->conns, *next; c; c = next) {
		next = c->next;
		c->sock->on_close.cb = NULL;
		c->sock->on_close.data = NULL;
		free(c);
	}
	h->conns = h->idle_head = h->idle_tail = NULL;
	loop_timer_free(h->accept_timer);
	h->accept_timer = NULL;
}
