/* The pure and store-side parts of a cluster (docs/cluster.md): two real
 * SQLite files as two nodes, pages of changes read from one and applied to
 * the other, the merge rules, the config section, base64 and the job-set
 * hash. The etcd side runs for real in tests/integration/test_cluster.py. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <sqlite3.h>

#include "cluster/cluster.h"
#include "cluster/cluster_int.h"
#include "config/config.h"
#include "store/store.h"
#include "util/clock.h"
#include "support.h"

#define T0  1767225600000000000LL
#define SEC NS_PER_SEC

static char dir[64];

static void setup(void)
{
	snprintf(dir, sizeof dir, "/tmp/ofelia-cluster-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
	support_rmtree(dir);
}

TestSuite(cluster, .init = setup, .fini = teardown);

static struct store *node(const char *name)
{
	char path[128], err[512] = "";
	snprintf(path, sizeof path, "%s/%s.db", dir, name);
	struct store_options o = {.path = path};
	struct store *s = store_open(&o, err, sizeof err);
	cr_assert_not_null(s, "%s", err);
	cr_assert_eq(store_cluster_enable(s, name), 0, "%s", store_errmsg(s));
	return s;
}

static void save_job(struct store *s, const char *name, const char *command)
{
	struct job *def = job_new(name, JOB_LOCAL);
	free(def->schedule);
	def->schedule = strdup("@every 1s");
	def->command = strdup(command);
	struct store_job j = {.def = def, .source_def = def};
	cr_assert_eq(store_job_save(s, &j), 0, "%s", store_errmsg(s));
	job_free(def);
}

static void begin(struct store *s, const char *job, int64_t slot, char id[37])
{
	struct store_execution e = {0};
	store_new_id(e.id);
	e.job_name = (char *)job;
	e.job_type = JOB_LOCAL;
	e.status = JOB_STATUS_RUNNING;
	e.trigger = JOB_TRIGGER_SCHEDULE;
	e.scheduled_ns = slot;
	e.start_ns = slot;
	e.created_ns = slot;
	cr_assert_eq(store_execution_begin(s, &e), 0, "%s", store_errmsg(s));
	memcpy(id, e.id, 37);
}

static void finish(struct store *s, const char *id, const char *job, enum job_status st)
{
	struct store_execution e = {0};
	memcpy(e.id, id, 37);
	e.job_name = (char *)job;
	e.status = st;
	e.end_ns = T0 + 2 * SEC;
	e.duration_ns = SEC / 2;
	/* Every run here fills the slot T0 of an @every 1s job, whose row moves
	 * with the end. */
	e.scheduled_ns = T0;
	e.slot_schedule = "@every 1s";
	e.next_run_ns = T0 + SEC;
	cr_assert_eq(store_execution_finish(s, &e), 0, "%s", store_errmsg(s));
}

/* pull moves every page of from's changes into to; returns the pages. */
static int pull(struct store *from, const char *source, struct store *to)
{
	int pages = 0;
	for (;;) {
		char *cursor = NULL;
		cr_assert_eq(store_cluster_cursor(to, source, &cursor), 0);
		json_t *page = store_changes_read(from, cursor);
		free(cursor);
		cr_assert_not_null(page, "%s", store_errmsg(from));
		struct store_applied a;
		cr_assert_eq(store_changes_apply(to, source, page, &a), 0, "%s", store_errmsg(to));
		store_applied_fini(&a);
		pages++;
		bool more = json_is_true(json_object_get(page, "more"));
		json_decref(page);
		if (!more)
			return pages;
		cr_assert_lt(pages, 1000, "the pages never end");
	}
}

static enum job_status status_of(struct store *s, const char *id)
{
	struct store_execution *e = NULL;
	cr_assert_eq(store_execution_get(s, id, &e), 0);
	cr_assert_not_null(e, "no execution %s", id);
	enum job_status st = e->status;
	store_execution_free(e);
	return st;
}

