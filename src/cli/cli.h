/* cli: the subcommands of the ofelia binary. Each takes the arguments after
 * its name (argv[0] is the subcommand) and returns the process exit status:
 * 0 success, 1 failure (invalid config, a failed job, a runtime error),
 * 2 usage (unknown flag, missing argument, an invalid schedule for `next`). */
#ifndef OFELIA_CLI_CLI_H
#define OFELIA_CLI_CLI_H

#define CLI_OK    0
#define CLI_FAIL  1
#define CLI_USAGE 2

int cli_version(int argc, char **argv);
int cli_next(int argc, char **argv);
int cli_validate(int argc, char **argv);
int cli_daemon(int argc, char **argv);
int cli_run(int argc, char **argv);
/* cli_check verifies the database (integrity_check, foreign_key_check). */
int cli_check(int argc, char **argv);
/* cli_health checks a running daemon's heartbeat (and readiness): the
 * image's HEALTHCHECK. */
int cli_health(int argc, char **argv);
/* cli_hash_password prints a crypt(3) hash of a password read from stdin. */
int cli_hash_password(int argc, char **argv);

#endif
