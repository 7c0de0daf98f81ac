/* loop: the daemon's single event loop, on h2o's evloop so the HTTP server
 * shares it. It adds what the scheduler needs: one-shot timers with
 * nanosecond deadlines (timerfd), mailboxes that other threads post to, and
 * signals delivered as events (signalfd). Everything runs on the loop thread
 * except loop_mailbox_post, which any thread may call. */
#ifndef OFELIA_LOOP_LOOP_H
#define OFELIA_LOOP_LOOP_H

#include <stddef.h>
#include <stdint.h>

struct loop;
struct loop_timer;
struct loop_mailbox;
struct st_h2o_evloop_t;

/* loop_block_signals blocks the signals the loop will read through
 * loop_on_signals; call it in main before any thread starts, so every
 * thread inherits the mask. */
void loop_block_signals(const int *signals, size_t n);

/* loop_new creates a loop; NULL with errno set on failure. */
struct loop *loop_new(void);
/* loop_free releases the loop; timers, mailboxes and signal handlers must
 * have been freed first. NULL is fine. */
void loop_free(struct loop *l);
/* loop_evloop returns h2o's evloop, for the HTTP server's sockets. */
struct st_h2o_evloop_t *loop_evloop(struct loop *l);
/* loop_run turns the loop until loop_stop is called; returns 0. */
int loop_run(struct loop *l);
/* loop_stop makes loop_run return after the current turn. */
void loop_stop(struct loop *l);

/* loop_timer_new makes a stopped one-shot timer calling on_fire(arg). */
struct loop_timer *loop_timer_new(struct loop *l, void (*on_fire)(void *arg), void *arg);
/* loop_timer_at arms t for a wall-clock time (ns since the epoch); a time in
 * the past fires at the next turn. Re-arming replaces the deadline. */
void loop_timer_at(struct loop_timer *t, int64_t when_ns);
/* loop_timer_after arms t delay_ns from now on the monotonic clock. */
void loop_timer_after(struct loop_timer *t, int64_t delay_ns);
void loop_timer_stop(struct loop_timer *t);
/* loop_timer_armed tells whether t will fire. */
int loop_timer_armed(const struct loop_timer *t);
void loop_timer_free(struct loop_timer *t);

/* loop_mailbox_new makes a mailbox whose messages are handed to
 * on_message(msg, arg) on the loop thread, in the order they were posted. */
struct loop_mailbox *loop_mailbox_new(struct loop *l, void (*on_message)(void *msg, void *arg),
                                      void *arg);
/* loop_mailbox_post queues msg from any thread; on_message then owns it. */
void loop_mailbox_post(struct loop_mailbox *m, void *msg);
/* loop_mailbox_free drops the mailbox; messages not yet delivered are handed
 * to on_message first, so nothing leaks. */
void loop_mailbox_free(struct loop_mailbox *m);

/* loop_on_signals delivers the given (already blocked) signals to
 * on_signal(signo, arg) on the loop thread. One handler per loop. */
int loop_on_signals(struct loop *l, const int *signals, size_t n,
                    void (*on_signal)(int signo, void *arg), void *arg);

#endif