Test(cluster, a_follower_takes_the_leaders_history_once)
{
	struct store *a = node("a"), *b = node("b");
	char id[37];
	store_cluster_lead(a, true);
	save_job(a, "tick", "echo hi");
	begin(a, "tick", T0, id);
	pull(a, "a", b);
	cr_assert_eq(status_of(b, id), JOB_STATUS_RUNNING);

	store_log_append(a, id, 1, T0, false, "hello", 5);
	store_log_append(a, id, 2, T0, true, "oops", 4);
	finish(a, id, "tick", JOB_STATUS_SUCCESS);
	pull(a, "a", b);
	cr_assert_eq(status_of(b, id), JOB_STATUS_SUCCESS);
	struct store_execution *e = NULL;
	store_execution_get(b, id, &e);
	cr_assert_str_eq(e->node, "a");
	store_execution_free(e);

	struct store_log_line *lines;
	size_t n;
	cr_assert_eq(store_log_read(b, id, 0, 10, &lines, &n), 0);
	cr_assert_eq(n, 2);
	cr_assert_str_eq(lines[1].message, "oops");
	cr_assert(lines[1].is_error);
	store_log_lines_free(lines, n);

	/* The same page again changes nothing: the metrics count it once. */
	json_t *page = store_changes_read(a, NULL);
	struct store_applied ap;
	cr_assert_eq(store_changes_apply(b, "a", page, &ap), 0);
	store_applied_fini(&ap);
	json_decref(page);
	struct store_job_metrics m;
	cr_assert_eq(store_job_metrics(b, "tick", &m), 0);
	cr_assert_eq(m.total_runs, 1);
	cr_assert_eq(m.successful_runs, 1);

	/* The job row came too, as the leader has it. */
	struct store_job *row = NULL;
	cr_assert_eq(store_job_get(b, "tick", &row), 0);
	cr_assert_not_null(row);
	cr_assert_str_eq(row->def->command, "echo hi");
	cr_assert_eq(row->last_slot_ns, T0);
	store_job_free(row);
	store_close(a);
	store_close(b);
}

Test(cluster, a_long_log_comes_over_several_pages)
{
	struct store *a = node("a"), *b = node("b");
	char id[37], line[8192];
	store_cluster_lead(a, true);
	save_job(a, "big", "yes");
	begin(a, "big", T0, id);
	memset(line, 'x', sizeof line);
	/* 3 MiB of lines: past one page's budget. */
	for (int i = 1; i <= 384; i++)
		store_log_append(a, id, i, T0, false, line, sizeof line);
	finish(a, id, "big", JOB_STATUS_SUCCESS);
	int pages = pull(a, "a", b);
	cr_assert_gt(pages, 2);
	struct store_log_line *lines;
	size_t n;
	cr_assert_eq(store_log_read(b, id, 0, 1000, &lines, &n), 0);
	cr_assert_eq(n, 384);
	cr_assert_eq(lines[383].seq, 384);
	store_log_lines_free(lines, n);
	store_close(a);
	store_close(b);
}

Test(cluster, the_ending_its_own_node_recorded_replaces_a_takeovers)
{
	struct store *a = node("a"), *b = node("b"), *c = node("c");
	char id[37];
	store_cluster_lead(a, true);
	save_job(a, "tick", "true");
	pull(a, "a", b);
	/* b took over and found a's claim of the slot, with nothing of it. */
	store_cluster_lead(b, true);
	struct store_execution ph = {0};
	store_new_id(ph.id);
	ph.job_name = "tick";
	ph.job_type = JOB_LOCAL;
	ph.scheduled_ns = T0;
	ph.end_ns = T0 + 3 * SEC;
	ph.node = "a";
	ph.error = "claimed by a";
	cr_assert_eq(store_execution_claimed(b, &ph, "@every 1s", 0), 0, "%s", store_errmsg(b));
	cr_assert_eq(store_execution_claimed(b, &ph, "@every 1s", 0), STORE_CONFLICT);
	pull(b, "b", c);
	struct store_job_metrics m;
	store_job_metrics(c, "tick", &m);
	cr_assert_eq(m.total_runs, 1);

	/* a comes back: its own row of that slot (another id) wins on b and c. */
	begin(a, "tick", T0, id);
	finish(a, id, "tick", JOB_STATUS_SUCCESS);
	pull(a, "a", b);
	pull(a, "a", c);
	for (int k = 0; k < 2; k++) {
		struct store *s = k ? c : b;
		cr_assert_eq(status_of(s, id), JOB_STATUS_SUCCESS);
		struct store_execution *gone = NULL;
		store_execution_get(s, ph.id, &gone);
		cr_assert_null(gone, "the placeholder is still there");
		store_job_metrics(s, "tick", &m);
		cr_assert_eq(m.total_runs, 1, "runs counted twice");
		cr_assert_eq(m.successful_runs, 1);
	}
	/* ... and b's page of its placeholder, late, does not bring it back. */
	pull(b, "b", c);
	cr_assert_eq(status_of(c, id), JOB_STATUS_SUCCESS);
	store_close(a);
	store_close(b);
	store_close(c);
}

