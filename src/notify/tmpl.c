/* tmpl: the part of Go's text/template that Ofelia's presets and mail
 * subjects use, so a preset written for netresearch's Ofelia renders the
 * same bytes here:
 *
 *   text {{.Job.Name}} {{- trimmed -}} (comments: a slash-star action)
 *   {{if PIPE}} ... {{else if PIPE}} ... {{else}} ... {{end}}
 *   PIPE = CMD | CMD ...;  CMD = .Field.Path | "string" | 12 | true | (PIPE)
 *          | FUNC ARG...   (a pipe hands the value to the next CMD as its last ARG)
 *
 * Functions: json, jsonRaw, truncate, default, upper, lower, title, isoTime,
 * unixTime, formatDuration, urlquery, eq, ne, not, and, or, len, print,
 * status. Fields are the names netresearch documents (docs/notifications.md);
 * a field or function that does not exist is an error when the template is
 * parsed, so a bad preset fails at start, not at delivery. range, with,
 * define and template are not supported (no preset needs them). */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "notify/notify_int.h"
#include "util/duration.h"
#include "util/xalloc.h"

#define MAX_DEPTH 32
#define MAX_ARGS  16

enum ekind { E_FIELD, E_STR, E_INT, E_BOOL, E_NIL, E_CALL, E_PIPE };

struct expr {
	enum ekind kind;
	char *text; /* field path without the dot, string literal, function name */
	int64_t num;
	struct expr *args[MAX_ARGS]; /* E_CALL: arguments; E_PIPE: commands */
	size_t nargs;
};

enum nkind { N_TEXT, N_OUT, N_IF };

struct node {
	enum nkind kind;
	char *text; /* N_TEXT */
	size_t len;
	struct expr *pipe; /* N_OUT, or the condition of N_IF */
	struct node *then, *els;
	struct node *next;
	int line;
};

struct tmpl {
	atomic_int refs; /* the config and the messages in flight share one */
	struct node *root;
};

/* ---- fields ---- */

enum vkind { V_NIL, V_STR, V_BOOL, V_INT, V_DUR, V_TIME, V_OBJ };

struct val {
	enum vkind k;
	const char *s;
	size_t n;
	int64_t i;
};

static const char *const fields[] = {
    "Job",
    "Job.Name",
    "Job.GetName",
    "Job.Command",
    "Job.GetCommand",
    "Job.Schedule",
    "Job.GetSchedule",
    "Job.Type",
    "Job.Container",
    "Execution",
    "Execution.ID",
    "Execution.Status",
    "Execution.Failed",
    "Execution.Skipped",
    "Execution.IsRunning",
    "Execution.Error",
    "Execution.Output",
    "Execution.Stderr",
    "Execution.ExitCode",
    "Execution.Duration",
    "Execution.Duration.Nanoseconds",
    "Execution.StartTime",
    "Execution.Date",
    "Execution.EndTime",
    "Host",
    "Host.Hostname",
    "Host.Timestamp",
    "Ofelia",
    "Ofelia.Version",
    "Preset",
    "Preset.ID",
    "Preset.Secret",
    "Preset.URL",
    "Preset.Link",
    "Preset.LinkText",
    "Preset.Device",
    NULL,
};

static bool field_known(const char *path)
{
	for (int i = 0; fields[i]; i++)
		if (strcmp(fields[i], path) == 0)
			return true;
	return false;
}

static struct val str(const char *s)
{
	s = s ? s : "";
	return (struct val){V_STR, s, strlen(s), 0};
}

