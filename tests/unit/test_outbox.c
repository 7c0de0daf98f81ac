/* The store's outbox against a real SQLite file: notices commit with the
 * outcome that owes them (and roll back with it), cooldown, the attempt
 * results and counters, dead-man keys, listing and retention; and the
 * sql/failed-notifications.sql report as a user runs it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "store/store.h"
#include "util/buf.h"
#include "util/clock.h"
#include "support.h"

#define SEC NS_PER_SEC

static char dir[64];
static char path[128];
static struct store *st;
static int planned; /* how many times the planner ran */

static void setup(void)
{
	snprintf(dir, sizeof dir, "/tmp/ofelia-outbox-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/ofelia.db", dir);
	struct store_options o = {.path = path};
	char err[256];
	st = store_open(&o, err, sizeof err);
	cr_assert_not_null(st, "%s", err);
	struct store_job j = {.def = job_new("backup", JOB_LOCAL)};
	j.def->schedule = strdup("@hourly");
	j.def->command = strdup("true");
	cr_assert_eq(store_job_save(st, &j), 0, "%s", store_errmsg(st));
	job_free(j.def);
	planned = 0;
}

static void teardown(void)
{
	store_close(st);
	support_rmtree(dir);
}

TestSuite(outbox, .init = setup, .fini = teardown);

/* planner: a webhook and Slack for every outcome, Slack with a cooldown of
 * an hour for failures; nothing for successes of a job named "quiet". */
static size_t planner(void *arg, const struct store_outcome *o, struct store_notice *out)
{
	(void)arg;
	planned++;
	cr_assert_not_null(o->def, "the planner gets the stored definition");
	cr_expect_str_eq(o->def->name, o->job_name);
	out[0] = (struct store_notice){"webhook", "hook", 0};
	out[1] =
	    (struct store_notice){"slack", "", o->status == JOB_STATUS_FAILED ? 3600 * SEC : 0};
	return 2;
}

static void run(const char *job, enum job_status status, const char *error, char id[37])
{
	struct store_execution e = {.job_name = (char *)job,
	                            .job_type = JOB_LOCAL,
	                            .trigger = JOB_TRIGGER_MANUAL,
	                            .start_ns = clock_now_ns()};
	e.created_ns = e.start_ns;
	store_new_id(e.id);
	cr_assert_eq(store_execution_begin(st, &e), 0, "%s", store_errmsg(st));
	e.status = status;
	e.end_ns = clock_now_ns();
	e.error = (char *)error;
	cr_assert_eq(store_execution_finish(st, &e), 0, "%s", store_errmsg(st));
	memcpy(id, e.id, 37);
}

static size_t count_state(const char *state)
{
	struct store_notification **v;
	size_t n;
	cr_assert_eq(store_outbox_list(st, state, NULL, 0, 1000, &v, &n), 0);
	store_notifications_free(v, n);
	return n;
}

Test(outbox, notices_commit_with_the_outcome)
{
	char id[37];
	run("backup", JOB_STATUS_SUCCESS, NULL, id);
	cr_expect_eq(count_state("pending"), 0, "no planner, no notices");

	store_set_planner(st, planner, NULL);
	run("backup", JOB_STATUS_SUCCESS, NULL, id);
	struct store_notification **v;
	size_t n;
	cr_assert_eq(store_outbox_of_execution(st, id, &v, &n), 0);
	cr_assert_eq(n, 2);
	cr_expect_str_eq(v[0]->channel, "webhook");
	cr_expect_str_eq(v[0]->target, "hook");
	cr_expect_str_eq(v[0]->event, "success");
	cr_expect_str_eq(v[0]->state, "pending");
	char key[64];
	snprintf(key, sizeof key, "%s:webhook:hook", id);
	cr_expect_str_eq(v[0]->idempotency_key, key);
	snprintf(key, sizeof key, "%s:slack", id);
	cr_expect_str_eq(v[1]->idempotency_key, key);
	store_notifications_free(v, n);

	/* A slot outcome owes notices too, in the same commit. */
	cr_assert_eq(store_slot_outcome(st, "backup", JOB_LOCAL, 3600 * SEC, JOB_STATUS_MISSED,
	                                "ofelia was down", "@hourly", 7200 * SEC),
	             0, "%s", store_errmsg(st));
	cr_expect_eq(count_state("pending"), 4);

	/* A rolled-back outcome leaves no notice. */
	cr_assert_eq(store_tx_begin(st), 0);
	cr_assert_eq(store_slot_outcome(st, "backup", JOB_LOCAL, 7200 * SEC, JOB_STATUS_SKIPPED,
	                                "overlap", "@hourly", 10800 * SEC),
	             0);
	store_tx_rollback(st);
	cr_expect_eq(count_state("pending"), 4);
	cr_expect_eq(planned, 3);
}