Test(cluster, a_leader_keeps_its_own_jobs)
{
	struct store *a = node("a"), *b = node("b");
	store_cluster_lead(a, true);
	save_job(a, "j", "old");
	store_cluster_lead(b, true);
	save_job(b, "j", "mine");
	save_job(a, "other", "x");
	pull(a, "a", b);
	struct store_job *row = NULL;
	store_job_get(b, "j", &row);
	cr_assert_str_eq(row->def->command, "mine");
	store_job_free(row);
	/* A job it did not have goes in. */
	store_job_get(b, "other", &row);
	cr_assert_not_null(row);
	store_job_free(row);
	store_close(a);
	store_close(b);
}

Test(cluster, pages_are_checked)
{
	struct store *b = node("b");
	struct store_applied a;
	json_t *bad = json_pack("{s:s}", "cursor", "1");
	cr_assert_eq(store_changes_apply(b, "a", bad, &a), -1);
	json_decref(bad);
	bad = json_loads("{\"node\":\"a\",\"cursor\":\"9\",\"more\":false,\"jobs\":[],"
	                 "\"jobRefs\":[],\"executions\":[{\"id\":\"short\",\"job_name\":\"x\"}]}",
	                 0, NULL);
	cr_assert_eq(store_changes_apply(b, "a", bad, &a), -1);
	cr_assert(strstr(store_errmsg(b), "without id"), "%s", store_errmsg(b));
	/* Nothing of a refused page stays, its cursor neither. */
	char *cursor = NULL;
	store_cluster_cursor(b, "a", &cursor);
	cr_assert_null(cursor);
	cr_assert_eq(store_changes_apply(b, "b", bad, &a), -1);
	json_decref(bad);
	store_close(b);
}

Test(cluster, a_single_node_numbers_nothing)
{
	char path[128], err[256];
	snprintf(path, sizeof path, "%s/one.db", dir);
	struct store_options o = {.path = path};
	struct store *s = store_open(&o, err, sizeof err);
	cr_assert_not_null(s);
	save_job(s, "j", "x");
	cr_assert_null(store_changes_read(s, NULL));
	store_close(s);
	sqlite3 *db;
	sqlite3_stmt *q;
	cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_prepare_v2(db, "SELECT count(*) FROM jobs WHERE change_seq IS NOT NULL", -1, &q,
	                   NULL);
	cr_assert_eq(sqlite3_step(q), SQLITE_ROW);
	cr_assert_eq(sqlite3_column_int(q, 0), 0);
	sqlite3_finalize(q);
	sqlite3_close(db);
}

Test(cluster, base64_round_trips)
{
	const char *cases[] = {"", "f", "fo", "foo", "foob", "fooba", "/prod/slots/a/2026"};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *e = etcd_b64(cases[i], strlen(cases[i]));
		size_t n;
		char *d = etcd_unb64(e, &n);
		cr_assert_not_null(d);
		cr_assert_eq(n, strlen(cases[i]));
		cr_assert_str_eq(d, cases[i]);
		free(e);
		free(d);
	}
	char *e = etcd_b64("\xff\x00\x10", 3);
	cr_assert_str_eq(e, "/wAQ");
	free(e);
	cr_assert_null(etcd_unb64("abc", NULL));
	cr_assert_null(etcd_unb64("a=bc", NULL));
	cr_assert_null(etcd_unb64("ab!c", NULL));
	json_t *v = json_string("8699443995451752454");
	cr_assert_eq(etcd_int(v), 8699443995451752454LL);
	json_decref(v);
}