static struct val field(const struct notify_data *d, const char *p)
{
	struct val v = {V_OBJ, NULL, 0, 0};
	if (!strcmp(p, "Job.Name") || !strcmp(p, "Job.GetName"))
		return str(d->job_name);
	if (!strcmp(p, "Job.Command") || !strcmp(p, "Job.GetCommand"))
		return str(d->command);
	if (!strcmp(p, "Job.Schedule") || !strcmp(p, "Job.GetSchedule"))
		return str(d->schedule);
	if (!strcmp(p, "Job.Type"))
		return str(d->job_type);
	if (!strcmp(p, "Job.Container"))
		return str(d->container);
	if (!strcmp(p, "Execution.ID"))
		return str(d->execution_id);
	if (!strcmp(p, "Execution.Status"))
		return str(notify_data_status(d));
	if (!strcmp(p, "Execution.Failed"))
		return (struct val){V_BOOL, NULL, 0, d->failed};
	if (!strcmp(p, "Execution.Skipped"))
		return (struct val){V_BOOL, NULL, 0, d->skipped};
	if (!strcmp(p, "Execution.IsRunning"))
		return (struct val){V_BOOL, NULL, 0, 0};
	if (!strcmp(p, "Execution.Error"))
		return str(d->error);
	if (!strcmp(p, "Execution.Output"))
		return (struct val){V_STR, d->out ? d->out : "", d->out ? d->out_len : 0, 0};
	if (!strcmp(p, "Execution.Stderr"))
		return (struct val){V_STR, d->err ? d->err : "", d->err ? d->err_len : 0, 0};
	if (!strcmp(p, "Execution.ExitCode"))
		return (struct val){V_INT, NULL, 0, d->has_exit_code ? d->exit_code : 0};
	if (!strcmp(p, "Execution.Duration"))
		return (struct val){V_DUR, NULL, 0, d->duration_ns};
	if (!strcmp(p, "Execution.Duration.Nanoseconds"))
		return (struct val){V_INT, NULL, 0, d->duration_ns};
	if (!strcmp(p, "Execution.StartTime") || !strcmp(p, "Execution.Date"))
		return (struct val){V_TIME, NULL, 0, d->start_ns};
	if (!strcmp(p, "Execution.EndTime"))
		return (struct val){V_TIME, NULL, 0, d->end_ns};
	if (!strcmp(p, "Host.Hostname"))
		return str(d->hostname);
	if (!strcmp(p, "Host.Timestamp"))
		return (struct val){V_TIME, NULL, 0, d->now_ns};
	if (!strcmp(p, "Ofelia.Version"))
		return str(d->version ? d->version : OFELIA_VERSION);
	if (!strcmp(p, "Preset.ID"))
		return str(d->preset_id);
	if (!strcmp(p, "Preset.Secret"))
		return str(d->preset_secret);
	if (!strcmp(p, "Preset.URL"))
		return str(d->preset_url);
	if (!strcmp(p, "Preset.Link"))
		return str(d->preset_link);
	if (!strcmp(p, "Preset.LinkText"))
		return str(d->preset_link_text && *d->preset_link_text ? d->preset_link_text
		                                                       : "View Details");
	if (!strcmp(p, "Preset.Device"))
		return str(d->preset_device);
	return v;
}

/* ---- parsing ---- */

struct parser {
	const char *name;
	const char *src;
	char *err;
	size_t errlen;
	bool failed;
	int line;
	/* the current action's tokens */
	const char *p, *end;
};

__attribute__((format(printf, 2, 3))) static void fail(struct parser *ps, const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	if (ps->failed)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	snprintf(ps->err, ps->errlen, "template %s:%d: %s", ps->name, ps->line, msg);
	ps->failed = true;
}

static void expr_free(struct expr *e)
{
	if (e == NULL)
		return;
	for (size_t i = 0; i < e->nargs; i++)
		expr_free(e->args[i]);
	free(e->text);
	free(e);
}

static void nodes_free(struct node *n)
{
	while (n) {
		struct node *next = n->next;
		free(n->text);
		expr_free(n->pipe);
		nodes_free(n->then);
		nodes_free(n->els);
		free(n);
		n = next;
	}
}

static struct expr *expr_new(enum ekind k)
{
	struct expr *e = xcalloc(1, sizeof *e);
	e->kind = k;
	return e;
}

static void skip_space(struct parser *ps)
{
	while (ps->p < ps->end && isspace((unsigned char)*ps->p))
		ps->p++;
}

static bool ident_char(char c)
{
	return isalnum((unsigned char)c) || c == '_';
}

