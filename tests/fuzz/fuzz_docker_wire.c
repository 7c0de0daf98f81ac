/* libFuzzer target for ofelia's HTTP/1.1 client of the Docker engine
 * (src/docker/wire.c): the status line, the headers, chunked and
 * Content-Length bodies and bodies that end with the connection.
 *
 * A thread serves a unix socket: for each connection it reads the request
 * head, answers with the input's bytes and hangs up. Input byte 0 picks the
 * call: a collected reply (ping), a JSON reply (version), or a stream of
 * container output (logs, framed). Besides the sanitizers it checks that a
 * failed call always says why and never reports success with a status of
 * 400 or more. */
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "docker/docker.h"
#include "util/clock.h"

static char sock_path[108];
static struct docker *engine;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done = PTHREAD_COND_INITIALIZER;
static const uint8_t *reply;
static size_t reply_len;
static unsigned long served; /* connections answered and closed */

static void serve_one(int c)
{
	char req[8192];
	size_t n = 0;
	ssize_t r;
	while (n < sizeof req - 1 && (r = read(c, req + n, sizeof req - 1 - n)) > 0) {
		n += (size_t)r;
		req[n] = '\0';
		if (strstr(req, "\r\n\r\n"))
			break;
	}
	pthread_mutex_lock(&lock);
	size_t off = 0;
	while (off < reply_len && (r = send(c, reply + off, reply_len - off, MSG_NOSIGNAL)) > 0)
		off += (size_t)r;
	close(c);
	served++;
	pthread_cond_signal(&done);
	pthread_mutex_unlock(&lock);
}

static void *server(void *arg)
{
	int fd = *(int *)arg;
	for (;;) {
		int c = accept(fd, NULL, NULL);
		if (c >= 0)
			serve_one(c);
	}
	return NULL;
}

static void remove_socket(void)
{
	unlink(sock_path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	static int fd;
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	snprintf(sock_path, sizeof sock_path, "/tmp/ofelia-fuzz-wire-%d.sock", (int)getpid());
	memcpy(a.sun_path, sock_path, sizeof sock_path);
	unlink(sock_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 16) < 0)
		abort();
	atexit(remove_socket);
	pthread_t t;
	if (pthread_create(&t, NULL, server, &fd) != 0)
		abort();
	char host[128], err[256];
	snprintf(host, sizeof host, "unix://%s", sock_path);
	engine = docker_new(host, err, sizeof err);
	if (engine == NULL)
		abort();
	return 0;
}

static void on_line(void *arg, const struct docker_line *l)
{
	size_t *total = arg;
	*total += l->len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	pthread_mutex_lock(&lock);
	reply = data + 1;
	reply_len = size - 1;
	unsigned long want = served + 1;
	pthread_mutex_unlock(&lock);

	/* The server always hangs up; the deadline only guards the target. */
	docker_set_deadline(engine, clock_mono_ns() + 5 * NS_PER_SEC);
	int rc;
	switch (data[0] % 3) {
	case 0:
		rc = docker_ping(engine);
		break;
	case 1: {
		struct docker_version v;
		rc = docker_version_get(engine, &v);
		break;
	}
	default: {
		struct docker_logs_options o = {.timestamps = (data[0] & 4) != 0};
		size_t total = 0;
		rc = docker_container_logs(engine, "c", &o, on_line, &total);
		break;
	}
	}
	/* The input must outlive the server's answer, which may still be
	 * going out when the client has read what it needed. */
	pthread_mutex_lock(&lock);
	while (served < want)
		pthread_cond_wait(&done, &lock);
	pthread_mutex_unlock(&lock);
	if (rc < 0 && docker_errmsg(engine)[0] == '\0')
		__builtin_trap();
	if (rc == 0 && docker_http_status(engine) >= 400)
		__builtin_trap();
	return 0;
}