Test(outbox, cooldown_suppresses_equal_failures)
{
	char a[37], b[37], c[37];
	store_set_planner(st, planner, NULL);
	run("backup", JOB_STATUS_FAILED, "exit status 1", a);
	run("backup", JOB_STATUS_FAILED, "exit status 1", b);
	run("backup", JOB_STATUS_FAILED, "exit status 2", c);
	struct store_notification **v;
	size_t n;
	cr_assert_eq(store_outbox_of_execution(st, b, &v, &n), 0);
	cr_assert_eq(n, 2);
	cr_expect_str_eq(v[0]->state, "pending", "the webhook has no cooldown");
	cr_expect_str_eq(v[1]->state, "suppressed");
	cr_expect_neq(v[1]->finished_ns, 0);
	store_notifications_free(v, n);
	cr_assert_eq(store_outbox_of_execution(st, c, &v, &n), 0);
	cr_expect_str_eq(v[1]->state, "pending", "another error is another failure");
	store_notifications_free(v, n);
}

Test(outbox, attempts_move_a_notice_on)
{
	char id[37];
	store_set_planner(st, planner, NULL);
	run("backup", JOB_STATUS_FAILED, "boom", id);
	int64_t now = clock_now_ns();
	struct store_notification **v;
	size_t n;
	cr_assert_eq(store_outbox_due(st, now + SEC, 10, &v, &n), 0);
	cr_assert_eq(n, 2);
	int64_t hook = v[0]->id, slack = v[1]->id;
	store_notifications_free(v, n);

	cr_assert_eq(store_outbox_result(st, hook, "webhook", "pending", now, now + 60 * SEC,
	                                 "HTTP 503: busy"),
	             0);
	cr_assert_eq(store_outbox_result(st, slack, "slack", "delivered", now, 0, NULL), 0);
	/* A second result for a finished notice changes nothing. */
	cr_assert_eq(store_outbox_result(st, slack, "slack", "dead", now, 0, "late"), 0);
	cr_assert_eq(store_outbox_due(st, now + SEC, 10, &v, &n), 0);
	cr_expect_eq(n, 0, "the retried one is due later");
	store_notifications_free(v, n);
	int64_t ids[4], due[4];
	cr_assert_eq(store_outbox_next_due(st, 4, ids, due, &n), 0);
	cr_assert_eq(n, 1);
	cr_expect_eq(ids[0], hook);
	cr_expect_eq(due[0] / NS_PER_MS, (now + 60 * SEC) / NS_PER_MS);

	cr_assert_eq(
	    store_outbox_result(st, hook, "webhook", "dead", now + 60 * SEC, 0, "HTTP 404: gone"),
	    0);
	cr_assert_eq(store_outbox_of_execution(st, id, &v, &n), 0);
	cr_expect_str_eq(v[0]->state, "dead");
	cr_expect_eq(v[0]->attempts, 2);
	cr_expect_str_eq(v[0]->last_error, "HTTP 404: gone");
	cr_expect_str_eq(v[1]->state, "delivered");
	cr_expect_eq(v[1]->attempts, 1);
	store_notifications_free(v, n);
	cr_assert_eq(store_outbox_next_due(st, 4, ids, due, &n), 0);
	cr_expect_eq(n, 0);

	struct store_notification_count *c;
	int64_t pending;
	cr_assert_eq(store_outbox_counters(st, &c, &n, &pending), 0);
	struct buf all = BUF_INIT;
	for (size_t i = 0; i < n; i++)
		buf_printf(&all, "%s/%s=%lld ", c[i].channel, c[i].state, (long long)c[i].count);
	cr_expect_str_eq(all.data,
	                 "slack/delivered=1 slack/queued=1 webhook/dead=1 webhook/queued=1 "
	                 "webhook/retried=1 ");
	cr_expect_eq(pending, 0);
	buf_free(&all);
	free(c);
}

