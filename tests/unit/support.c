#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "support.h"

void support_rmtree(const char *dir)
{
	DIR *dp = opendir(dir);
	struct dirent *e;
	char p[512];

	if (dp == NULL)
		return;
	while ((e = readdir(dp)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
		unlink(p);
	}
	closedir(dp);
	rmdir(dir);
}

bool support_has(const struct strv *list, const char *msg)
{
	for (size_t i = 0; i < list->n; i++)
		if (strcmp(list->v[i], msg) == 0)
			return true;
	return false;
}

void support_dump(const struct config_diag *diag)
{
	for (size_t i = 0; i < diag->errors.n; i++)
		fprintf(stderr, "error: %s\n", diag->errors.v[i]);
	for (size_t i = 0; i < diag->warnings.n; i++)
		fprintf(stderr, "warning: %s\n", diag->warnings.v[i]);
}

struct config *support_load_ok(support_loader *load, struct config_diag *diag, const char *text)
{
	struct config *c = load(text);
	if (c == NULL)
		support_dump(diag);
	cr_assert_not_null(c, "load failed");
	return c;
}

void support_expect_error(support_loader *load, struct config_diag *diag, const char *text,
                          const char *msg)
{
	struct config *c = load(text);
	if (c != NULL || !support_has(&diag->errors, msg))
		support_dump(diag);
	cr_assert_null(c, "accepted:\n%s", text);
	cr_expect(support_has(&diag->errors, msg), "no error \"%s\"", msg);
	config_diag_free(diag);
}
