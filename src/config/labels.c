/* labels: one container's Docker labels -> job definitions, in Ofelia's
 * format (ofelia.enabled=true, ofelia.job-<type>.<name>.<key>=<value>).
 * The rules follow netresearch/ofelia where the two Ofelias differ:
 *
 * - exec jobs run in the container that carries them and are named after it
 *   per job-exec-label-scope: "service" {service}.{job} (the container name
 *   when there is no service), "container" {container}.{job},
 *   "container-service" {container}.{service}.{job}. Only the container
 *   marked ofelia.service=true may point an exec job at another container.
 * - run, local and service-run jobs are read only from the container marked
 *   ofelia.service=true, local ones only with allow-host-jobs-from-labels.
 * - A stopped container contributes run jobs only.
 * - Values are taken as written: no ${VAR} substitution, as in Ofelia. A
 *   list is a JSON array (["a","b"]) or one plain value.
 * - Global settings (ofelia.<key> on the service container) are read for
 *   notifications only, as netresearch does (config_labels_globals): the
 *   notification keys and webhook sections (ofelia.webhook.NAME.KEY); the
 *   SSRF-sensitive webhook-allowed-hosts stays file-only. Any other global
 *   label gets a warning that names the key to set in the file.
 *
 * A label that cannot be read drops its job with an error naming the label;
 * the other jobs are kept. Two jobs with one name (from two containers) are
 * the caller's to resolve. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config_int.h"
#include "util/words.h"
#include "util/xalloc.h"

#define PREFIX "ofelia."

/* A label of a job, split into its parts. */
struct part {
	enum job_type type;
	const char *name; /* into the label's key */
	size_t nlen;
	const char *key; /* the job key, the rest of the label's key */
	char norm[64];   /* key as compared: lowercase, no '-' or '_' */
	const struct config_label *label;
};

struct scan {
	const struct config_global *global;
	const struct config_container *ct;
	struct config_diag *diag;
};

static void message(struct strv *to, const struct scan *s, const char *label, const char *fmt,
                    va_list ap)
{
	char msg[768];
	vsnprintf(msg, sizeof msg, fmt, ap);
	strv_push_owned(to,
	                xasprintf("container \"%s\": label \"%s\": %s", s->ct->name, label, msg));
}

__attribute__((format(printf, 3, 4))) static void error(const struct scan *s, const char *label,
                                                        const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	message(&s->diag->errors, s, label, fmt, ap);
	va_end(ap);
}

__attribute__((format(printf, 3, 4))) static void warning(const struct scan *s, const char *label,
                                                          const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	message(&s->diag->warnings, s, label, fmt, ap);
	va_end(ap);
}

/* In enum job_type order, so types[t].word names type t. */
static const struct {
	const char *word;
	enum job_type type;
} types[] = {
    {"job-exec", JOB_EXEC},
    {"job-run", JOB_RUN},
    {"job-local", JOB_LOCAL},
    {"job-service-run", JOB_SERVICE},
};

/* The global keys read from the service container's labels. */
static const char *const label_globals[] = {
    "slack-webhook",
    "slack-only-on-error",
    "email-to",
    "email-from",
    "email-subject",
    "mail-only-on-error",
    "smtp-host",
    "smtp-port",
    "smtp-user",
    "smtp-password",
    "smtp-tls-skip-verify",
    "smtp-tls-policy",
    "save-folder",
    "save-only-on-error",
    "save-mode",
    "save-folder-mode",
    "notify-on",
    "notification-cooldown",
    "webhook-webhooks",
    "webhook-default-preset",
    NULL,
};

static bool label_global(const char *key)
{
	for (int i = 0; label_globals[i]; i++)
		if (strcmp(label_globals[i], key) == 0)
			return true;
	return false;
}

/* split reads one label into p; false (after a warning where it helps) for a
 * label that is not a job's. */