Test(outbox, dead_man_alerts_once_per_key)
{
	struct store_notice v[] = {{"webhook", "hook", 0}, {"mail", "", 0}};
	cr_expect_eq(
	    store_outbox_alert(st, "backup", "no-success:backup:t1", "nothing for 26h", v, 2), 2);
	cr_expect_eq(
	    store_outbox_alert(st, "backup", "no-success:backup:t1", "nothing for 26h", v, 2), 0,
	    "the same silence alerts once");
	cr_expect_eq(store_outbox_alert(st, "backup", "no-success:backup:t2", "again", v, 1), 1);
	struct store_notification **l;
	size_t n;
	cr_assert_eq(store_outbox_list(st, NULL, "backup", 0, 10, &l, &n), 0);
	cr_assert_eq(n, 3);
	cr_expect_str_eq(l[0]->idempotency_key, "no-success:backup:t2:webhook:hook");
	cr_expect_null(l[0]->execution_id);
	cr_expect_str_eq(l[0]->event, "no-success");
	cr_expect_str_eq(l[0]->detail, "again");
	/* pages by id */
	int64_t before = l[0]->id;
	store_notifications_free(l, n);
	cr_assert_eq(store_outbox_list(st, "pending", NULL, before, 10, &l, &n), 0);
	cr_expect_eq(n, 2);
	store_notifications_free(l, n);
	cr_assert_eq(store_outbox_list(st, "pending", "other", 0, 10, &l, &n), 0);
	cr_expect_eq(n, 0);
	store_notifications_free(l, n);
}

Test(outbox, prune_keeps_pending_notices)
{
	char id[37];
	store_set_planner(st, planner, NULL);
	run("backup", JOB_STATUS_SUCCESS, NULL, id);
	struct store_notification **v;
	size_t n;
	cr_assert_eq(store_outbox_of_execution(st, id, &v, &n), 0);
	cr_assert_eq(
	    store_outbox_result(st, v[0]->id, "webhook", "delivered", clock_now_ns(), 0, NULL), 0);
	store_notifications_free(v, n);
	cr_expect_eq(store_outbox_prune(st, clock_now_ns() + SEC, 100), 1);
	cr_expect_eq(count_state("pending"), 1);
	cr_expect_eq(count_state("delivered"), 0);
}

Test(outbox, failed_notifications_report)
{
	char id[37], cmd[512], chunk[4096];
	store_set_planner(st, planner, NULL);
	run("backup", JOB_STATUS_FAILED, "boom", id);
	struct store_notification **v;
	size_t n;
	cr_assert_eq(store_outbox_of_execution(st, id, &v, &n), 0);
	int64_t now = clock_now_ns() / NS_PER_MS * NS_PER_MS;
	cr_assert_eq(
	    store_outbox_result(st, v[0]->id, "webhook", "dead", now, 0, "HTTP 404: no such hook"),
	    0);
	cr_assert_eq(store_outbox_result(st, v[1]->id, "slack", "pending", now, now + 60 * SEC,
	                                 "connection refused"),
	             0);
	char created[CLOCK_TEXT_MAX], next[CLOCK_TEXT_MAX];
	clock_format_iso(v[0]->created_ns, created);
	clock_format_iso(now + 60 * SEC, next);
	store_notifications_free(v, n);

	snprintf(cmd, sizeof cmd,
	         "sqlite3 -batch -bail -init /dev/null '%s' < sql/failed-notifications.sql", path);
	cr_assert_eq(access("sql/failed-notifications.sql", R_OK), 0);
	FILE *p = popen(cmd, "r");
	struct buf out = BUF_INIT;
	while ((n = fread(chunk, 1, sizeof chunk, p)) > 0)
		for (size_t i = 0; i < n; i++)
			if (chunk[i] != '\r')
				buf_putc(&out, chunk[i]);
	cr_assert_eq(pclose(p), 0);
	char want[1024];
	snprintf(want, sizeof want,
	         "created_at,job_name,channel,target,event,state,attempts,last_error,"
	         "next_attempt_at,execution_id\n"
	         "%s,backup,slack,,failed,pending,1,\"connection refused\",%s,%s\n"
	         "%s,backup,webhook,hook,failed,dead,1,\"HTTP 404: no such hook\",,%s\n",
	         created, next, id, created, id);
	cr_expect_str_eq(out.data, want);
	buf_free(&out);
}
