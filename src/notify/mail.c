/* The mail channel: Ofelia's mail, sent by libcurl's SMTP client.
 *
 * Subject "[Execution successful] Job NAME finished in 1.5s" (or
 * email-subject, a template), an HTML body, and Ofelia's attachments:
 * NAME_ID.stdout.log and NAME_ID.stderr.log when the stream has output
 * (netresearch skips empty ones), and NAME_ID.stderr.json (that is
 * Ofelia's name for the JSON) always. From is email-from with %s as the host
 * name; To is email-to, a comma list. Message-ID is made of the notice's
 * idempotency key, so a mail delivered twice can be recognised.
 *
 * Transport as netresearch's go-mail dialer: port 465 is implicit TLS
 * (smtps), other ports start plain and STARTTLS per smtp-tls-policy:
 * mandatory (the default: no STARTTLS, no mail), opportunistic, none; and
 * ofelia's "implicit" asks for TLS from the first byte on any port.
 * AUTH is used when smtp-user is set. smtp-tls-skip-verify accepts any
 * certificate. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "notify/notify_int.h"
#include "util/clock.h"
#include "util/duration.h"
#include "util/xalloc.h"

#define BOUNDARY_PREFIX "ofelia-"

static void base64(struct buf *b, const char *data, size_t len)
{
	static const char abc[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *p = (const unsigned char *)data;
	size_t col = 0;
	for (size_t i = 0; i < len; i += 3) {
		unsigned v = (unsigned)p[i] << 16;
		if (i + 1 < len)
			v |= (unsigned)p[i + 1] << 8;
		if (i + 2 < len)
			v |= p[i + 2];
		char q[4] = {abc[(v >> 18) & 63], abc[(v >> 12) & 63],
		             i + 1 < len ? abc[(v >> 6) & 63] : '=',
		             i + 2 < len ? abc[v & 63] : '='};
		buf_append(b, q, 4);
		col += 4;
		if (col >= 76) {
			buf_puts(b, "\r\n");
			col = 0;
		}
	}
	if (col)
		buf_puts(b, "\r\n");
}

/* quoted_printable appends text with CRLF line ends, as gomail encodes a
 * text/html body. */
static void quoted_printable(struct buf *b, const char *s)
{
	size_t col = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '\n') {
			buf_puts(b, "\r\n");
			col = 0;
			continue;
		}
		char enc[4];
		bool plain = (*p >= 33 && *p <= 126 && *p != '=') ||
		             ((*p == ' ' || *p == '\t') && p[1] != '\n' && p[1] != '\0');
		int n = plain ? snprintf(enc, sizeof enc, "%c", *p)
		              : snprintf(enc, sizeof enc, "=%02X", *p);
		if (col + (size_t)n > 75) {
			buf_puts(b, "=\r\n");
			col = 0;
		}
		buf_append(b, enc, (size_t)n);
		col += (size_t)n;
	}
}

/* header_text appends a header value, as an RFC 2047 word when it is not
 * plain ASCII. */
static void header_text(struct buf *b, const char *s)
{
	bool ascii = true;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		ascii = ascii && *p >= 32 && *p < 127;
	if (ascii) {
		buf_puts(b, s);
		return;
	}
	buf_puts(b, "=?UTF-8?B?");
	struct buf enc = BUF_INIT;
	base64(&enc, s, strlen(s));
	for (size_t i = 0; i < enc.len; i++)
		if (enc.data[i] != '\r' && enc.data[i] != '\n')
			buf_putc(b, enc.data[i]);
	buf_free(&enc);
	buf_puts(b, "?=");
}

