/* webhooks: netresearch's [webhook "name"] sections (YAML: a top-level
 * "webhooks:" mapping), their presets, and the checks that need the whole
 * file: which preset each webhook uses, whether the variables it needs are
 * set, and whether the webhooks jobs name exist.
 *
 * A preset is netresearch's YAML (url_scheme, method, headers, variables,
 * body). The bundled ones are compiled in (presets/NAME.yaml); a preset
 * whose name starts with "/", "./" or "../" is read from that file. Remote
 * presets (gh:, https://) are refused with a message: ofelia makes no
 * requests it was not told to make to a receiver. A section may also carry
 * its own template (method, header, body) instead of a preset. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml.h>

#include "config/config_int.h"
#include "util/duration.h"
#include "util/embedded.h"
#include "util/words.h"
#include "util/xalloc.h"

#define MAX_PRESET_FILE (1024 * 1024)

const char *const config_preset_names[] = {
    "discord",   "gotify",   "healthchecks", "healthchecks-selfhosted",
    "json-post", "matrix",   "ntfy",         "ntfy-token",
    "pagerduty", "pushover", "slack",        "teams",
    NULL,
};

static const char *const webhook_keys[] = {
    "preset",  "url",         "id",          "secret", "link", "link-text", "device", "trigger",
    "timeout", "retry-count", "retry-delay", "method", "body", "header",    NULL,
};

void config_preset_fini(struct config_preset *p)
{
	free(p->name);
	free(p->url_scheme);
	free(p->method);
	strv_free(&p->headers);
	strv_free(&p->required);
	free(p->body);
	memset(p, 0, sizeof *p);
}

void config_webhook_release(struct config_webhook *w)
{
	char *strings[] = {w->name, w->source,    w->preset, w->url,     w->id,     w->secret,
	                   w->link, w->link_text, w->device, w->trigger, w->method, w->body};
	for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++)
		free(strings[i]);
	strv_free(&w->headers);
	config_preset_fini(&w->resolved);
}

void config_webhook_copy(struct config_webhook *d, const struct config_webhook *s)
{
	memset(d, 0, sizeof *d);
	char **to[] = {&d->name, &d->source,    &d->preset, &d->url,     &d->id,     &d->secret,
	               &d->link, &d->link_text, &d->device, &d->trigger, &d->method, &d->body};
	const char *from[] = {s->name, s->source,    s->preset, s->url,     s->id,     s->secret,
	                      s->link, s->link_text, s->device, s->trigger, s->method, s->body};
	for (size_t i = 0; i < sizeof to / sizeof to[0]; i++)
		*to[i] = xstrdup(from[i]);
	d->timeout_ns = s->timeout_ns;
	d->retry_count = s->retry_count;
	d->retry_delay_ns = s->retry_delay_ns;
	strv_copy(&d->headers, &s->headers);
	d->resolved.name = xstrdup(s->resolved.name);
	d->resolved.url_scheme = xstrdup(s->resolved.url_scheme);
	d->resolved.method = xstrdup(s->resolved.method);
	d->resolved.body = xstrdup(s->resolved.body);
	strv_copy(&d->resolved.headers, &s->resolved.headers);
	strv_copy(&d->resolved.required, &s->resolved.required);
}

void config_webhooks_free(struct config *c)
{
	for (size_t i = 0; i < c->nwebhooks; i++)
		config_webhook_release(&c->webhooks[i]);
	free(c->webhooks);
	c->webhooks = NULL;
	c->nwebhooks = 0;
}

const struct config_webhook *config_webhook_find(const struct config *c, const char *name)
{
	for (size_t i = 0; i < c->nwebhooks; i++)
		if (strcmp(c->webhooks[i].name, name) == 0)
			return &c->webhooks[i];
	return NULL;
}

/* ---- sections ---- */

