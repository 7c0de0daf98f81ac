/* What the subcommands share: options from flags and OFELIA_* variables,
 * the config (a file or the embedded default), the database path, and the
 * scheduler's options. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/cli_int.h"
#include "util/embedded.h"
#include "util/xalloc.h"

#define DEFAULT_CONFIG "src/cli/default-config.yaml"
#define SYSTEM_DB_DIR  "/var/lib/ofelia"

static const struct cli_opt *find_long(const struct cli_opt *opts, size_t n, const char *name,
                                       size_t len)
{
	for (size_t i = 0; i < n; i++)
		if (strlen(opts[i].name) == len && strncmp(opts[i].name, name, len) == 0)
			return &opts[i];
	return NULL;
}

static const struct cli_opt *find_short(const struct cli_opt *opts, size_t n, char c)
{
	for (size_t i = 0; i < n; i++)
		if (opts[i].short_name && opts[i].short_name == c)
			return &opts[i];
	return NULL;
}

static int set_value(const struct cli_opt *o, const char *value, const char *origin)
{
	if (o->noop && o->notes)
		strv_push_owned(o->notes,
		                xasprintf("%s has no effect%s (ignored)", origin, o->noop));
	if (o->kind == CLI_STRING) {
		char **dst = o->value;
		free(*dst);
		*dst = xstrdup(value);
		return 0;
	}
	if (o->kind == CLI_LIST) {
		strv_push(o->value, value);
		return 0;
	}
	bool b;
	if (value == NULL) {
		*(int *)o->value = 1;
		return 0;
	}
	if (job_bool_parse(value, &b) < 0) {
		fprintf(stderr, "ofelia: %s: \"%s\" is not true or false\n", origin, value);
		return -1;
	}
	*(int *)o->value = b;
	return 0;
}

/* left_column writes "-c, --config VALUE" (or "    --db VALUE"). */
static void left_column(const struct cli_opt *o, char *out, size_t outlen)
{
	const char *arg = o->kind == CLI_BOOL ? "" : " VALUE";
	if (o->short_name)
		snprintf(out, outlen, "-%c, --%s%s", o->short_name, o->name, arg);
	else
		snprintf(out, outlen, "    --%s%s", o->name, arg);
}

static void print_usage(FILE *out, const char *usage, const struct cli_opt *opts, size_t n)
{
	char left[96];
	int width = (int)strlen("-h, --help");
	for (size_t i = 0; i < n; i++) {
		left_column(&opts[i], left, sizeof left);
		if ((int)strlen(left) > width)
			width = (int)strlen(left);
	}
	fprintf(out, "%s\noptions:\n", usage);
	for (size_t i = 0; i < n; i++) {
		left_column(&opts[i], left, sizeof left);
		fprintf(out, "  %-*s  %s", width, left, opts[i].help);
		if (opts[i].env)
			fprintf(out, " [%s]", opts[i].env);
		fputc('\n', out);
	}
	fprintf(out, "  %-*s  %s\n", width, "-h, --help", "show this help");
}

int cli_parse(int argc, char **argv, const struct cli_opt *opts, size_t nopts, const char *usage,
              int *npos, bool *help)
{
	*help = false;
	*npos = 0;
	for (size_t i = 0; i < nopts; i++) {
		const char *env = opts[i].env ? getenv(opts[i].env) : NULL;
		if (env && *env && set_value(&opts[i], env, opts[i].env) < 0)
			return CLI_USAGE;
	}
	bool options_done = false, flagged[nopts + 1];
	memset(flagged, 0, sizeof flagged);
	for (int i = 1; i < argc; i++) {
		char *arg = argv[i];
		if (options_done || arg[0] != '-' || arg[1] == '\0') {
			argv[(*npos)++] = arg;
			continue;
		}
		if (strcmp(arg, "--") == 0) {
			options_done = true;
			continue;
		}
		if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
			print_usage(stdout, usage, opts, nopts);
			*help = true;
			return CLI_OK;
		}
		const struct cli_opt *o;
		const char *value = NULL;
		if (arg[1] == '-') {
			const char *eq = strchr(arg + 2, '=');
			size_t len = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
			o = find_long(opts, nopts, arg + 2, len);
			value = eq ? eq + 1 : NULL;
		} else {
			o = arg[2] == '\0' ? find_short(opts, nopts, arg[1]) : NULL;
		}
		if (o == NULL) {
			fprintf(stderr, "ofelia %s: unknown option \"%s\"\n\n", argv[0], arg);
			print_usage(stderr, usage, opts, nopts);
			return CLI_USAGE;
		}
		if (o->kind != CLI_BOOL && value == NULL) {
			if (i + 1 >= argc) {
				fprintf(stderr, "ofelia %s: %s needs a value\n", argv[0], arg);
				return CLI_USAGE;
			}
			value = argv[++i];
		}
		/* A list from flags replaces the variable's value. */
		if (o->kind == CLI_LIST && !flagged[o - opts])
			strv_free(o->value);
		flagged[o - opts] = true;
		if (set_value(o, value, arg) < 0)
			return CLI_USAGE;
	}
	return -1;
}

