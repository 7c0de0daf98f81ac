/* fuzz_notify: any bytes as a notification template (a preset's body or an
 * email-subject), rendered on a sample notice, and as a preset file.
 * tmpl_parse and tmpl_render must never crash or leak, whatever the
 * nesting, trims, strings or pipes; a template that parses renders or fails
 * with a message. The corpus holds the bundled presets' bodies. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "notify/notify_int.h"
#include "util/xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[512];
	char *text = xstrndup((const char *)data, size);
	struct notify_data d = {
	    .job_name = "job",
	    .job_type = "exec",
	    .command = "echo \"hi\" > x",
	    .schedule = "@daily",
	    .container = "c",
	    .event = size % 2 ? "failed" : "success",
	    .execution_id = "id",
	    .idempotency_key = "id:webhook:w",
	    .failed = size % 2,
	    .start_ns = 1,
	    .end_ns = 1000000001,
	    .duration_ns = 1000000000,
	    .error = "exit status 1\n\t\"x\"",
	    .out = "out\n",
	    .out_len = 4,
	    .err = "",
	    .hostname = "host",
	    .now_ns = 2,
	    .version = "0",
	    .preset_id = "id",
	    .preset_secret = "s",
	    .preset_url = "http://x/",
	    .preset_link = "",
	    .preset_link_text = "",
	    .preset_device = "d1,d2",
	};
	struct tmpl *t = tmpl_parse("fuzz", text, err, sizeof err);
	if (t) {
		struct buf out = BUF_INIT;
		if (tmpl_render(t, &d, &out, err, sizeof err) < 0 && err[0] == '\0')
			abort(); /* a failure always says why */
		buf_free(&out);
		tmpl_free(t);
	} else if (err[0] == '\0') {
		abort();
	}
	free(text);
	return 0;
}