static const char *const functions[] = {
    "json",     "jsonRaw",        "truncate", "default", "upper", "lower", "title", "isoTime",
    "unixTime", "formatDuration", "urlquery", "eq",      "ne",    "not",   "and",   "or",
    "len",      "print",          "status",   NULL,
};

static bool function_known(const char *name)
{
	for (int i = 0; functions[i]; i++)
		if (strcmp(functions[i], name) == 0)
			return true;
	return false;
}

static struct expr *pipeline(struct parser *ps, int depth);

/* string_literal reads "..." (Go escapes \n \t \" \\ \xNN) or `raw`. */
static struct expr *string_literal(struct parser *ps)
{
	char q = *ps->p++;
	struct buf b = BUF_INIT;
	while (ps->p < ps->end && *ps->p != q) {
		char c = *ps->p++;
		if (q == '"' && c == '\\' && ps->p < ps->end) {
			char e = *ps->p++;
			const char *from = "nrt\"\\'ab", *to = "\n\r\t\"\\'\a\b";
			const char *at = strchr(from, e);
			if (at && e)
				c = to[at - from];
			else if (e == 'x' && ps->end - ps->p >= 2 &&
			         isxdigit((unsigned char)ps->p[0]) &&
			         isxdigit((unsigned char)ps->p[1])) {
				char hex[3] = {ps->p[0], ps->p[1], 0};
				c = (char)strtol(hex, NULL, 16);
				ps->p += 2;
			} else {
				fail(ps, "unknown escape \\%c in a string", e);
			}
		} else if (q == '"' && c == '\n') {
			fail(ps, "a string ends at the line's end");
		}
		buf_putc(&b, c);
	}
	if (ps->p >= ps->end)
		fail(ps, "a string is not closed");
	else
		ps->p++;
	struct expr *e = expr_new(E_STR);
	e->text = b.data ? buf_steal(&b) : xstrdup("");
	return e;
}

/* operand reads one argument: a field, a literal or a parenthesized pipe. */
static struct expr *operand(struct parser *ps, int depth)
{
	skip_space(ps);
	if (ps->p >= ps->end)
		return NULL;
	char c = *ps->p;
	if (c == '.') {
		const char *start = ++ps->p;
		while (ps->p < ps->end && (ident_char(*ps->p) || *ps->p == '.'))
			ps->p++;
		struct expr *e = expr_new(E_FIELD);
		e->text = xstrndup(start, (size_t)(ps->p - start));
		if (*e->text && !field_known(e->text))
			fail(ps, "can't evaluate field .%s", e->text);
		return e;
	}
	if (c == '"' || c == '`')
		return string_literal(ps);
	if (isdigit((unsigned char)c) ||
	    (c == '-' && ps->p + 1 < ps->end && isdigit((unsigned char)ps->p[1]))) {
		char *endp;
		struct expr *e = expr_new(E_INT);
		e->num = strtoll(ps->p, &endp, 10);
		ps->p = endp > ps->end ? ps->end : endp;
		return e;
	}
	if (c == '(') {
		ps->p++;
		if (depth >= MAX_DEPTH) {
			fail(ps, "parentheses nest too deep");
			return NULL;
		}
		struct expr *e = pipeline(ps, depth + 1);
		skip_space(ps);
		if (ps->p < ps->end && *ps->p == ')')
			ps->p++;
		else
			fail(ps, "unclosed parenthesis");
		return e;
	}
	if (ident_char(c)) {
		const char *start = ps->p;
		while (ps->p < ps->end && ident_char(*ps->p))
			ps->p++;
		char *word = xstrndup(start, (size_t)(ps->p - start));
		struct expr *e;
		if (!strcmp(word, "true") || !strcmp(word, "false")) {
			e = expr_new(E_BOOL);
			e->num = word[0] == 't';
			free(word);
		} else if (!strcmp(word, "nil")) {
			e = expr_new(E_NIL);
			free(word);
		} else {
			e = expr_new(E_CALL);
			e->text = word;
			if (!function_known(word))
				fail(ps, "function \"%s\" not defined", word);
		}
		return e;
	}
	fail(ps, "unexpected \"%c\" in an action", c);
	return NULL;
}