void cli_free_opts(const struct cli_opt *opts, size_t nopts)
{
	for (size_t i = 0; i < nopts; i++)
		if (opts[i].kind == CLI_STRING) {
			char **p = opts[i].value;
			free(*p);
			*p = NULL;
		} else if (opts[i].kind == CLI_LIST) {
			strv_free(opts[i].value);
		}
}

struct config *cli_load_config(const char *path)
{
	struct config_diag diag = {0};
	struct config *c;

	if (path) {
		c = config_load_file(path, &diag);
	} else {
		const struct embedded_file *f = embedded_find(DEFAULT_CONFIG);
		c = config_load_string(f->data, f->len, "(default config)", CONFIG_YAML, &diag);
	}
	cli_report(NULL, &diag, false);
	config_diag_free(&diag);
	return c;
}

struct config *cli_config_load(const struct cli_settings *s, struct config_diag *diag, char **path)
{
	bool label_only;
	*path = cli_config_path(s, &label_only);
	if (*path && strcmp(*path, CLI_BUILTIN_CONFIG) == 0) {
		const struct embedded_file *f = embedded_find(DEFAULT_CONFIG);
		return config_load_string(f->data, f->len, CLI_BUILTIN_CONFIG, CONFIG_YAML, diag);
	}
	if (*path)
		return config_load_file(*path, diag);
	struct config *c = xmalloc(sizeof *c);
	config_defaults(c);
	free(c->path);
	c->path = xstrdup("(no config file)");
	return c;
}

/* make_dirs creates dir and its parents, like mkdir -p. */
static int make_dirs(const char *dir)
{
	char *p = xstrdup(dir);
	int rc = 0;
	for (char *s = p + 1; *s && rc == 0; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0755) < 0 && errno != EEXIST)
			rc = -1;
		*s = '/';
	}
	if (rc == 0 && mkdir(p, 0755) < 0 && errno != EEXIST)
		rc = -1;
	free(p);
	return rc;
}

static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash == NULL   ? xstrdup(".")
	       : slash == path ? xstrdup("/")
	                       : xstrndup(path, (size_t)(slash - path));
}

char *cli_db_path(const char *explicit_path, const struct config *c)
{
	char *path;
	if (explicit_path && *explicit_path)
		path = xstrdup(explicit_path);
	else if (c->global.db_path && *c->global.db_path)
		path = xstrdup(c->global.db_path);
	else if (make_dirs(SYSTEM_DB_DIR) == 0 && access(SYSTEM_DB_DIR, W_OK) == 0)
		path = xstrdup(SYSTEM_DB_DIR "/ofelia.db");
	else {
		const char *state = getenv("XDG_STATE_HOME");
		const char *home = getenv("HOME");
		if (state && *state)
			path = xasprintf("%s/ofelia/ofelia.db", state);
		else
			path = xasprintf("%s/.local/state/ofelia/ofelia.db", home ? home : ".");
	}
	char *dir = dir_of(path);
	make_dirs(dir);
	free(dir);
	return path;
}

struct store *cli_open_store(const char *path, const struct config *c, bool daemon, bool init)
{
	char err[512];
	struct store_options so = {
	    .path = path,
	    .lock = daemon,
	    .init = init,
	    .quick_check = daemon,
	    .sync = c->global.db_synchronous && strcmp(c->global.db_synchronous, "full") == 0
	                ? STORE_SYNC_FULL
	                : STORE_SYNC_NORMAL,
	};
	struct store *st = store_open(&so, err, sizeof err);
	if (st == NULL)
		fprintf(stderr, "ofelia: database %s: %s\n", path, err);
	return st;
}

int cli_scheduler_options(const struct config *c, struct scheduler_options *o)
{
	char err[256];
	const struct config_global *g = &c->global;
	const struct tz *zone = tz_load(g->timezone ? g->timezone : "Local", err, sizeof err);
	if (zone == NULL) {
		fprintf(stderr, "ofelia: timezone: %s\n", err);
		return -1;
	}
	*o = (struct scheduler_options){
	    .zone = zone,
	    .max_concurrent = g->max_concurrent,
	    .max_queue = g->max_queue,
	    .catch_up = g->catch_up,
	    .catch_up_deadline_ns = g->catch_up_deadline_ns,
	    .history_limit = g->history_limit,
	    .history_max_age_ns = g->history_max_age_ns,
	    .max_output_bytes = g->max_output_bytes,
	    .max_log_lines = g->max_log_lines,
	    .max_log_bytes = g->max_log_bytes,
	    .max_runtime_ns = g->max_runtime_ns,
	    .shutdown_grace_ns = g->shutdown_grace_ns,
	    .flow =
	        {
	            .max_retries = g->max_retries,
	            .retry_delay_ns = g->retry_delay_ns,
	            .retry_exponential = g->retry_exponential,
	            .retry_max_delay_ns = g->retry_max_delay_ns,
	            .retry_interrupted = g->retry_interrupted,
	            .dependency_timeout_ns = g->dependency_timeout_ns,
	        },
	    .runner =
	        {
	            .default_user = g->default_user,
	            .docker_host = c->docker.host,
	            .stop_grace_ns = g->shutdown_grace_ns,
	        },
	};
	return 0;
}