void notify_mail_subject(const struct notify_data *d, const char *tmpl, struct buf *out)
{
	char dur[DURATION_TEXT_MAX], why[300];
	if (tmpl) {
		struct tmpl *t = tmpl_parse("email-subject", tmpl, why, sizeof why);
		struct buf s = BUF_INIT;
		/* As netresearch: a subject template that fails gives the default. */
		if (t && tmpl_render(t, d, &s, why, sizeof why) == 0) {
			buf_append(out, s.data ? s.data : "", s.len);
			buf_free(&s);
			tmpl_free(t);
			return;
		}
		buf_free(&s);
		tmpl_free(t);
	}
	duration_format(d->duration_ns, dur);
	buf_printf(out, "[Execution %s] Job %s finished in %s", notify_data_status(d), d->job_name,
	           dur);
}

void notify_mail_html(const struct notify_data *d, struct buf *out)
{
	char dur[DURATION_TEXT_MAX];
	duration_format(d->duration_ns, dur);
	buf_puts(out, "\n\t\t<p>\n\t\t\tJob <b>");
	notify_html_escape(out, d->job_name);
	buf_puts(out, "</b>,\n\t\t\tExecution <b>");
	notify_html_escape(out, notify_data_status(d));
	buf_puts(out, "</b> in <b>");
	notify_html_escape(out, dur);
	buf_puts(out, "</b>,\n\t\t\tcommand: <pre>");
	notify_html_escape(out, d->command);
	buf_puts(out, "</pre>\n\t\t</p>\n  ");
}

static void attach(struct buf *b, const char *boundary, const char *name, const char *type,
                   const char *data, size_t len)
{
	buf_printf(b,
	           "--%s\r\nContent-Disposition: attachment; filename=\"%s\"\r\n"
	           "Content-Transfer-Encoding: base64\r\nContent-Type: %s; name=\"%s\"\r\n\r\n",
	           boundary, name, type, name);
	base64(b, data, len);
}

static void address_list(struct buf *b, const struct strv *to)
{
	for (size_t i = 0; i < to->n; i++)
		buf_printf(b, "%s%s", i ? ", " : "", to->v[i]);
}

void notify_mail_message(const struct notify_msg *m, int64_t date_ns, struct buf *out)
{
	char date[64], boundary[96];
	struct tm tm;
	time_t t = (time_t)(date_ns / NS_PER_SEC);
	gmtime_r(&t, &tm);
	strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
	snprintf(boundary, sizeof boundary, BOUNDARY_PREFIX "%.60s",
	         *m->d.idempotency_key ? m->d.idempotency_key : "boundary");
	for (char *p = boundary; *p; p++)
		if (*p == ':')
			*p = '-';

	buf_printf(out, "Mime-Version: 1.0\r\nDate: %s\r\nMessage-ID: <%s@ofelia>\r\nFrom: ", date,
	           boundary + strlen(BOUNDARY_PREFIX));
	header_text(out, m->mail_from);
	buf_puts(out, "\r\nTo: ");
	address_list(out, &m->mail_to);
	buf_puts(out, "\r\nSubject: ");
	struct buf subj = BUF_INIT;
	notify_mail_subject(&m->d, m->mail_subject_tmpl, &subj);
	for (size_t i = 0; i < subj.len; i++)
		if (subj.data[i] == '\r' || subj.data[i] == '\n')
			subj.data[i] = ' ';
	header_text(out, subj.data ? subj.data : "");
	buf_free(&subj);
	buf_printf(out, "\r\nContent-Type: multipart/mixed; boundary=%s\r\n\r\n", boundary);

	struct buf html = BUF_INIT;
	notify_mail_html(&m->d, &html);
	buf_printf(out,
	           "--%s\r\nContent-Transfer-Encoding: quoted-printable\r\n"
	           "Content-Type: text/html; charset=UTF-8\r\n\r\n",
	           boundary);
	quoted_printable(out, html.data);
	buf_puts(out, "\r\n");
	buf_free(&html);

	char *base = xasprintf("%s_%s", m->d.job_name, m->d.execution_id);
	char *name = NULL;
	if (m->d.out_len) {
		name = xasprintf("%s.stdout.log", base);
		attach(out, boundary, name, "text/plain; charset=utf-8", m->d.out, m->d.out_len);
		free(name);
	}
	if (m->d.err_len) {
		name = xasprintf("%s.stderr.log", base);
		attach(out, boundary, name, "text/plain; charset=utf-8", m->d.err, m->d.err_len);
		free(name);
	}
	struct buf json = BUF_INIT;
	notify_context_json(&m->d, &json);
	name = xasprintf("%s.stderr.json", base);
	attach(out, boundary, name, "application/json", json.data, json.len);
	free(name);
	buf_free(&json);
	free(base);
	buf_printf(out, "--%s--\r\n", boundary);
}

