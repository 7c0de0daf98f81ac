/* job: the definition of one scheduled job, shared by config, store, scheduler,
 * runners and the API. A definition is a plain value: the struct is
 * transparent, it owns every string in it, and job_free releases them.
 * Keys have one table (job.c) used by every format: YAML and INI (kebab-case,
 * as Ofelia spells them), Docker labels, and JSON (camelCase). */
#ifndef OFELIA_JOB_JOB_H
#define OFELIA_JOB_JOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "util/strv.h"

enum job_type { JOB_EXEC, JOB_RUN, JOB_LOCAL, JOB_SERVICE };
#define JOB_TYPE_COUNT 4

enum job_origin { JOB_ORIGIN_CONFIG, JOB_ORIGIN_LABEL, JOB_ORIGIN_API };

/* What to do with slots missed while ofelia was down. DEFAULT defers to the
 * global setting. */
enum job_catch_up { JOB_CATCH_UP_DEFAULT, JOB_CATCH_UP_SKIP, JOB_CATCH_UP_ONCE };

/* Image pulls for run jobs, as Ofelia: ALWAYS (Ofelia's pull=true) tries a
 * pull and falls back to a local image; IF_NOT_PRESENT (pull=false) uses the
 * local image and pulls only when it is missing; NEVER uses the local image. */
enum job_pull { JOB_PULL_ALWAYS, JOB_PULL_IF_NOT_PRESENT, JOB_PULL_NEVER };

/* Every field that is not set keeps the value job_new gives it. */
struct job {
	char *name;
	enum job_type type;
	enum job_origin origin;
	char *source; /* where it came from: "ofelia.yaml:12", a container name, "api" */

	/* every type */
	char *schedule;
	char *command; /* as written; runners split it into argv (util/argv.h) */
	bool enabled;
	bool no_overlap;
	bool run_on_startup;
	int history_limit;      /* executions kept; -1 = global default, 0 = no limit */
	int64_t max_runtime_ns; /* 0 = no limit */
	enum job_catch_up catch_up;
	int64_t catch_up_deadline_ns; /* 0 = global default */
	struct strv environment;      /* "KEY=value" */

	/* retries and workflows (every type; docs/scheduling.md). Unset
	 * values (-1) take the global setting. */
	int max_retries;               /* retries after a failed attempt; -1 unset */
	int64_t retry_delay_ns;        /* the first retry's delay; -1 unset */
	int retry_exponential;         /* JOB_F_OPT_BOOL: the delay doubles each retry */
	int64_t retry_max_delay_ns;    /* bound of an exponential delay; -1 unset */
	int retry_interrupted;         /* JOB_F_OPT_BOOL: an interrupted attempt retries too */
	struct strv depends_on;        /* jobs whose latest execution must have succeeded */
	struct strv on_success;        /* jobs triggered when an execution succeeds */
	struct strv on_failure;        /* ... when it fails (after its last retry) */
	int64_t dependency_timeout_ns; /* how long a slot waits for depends-on; -1 unset */

	/* exec, run, service */
	char *container; /* exec: where to run; run: existing container to start */
	char *user;      /* NULL = global default-user; "default" = the image's own */
	bool tty;
	char *working_dir;
	bool privileged;

	/* run, service */
	char *image;
	char *entrypoint;
	char *network;
	char *hostname;
	char *container_name;
	bool delete_after; /* the key "delete" */
	enum job_pull pull;
	struct strv volume;
	struct strv volumes_from;
	char *stop_signal;
	int64_t stop_timeout_ns; /* 0 = engine default */

	/* local, service */
	char *dir;

	/* notifications (every type): each unset key takes the global one,
	 * as netresearch's Ofelia merges them; docs/notifications.md */
	char *slack_webhook;     /* a secret: masked in the API */
	int slack_only_on_error; /* JOB_F_OPT_BOOL: -1 unset, 0, 1 */
	char *email_to;
	char *email_from;
	char *email_subject;
	int mail_only_on_error;
	char *smtp_host;
	int smtp_port; /* -1 unset */
	char *smtp_user;
	char *smtp_password; /* a secret */
	int smtp_tls_skip_verify;
	char *smtp_tls_policy; /* mandatory, opportunistic, none, implicit */
	char *save_folder;
	int save_only_on_error;
	char *save_mode;        /* octal, e.g. "0640" */
	char *save_folder_mode; /* octal */
	struct strv webhooks;   /* names of [webhook] sections; items may hold commas */
	struct strv notify_on;  /* extra events: interrupted, missed, expired */
	int64_t alert_if_no_success_within_ns; /* dead-man check; 0 = off */
};

