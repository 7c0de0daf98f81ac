/* support: helpers several unit test files share: a temporary folder
 * removed afterwards, and reading a config's messages. */
#ifndef OFELIA_TESTS_SUPPORT_H
#define OFELIA_TESTS_SUPPORT_H

#include <stdbool.h>

#include "config/config.h"
#include "util/strv.h"

/* support_rmtree removes dir and the files in it (one level deep). */
void support_rmtree(const char *dir);
/* support_has tells whether list holds exactly msg. */
bool support_has(const struct strv *list, const char *msg);
/* support_dump prints a config's errors and warnings to stderr, for a
 * failing test to show. */
void support_dump(const struct config_diag *diag);

/* A config test's loader: text in one format, messages into its diag. */
typedef struct config *support_loader(const char *text);
/* support_load_ok loads text and fails the test on any error. */
struct config *support_load_ok(support_loader *load, struct config_diag *diag, const char *text);
/* support_expect_error loads text, expects it to fail with msg among the
 * errors, and empties diag. */
void support_expect_error(support_loader *load, struct config_diag *diag, const char *text,
                          const char *msg);

#endif