struct config_webhook *config_webhook_add(struct config_ld *ld, const char *name,
                                          struct config_pos pos)
{
	struct config *c = ld->c;
	if (*name == '\0') {
		config_error(ld, pos, "a webhook section needs a name: [webhook \"NAME\"]");
		return NULL;
	}
	for (size_t i = 0; i < c->nwebhooks; i++)
		if (strcmp(c->webhooks[i].name, name) == 0) {
			config_error(ld, pos, "webhook \"%s\" is defined twice (first at %s)", name,
			             c->webhooks[i].source);
			return NULL;
		}
	c->webhooks = xreallocarray(c->webhooks, c->nwebhooks + 1, sizeof *c->webhooks);
	struct config_webhook *w = &c->webhooks[c->nwebhooks++];
	memset(w, 0, sizeof *w);
	w->name = xstrdup(name);
	w->source = xasprintf("%s:%d", ld->name, pos.line);
	w->retry_count = -1;
	return w;
}

static int set_duration(struct config_ld *ld, const char *where, const char *key, const char *value,
                        struct config_pos pos, int64_t *out)
{
	char err[128];
	if (duration_parse(value, out, err, sizeof err) < 0 || *out < 0) {
		config_error(ld, pos, "%s: %s: %s", where, key,
		             *out < 0 ? "cannot be negative" : err);
		return -1;
	}
	return 0;
}

int config_webhook_set(struct config_ld *ld, struct config_webhook *w, const char *key,
                       const char *value, struct config_pos pos)
{
	char where[300], norm[64], have[64];
	snprintf(where, sizeof where, "webhook \"%s\"", w->name);
	if (strlen(key) >= sizeof norm) {
		config_warning(ld, pos, "%s: unknown key \"%.40s...\"", where, key);
		return 0;
	}
	words_normalize(key, norm, sizeof norm);
	const char *canon = NULL;
	for (int i = 0; webhook_keys[i] && canon == NULL; i++) {
		words_normalize(webhook_keys[i], have, sizeof have);
		if (strcmp(norm, have) == 0)
			canon = webhook_keys[i];
	}
	if (canon == NULL) {
		const char *near = words_nearest(key, (const char **)webhook_keys,
		                                 sizeof webhook_keys / sizeof webhook_keys[0] - 1);
		if (near)
			config_warning(ld, pos, "%s: unknown key \"%s\" (did you mean \"%s\"?)",
			               where, key, near);
		else
			config_warning(ld, pos, "%s: unknown key \"%s\"", where, key);
		return 0;
	}
	if (*value == '\0')
		return 0;
	char **strings[] = {&w->preset,    &w->url,    &w->id,      &w->secret, &w->link,
	                    &w->link_text, &w->device, &w->trigger, NULL,       NULL,
	                    NULL,          &w->method, &w->body};
	for (int i = 0; i < 13; i++)
		if (strcmp(canon, webhook_keys[i]) == 0 && strings[i]) {
			free(*strings[i]);
			*strings[i] = xstrdup(value);
			return 0;
		}
	if (strcmp(canon, "header") == 0) {
		const char *colon = strchr(value, ':');
		if (colon == NULL || colon == value) {
			config_error(ld, pos, "%s: header: \"%s\" is not \"Name: value\"", where,
			             value);
			return -1;
		}
		strv_push(&w->headers, value);
		return 0;
	}
	if (strcmp(canon, "retry-count") == 0) {
		char *end;
		long n = strtol(value, &end, 10);
		if (*end != '\0' || n < 0 || n > 1000) {
			config_error(ld, pos,
			             "%s: retry-count: \"%s\" is not a whole number from 0 to 1000",
			             where, value);
			return -1;
		}
		w->retry_count = (int)n;
		return 0;
	}
	return set_duration(ld, where, canon, value, pos,
	                    strcmp(canon, "timeout") == 0 ? &w->timeout_ns : &w->retry_delay_ns);
}

/* ---- presets ---- */

struct ydoc {
	yaml_document_t doc;
};

static const char *scalar(yaml_document_t *d, int id)
{
	yaml_node_t *n = yaml_document_get_node(d, id);
	if (n == NULL || n->type != YAML_SCALAR_NODE)
		return NULL;
	return (const char *)n->data.scalar.value;
}