/* The outcome of an execution, or of a slot that did not run. */
enum job_status {
	JOB_STATUS_RUNNING,
	JOB_STATUS_SUCCESS,
	JOB_STATUS_FAILED,
	JOB_STATUS_SKIPPED,     /* a slot not run: overlap or capacity */
	JOB_STATUS_STOPPED,     /* stopped on request or at shutdown */
	JOB_STATUS_INTERRUPTED, /* ofelia went away while it ran */
	JOB_STATUS_MISSED,      /* a slot that fell while ofelia was down */
	JOB_STATUS_EXPIRED,     /* a missed slot past its catch-up deadline */
};
#define JOB_STATUS_COUNT 8

/* Why an execution happened. */
enum job_trigger {
	JOB_TRIGGER_SCHEDULE,
	JOB_TRIGGER_MANUAL,
	JOB_TRIGGER_STARTUP,
	JOB_TRIGGER_CATCH_UP,
	JOB_TRIGGER_RETRY,      /* a retry of a failed attempt (attempt 2, 3, ...) */
	JOB_TRIGGER_DEPENDENCY, /* on-success / on-failure of another execution */
};

/* How a field's text is read. */
enum job_field_kind {
	JOB_F_STRING,
	JOB_F_BOOL,
	JOB_F_INT,
	JOB_F_DURATION,
	JOB_F_LIST,
	JOB_F_CATCH_UP,
	JOB_F_PULL,
	JOB_F_OPT_BOOL,     /* int: -1 unset (null in JSON), 0 or 1 */
	JOB_F_OPT_DURATION, /* int64_t ns: -1 unset (null in JSON) */
	JOB_F_MILLIS,       /* an int64_t ns field written as whole milliseconds */
};

struct job_field {
	const char *key;  /* kebab-case, as in Ofelia's docs: "no-overlap" */
	const char *json; /* camelCase for the API: "noOverlap" */
	enum job_field_kind kind;
	size_t offset;  /* into struct job */
	unsigned types; /* bit (1 << JOB_*) for each type that has the key */
	bool secret;    /* masked in job_to_json (tokens, passwords, webhook URLs) */
	bool alias;     /* another spelling of a field listed before it: read, never shown */
};

/* The text a secret shows in the API; job_apply_json keeps the current
 * value when a client sends it back. */
#define JOB_SECRET_MASK "********"

#define JOB_TYPE_BIT(t) (1u << (t))

/* job_new returns a definition with Ofelia's defaults; the caller frees it. */
struct job *job_new(const char *name, enum job_type type);
/* job_clone returns a deep copy the caller frees. */
struct job *job_clone(const struct job *j);
void job_free(struct job *j);
/* job_equal compares definitions: every field except origin and source. */
bool job_equal(const struct job *a, const struct job *b);

/* job_type_name: "exec", "run", "local", "service". job_type_parse also takes
 * "service-run" (Ofelia's name) and the "job-" prefixed section names. */
const char *job_type_name(enum job_type t);
int job_type_parse(const char *s, enum job_type *out);
const char *job_status_name(enum job_status s); /* "running", "success", ... */
int job_status_parse(const char *s, enum job_status *out);
const char *job_trigger_name(enum job_trigger t); /* "schedule", "manual", ... */
int job_trigger_parse(const char *s, enum job_trigger *out);
const char *job_origin_name(enum job_origin o); /* "config", "docker-label", "api" */
int job_origin_parse(const char *s, enum job_origin *out);
const char *job_catch_up_name(enum job_catch_up c); /* "default", "skip", "once" */
int job_catch_up_parse(const char *s, enum job_catch_up *out);
const char *job_pull_name(enum job_pull p); /* "always", "if-not-present", "never" */
int job_pull_parse(const char *s, enum job_pull *out);
/* job_bool_parse reads Go's strconv.ParseBool words plus YAML's yes/no/on/off. */
int job_bool_parse(const char *s, bool *out);

/* The key table, in documentation order. */
extern const struct job_field job_fields[];
extern const size_t job_field_count;
/* job_field_find looks a key up by its kebab, camelCase or INI spelling
 * (case and '-'/'_' ignored); NULL when no field has that name. */
const struct job_field *job_field_find(const char *key);
/* job_field_suggest returns the known key nearest to an unknown one (edit
 * distance), or NULL when nothing is close. */
const char *job_field_suggest(const char *key);
/* job_field_applies tells whether a field belongs to a job type. */
bool job_field_applies(const struct job_field *f, enum job_type t);
/* job_field_set stores text into a field; a list field gets the value
 * appended (INI repeats a key to make a list). Returns 0, or -1 with a
 * message in err. */
