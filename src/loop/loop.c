#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <h2o.h>

#include "loop/loop.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/xalloc.h"

struct loop {
	h2o_evloop_t *evloop;
	h2o_multithread_queue_t *queue;
	bool stop;
	h2o_socket_t *signals; /* NULL until loop_on_signals */
	void (*on_signal)(int signo, void *arg);
	void *signal_arg;
};

struct loop_timer {
	struct loop *loop;
	h2o_socket_t *sock; /* wraps the timerfd */
	bool armed;
	void (*on_fire)(void *arg);
	void *arg;
};

struct loop_mailbox {
	h2o_multithread_receiver_t receiver;
	struct loop *loop;
	void (*on_message)(void *msg, void *arg);
	void *arg;
};

/* The envelope keeps h2o's message link out of the callers' structs. */
struct envelope {
	h2o_multithread_message_t super;
	void *msg;
};

void loop_block_signals(const int *signals, size_t n)
{
	sigset_t set;
	sigemptyset(&set);
	for (size_t i = 0; i < n; i++)
		sigaddset(&set, signals[i]);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
}

struct loop *loop_new(void)
{
	struct loop *l = xcalloc(1, sizeof *l);
	l->evloop = h2o_evloop_create();
	l->queue = h2o_multithread_create_queue(l->evloop);
	return l;
}

void loop_free(struct loop *l)
{
	if (l == NULL)
		return;
	if (l->signals)
		h2o_socket_close(l->signals);
	h2o_multithread_destroy_queue(l->queue);
	/* Closing sockets completes on the next turn; let it happen. h2o's
	 * destroy_queue leaves the queue itself to the caller. */
	h2o_evloop_run(l->evloop, 0);
	free(l->queue);
	h2o_evloop_destroy(l->evloop);
	free(l);
}

struct st_h2o_evloop_t *loop_evloop(struct loop *l)
{
	return l->evloop;
}

int loop_run(struct loop *l)
{
	l->stop = false;
	while (!l->stop)
		h2o_evloop_run(l->evloop, INT32_MAX);
	return 0;
}

void loop_stop(struct loop *l)
{
	l->stop = true;
}

static void on_timerfd(h2o_socket_t *sock, const char *err)
{
	struct loop_timer *t = sock->data;
	/* evloop already read the 8-byte expiration count into the input buffer. */
	h2o_buffer_consume(&sock->input, sock->input->size);
	if (err != NULL) {
		log_errorx("loop: timer failed: %s", err);
		return;
	}
	if (!t->armed)
		return;
	t->armed = false;
	t->on_fire(t->arg);
}

struct loop_timer *loop_timer_new(struct loop *l, void (*on_fire)(void *arg), void *arg)
{
	int fd = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK | TFD_CLOEXEC);
	if (fd < 0) {
		log_error("loop: timerfd_create");
		abort();
	}
	struct loop_timer *t = xcalloc(1, sizeof *t);
	t->loop = l;
	t->on_fire = on_fire;
	t->arg = arg;
	t->sock = h2o_evloop_socket_create(l->evloop, fd, 0);
	t->sock->data = t;
	h2o_socket_read_start(t->sock, on_timerfd);
	return t;
}

static void arm(struct loop_timer *t, int clock, int64_t when_ns)
{
	struct itimerspec its = {0};
	/* A zero it_value disarms a timerfd, so "now or earlier" becomes 1 ns. */
	if (when_ns <= 0)
		when_ns = 1;
	its.it_value.tv_sec = when_ns / NS_PER_SEC;
	its.it_value.tv_nsec = when_ns % NS_PER_SEC;
	int fd = h2o_socket_get_fd(t->sock);
	if (clock == CLOCK_MONOTONIC) {
		/* The fd counts on CLOCK_REALTIME; a relative timer is clock-agnostic. */
		if (timerfd_settime(fd, 0, &its, NULL) < 0)
			log_warn("loop: timerfd_settime");
	} else if (timerfd_settime(fd, TFD_TIMER_ABSTIME, &its, NULL) < 0) {
		log_warn("loop: timerfd_settime");
	}
	t->armed = true;
}

void loop_timer_at(struct loop_timer *t, int64_t when_ns)
{
	arm(t, CLOCK_REALTIME, when_ns);
}

void loop_timer_after(struct loop_timer *t, int64_t delay_ns)
{
	arm(t, CLOCK_MONOTONIC, delay_ns);
}

void loop_timer_stop(struct loop_timer *t)
{
	struct itimerspec its = {0};
	timerfd_settime(h2o_socket_get_fd(t->sock), 0, &its, NULL);
	t->armed = false;
}

int loop_timer_armed(const struct loop_timer *t)
{
	return t->armed;
}

void loop_timer_free(struct loop_timer *t)
{
	if (t == NULL)
		return;
	h2o_socket_close(t->sock);
	free(t);
}

static void on_messages(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
	struct loop_mailbox *m = (struct loop_mailbox *)receiver;
	while (!h2o_linklist_is_empty(messages)) {
		struct envelope *e =
		    H2O_STRUCT_FROM_MEMBER(struct envelope, super.link, messages->next);
		h2o_linklist_unlink(&e->super.link);
		void *msg = e->msg;
		free(e);
		m->on_message(msg, m->arg);
	}
}

struct loop_mailbox *loop_mailbox_new(struct loop *l, void (*on_message)(void *msg, void *arg),
                                      void *arg)
{
	struct loop_mailbox *m = xcalloc(1, sizeof *m);
	m->loop = l;
	m->on_message = on_message;
	m->arg = arg;
	h2o_multithread_register_receiver(l->queue, &m->receiver, on_messages);
	return m;
}

void loop_mailbox_post(struct loop_mailbox *m, void *msg)
{
	struct envelope *e = xcalloc(1, sizeof *e);
	e->msg = msg;
	h2o_multithread_send_message(&m->receiver, &e->super);
}

void loop_mailbox_free(struct loop_mailbox *m)
{
	if (m == NULL)
		return;
	/* Deliver what is still queued: the messages own memory. */
	if (!h2o_linklist_is_empty(&m->receiver._messages)) {
		h2o_linklist_t pending;
		h2o_linklist_init_anchor(&pending);
		h2o_linklist_insert_list(&pending, &m->receiver._messages);
		on_messages(&m->receiver, &pending);
	}
	h2o_multithread_unregister_receiver(m->loop->queue, &m->receiver);
	free(m);
}

static void on_signalfd(h2o_socket_t *sock, const char *err)
{
	struct loop *l = sock->data;
	if (err != NULL) {
		log_errorx("loop: signal fd failed: %s", err);
		return;
	}
	while (sock->input->size >= sizeof(struct signalfd_siginfo)) {
		struct signalfd_siginfo si;
		memcpy(&si, sock->input->bytes, sizeof si);
		h2o_buffer_consume(&sock->input, sizeof si);
		l->on_signal((int)si.ssi_signo, l->signal_arg);
	}
}

int loop_on_signals(struct loop *l, const int *signals, size_t n,
                    void (*on_signal)(int signo, void *arg), void *arg)
{
	sigset_t set;
	sigemptyset(&set);
	for (size_t i = 0; i < n; i++)
		sigaddset(&set, signals[i]);
	int fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0)
		return -1;
	l->on_signal = on_signal;
	l->signal_arg = arg;
	l->signals = h2o_evloop_socket_create(l->evloop, fd, 0);
	l->signals->data = l;
	h2o_socket_read_start(l->signals, on_signalfd);
	return 0;
}
