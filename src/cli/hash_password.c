/* ofelia hash-password: print a crypt(3) hash of a password for the web
 * users of the config (web.auth.users[].password-hash, or
 * web-password-hash). yescrypt by default, bcrypt ($2b$) on request.
 *
 * The password is read from stdin when it is not a terminal (the first
 * line), so scripts can pipe it; on a terminal it is asked twice without
 * echo. It never appears in argv, where other users could see it. */
#include <crypt.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/cli_int.h"

#define MAX_PASSWORD 1024
/* bcrypt cost: 2^12 rounds, about a quarter of a second here. */
#define BCRYPT_COST 12

static const char usage[] =
    "usage: ofelia hash-password [--bcrypt]\n\n"
    "Prints a crypt(3) hash of a password (yescrypt, or bcrypt with --bcrypt) for\n"
    "web.auth.users[].password-hash or --web-password-hash. The password is the\n"
    "first line of stdin, or is asked twice when stdin is a terminal.\n";

/* read_line reads one line without its newline; returns its length or -1. */
static int read_line(char *buf, size_t size)
{
	if (fgets(buf, (int)size, stdin) == NULL) {
		fprintf(stderr, "ofelia hash-password: no password on stdin\n");
		return -1;
	}
	size_t len = strcspn(buf, "\r\n");
	if (buf[len] == '\0' && len == size - 1) {
		fprintf(stderr, "ofelia hash-password: the password is longer than %d bytes\n",
		        MAX_PASSWORD);
		return -1;
	}
	buf[len] = '\0';
	return (int)len;
}

/* prompt asks for a line on the terminal with echo off. */
static int prompt(const char *question, char *buf, size_t size)
{
	struct termios old, quiet;
	fputs(question, stderr);
	fflush(stderr);
	if (tcgetattr(STDIN_FILENO, &old) < 0)
		return -1;
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)ECHO;
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
	int len = read_line(buf, size);
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
	fputc('\n', stderr);
	return len;
}

static int read_password(char *pw, size_t size)
{
	char again[MAX_PASSWORD + 2];
	int len;
	if (!isatty(STDIN_FILENO))
		return read_line(pw, size);
	len = prompt("Password: ", pw, size);
	if (len < 0 || prompt("Repeat: ", again, sizeof again) < 0)
		return -1;
	bool same = strcmp(pw, again) == 0;
	explicit_bzero(again, sizeof again);
	if (!same) {
		fprintf(stderr, "ofelia hash-password: the passwords differ\n");
		return -1;
	}
	return len;
}

int cli_hash_password(int argc, char **argv)
{
	int bcrypt = -1, npos, rc = CLI_FAIL;
	bool help;
	char pw[MAX_PASSWORD + 2], salt[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data cd;
	const struct cli_opt opts[] = {
	    {"bcrypt", 0, NULL, CLI_BOOL, &bcrypt, "bcrypt ($2b$) instead of yescrypt ($y$)", NULL,
	     NULL},
	};

	int prc = cli_parse(argc, argv, opts, 1, usage, &npos, &help);
	if (prc >= 0)
		return prc;
	if (npos > 0) {
		fprintf(stderr,
		        "ofelia hash-password: unexpected argument \"%s\" (the password is "
		        "read from stdin)\n",
		        argv[0]);
		return CLI_USAGE;
	}
	int len = read_password(pw, sizeof pw);
	if (len == 0)
		fprintf(stderr, "ofelia hash-password: the password is empty\n");
	if (len <= 0)
		goto out;
	const char *prefix = bcrypt == 1 ? "$2b$" : "$y$";
	memset(&cd, 0, sizeof cd);
	if (crypt_gensalt_rn(prefix, bcrypt == 1 ? BCRYPT_COST : 0, NULL, 0, salt, sizeof salt) ==
	    NULL) {
		perror("ofelia hash-password: crypt_gensalt");
		goto out;
	}
	const char *hash = crypt_rn(pw, salt, &cd, sizeof cd);
	if (hash == NULL || hash[0] == '*') {
		fprintf(stderr, "ofelia hash-password: crypt failed\n");
		goto out;
	}
	printf("%s\n", hash);
	rc = CLI_OK;
out:
	explicit_bzero(pw, sizeof pw);
	explicit_bzero(&cd, sizeof cd);
	return rc;
}