/* command reads operands up to '|', ')' or the end of the action. */
static struct expr *command(struct parser *ps, int depth)
{
	struct expr *first = operand(ps, depth);
	if (first == NULL) {
		fail(ps, "missing value in a command");
		return NULL;
	}
	for (;;) {
		skip_space(ps);
		if (ps->p >= ps->end || *ps->p == '|' || *ps->p == ')' || ps->failed)
			break;
		struct expr *arg = operand(ps, depth);
		if (arg == NULL)
			break;
		if (first->kind != E_CALL || first->nargs >= MAX_ARGS - 1) {
			fail(ps, first->kind != E_CALL ? "can't give an argument to a non-function"
			                               : "too many arguments");
			expr_free(arg);
			break;
		}
		first->args[first->nargs++] = arg;
	}
	return first;
}

static struct expr *pipeline(struct parser *ps, int depth)
{
	struct expr *pipe = expr_new(E_PIPE);
	for (;;) {
		struct expr *cmd = command(ps, depth);
		if (cmd == NULL)
			break;
		if (pipe->nargs >= MAX_ARGS) {
			fail(ps, "too many commands in a pipeline");
			expr_free(cmd);
			break;
		}
		if (pipe->nargs > 0 && cmd->kind != E_CALL)
			fail(ps, "a pipe must lead to a function");
		pipe->args[pipe->nargs++] = cmd;
		skip_space(ps);
		if (ps->p < ps->end && *ps->p == '|') {
			ps->p++;
			continue;
		}
		break;
	}
	return pipe;
}

/* An action between {{ and }}, after trimming. */
struct action {
	const char *text;
	size_t len;
	int line;
};

/* A template cut into text and actions. */
struct piece {
	bool is_action;
	const char *text;
	size_t len;
	int line;
};

static int count_lines(const char *from, const char *to)
{
	int n = 0;
	for (; from < to; from++)
		n += *from == '\n';
	return n;
}

static bool space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* cut splits src into pieces, applying the {{- and -}} trims. */
static size_t cut(struct parser *ps, struct piece **out)
{
	const char *s = ps->src, *p = s;
	struct piece *v = NULL;
	size_t n = 0, cap = 0;
	bool trim_next = false;
	while (!ps->failed) {
		const char *open = strstr(p, "{{");
		const char *tend = open ? open : p + strlen(p);
		const char *tstart = p;
		if (trim_next)
			while (tstart < tend && space(*tstart))
				tstart++;
		const char *a = open ? open + 2 : NULL;
		bool trim_left = a && a[0] == '-' && space(a[1]);
		if (trim_left) {
			while (tend > tstart && space(tend[-1]))
				tend--;
			a++;
		}
		if (n + 2 > cap) {
			cap = cap ? cap * 2 : 16;
			v = xreallocarray(v, cap, sizeof *v);
		}
		if (tend > tstart)
			v[n++] = (struct piece){false, tstart, (size_t)(tend - tstart),
			                        1 + count_lines(s, tstart)};
		if (open == NULL)
			break;
		/* Find the closing braces outside string literals. */
		const char *c = a;
		char quote = 0;
		while (*c && (quote || c[0] != '}' || c[1] != '}')) {
			if (quote && *c == '\\' && quote == '"' && c[1])
				c++;
			else if (quote && *c == quote)
				quote = 0;
			else if (!quote && (*c == '"' || *c == '`'))
				quote = *c;
			c++;
		}
		ps->line = 1 + count_lines(s, open);
		if (*c == '\0') {
			fail(ps, "unclosed action");
			break;
		}
		const char *aend = c;
		trim_next = aend - a >= 2 && aend[-1] == '-' && space(aend[-2]);
		if (trim_next)
			aend--;
		v[n++] = (struct piece){true, a, (size_t)(aend - a), ps->line};
		p = c + 2;
	}
	*out = v;
	return n;
}

enum stop { STOP_EOF, STOP_ELSE, STOP_ELSE_IF, STOP_END };