static bool yaml_true(const char *s)
{
	bool b;
	return s && job_bool_parse(s, &b) == 0 && b;
}

/* preset_variables records the variables the preset marks required. */
static void preset_variables(yaml_document_t *d, yaml_node_t *map, struct config_preset *p)
{
	if (map->type != YAML_MAPPING_NODE)
		return;
	for (yaml_node_pair_t *pr = map->data.mapping.pairs.start; pr < map->data.mapping.pairs.top;
	     pr++) {
		const char *name = scalar(d, pr->key);
		yaml_node_t *v = yaml_document_get_node(d, pr->value);
		if (name == NULL || v == NULL || v->type != YAML_MAPPING_NODE)
			continue;
		for (yaml_node_pair_t *q = v->data.mapping.pairs.start;
		     q < v->data.mapping.pairs.top; q++) {
			const char *k = scalar(d, q->key);
			if (k && strcmp(k, "required") == 0 && yaml_true(scalar(d, q->value)))
				strv_push(&p->required, name);
		}
	}
}

static bool has_header(const struct strv *headers, const char *name)
{
	size_t n = strlen(name);
	for (size_t i = 0; i < headers->n; i++)
		if (strncasecmp(headers->v[i], name, n) == 0 && headers->v[i][n] == ':')
			return true;
	return false;
}

/* preset_defaults fills what netresearch's ParsePreset defaults: POST, and
 * a JSON Content-Type for a POST without one. */
static void preset_defaults(struct config_preset *p)
{
	if (p->method == NULL || *p->method == '\0') {
		free(p->method);
		p->method = xstrdup("POST");
	}
	if (strcasecmp(p->method, "POST") == 0 && !has_header(&p->headers, "Content-Type"))
		strv_push(&p->headers, "Content-Type: application/json");
}

/* preset_parse reads preset YAML text into out; -1 with the reason in err. */
static int preset_parse(const char *name, const char *text, size_t len, struct config_preset *out,
                        char *err, size_t errlen)
{
	yaml_parser_t parser;
	yaml_document_t d;
	int rc = -1;

	memset(out, 0, sizeof *out);
	yaml_parser_initialize(&parser);
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &d)) {
		snprintf(err, errlen, "preset %s: %s at line %zu", name,
		         parser.problem ? parser.problem : "cannot parse",
		         parser.problem_mark.line + 1);
		yaml_parser_delete(&parser);
		return -1;
	}
	yaml_node_t *top = yaml_document_get_root_node(&d);
	if (top == NULL || top->type != YAML_MAPPING_NODE) {
		snprintf(err, errlen, "preset %s: not a YAML mapping", name);
		goto out;
	}
	out->name = xstrdup(name);
	for (yaml_node_pair_t *pr = top->data.mapping.pairs.start; pr < top->data.mapping.pairs.top;
	     pr++) {
		const char *k = scalar(&d, pr->key), *v = scalar(&d, pr->value);
		yaml_node_t *vn = yaml_document_get_node(&d, pr->value);
		if (k == NULL)
			continue;
		if (strcmp(k, "url_scheme") == 0 && v)
			out->url_scheme = xstrdup(v);
		else if (strcmp(k, "method") == 0 && v)
			out->method = xstrdup(v);
		else if (strcmp(k, "body") == 0 && v)
			out->body = xstrdup(v);
		else if (strcmp(k, "variables") == 0 && vn)
			preset_variables(&d, vn, out);
		else if (strcmp(k, "headers") == 0 && vn && vn->type == YAML_MAPPING_NODE)
			for (yaml_node_pair_t *h = vn->data.mapping.pairs.start;
			     h < vn->data.mapping.pairs.top; h++) {
				const char *hn = scalar(&d, h->key), *hv = scalar(&d, h->value);
				if (hn && hv)
					strv_push_owned(&out->headers, xasprintf("%s: %s", hn, hv));
			}
	}
	if ((out->url_scheme == NULL || *out->url_scheme == '\0') &&
	    (out->body == NULL || *out->body == '\0')) {
		snprintf(err, errlen, "preset %s: it needs url_scheme or body", name);
		goto out;
	}
	preset_defaults(out);
	rc = 0;