static bool split(const struct scan *s, const struct config_label *l, struct part *p)
{
	const char *k = l->key;
	if (strncmp(k, PREFIX, strlen(PREFIX)) != 0)
		return false;
	const char *type = k + strlen(PREFIX), *dot = strchr(type, '.');
	if (strcmp(type, "enabled") == 0 || strcmp(type, "service") == 0)
		return false;
	if (dot == NULL) {
		if (s->ct->is_service && !label_global(type))
			warning(s, k,
			        "global settings are not read from labels; set \"%s\" in the "
			        "config file",
			        type);
		return false;
	}
	const char *name = dot + 1, *dot2 = strchr(name, '.');
	size_t tlen = (size_t)(dot - type);
	for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
		if (strlen(types[i].word) == tlen && strncmp(type, types[i].word, tlen) == 0) {
			if (dot2 == NULL) {
				warning(s, k, "not ofelia.%s.NAME.KEY (ignored)", types[i].word);
				return false;
			}
			if (dot2 == name) {
				error(s, k, "no job name between the dots (label left out)");
				return false;
			}
			*p = (struct part){types[i].type, name, (size_t)(dot2 - name),
			                   dot2 + 1,      "",   l};
			words_normalize(p->key, p->norm, sizeof p->norm);
			return true;
		}
	if (tlen == 7 && strncmp(type, "webhook", 7) == 0) {
		if (!s->ct->is_service)
			warning(s, k,
			        "webhook labels are read only from the container labelled "
			        "ofelia.service=true (ignored)");
	} else if (tlen == 11 && strncmp(type, "job-compose", 11) == 0)
		warning(s, k, "%.*s labels are not supported (ignored)", (int)tlen, type);
	else
		warning(s, k,
		        "unknown job type \"%.*s\" (job-exec, job-run, job-local or "
		        "job-service-run; ignored)",
		        (int)tlen, type);
	return false;
}

static int by_job(const void *a, const void *b)
{
	const struct part *x = a, *y = b;
	if (x->type != y->type)
		return x->type < y->type ? -1 : 1;
	size_t n = x->nlen < y->nlen ? x->nlen : y->nlen;
	int c = memcmp(x->name, y->name, n);
	if (c || x->nlen != y->nlen)
		return c ? c : x->nlen < y->nlen ? -1 : 1;
	c = strcmp(x->norm, y->norm);
	return c ? c : strcmp(x->key, y->key);
}

/* job_name gives exec jobs the container's scope; the caller frees it. */
static char *job_name(const struct scan *s, const struct part *p)
{
	const char *scope = s->global->job_exec_label_scope ? s->global->job_exec_label_scope : "";
	const char *svc = s->ct->service && *s->ct->service ? s->ct->service : NULL;
	int n = (int)p->nlen;

	if (p->type != JOB_EXEC)
		return xasprintf("%.*s", n, p->name);
	if (strcmp(scope, "container") == 0 ||
	    (svc == NULL && strcmp(scope, "container-service") != 0))
		return xasprintf("%s.%.*s", s->ct->name, n, p->name);
	if (strcmp(scope, "container-service") == 0)
		return svc ? xasprintf("%s.%s.%.*s", s->ct->name, svc, n, p->name)
		           : xasprintf("%s.%.*s", s->ct->name, n, p->name);
	return xasprintf("%s.%.*s", svc, n, p->name);
}

/* allowed tells whether this container may define the job of p. */
static bool allowed(const struct scan *s, const struct part *p)
{
	const char *label = p->label->key;
	if ((p->type == JOB_LOCAL || p->type == JOB_SERVICE) && !s->ct->is_service) {
		warning(s, label,
		        "%s jobs are read only from the container labelled "
		        "ofelia.service=true (ignored)",
		        job_type_name(p->type));
		return false;
	}
	if (p->type != JOB_RUN && !s->ct->running)
		return false;
	if (p->type == JOB_LOCAL && !s->global->allow_host_jobs_from_labels) {
		error(s, label,
		      "local jobs from labels need allow-host-jobs-from-labels: true in "
		      "the config (job left out)");
		return false;
	}
	return true;
}

/* host_bind tells whether a volume spec binds a path of the host (a
 * source that is a path, not a volume name). */
static bool host_bind(const char *spec)
{
	return strchr(spec, ':') && (spec[0] == '/' || spec[0] == '.' || spec[0] == '~');
}

/* host_access names, in out, what of j reaches past its container to the
 * host: bind mounts of host paths, volumes-from (it inherits another
 * container's mounts, such as the engine's socket), privileged, the host's
 * network. Returns false when there is nothing. */
static bool host_access(const struct job *j, char *out, size_t outlen)
{
	size_t n = 0;
	out[0] = '\0';
#define ADD(...)                                                                                   \
	do {                                                                                       \
		if (n < outlen)                                                                    \
			n += (size_t)snprintf(out + n, outlen - n, "%s", n ? ", " : "");           \
		if (n < outlen)                                                                    \
			n += (size_t)snprintf(out + n, outlen - n, __VA_ARGS__);                   \
	} while (0)
	for (size_t i = 0; i < j->volume.n; i++)
		if (host_bind(j->volume.v[i]))
			ADD("volume %s", j->volume.v[i]);
	for (size_t i = 0; i < j->volumes_from.n; i++)
		ADD("volumes-from %s", j->volumes_from.v[i]);
	if (j->privileged)
		ADD("privileged");
	if (j->network && strcmp(j->network, "host") == 0)
		ADD("network host");
#undef ADD
	return n > 0;
}