struct walk {
	struct parser *ps;
	struct piece *v;
	size_t n, at;
	const char *stop_rest; /* after "else if": the condition */
	size_t stop_len;
};

static struct node *list(struct walk *w, enum stop *stop, int depth);

/* first_word returns the action's leading keyword length, or 0. */
static size_t keyword(const char *t, size_t len, const char *word)
{
	size_t n = strlen(word);
	if (len >= n && strncmp(t, word, n) == 0 && (len == n || space(t[n]) || t[n] == '('))
		return n;
	return 0;
}

static struct expr *parse_pipe(struct parser *ps, const char *t, size_t len)
{
	ps->p = t;
	ps->end = t + len;
	skip_space(ps);
	if (ps->p >= ps->end) {
		fail(ps, "missing value");
		return NULL;
	}
	struct expr *e = pipeline(ps, 0);
	skip_space(ps);
	if (ps->p < ps->end)
		fail(ps, "unexpected \"%c\" after the value", *ps->p);
	return e;
}

/* cond_node parses an if (its condition given) through its end. */
static struct node *cond_node(struct walk *w, const char *t, size_t len, int line, int depth)
{
	struct node *n = xcalloc(1, sizeof *n);
	enum stop stop;
	n->kind = N_IF;
	n->line = line;
	if (depth >= MAX_DEPTH) {
		fail(w->ps, "if nests deeper than %d", MAX_DEPTH);
		return n;
	}
	n->pipe = parse_pipe(w->ps, t, len);
	n->then = list(w, &stop, depth + 1);
	if (stop == STOP_ELSE) {
		n->els = list(w, &stop, depth + 1);
		if (stop != STOP_END)
			fail(w->ps, "{{else}} without {{end}}");
	} else if (stop == STOP_ELSE_IF) {
		n->els = cond_node(w, w->stop_rest, w->stop_len, w->ps->line, depth + 1);
	} else if (stop != STOP_END) {
		fail(w->ps, "{{if}} without {{end}}");
	}
	return n;
}

static struct node *list(struct walk *w, enum stop *stop, int depth)
{
	struct node *head = NULL, **tail = &head;
	*stop = STOP_EOF;
	while (w->at < w->n && !w->ps->failed) {
		struct piece *pc = &w->v[w->at++];
		struct node *n = NULL;
		w->ps->line = pc->line;
		if (!pc->is_action) {
			n = xcalloc(1, sizeof *n);
			n->kind = N_TEXT;
			n->text = xstrndup(pc->text, pc->len);
			n->len = pc->len;
		} else {
			const char *t = pc->text;
			size_t len = pc->len, k;
			while (len && space(*t))
				t++, len--;
			while (len && space(t[len - 1]))
				len--;
			if (len >= 2 && strncmp(t, "/*", 2) == 0)
				continue;
			if ((k = keyword(t, len, "if"))) {
				n = cond_node(w, t + k, len - k, pc->line, depth);
			} else if ((k = keyword(t, len, "else"))) {
				const char *rest = t + k;
				size_t rlen = len - k;
				while (rlen && space(*rest))
					rest++, rlen--;
				size_t ik = keyword(rest, rlen, "if");
				if (ik) {
					w->stop_rest = rest + ik;
					w->stop_len = rlen - ik;
					*stop = STOP_ELSE_IF;
				} else {
					if (rlen)
						fail(w->ps, "unexpected words after {{else}}");
					*stop = STOP_ELSE;
				}
				if (depth == 0)
					fail(w->ps, "{{else}} outside {{if}}");
				return head;
			} else if (keyword(t, len, "end")) {
				if (depth == 0)
					fail(w->ps, "{{end}} outside {{if}}");
				*stop = STOP_END;
				return head;
			} else if (keyword(t, len, "range") || keyword(t, len, "with") ||
			           keyword(t, len, "define") || keyword(t, len, "template") ||
			           keyword(t, len, "block")) {
				fail(w->ps, "\"%.*s\" is not supported", (int)strcspn(t, " \t\n"),
				     t);
			} else {
				n = xcalloc(1, sizeof *n);
				n->kind = N_OUT;
				n->line = pc->line;
				n->pipe = parse_pipe(w->ps, t, len);
			}
		}
		if (n) {
			*tail = n;
			tail = &n->next;
		}
	}
	return head;
}

