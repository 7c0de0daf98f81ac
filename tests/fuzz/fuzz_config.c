/* fuzz_config: any bytes as a config file. The first byte picks the loader
 * (low bits: 0 YAML, 1 INI, 2 chosen by content), the rest is the text. The
 * loaders must never crash or leak, must return a config exactly when they
 * report no error, and every job they return must pass config's own checks
 * (job_validate). A few ${VAR}s are set so substitution is exercised. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum config_format formats[] = {CONFIG_YAML, CONFIG_INI, CONFIG_AUTO,
	                                             CONFIG_AUTO};
	struct config_diag diag = {STRV_INIT, STRV_INIT};
	char err[512];
	const char *code;

	if (size == 0)
		return 0;
	setenv("FUZZ_SET", "value", 1);
	setenv("FUZZ_EMPTY", "", 1);
	struct config *c = config_load_string((const char *)data + 1, size - 1, "fuzz",
	                                      formats[data[0] & 3], &diag);
	if ((c == NULL) != (diag.errors.n > 0))
		abort();
	for (size_t i = 0; c && i < c->njobs; i++)
		if (job_validate(c->jobs[i], &code, err, sizeof err) != 0)
			abort();
	config_free(c);
	config_diag_free(&diag);
	return 0;
}