struct reader {
	const char *data;
	size_t len, at;
};

static size_t on_read(char *dst, size_t size, size_t n, void *arg)
{
	struct reader *r = arg;
	size_t k = size * n;
	if (k > r->len - r->at)
		k = r->len - r->at;
	memcpy(dst, r->data + r->at, k);
	r->at += k;
	return k;
}

/* address returns the address in "Name <addr>" or addr; the caller frees it. */
static char *address(const char *s)
{
	const char *lt = strrchr(s, '<'), *gt = lt ? strchr(lt, '>') : NULL;
	if (lt && gt)
		return xstrndup(lt + 1, (size_t)(gt - lt - 1));
	return xstrdup(s);
}

static int deliver(const struct notify_msg *m, atomic_bool *abort, struct notify_attempt *a)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	struct buf msg = BUF_INIT;
	struct curl_slist *rcpt = NULL;
	int rc = -1;

	if (m->mail_to.n == 0) {
		snprintf(a->error, sizeof a->error, "email-to holds no address");
		a->permanent = true;
		return -1;
	}
	CURL *c = notify_curl_take(a->error, sizeof a->error);
	if (c == NULL)
		return -1;
	bool implicit = m->smtp_port == 465 || m->smtp_policy == JOB_TLS_IMPLICIT;
	char *url =
	    xasprintf("%s://%s:%d", implicit ? "smtps" : "smtp", m->smtp_host, m->smtp_port);
	char *from = address(m->mail_from);
	for (size_t i = 0; i < m->mail_to.n; i++) {
		char *to = address(m->mail_to.v[i]);
		rcpt = curl_slist_append(rcpt, to);
		free(to);
	}
	notify_mail_message(m, clock_now_ns(), &msg);
	struct reader r = {msg.data, msg.len, 0};

	notify_curl_common(c, m->timeout_ns, abort);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_MAIL_FROM, from);
	curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt);
	curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
	curl_easy_setopt(c, CURLOPT_READDATA, &r);
	curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)msg.len);
	if (!implicit)
		curl_easy_setopt(c, CURLOPT_USE_SSL,
		                 m->smtp_policy == JOB_TLS_MANDATORY       ? (long)CURLUSESSL_ALL
		                 : m->smtp_policy == JOB_TLS_OPPORTUNISTIC ? (long)CURLUSESSL_TRY
		                                                           : (long)CURLUSESSL_NONE);
	if (m->smtp_skip_verify) {
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (m->smtp_user && *m->smtp_user) {
		curl_easy_setopt(c, CURLOPT_USERNAME, m->smtp_user);
		curl_easy_setopt(c, CURLOPT_PASSWORD, m->smtp_password ? m->smtp_password : "");
	}
	CURLcode code = curl_easy_perform(c);
	if (code == CURLE_OK) {
		rc = 0;
	} else {
		long reply = 0;
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &reply);
		notify_curl_error((int)code, errbuf, abort, a);
		/* 5xx replies are final in SMTP (a refused address, AUTH denied). */
		if (reply >= 500 && reply < 600)
			a->permanent = true;
		if (reply) {
			size_t n = strlen(a->error);
			snprintf(a->error + n, sizeof a->error - n, " (SMTP %ld)", reply);
		}
	}
	curl_slist_free_all(rcpt);
	free(url);
	free(from);
	buf_free(&msg);
	return rc;
}

const struct notify_ops notify_mail_ops = {"mail", deliver};