struct tmpl *tmpl_parse(const char *name, const char *text, char *err, size_t errlen)
{
	struct parser ps = {.name = name, .src = text, .err = err, .errlen = errlen, .line = 1};
	struct piece *pieces;
	size_t n = cut(&ps, &pieces);
	struct walk w = {&ps, pieces, n, 0, NULL, 0};
	enum stop stop;
	struct node *root = ps.failed ? NULL : list(&w, &stop, 0);
	free(pieces);
	if (ps.failed) {
		nodes_free(root);
		return NULL;
	}
	struct tmpl *t = xcalloc(1, sizeof *t);
	atomic_init(&t->refs, 1);
	t->root = root;
	return t;
}

struct tmpl *tmpl_ref(struct tmpl *t)
{
	if (t)
		atomic_fetch_add(&t->refs, 1);
	return t;
}

void tmpl_free(struct tmpl *t)
{
	if (t == NULL || atomic_fetch_sub(&t->refs, 1) > 1)
		return;
	nodes_free(t->root);
	free(t);
}

/* ---- execution ---- */

struct exec {
	const struct notify_data *d;
	struct strv owned; /* strings function results point into */
	char *err;
	size_t errlen;
	int line;
	bool failed;
};

__attribute__((format(printf, 2, 3))) static int xfail(struct exec *x, const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (!x->failed)
		snprintf(x->err, x->errlen, "template line %d: %s", x->line, msg);
	x->failed = true;
	return -1;
}

static struct val own(struct exec *x, struct buf *b)
{
	char *s = b->data ? buf_steal(b) : xstrdup("");
	size_t n = strlen(s);
	strv_push_owned(&x->owned, s);
	return (struct val){V_STR, s, n, 0};
}

/* print appends v as Go's fmt prints a value. */
static void print(struct buf *b, const struct val *v)
{
	char text[96];
	switch (v->k) {
	case V_STR:
		buf_append(b, v->s, v->n);
		break;
	case V_BOOL:
		buf_puts(b, v->i ? "true" : "false");
		break;
	case V_INT:
		buf_printf(b, "%lld", (long long)v->i);
		break;
	case V_DUR:
		duration_format(v->i, text);
		buf_puts(b, text);
		break;
	case V_TIME:
		notify_time_go(v->i, text);
		buf_puts(b, text);
		break;
	case V_NIL:
		buf_puts(b, "<no value>");
		break;
	case V_OBJ:
		buf_puts(b, "{...}");
		break;
	}
}

static bool truth(const struct val *v)
{
	switch (v->k) {
	case V_STR:
		return v->n > 0;
	case V_BOOL:
	case V_INT:
	case V_DUR:
		return v->i != 0;
	case V_TIME:
	case V_OBJ:
		return true;
	case V_NIL:
		return false;
	}
	return false;
}

static bool equal(const struct val *a, const struct val *b)
{
	if (a->k == V_STR && b->k == V_STR)
		return a->n == b->n && memcmp(a->s, b->s, a->n) == 0;
	if (a->k == V_STR || b->k == V_STR)
		return false;
	return a->k == b->k && a->i == b->i;
}

static int eval(struct exec *x, const struct expr *e, struct val *out);

static int want_args(struct exec *x, const char *fn, size_t have, size_t want)
{
	if (have != want)
		return xfail(x, "wrong number of args for %s: want %zu got %zu", fn, want, have);
	return 0;
}

static int want_kind(struct exec *x, const char *fn, const struct val *v, enum vkind k,
                     const char *what)
{
	if (v->k != k)
		return xfail(x, "%s wants %s", fn, what);
	return 0;
}

