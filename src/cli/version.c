#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

int cli_version(int argc, char **argv)
{
	if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		printf("usage: ofelia version\n\nPrints the version and the commit it was built "
		       "from.\n");
		return CLI_OK;
	}
	if (argc > 1) {
		fprintf(stderr, "ofelia version: unexpected argument \"%s\"\n", argv[1]);
		return CLI_USAGE;
	}
	printf("ofelia %s (commit %s)\n", OFELIA_VERSION, OFELIA_COMMIT);
	return CLI_OK;
}
