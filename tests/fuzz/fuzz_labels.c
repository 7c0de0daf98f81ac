/* fuzz_labels: any bytes as one container's labels, one "key=value" per line.
 * The first byte sets the container: bit 0 running, bit 1 ofelia.service,
 * bit 2 a compose service name, bit 3 allow-host-jobs-from-labels, bits 4-5
 * the job-exec-label-scope. config_labels_jobs must never crash or leak, and
 * every job it returns must be valid and carry the container's name. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "util/xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const scopes[] = {"service", "container", "container-service", "x"};
	struct config_diag diag = {STRV_INIT, STRV_INIT};
	struct config cfg;
	struct config_label labels[64];
	struct job **jobs = NULL;
	size_t njobs = 0, n = 0;
	char err[512];
	const char *code;

	if (size == 0)
		return 0;
	uint8_t flags = data[0];
	char *text = xstrndup((const char *)data + 1, size - 1);
	for (char *line = text, *next; line && n < 64; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		char *eq = strchr(line, '=');
		if (eq == NULL)
			continue;
		*eq = '\0';
		labels[n++] = (struct config_label){line, eq + 1};
	}
	config_defaults(&cfg);
	cfg.global.allow_host_jobs_from_labels = flags & 8;
	free(cfg.global.job_exec_label_scope);
	cfg.global.job_exec_label_scope = xstrdup(scopes[(flags >> 4) & 3]);
	struct config_container ct = {"fuzz-1", flags & 4 ? "svc" : NULL, flags & 1, flags & 2};

	size_t added = config_labels_jobs(&cfg.global, &ct, labels, n, &jobs, &njobs, &diag);
	if (added != njobs)
		abort();
	for (size_t i = 0; i < njobs; i++) {
		if (job_validate(jobs[i], &code, err, sizeof err) != 0 ||
		    strcmp(jobs[i]->source, "fuzz-1") != 0)
			abort();
		job_free(jobs[i]);
	}
	free(jobs);
	config_fini(&cfg);
	config_diag_free(&diag);
	free(text);
	return 0;
}
