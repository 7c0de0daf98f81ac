/* Private to the cli module: option parsing shared by the subcommands, the
 * options daemon, validate, run and health share (options.c), and the
 * start-up steps they have in common. */
#ifndef OFELIA_CLI_CLI_INT_H
#define OFELIA_CLI_CLI_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"
#include "scheduler/scheduler.h"
#include "store/store.h"
#include "util/strv.h"

/* --config names the embedded demo config with this (make run does). */
#define CLI_BUILTIN_CONFIG "builtin:demo"

enum cli_opt_kind {
	CLI_STRING, /* --name VALUE or --name=VALUE */
	CLI_BOOL,   /* --name, or --name=true/false */
	CLI_LIST,   /* CLI_STRING that may be repeated; a variable gives one value */
};

/* One option and the environment variable that gives its default. */
struct cli_opt {
	const char *name;
	char short_name; /* 0 = none */
	const char *env; /* NULL = none */
	enum cli_opt_kind kind;
	/* char ** for CLI_STRING (owned copy), int * for CLI_BOOL (-1 unset),
	 * struct strv * for CLI_LIST */
	void *value;
	const char *help;
	/* non-NULL: accepted for Ofelia's sake but without effect here; a
	 * use adds "--name has no effect<noop>" to *notes */
	const char *noop;
	struct strv *notes;
};

/* cli_parse reads the environment, then argv (argv[0] is the command) into
 * opts; positional arguments are moved to the front of argv and counted in
 * *npos. "--" ends the options. On --help it prints usage and returns
 * CLI_OK with *help set; a bad option prints usage to stderr and returns
 * CLI_USAGE; otherwise -1 (go on). */
int cli_parse(int argc, char **argv, const struct cli_opt *opts, size_t nopts, const char *usage,
              int *npos, bool *help);
/* cli_free_opts frees the strings cli_parse stored. */
void cli_free_opts(const struct cli_opt *opts, size_t nopts);

/* The [cluster] keys that have a flag --cluster-KEY and a variable
 * OFELIA_CLUSTER_KEY (docs/cluster.md). */
#define CLI_CLUSTER_KEYS 14

/* What flags and OFELIA_* variables give the daemon and the commands that
 * share its options; strings owned (cli_settings_fini), ints -1 = unset. */
struct cli_settings {
	char *config, *db, *log_level, *log_format, *shutdown_grace;
	int init_db; /* --init-db: a fresh database even where one was deleted */
	int docker;  /* -d, --docker: label discovery, always on; kept for the config rule */
	struct strv docker_filters;
	char *poll_interval;
	int docker_events, docker_no_poll, docker_include_stopped;
	int enable_web, web_auth_enabled, web_insecure;
	char *web_address, *web_username, *web_password_hash, *web_secret_key;
	char *web_token_expiry, *web_attempts;
	struct strv web_trusted_proxies;
	int enable_pprof; /* accepted, no effect; so are the four below */
	char *pprof_address, *state_file, *retry_count, *retry_interval;
	char *cluster[CLI_CLUSTER_KEYS]; /* --cluster-KEY, as cli_cluster_keys lists them */
	struct strv notes;               /* warnings of parsing, shown once logging is set up */
};

#define CLI_SETTINGS_MAX 48

void cli_settings_init(struct cli_settings *s);
void cli_settings_fini(struct cli_settings *s);
/* cli_settings_options writes the option table of s into out (room for
 * CLI_SETTINGS_MAX) and returns how many it wrote; a command appends its own. */
size_t cli_settings_options(struct cli_settings *s, struct cli_opt *out);
/* cli_config_path names the config file to read: --config, else the first
 * of /etc/ofelia/config.ini and /etc/ofelia.conf that exists. NULL with
 * *label_only when there is none (or --config names a missing file and -d
 * is given, as mcuadros allows). The caller frees the result. */
char *cli_config_path(const struct cli_settings *s, bool *label_only);
/* cli_no_config_note is the line that says the daemon runs label jobs only. */
const char *cli_no_config_note(const struct cli_settings *s);
/* cli_config_load loads what cli_config_path names, the embedded demo for
 * CLI_BUILTIN_CONFIG, or the defaults without jobs when there is nothing to
 * load. Messages go to diag; NULL when the file has errors. *path gets the
 * path read (NULL for none; the caller frees it). */
struct config *cli_config_load(const struct cli_settings *s, struct config_diag *diag, char **path);
/* cli_apply_settings puts flags and variables over c (flag > variable >
 * file), then checks what would stop the daemon (auth without users, ...).
 * Returns 0, or -1 with the errors in diag. */
int cli_apply_settings(const struct cli_settings *s, struct config *c, struct config_diag *diag);
/* cli_wants_json tells whether messages go out as JSON log lines. */
bool cli_wants_json(const struct cli_settings *s, const struct config *c);
/* cli_report prints notes and diag: as log lines (after log_setup) when
 * as_log, else "warning: ..." and "error: ..." on stderr. */
void cli_report(const struct strv *notes, const struct config_diag *diag, bool as_log);

/* cli_load_config loads path (NULL: the embedded demo config), printing
 * errors and warnings to stderr. NULL on failure. */
struct config *cli_load_config(const char *path);
/* cli_db_path returns the database path: explicit, else the config's, else
 * /var/lib/ofelia/ofelia.db when that folder is writable, else the user's
 * state folder. Creates the folder. The caller frees the result. */
char *cli_db_path(const char *explicit_path, const struct config *c);
/* cli_open_store opens the database for the daemon (which holds its lock
 * until store_close) or a run; init creates a fresh database even where
 * one was deleted (--init-db). Errors go to stderr; NULL on failure. */
struct store *cli_open_store(const char *path, const struct config *c, bool daemon, bool init);
/* cli_scheduler_options fills o from the config; the zone must outlive o. */
int cli_scheduler_options(const struct config *c, struct scheduler_options *o);

struct loop;
struct cli_heartbeat;

/* cli_heartbeat_start records a heartbeat now and every 5 s on loop's
 * thread: a database write, then the file <db>.health that `ofelia health`
 * reads (web_address, if not NULL, tells it where readiness is asked). The
 * caller frees it with cli_heartbeat_free, which removes the file. */
struct cli_heartbeat *cli_heartbeat_start(struct loop *l, struct store *st, const char *db,
                                          const char *web_address);
void cli_heartbeat_free(struct cli_heartbeat *h);

#endif
