/* The save-folder channel: Ofelia's three files per notice,
 *
 *   FOLDER/20060102_150405_NAME.stderr.log  .stdout.log  .json
 *
 * (the execution's start in the local zone, the job name with the
 * characters netresearch's sanitizer replaces made "_"), written whole or
 * not at all: each goes to a temporary file in the folder, is synced and
 * renamed over the name. A repeated delivery rewrites the same three
 * names, so saving is idempotent. Modes are netresearch's save-mode (0600)
 * and save-folder-mode (0750). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "notify/notify_int.h"
#include "util/clock.h"
#include "util/xalloc.h"

/* sanitize is netresearch's SanitizeFilename. */
static void sanitize(const char *name, struct buf *out)
{
	static const char bad[] = "/\\~$`|<>:\"?*";
	size_t start = out->len;
	for (const char *p = name; *p; p++) {
		if (p[0] == '.' && p[1] == '.') {
			buf_putc(out, '_');
			p++;
		} else {
			buf_putc(out, strchr(bad, *p) ? '_' : *p);
		}
	}
	if (out->len - start > 255) {
		out->len = start + 255;
		out->data[out->len] = '\0';
	}
	if (out->len == start || strcmp(out->data + start, ".") == 0) {
		out->len = start;
		buf_puts(out, "unnamed");
	}
}

char *notify_save_root(const struct notify_msg *m)
{
	struct buf b = BUF_INIT;
	struct tm tm;
	char stamp[32];
	int64_t when = m->d.start_ns ? m->d.start_ns : m->d.end_ns ? m->d.end_ns : m->d.now_ns;
	time_t t = (time_t)(when / NS_PER_SEC);
	localtime_r(&t, &tm);
	strftime(stamp, sizeof stamp, "%Y%m%d_%H%M%S", &tm);
	buf_printf(&b, "%s/%s_", m->save_folder, stamp);
	sanitize(m->d.job_name, &b);
	return buf_steal(&b);
}

static void field(struct buf *b, const char *indent, const char *key, bool *first)
{
	buf_printf(b, "%s\n%s\"%s\": ", *first ? "" : ",", indent, key);
	*first = false;
}

void notify_context_json(const struct notify_data *d, struct buf *out)
{
	char date[64];
	bool first = true;
	/* Go's RFC3339Nano, as encoding/json writes a time.Time. */
	notify_time_rfc3339(d->start_ns ? d->start_ns : d->now_ns, date);
	buf_puts(out, "{\n  \"Execution\": {");
	field(out, "    ", "ID", &first);
	notify_json_string(out, d->execution_id, strlen(d->execution_id));
	field(out, "    ", "Date", &first);
	notify_json_string(out, date, strlen(date));
	field(out, "    ", "Duration", &first);
	buf_printf(out, "%lld", (long long)d->duration_ns);
	field(out, "    ", "IsRunning", &first);
	buf_puts(out, "false");
	field(out, "    ", "Failed", &first);
	buf_puts(out, d->failed ? "true" : "false");
	field(out, "    ", "Skipped", &first);
	buf_puts(out, d->skipped ? "true" : "false");
	field(out, "    ", "Error", &first);
	if (d->error && *d->error)
		notify_json_string(out, d->error, strlen(d->error));
	else
		buf_puts(out, "null");
	buf_puts(out, "\n  },\n  \"Job\": {");
	first = true;
	const char *keys[] = {"Schedule", "Name", "Command", "Container", "Image", "User"};
	const char *values[] = {d->schedule,  d->job_name, d->command,
	                        d->container, d->image,    d->user};
	for (size_t i = 0; i < 6; i++) {
		if (i >= 3 && (values[i] == NULL || *values[i] == '\0'))
			continue;
		field(out, "    ", keys[i], &first);
		notify_json_string(out, values[i] ? values[i] : "",
		                   values[i] ? strlen(values[i]) : 0);
	}
	buf_puts(out, "\n  }\n}");
}

/* put writes data to path through a temporary file and a rename. */
static int put(const char *path, const char *data, size_t len, unsigned mode,
               struct notify_attempt *a)
{
	char *tmp = xasprintf("%s.tmp-XXXXXX", path);
	int fd = mkstemp(tmp);
	int rc = -1;
	if (fd < 0) {
		snprintf(a->error, sizeof a->error, "cannot create %s: %s", tmp, strerror(errno));
		free(tmp);
		return -1;
	}
	size_t done = 0;
	while (done < len) {
		ssize_t w = write(fd, data + done, len - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		done += (size_t)w;
	}
	if (done < len || fchmod(fd, mode) < 0 || fsync(fd) < 0)
		snprintf(a->error, sizeof a->error, "cannot write %s: %s", tmp, strerror(errno));
	else if (close(fd) < 0 || (fd = -1, rename(tmp, path) < 0))
		snprintf(a->error, sizeof a->error, "cannot write %s: %s", path, strerror(errno));
	else
		rc = 0;
	if (fd >= 0)
		close(fd);
	if (rc < 0)
		unlink(tmp);
	free(tmp);
	return rc;
}

/* mkdirs makes folder and its parents with mode. */
static int mkdirs(const char *folder, unsigned mode, struct notify_attempt *a)
{
	char *path = xstrdup(folder);
	int rc = 0;
	for (char *p = path + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char c = *p;
		*p = '\0';
		if (mkdir(path, mode) < 0 && errno != EEXIST) {
			snprintf(a->error, sizeof a->error, "cannot make the folder %s: %s", path,
			         strerror(errno));
			rc = -1;
			break;
		}
		*p = c;
		if (c == '\0')
			break;
	}
	free(path);
	return rc;
}

static int deliver(const struct notify_msg *m, atomic_bool *abort, struct notify_attempt *a)
{
	struct buf json = BUF_INIT;
	char *root = NULL, *path = NULL;
	int rc = -1;
	(void)abort;
	if (mkdirs(m->save_folder, m->save_folder_mode, a) < 0)
		return -1;
	root = notify_save_root(m);
	path = xasprintf("%s.stderr.log", root);
	if (put(path, m->d.err ? m->d.err : "", m->d.err_len, m->save_mode, a) < 0)
		goto out;
	free(path);
	path = xasprintf("%s.stdout.log", root);
	if (put(path, m->d.out ? m->d.out : "", m->d.out_len, m->save_mode, a) < 0)
		goto out;
	free(path);
	path = xasprintf("%s.json", root);
	notify_context_json(&m->d, &json);
	rc = put(path, json.data, json.len, m->save_mode, a);
out:
	free(root);
	free(path);
	buf_free(&json);
	return rc;
}

const struct notify_ops notify_save_ops = {"save", deliver};