int job_field_set(struct job *j, const struct job_field *f, const char *value, char *err,
                  size_t errlen);
/* job_field_set_label is job_field_set for a Docker label value, where a
 * list is written as a JSON array ("[\"a\",\"b\"]") or as one string; either
 * replaces the list. */
int job_field_set_label(struct job *j, const struct job_field *f, const char *value, char *err,
                        size_t errlen);
/* job_field_clear resets a list field before a new value replaces it. */
void job_field_clear(struct job *j, const struct job_field *f);

/* job_name_valid checks a job name: 1-200 bytes, printable, no '/' or '\',
 * no leading or trailing space. Returns 0, or -1 with the reason in err. */
int job_name_valid(const char *name, char *err, size_t errlen);
/* job_validate checks a whole definition: the name, a schedule that parses,
 * the keys each type needs (exec: container and command; run: image or
 * container; local: command; service: image), the notification keys'
 * words (smtp-tls-policy, save modes, notify-on) and the names in
 * depends-on, on-success and on-failure (valid names, not the job itself;
 * whether they exist is the caller's to check). Returns 0, or -1 with a
 * message in err; *code gets the API error code ("INVALID_SCHEDULE" or
 * "VALIDATION_ERROR"). */
int job_validate(const struct job *j, const char **code, char *err, size_t errlen);

/* The most retries a job may ask for. */
#define JOB_MAX_RETRIES 1000

/* The links of a job to others, by key: depends-on, on-success, on-failure. */
enum job_link { JOB_LINK_DEPENDS_ON, JOB_LINK_ON_SUCCESS, JOB_LINK_ON_FAILURE };
#define JOB_LINK_COUNT 3
/* job_link_key: "depends-on", "on-success", "on-failure". */
const char *job_link_key(enum job_link l);
/* job_links returns the list of names of one link kind of j (borrowed). */
const struct strv *job_links(const struct job *j, enum job_link l);
/* job_links_cycle looks for a loop through the links of jobs[0..n): edges
 * run from a dependency to its dependent and from a job to those it
 * triggers; names outside the set are not edges. On a loop it writes it
 * into out ("a -> b -> a"), the job whose key closes it into *holder (an
 * index) and that key into *key, and returns -1; else 0. */
int job_links_cycle(struct job *const *jobs, size_t n, size_t *holder, enum job_link *key,
                    char *out, size_t outlen);

/* SMTP's STARTTLS posture, netresearch's smtp-tls-policy. */
enum job_tls_policy {
	JOB_TLS_MANDATORY,     /* STARTTLS or fail (the default) */
	JOB_TLS_OPPORTUNISTIC, /* STARTTLS when the server offers it */
	JOB_TLS_NONE,          /* plain text */
	JOB_TLS_IMPLICIT,      /* TLS from the first byte (SMTPS), as port 465 always is */
};

/* job_mode_parse reads an octal file mode ("0640", "0o640", "640") of at
 * most 0777; 0 or -1. */
int job_mode_parse(const char *s, unsigned *mode);
/* job_tls_policy_parse reads mandatory, opportunistic, none or implicit
 * ("" is mandatory); 0 or -1. */
int job_tls_policy_parse(const char *s, enum job_tls_policy *out);
/* job_notify_on_parse reads notify-on items (each may hold several words
 * separated by commas or spaces) into a mask of (1 << JOB_STATUS_*) for
 * interrupted, missed and expired. Returns 0, or -1 with the reason in err. */
int job_notify_on_parse(const struct strv *items, unsigned *mask, char *err, size_t errlen);

/* job_to_json returns a new object with the definition: camelCase keys,
 * durations in nanoseconds, only the keys of the job's type, secrets masked
 * (JOB_SECRET_MASK). The caller owns the reference. */
json_t *job_to_json(const struct job *j);
/* job_to_json_full is job_to_json with the secrets, for the store only. */
json_t *job_to_json_full(const struct job *j);
/* job_from_json builds a definition from an object that has at least "name"
 * (or the name argument, when not NULL) and "type"; the result is not yet
 * validated. Returns NULL with a message in err for an unknown key, a key of
 * another type, or a value of the wrong JSON type. The caller frees it. */
struct job *job_from_json(json_t *obj, const char *name, char *err, size_t errlen);
/* job_apply_json applies a partial update to j: every key present replaces
 * the field ("name" and "type" may appear but must not change; a secret
 * sent back as JOB_SECRET_MASK keeps its value). Returns 0, or
 * -1 with a message in err and j unchanged. */
int job_apply_json(struct job *j, json_t *obj, char *err, size_t errlen);

#endif
