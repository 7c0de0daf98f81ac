/* ofelia check: verify the database: PRAGMA integrity_check (every page,
 * every index against its table) and foreign_key_check, on a read-only
 * connection, so it is safe beside a running daemon. The daemon itself runs
 * the quicker, time-bounded quick_check at every start. */
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"
#include "cli/cli_int.h"

static const char usage[] = "usage: ofelia check [options]\n\n"
                            "Checks the database for damage (PRAGMA integrity_check and "
                            "foreign_key_check)\nand prints every problem. Exit status: 0 "
                            "when it is sound, 1 otherwise.\n";

static void print_problem(void *arg, const char *msg)
{
	(void)arg;
	printf("%s\n", msg);
}

int cli_check(int argc, char **argv)
{
	struct cli_settings opts;
	struct cli_opt table[CLI_SETTINGS_MAX];
	cli_settings_init(&opts);
	size_t n = cli_settings_options(&opts, table);
	int npos;
	bool help;
	int rc = cli_parse(argc, argv, table, n, usage, &npos, &help);
	if (rc < 0 && npos > 0) {
		fprintf(stderr, "ofelia check: unexpected argument \"%s\"\n", argv[0]);
		rc = CLI_USAGE;
	}
	if (rc >= 0) {
		cli_settings_fini(&opts);
		return rc;
	}
	/* The config only says where the database is, as for the daemon. */
	struct config_diag diag = {STRV_INIT, STRV_INIT};
	char *path = NULL;
	struct config *c = cli_config_load(&opts, &diag, &path);
	cli_report(NULL, &diag, false);
	config_diag_free(&diag);
	free(path);
	char *db = c ? cli_db_path(opts.db, c) : NULL;
	char err[512];
	struct store_options so = {.path = db, .read_only = true};
	struct store *st = db ? store_open(&so, err, sizeof err) : NULL;
	rc = CLI_FAIL;
	if (db && st == NULL)
		fprintf(stderr, "ofelia check: database %s: %s\n", db, err);
	if (st) {
		switch (store_verify(st, false, 0, print_problem, NULL)) {
		case STORE_VERDICT_OK:
			printf("%s: ok\n", db);
			rc = CLI_OK;
			break;
		case STORE_VERDICT_DAMAGED:
			fprintf(stderr, "ofelia check: %s is damaged (problems above)\n", db);
			break;
		case STORE_VERDICT_CUT:
		case STORE_VERDICT_ERROR:
			fprintf(stderr, "ofelia check: %s: %s\n", db, store_errmsg(st));
			break;
		}
	}
	store_close(st);
	free(db);
	config_free(c);
	cli_settings_fini(&opts);
	return rc;
}