/* set_key applies one label to j; -1 after an error. */
static int set_key(const struct scan *s, struct job *j, const struct part *p)
{
	char msg[512];
	const char *label = p->label->key, *value = p->label->value ? p->label->value : "";
	const struct job_field *f = config_job_field(j, p->key, msg, sizeof msg);

	if (f == NULL) {
		warning(s, label, "%s", msg);
		return 0;
	}
	if (*value == '\0')
		return 0;
	if (f->offset == offsetof(struct job, container) && j->type == JOB_EXEC &&
	    !s->ct->is_service) {
		if (strcmp(value, s->ct->name) != 0)
			warning(s, label,
			        "an exec job from labels runs in the container that "
			        "carries it (ignored)");
		return 0;
	}
	if (job_field_set_label(j, f, value, msg, sizeof msg) < 0) {
		error(s, label, "%s (job left out)", msg);
		return -1;
	}
	return 0;
}

/* build makes the job of parts[0..n) (one job's labels, sorted by norm);
 * NULL after an error. */
static struct job *build(const struct scan *s, const struct part *parts, size_t n)
{
	char *name = job_name(s, &parts[0]), msg[512];
	const char *sched_label = NULL;
	struct job *j = job_new(name, parts[0].type);
	bool bad = false, sched;

	free(name);
	for (size_t i = 0; i < n && !bad; i++) {
		if (i > 0 && strcmp(parts[i].norm, parts[i - 1].norm) == 0) {
			error(s, parts[i].label->key, "duplicates label \"%s\" (job left out)",
			      parts[i - 1].label->key);
			bad = true;
		}
		if (strcmp(parts[i].norm, "schedule") == 0)
			sched_label = parts[i].label->key;
		if (!bad && set_key(s, j, &parts[i]) < 0)
			bad = true;
	}
	if (!bad && j->type == JOB_EXEC && j->container == NULL)
		j->container = xstrdup(s->ct->name);
	if (!bad && config_job_check(j, &sched, msg, sizeof msg) < 0) {
		char all[300];
		snprintf(all, sizeof all, PREFIX "%s.%.*s.*", types[parts[0].type].word,
		         (int)parts[0].nlen, parts[0].name);
		error(s, sched && sched_label ? sched_label : all, "%s (job left out)", msg);
		bad = true;
	}
	char what[256];
	if (!bad && !s->global->allow_host_jobs_from_labels && host_access(j, what, sizeof what)) {
		char all[300];
		snprintf(all, sizeof all, PREFIX "%s.%.*s.*", types[parts[0].type].word,
		         (int)parts[0].nlen, parts[0].name);
		error(s, all,
		      "%s reaches the host; from labels that needs allow-host-jobs-from-labels: "
		      "true in the config (job left out)",
		      what);
		bad = true;
	}
	if (bad) {
		job_free(j);
		return NULL;
	}
	j->origin = JOB_ORIGIN_LABEL;
	j->source = xstrdup(s->ct->name);
	return j;
}

/* scope_links lets the jobs of one container name each other as their
 * labels do: a depends-on, on-success or on-failure that names another job
 * of the container by its name in the label ("cleanup") becomes that job's
 * scoped name ("worker.cleanup"), as netresearch's examples write them. A
 * name that is already some job's full name is left alone. */
static void scope_links(struct job **jobs, char **short_names, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct strv *lists[] = {&jobs[i]->depends_on, &jobs[i]->on_success,
		                        &jobs[i]->on_failure};
		for (size_t l = 0; l < sizeof lists / sizeof lists[0]; l++) {
			struct strv *v = lists[l];
			for (size_t k = 0; k < v->n; k++) {
				bool full = false;
				for (size_t m = 0; m < n && !full; m++)
					full = strcmp(jobs[m]->name, v->v[k]) == 0;
				for (size_t m = 0; m < n && !full; m++)
					if (strcmp(short_names[m], v->v[k]) == 0) {
						free(v->v[k]);
						v->v[k] = xstrdup(jobs[m]->name);
						full = true;
					}
			}
		}
	}
}

