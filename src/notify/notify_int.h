/* Private to the notify module: the message a channel delivers, the
 * channels' ops, the template engine (tmpl.c) and the text forms Ofelia's
 * payloads use (text.c). Nothing here is shared with other modules. */
#ifndef OFELIA_NOTIFY_NOTIFY_INT_H
#define OFELIA_NOTIFY_NOTIFY_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "notify/notify.h"
#include "util/buf.h"
#include "util/strv.h"

/* Payload size caps: what a receiver is sent of each output stream. */
#define NOTIFY_OUTPUT_MAX (1024 * 1024)
/* What is kept of a receiver's answer for the error message. */
#define NOTIFY_ANSWER_MAX 512

/* ---- the data a notice reports (templates, payloads) ---- */

/* Everything a payload can show, copied out of the job and the event so a
 * message is self-contained on the sender thread. */
struct notify_data {
	char *job_name;
	char *job_type; /* Ofelia's word: exec, run, local, run-service */
	char *command;
	char *schedule;
	char *container;
	char *image;
	char *user;
	char *
	    event; /* success, failed, skipped, stopped, interrupted, missed, expired, no-success */
	char *execution_id;
	char *idempotency_key;
	bool failed;  /* Ofelia's Execution.Failed */
	bool skipped; /* Ofelia's Execution.Skipped */
	int64_t start_ns, end_ns, duration_ns;
	bool has_exit_code;
	int exit_code;
	char *error;
	char *out; /* stdout, up to NOTIFY_OUTPUT_MAX */
	size_t out_len;
	char *err; /* stderr */
	size_t err_len;
	char *hostname;
	int64_t now_ns;
	const char *version; /* .Ofelia.Version (static) */
	/* .Preset.* of a webhook */
	char *preset_id, *preset_secret, *preset_url, *preset_link, *preset_link_text,
	    *preset_device;
};

/* notify_data_status is Ofelia's status label: "successful", "failed",
 * "skipped", or the event for those Ofelia has not ("interrupted", ...). */
const char *notify_data_status(const struct notify_data *d);

/* ---- a message ---- */

struct notify_msg {
	uint64_t id;
	enum notify_channel channel;
	struct notify_data d;
	int64_t timeout_ns;
	char *masked;        /* where it goes, safe to log: "slack https://hooks.slack.com/..." */
	struct strv secrets; /* values scrubbed from every error text */

	/* slack */
	char *slack_url;
	/* mail */
	char *smtp_host;
	int smtp_port;
	char *smtp_user, *smtp_password;
	bool smtp_skip_verify;
	enum job_tls_policy smtp_policy;
	char *mail_from; /* %s already replaced by the hostname */
	struct strv mail_to;
	char *mail_subject_tmpl; /* NULL: Ofelia's subject */
	/* save */
	char *save_folder;
	unsigned save_mode, save_folder_mode;
	/* webhook */
	struct config_preset preset;
	struct tmpl *body; /* the preset's body, compiled (a reference) */
	char *webhook_url; /* NULL: the preset's url_scheme with variables */
	struct strv allowed_hosts;
};

/* The outcome of one delivery attempt, as a channel reports it. */
struct notify_attempt {
	bool permanent; /* retrying cannot help: the notice goes dead now */
	char error[NOTIFY_ANSWER_MAX + 128];
};

/* A channel delivers one message; returns 0 when the receiver took it, or
 * -1 with a.error set. abort is raised when ofelia stops: a channel polls
 * it (libcurl's progress callback) and gives up. */
struct notify_ops {
	const char *name;
	int (*deliver)(const struct notify_msg *m, atomic_bool *abort, struct notify_attempt *a);
};

const struct notify_ops *notify_ops_of(enum notify_channel c);
extern const struct notify_ops notify_slack_ops, notify_mail_ops, notify_save_ops,
    notify_webhook_ops;

/* notify_curl_take returns the calling thread's libcurl handle, reset, or
 * NULL with the reason in err (libcurl cannot be loaded or make one); the
 * thread keeps it, the caller does not free it. */
void *notify_curl_take(char *err, size_t errlen);
/* notify_curl_common sets what every HTTP and SMTP transfer shares: the
 * time-out, no signals, the abort flag polled through the progress
 * callback. */
struct curl_slist;
void notify_curl_common(void *curl, int64_t timeout_ns, atomic_bool *abort);
/* notify_curl_error describes a failed transfer (curl's message, or the
 * abort) into a; returns -1. */
