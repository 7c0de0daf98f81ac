/* ofelia: a job scheduler for Docker hosts that keeps its state in SQLite.
 * main only picks the subcommand; each lives in src/cli. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static const struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
} commands[] = {
    {"daemon", cli_daemon, "run the scheduler (and the API with --enable-web)"},
    {"run", cli_run, "run one job once in the foreground and record it"},
    {"validate", cli_validate, "load a config file, check every job, print a summary"},
    {"health", cli_health, "check a running daemon (for a container's HEALTHCHECK)"},
    {"next", cli_next, "print the next activation times of a schedule"},
    {"check", cli_check, "check the database for damage"},
    {"hash-password", cli_hash_password, "print a password hash for a web user"},
    {"version", cli_version, "print the version"},
};

static void usage(FILE *out)
{
	fprintf(out, "usage: ofelia <command> [options]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		fprintf(out, "  %-14s %s\n", commands[i].name, commands[i].summary);
	fprintf(out, "\n`ofelia <command> --help` describes a command's options.\n"
	             "exit status: 0 ok, 1 failure, 2 usage error\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return CLI_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return CLI_OK;
	}
	if (strcmp(argv[1], "--version") == 0)
		return cli_version(argc - 1, argv + 1);
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "ofelia: unknown command \"%s\"\n\n", argv[1]);
	usage(stderr);
	return CLI_USAGE;
}