/* call runs function fn on the evaluated arguments a[0..n). */
static int call(struct exec *x, const char *fn, struct val *a, size_t n, struct val *out)
{
	struct buf b = BUF_INIT;
	char text[96];
	if (!strcmp(fn, "json") || !strcmp(fn, "jsonRaw") || !strcmp(fn, "upper") ||
	    !strcmp(fn, "lower") || !strcmp(fn, "title") || !strcmp(fn, "len")) {
		if (want_args(x, fn, n, 1) < 0)
			return -1;
		struct buf tmp = BUF_INIT;
		if (a[0].k != V_STR && strcmp(fn, "jsonRaw")) {
			print(&tmp, &a[0]);
			a[0] = own(x, &tmp);
		}
		if (!strcmp(fn, "json")) {
			notify_json_escape(&b, a[0].s, a[0].n);
		} else if (!strcmp(fn, "jsonRaw")) {
			if (a[0].k == V_STR)
				notify_json_string(&b, a[0].s, a[0].n);
			else if (a[0].k == V_TIME) {
				notify_time_rfc3339(a[0].i, text);
				notify_json_string(&b, text, strlen(text));
			} else if (a[0].k == V_NIL || a[0].k == V_OBJ)
				buf_puts(&b, "null");
			else
				print(&b, a[0].k == V_DUR ? &(struct val){V_INT, NULL, 0, a[0].i}
				                          : &a[0]);
		} else if (!strcmp(fn, "len")) {
			*out = (struct val){V_INT, NULL, 0, (int64_t)a[0].n};
			return 0;
		} else {
			bool start = true;
			for (size_t i = 0; i < a[0].n; i++) {
				int c = (unsigned char)a[0].s[i];
				if (!strcmp(fn, "upper"))
					c = toupper(c);
				else if (!strcmp(fn, "lower"))
					c = tolower(c);
				else
					c = start ? toupper(c) : tolower(c);
				start = !isalnum(c) && c < 0x80 && c != '\'';
				buf_putc(&b, (char)c);
			}
		}
	} else if (!strcmp(fn, "truncate")) {
		if (want_args(x, fn, n, 2) < 0 ||
		    want_kind(x, fn, &a[0], V_INT, "a number first") < 0 ||
		    want_kind(x, fn, &a[1], V_STR, "a string second") < 0)
			return -1;
		int64_t runes = 0;
		size_t i = 0;
		for (; i < a[1].n && runes < a[0].i; i++)
			if (((unsigned char)a[1].s[i] & 0xC0) != 0x80)
				runes++;
		while (i < a[1].n && ((unsigned char)a[1].s[i] & 0xC0) == 0x80)
			i++;
		buf_append(&b, a[1].s, i);
		if (i < a[1].n)
			buf_puts(&b, "...");
	} else if (!strcmp(fn, "default")) {
		if (want_args(x, fn, n, 2) < 0)
			return -1;
		print(&b, truth(&a[1]) ? &a[1] : &a[0]);
	} else if (!strcmp(fn, "isoTime") || !strcmp(fn, "unixTime")) {
		if (want_args(x, fn, n, 1) < 0 || want_kind(x, fn, &a[0], V_TIME, "a time") < 0)
			return -1;
		if (fn[0] == 'u') {
			int64_t s = a[0].i / 1000000000LL - (a[0].i < 0 && a[0].i % 1000000000LL);
			*out = (struct val){V_INT, NULL, 0, s};
			return 0;
		}
		notify_time_rfc3339(a[0].i, text);
		buf_puts(&b, text);
	} else if (!strcmp(fn, "formatDuration")) {
		if (want_args(x, fn, n, 1) < 0 || want_kind(x, fn, &a[0], V_DUR, "a duration") < 0)
			return -1;
		duration_format(a[0].i, text);
		buf_puts(&b, text);
	} else if (!strcmp(fn, "urlquery") || !strcmp(fn, "print")) {
		struct buf all = BUF_INIT;
		for (size_t i = 0; i < n; i++) {
			/* Go's print puts spaces only between operands that are not strings. */
			if (i && a[i].k != V_STR && a[i - 1].k != V_STR)
				buf_putc(&all, ' ');
			print(&all, &a[i]);
		}
		if (fn[0] == 'u') {
			notify_query_escape(&b, all.data ? all.data : "", all.len);
			buf_free(&all);
		} else {
			buf_free(&b);
			b = all;
		}
	} else if (!strcmp(fn, "eq") || !strcmp(fn, "ne")) {
		if (n < 2)
			return xfail(x, "%s wants two values", fn);
		bool eq = false;
		for (size_t i = 1; i < n; i++)
			eq = eq || equal(&a[0], &a[i]);
		*out = (struct val){V_BOOL, NULL, 0, fn[0] == 'e' ? eq : !eq};
		return 0;
	} else if (!strcmp(fn, "not")) {
		if (want_args(x, fn, n, 1) < 0)
			return -1;
		*out = (struct val){V_BOOL, NULL, 0, !truth(&a[0])};
		return 0;
	} else if (!strcmp(fn, "and") || !strcmp(fn, "or")) {
		if (n == 0)
			return xfail(x, "%s wants values", fn);
		/* Go returns the first false (and) or true (or) value, else the last. */
		for (size_t i = 0; i < n; i++)
			if (truth(&a[i]) == (fn[0] == 'o') || i == n - 1) {
				*out = a[i];
				return 0;
			}
	} else if (!strcmp(fn, "status")) {
		if (want_args(x, fn, n, 1) < 0)
			return -1;
		*out = str(notify_data_status(x->d));
		return 0;
	} else {
		return xfail(x, "function \"%s\" not defined", fn);
	}
	*out = own(x, &b);
	return 0;
}

