/* Private to the cli module: option parsing shared by the subcommands, and
 * the start-up steps the daemon and `ofelia run` have in common. */
#ifndef OFELIA_CLI_CLI_INT_H
#define OFELIA_CLI_CLI_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"
#include "scheduler/scheduler.h"
#include "store/store.h"

enum cli_opt_kind { CLI_STRING, CLI_BOOL };

/* One option: --name VALUE (or --name=VALUE; a CLI_BOOL takes no value, or
 * =true/=false) and the environment variable that gives its default. */
struct cli_opt {
	const char *name;
	char short_name; /* 0 = none */
	const char *env; /* NULL = none */
	enum cli_opt_kind kind;
	void *value; /* char ** for CLI_STRING (owned copy), int * for CLI_BOOL (-1 unset) */
	const char *help;
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

/* cli_load_config loads path, or the embedded default config when path is
 * NULL, printing errors and warnings to stderr. NULL on failure. */
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

#endif