Test(cluster, the_job_set_hash_ignores_order_and_place)
{
	struct job *a = job_new("a", JOB_LOCAL), *b = job_new("b", JOB_LOCAL);
	a->command = strdup("x");
	b->command = strdup("y");
	struct job *one[] = {a, b}, *two[] = {b, a};
	char *h1 = cluster_jobs_hash(one, 2), *h2 = cluster_jobs_hash(two, 2);
	cr_assert_str_eq(h1, h2);
	free(a->source);
	a->source = strdup("/etc/elsewhere.ini:40");
	char *h3 = cluster_jobs_hash(one, 2);
	cr_assert_str_eq(h1, h3);
	free(b->command);
	b->command = strdup("z");
	char *h4 = cluster_jobs_hash(one, 2);
	cr_assert_str_neq(h1, h4);
	free(h1);
	free(h2);
	free(h3);
	free(h4);
	job_free(a);
	job_free(b);
}

static struct config *load_ini(const char *text)
{
	struct config_diag d = {STRV_INIT, STRV_INIT};
	struct config *c = config_load_string(text, strlen(text), "c.ini", CONFIG_INI, &d);
	if (c && config_check(c, &d) < 0) {
		config_free(c);
		c = NULL;
	}
	if (c == NULL)
		support_dump(&d);
	config_diag_free(&d);
	return c;
}

Test(cluster, the_config_section)
{
	struct config *c = load_ini("[global]\nenable-web = true\n[cluster]\n"
	                            "etcd-endpoints = http://127.0.0.1:1, https://h:2\n"
	                            "name = prod\nnode = a\nlease-ttl = 3s\n"
	                            "secret = 0123456789abcdef\n");
	cr_assert_not_null(c);
	cr_assert(config_cluster_on(c));
	cr_assert_eq(c->cluster.etcd_endpoints.n, 2);
	cr_assert_str_eq(c->cluster.etcd_endpoints.v[1], "https://h:2");
	cr_assert_eq(c->cluster.lease_ttl_ns, 3 * SEC);
	config_free(c);

	struct config_diag d = {STRV_INIT, STRV_INIT};
	const char *yaml = "web: {enabled: true}\ncluster:\n  etcd-endpoints: [http://a:1]\n"
	                   "  secret: 0123456789abcdef\n  claim-ahead: 500ms\n";
	c = config_load_string(yaml, strlen(yaml), "c.yaml", CONFIG_YAML, &d);
	cr_assert_not_null(c);
	cr_assert_eq(config_check(c, &d), 0);
	cr_assert_eq(c->cluster.claim_ahead_ns, SEC / 2);
	cr_assert_str_eq(c->cluster.name, "ofelia");
	config_free(c);
	config_diag_free(&d);

	cr_assert_null(load_ini("[cluster]\netcd-endpoints = 127.0.0.1:2379\n"));
	cr_assert_null(load_ini("[global]\nenable-web = true\n[cluster]\n"
	                        "etcd-endpoints = http://a:1\nsecret = short\n"));
	cr_assert_null(load_ini("[cluster]\netcd-endpoints = http://a:1\n"
	                        "secret = 0123456789abcdef\n"));
	cr_assert_null(load_ini("[global]\nenable-web = true\nweb-address = :8080\n"
	                        "web-insecure = true\n[cluster]\netcd-endpoints = http://a:1\n"
	                        "secret = 0123456789abcdef\n"));
	cr_assert_null(load_ini("[global]\nenable-web = true\n[cluster]\n"
	                        "etcd-endpoints = http://a:1\nsecret = 0123456789abcdef\n"
	                        "etcd-cert = /c.pem\n"));
	cr_assert_null(load_ini("[cluster]\nnode = a/b\n"));
	cr_assert_null(load_ini("[cluster]\nlease-ttl = 1s\n"));
}