static int eval_call(struct exec *x, const struct expr *e, const struct val *piped, struct val *out)
{
	struct val a[MAX_ARGS + 1];
	size_t n = 0;
	for (size_t i = 0; i < e->nargs; i++)
		if (eval(x, e->args[i], &a[n++]) < 0)
			return -1;
	if (piped)
		a[n++] = *piped;
	return call(x, e->text, a, n, out);
}

static int eval(struct exec *x, const struct expr *e, struct val *out)
{
	switch (e->kind) {
	case E_FIELD:
		*out = *e->text ? field(x->d, e->text) : (struct val){V_OBJ, NULL, 0, 0};
		return 0;
	case E_STR:
		*out = str(e->text);
		return 0;
	case E_INT:
		*out = (struct val){V_INT, NULL, 0, e->num};
		return 0;
	case E_BOOL:
		*out = (struct val){V_BOOL, NULL, 0, e->num};
		return 0;
	case E_NIL:
		*out = (struct val){V_NIL, NULL, 0, 0};
		return 0;
	case E_CALL:
		return eval_call(x, e, NULL, out);
	case E_PIPE: {
		struct val v = {V_NIL, NULL, 0, 0};
		for (size_t i = 0; i < e->nargs; i++) {
			const struct expr *c = e->args[i];
			if (c->kind == E_CALL) {
				if (eval_call(x, c, i ? &v : NULL, &v) < 0)
					return -1;
			} else if (eval(x, c, &v) < 0) {
				return -1;
			}
		}
		*out = v;
		return 0;
	}
	}
	return xfail(x, "bad expression");
}

static int run(struct exec *x, const struct node *n, struct buf *out)
{
	for (; n && !x->failed; n = n->next) {
		struct val v;
		x->line = n->line;
		switch (n->kind) {
		case N_TEXT:
			buf_append(out, n->text, n->len);
			break;
		case N_OUT:
			if (eval(x, n->pipe, &v) < 0)
				return -1;
			print(out, &v);
			break;
		case N_IF:
			if (eval(x, n->pipe, &v) < 0)
				return -1;
			if (run(x, truth(&v) ? n->then : n->els, out) < 0)
				return -1;
			break;
		}
	}
	return x->failed ? -1 : 0;
}

int tmpl_render(const struct tmpl *t, const struct notify_data *d, struct buf *out, char *err,
                size_t errlen)
{
	struct exec x = {.d = d, .owned = STRV_INIT, .err = err, .errlen = errlen};
	int rc = run(&x, t->root, out);
	strv_free(&x.owned);
	return rc;
}