size_t config_labels_jobs(const struct config_global *global, const struct config_container *ct,
                          const struct config_label *labels, size_t nlabels, struct job ***jobs,
                          size_t *njobs, struct config_diag *diag)
{
	struct config_diag local = {STRV_INIT, STRV_INIT};
	struct scan s = {global, ct, diag ? diag : &local};
	struct part *parts = xcalloc(nlabels ? nlabels : 1, sizeof *parts);
	size_t n = 0, added = 0;
	bool enabled = false;
	char **short_names = NULL; /* the name in the label of each job added */

	for (size_t i = 0; i < nlabels; i++)
		if (strcmp(labels[i].key, PREFIX "enabled") == 0)
			enabled = labels[i].value && strcmp(labels[i].value, "true") == 0;
	for (size_t i = 0; enabled && i < nlabels; i++)
		if (split(&s, &labels[i], &parts[n]))
			n++;
	if (n > 1)
		qsort(parts, n, sizeof *parts, by_job);

	for (size_t i = 0, end; i < n; i = end) {
		for (end = i + 1; end < n && parts[end].type == parts[i].type &&
		                  parts[end].nlen == parts[i].nlen &&
		                  memcmp(parts[end].name, parts[i].name, parts[i].nlen) == 0;
		     end++)
			;
		if (!allowed(&s, &parts[i]))
			continue;
		struct job *j = build(&s, &parts[i], end - i);
		if (j == NULL)
			continue;
		*jobs = xreallocarray(*jobs, *njobs + 1, sizeof **jobs);
		(*jobs)[(*njobs)++] = j;
		short_names = xreallocarray(short_names, added + 1, sizeof *short_names);
		short_names[added++] = xstrndup(parts[i].name, parts[i].nlen);
	}
	scope_links(*jobs + *njobs - added, short_names, added);
	for (size_t i = 0; i < added; i++)
		free(short_names[i]);
	free(short_names);
	free(parts);
	config_diag_free(&local);
	return added;
}

void config_labels_globals(const struct config_container *ct, const struct config_label *labels,
                           size_t nlabels, struct strv *out)
{
	if (!ct->is_service)
		return;
	for (size_t i = 0; i < nlabels; i++) {
		const char *k = labels[i].key;
		if (strncmp(k, PREFIX, strlen(PREFIX)) != 0 || labels[i].value == NULL)
			continue;
		k += strlen(PREFIX);
		if (label_global(k) || strncmp(k, "webhook.", 8) == 0)
			strv_push_owned(out, xasprintf("%s=%s", labels[i].key, labels[i].value));
	}
}

struct config *config_from_labels(const struct strv *globals, struct config_diag *diag)
{
	struct config_diag local = {STRV_INIT, STRV_INIT};
	struct config_ld ld = {.name = "labels", .diag = diag ? diag : &local};
	struct config_pos none = {0, 0};
	char where[300];

	map_init(&ld.job_names);
	ld.c = xmalloc(sizeof *ld.c);
	config_defaults(ld.c);
	for (size_t i = 0; i < globals->n; i++) {
		const char *kv = globals->v[i], *eq = strchr(kv, '=');
		if (eq == NULL || strncmp(kv, PREFIX, strlen(PREFIX)) != 0)
			continue;
		char *key = xstrndup(kv + strlen(PREFIX), (size_t)(eq - kv) - strlen(PREFIX));
		snprintf(where, sizeof where, "label \"%.*s\"", (int)(eq - kv), kv);
		if (strncmp(key, "webhook.", 8) == 0) {
			char *name = key + 8, *dot = strrchr(name, '.');
			if (dot && dot != name) {
				*dot = '\0';
				struct config_webhook *w = NULL;
				for (size_t k = 0; k < ld.c->nwebhooks && !w; k++)
					if (strcmp(ld.c->webhooks[k].name, name) == 0)
						w = &ld.c->webhooks[k];
				if (w == NULL)
					w = config_webhook_add(&ld, name, none);
				if (w) {
					free(w->source);
					w->source = xasprintf("label ofelia.webhook.%s", name);
					config_webhook_set(&ld, w, dot + 1, eq + 1, none);
				}
			} else {
				config_error(&ld, none, "%s: not ofelia.webhook.NAME.KEY", where);
			}
		} else {
			const struct config_key *k = config_key_find(config_global_keys, key);
			if (k && label_global(k->key))
				config_key_set(&ld, k, where, eq + 1, none);
		}
		free(key);
	}
	size_t errors = ld.diag->errors.n;
	config_webhooks_finish(&ld);
	/* A webhook whose preset did not resolve cannot be used: leave it out. */
	if (ld.diag->errors.n > errors) {
		size_t kept = 0;
		for (size_t i = 0; i < ld.c->nwebhooks; i++) {
			struct config_webhook *w = &ld.c->webhooks[i];
			if (w->resolved.url_scheme || w->resolved.body)
				ld.c->webhooks[kept++] = *w;
			else
				config_webhook_release(w);
		}
		ld.c->nwebhooks = kept;
	}
	free(ld.claims);
	map_fini(&ld.job_names);
	config_diag_free(&local);
	return ld.c;
}