out:
	if (rc < 0)
		config_preset_fini(out);
	yaml_document_delete(&d);
	yaml_parser_delete(&parser);
	return rc;
}

int config_preset_bundled(const char *name, struct config_preset *out, char *err, size_t errlen)
{
	char path[128];
	snprintf(path, sizeof path, "presets/%s.yaml", name);
	const struct embedded_file *f = strlen(name) < 64 ? embedded_find(path) : NULL;
	if (f == NULL) {
		snprintf(err, errlen, "no bundled preset \"%s\"", name);
		return -1;
	}
	return preset_parse(name, f->data, f->len, out, err, errlen);
}

static int preset_file(const char *path, struct config_preset *out, char *err, size_t errlen)
{
	/* Not blocking on a FIFO or a device: only a regular file is read. */
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	struct stat st;
	if (fd < 0) {
		snprintf(err, errlen, "preset file %s: cannot open: %m", path);
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "preset file %s: not a regular file", path);
		close(fd);
		return -1;
	}
	FILE *f = fdopen(fd, "rb");
	if (f == NULL) {
		snprintf(err, errlen, "preset file %s: cannot read: %m", path);
		close(fd);
		return -1;
	}
	char *data = xmalloc(MAX_PRESET_FILE + 1);
	size_t len = fread(data, 1, MAX_PRESET_FILE + 1, f);
	int rc = -1;
	if (ferror(f))
		snprintf(err, errlen, "preset file %s: cannot read: %m", path);
	else if (len > MAX_PRESET_FILE)
		snprintf(err, errlen, "preset file %s: larger than 1 MiB", path);
	else if (memchr(data, '\0', len))
		snprintf(err, errlen, "preset file %s: holds a NUL byte", path);
	else
		rc = preset_parse(path, data, len, out, err, errlen);
	fclose(f);
	free(data);
	return rc;
}

/* inline_preset makes the preset of a section that writes its own body. */
static void inline_preset(const struct config_webhook *w, struct config_preset *p)
{
	memset(p, 0, sizeof *p);
	p->name = xstrdup("(inline)");
	p->url_scheme = xstrdup("{url}");
	p->method = w->method ? xstrdup(w->method) : NULL;
	strv_copy(&p->headers, &w->headers);
	strv_push(&p->required, "url");
	p->body = xstrdup(w->body);
	preset_defaults(p);
}

static const char *variable(const struct config_webhook *w, const char *name)
{
	if (strcmp(name, "id") == 0)
		return w->id;
	if (strcmp(name, "secret") == 0)
		return w->secret;
	if (strcmp(name, "url") == 0)
		return w->url;
	if (strcmp(name, "device") == 0)
		return w->device;
	if (strcmp(name, "link") == 0)
		return w->link;
	if (strcmp(name, "link_text") == 0 || strcmp(name, "link-text") == 0)
		return w->link_text;
	return NULL;
}