int notify_curl_error(int code, const char *errbuf, atomic_bool *abort, struct notify_attempt *a);
/* notify_http_status judges an HTTP answer: 2xx is delivered (0); 408, 429
 * and 5xx may pass later; other codes are permanent. body is the answer's
 * start. */
int notify_http_status(long status, const char *body, size_t len, struct notify_attempt *a);
/* notify_http_send makes one HTTP request of m (method, url, headers
 * "Name: value", body) with m's time-out and an Idempotency-Key header;
 * redirects are followed only when every host is allowed. 0 when the
 * receiver answered 2xx, else -1 with a filled in. */
int notify_http_send(const struct notify_msg *m, atomic_bool *abort, const char *method,
                     const char *url, const struct strv *headers, const char *body, size_t len,
                     struct notify_attempt *a);
/* notify_slack_message appends the JSON Ofelia posts to Slack. */
void notify_slack_message(const struct notify_data *d, struct buf *out);
/* notify_mail_subject appends the subject: tmpl (email-subject) rendered,
 * or Ofelia's when it is NULL or fails. notify_mail_html appends Ofelia's
 * HTML body. */
void notify_mail_subject(const struct notify_data *d, const char *tmpl, struct buf *out);
void notify_mail_html(const struct notify_data *d, struct buf *out);
/* notify_mail_message appends the whole mail (headers, HTML body,
 * attachments; CRLF line ends) of m, sent at date_ns. */
void notify_mail_message(const struct notify_msg *m, int64_t date_ns, struct buf *out);
/* notify_save_root returns "FOLDER/20060102_150405_NAME" for m's files;
 * the caller frees it. */
char *notify_save_root(const struct notify_msg *m);
/* notify_context_json appends Ofelia's {"Execution": ..., "Job": ...}
 * document (the .json file of save, the JSON attachment of mail). */
void notify_context_json(const struct notify_data *d, struct buf *out);
/* notify_scrub replaces every secret of m found in text by "********". */
void notify_scrub(const struct notify_msg *m, char *text, size_t size);

/* ---- templates (tmpl.c): Go's text/template, the part presets use ---- */

struct tmpl;
/* tmpl_parse compiles text; NULL with "name:line: reason" in err. A
 * compiled template is immutable and shared between threads by counting:
 * tmpl_ref takes a reference, tmpl_free drops one (NULL is fine). */
struct tmpl *tmpl_parse(const char *name, const char *text, char *err, size_t errlen);
struct tmpl *tmpl_ref(struct tmpl *t);
void tmpl_free(struct tmpl *t);
/* tmpl_render appends t executed on d to out; -1 with the reason in err
 * (an unknown field, a function given the wrong values). */
int tmpl_render(const struct tmpl *t, const struct notify_data *d, struct buf *out, char *err,
                size_t errlen);

/* ---- text forms (text.c) ---- */

/* notify_json_string appends s as Go's encoding/json writes a string:
 * quoted, with <, > and & escaped as \u003c..., invalid UTF-8 as \ufffd. */
void notify_json_string(struct buf *b, const char *s, size_t len);
/* notify_json_escape appends the inside of a JSON string, as netresearch's
 * template function json: only ", \ and control characters escaped. */
void notify_json_escape(struct buf *b, const char *s, size_t len);
/* notify_go_quote appends s as Go's %q (strconv.Quote). */
void notify_go_quote(struct buf *b, const char *s);
/* notify_query_escape appends s as Go's url.QueryEscape (space is '+'). */
void notify_query_escape(struct buf *b, const char *s, size_t len);
/* notify_html_escape appends s as Go's html/template escapes text. */
void notify_html_escape(struct buf *b, const char *s);
/* notify_time_rfc3339 writes ns as Go's time.RFC3339 in the local zone
 * ("2026-05-15T14:00:00+02:00", "Z" in UTC). */
void notify_time_rfc3339(int64_t ns, char out[64]);
/* notify_time_go writes ns as Go's Time.String in the local zone. */
void notify_time_go(int64_t ns, char out[96]);
/* notify_mask_url returns "scheme://host/..." of url, for logs; the caller
 * frees it. */
char *notify_mask_url(const char *url);
/* notify_host_allowed checks url's host against webhook-allowed-hosts ("*",
 * names, *.domains); false with the reason in err. */
bool notify_host_allowed(const struct strv *allowed, const char *url, char *err, size_t errlen);
/* notify_replace returns s with every "{name}" of vars (pairs name, value,
 * NULL-terminated) replaced; the caller frees it. */
char *notify_replace(const char *s, const char *const *vars);

#endif