/* resolve_preset finds and checks the preset of w; -1 with the reason in err. */
static int resolve_preset(const struct config *c, struct config_webhook *w, char *err,
                          size_t errlen)
{
	const char *preset = w->preset ? w->preset : c->global.webhook_default_preset;
	char why[512];
	int rc;

	if (w->trigger && strcasecmp(w->trigger, "always") && strcasecmp(w->trigger, "error") &&
	    strcasecmp(w->trigger, "success") && strcasecmp(w->trigger, "skipped")) {
		snprintf(err, errlen, "trigger \"%s\" is not always, error, success or skipped",
		         w->trigger);
		return -1;
	}
	if (w->body) {
		if (w->preset) {
			snprintf(err, errlen, "give either preset or body, not both");
			return -1;
		}
		inline_preset(w, &w->resolved);
	} else {
		if (w->method || w->headers.n) {
			snprintf(err, errlen, "method and header need a body (or use a preset)");
			return -1;
		}
		if (preset == NULL || *preset == '\0') {
			snprintf(err, errlen,
			         "no preset, and webhook-default-preset is set to none: give this "
			         "webhook a preset");
			return -1;
		}
		if (strncmp(preset, "gh:", 3) == 0 || strncmp(preset, "http://", 7) == 0 ||
		    strncmp(preset, "https://", 8) == 0) {
			snprintf(
			    err, errlen,
			    "remote preset \"%s\": ofelia does not fetch presets; save the file "
			    "and give its path",
			    preset);
			return -1;
		}
		if (preset[0] == '/' || strncmp(preset, "./", 2) == 0 ||
		    strncmp(preset, "../", 3) == 0)
			rc = preset_file(preset, &w->resolved, why, sizeof why);
		else
			rc = config_preset_bundled(preset, &w->resolved, why, sizeof why);
		if (rc < 0) {
			snprintf(err, errlen, "%s", why);
			return -1;
		}
	}
	for (size_t i = 0; i < w->resolved.required.n; i++) {
		const char *v = variable(w, w->resolved.required.v[i]);
		if (v == NULL || *v == '\0') {
			snprintf(err, errlen, "preset %s needs \"%s\"", w->resolved.name,
			         w->resolved.required.v[i]);
			return -1;
		}
	}
	if (w->url && strncmp(w->url, "http://", 7) && strncmp(w->url, "https://", 8)) {
		snprintf(err, errlen, "url must be http:// or https://");
		return -1;
	}
	return 0;
}

/* resolve is resolve_preset leaving no preset behind when it fails, so a
 * webhook that cannot be used is recognisable (config_from_labels drops it). */
static int resolve(const struct config *c, struct config_webhook *w, char *err, size_t errlen)
{
	if (resolve_preset(c, w, err, errlen) == 0)
		return 0;
	config_preset_fini(&w->resolved);
	return -1;
}

/* check_names warns about each name in lists (items hold comma-separated
 * names) that no webhook section defines. */
static void check_names(struct config_ld *ld, const struct strv *lists, const char *where,
                        struct config_pos pos)
{
	for (size_t i = 0; i < lists->n; i++) {
		char *copy = xstrdup(lists->v[i]), *save = NULL;
		for (char *n = strtok_r(copy, ", ", &save); n; n = strtok_r(NULL, ", ", &save))
			if (config_webhook_find(ld->c, n) == NULL)
				config_warning(
				    ld, pos,
				    "%s: webhook \"%s\" is not defined here (a label may "
				    "define it; until then its notices fail)",
				    where, n);
		free(copy);
	}
}

static struct config_pos pos_of_source(const char *source)
{
	const char *colon = strrchr(source, ':');
	return (struct config_pos){colon ? atoi(colon + 1) : 0, 1};
}

void config_webhooks_finish(struct config_ld *ld)
{
	struct config *c = ld->c;
	char err[600];
	unsigned mask;

	for (size_t i = 0; i < c->nwebhooks; i++)
		if (resolve(c, &c->webhooks[i], err, sizeof err) < 0)
			config_error(ld, pos_of_source(c->webhooks[i].source), "webhook \"%s\": %s",
			             c->webhooks[i].name, err);
	if (job_notify_on_parse(&c->global.notify_on, &mask, err, sizeof err) < 0)
		config_error(ld, (struct config_pos){0, 0}, "global: %s", err);
	check_names(ld, &c->global.webhook_webhooks, "global: webhook-webhooks",
	            (struct config_pos){0, 0});
	for (size_t i = 0; i < c->njobs; i++) {
		char where[300];
		snprintf(where, sizeof where, "job \"%s\"", c->jobs[i]->name);
		check_names(ld, &c->jobs[i]->webhooks, where, ld->job_pos[i]);
	}
}
