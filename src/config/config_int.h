/* config_int: what the loaders of the config module share (config.c,
 * yaml.c, ini.c, labels.c); not for use outside src/config. Settings are
 * described by tables of config_key, job keys by job.h's job_fields, so every
 * format reads the same keys with the same types and messages. */
#ifndef OFELIA_CONFIG_CONFIG_INT_H
#define OFELIA_CONFIG_CONFIG_INT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "util/words.h"
#include "util/map.h"

/* How a setting's text is read. */
enum config_kind {
	CK_STRING,
	CK_DEFAULT_USER, /* a string where empty means "the image's own user" */
	CK_BOOL,
	CK_INT,      /* int in [min, max] */
	CK_INT64,    /* int64_t in [min, max] */
	CK_BYTES,    /* int64_t, a number with an optional KiB/MiB/GiB/KB/MB/GB suffix */
	CK_DURATION, /* int64_t ns, Go syntax, >= 0 */
	CK_HOURS, /* int64_t ns, written as whole hours in [min, max] (Ofelia's web-token-expiry) */
	CK_ENUM,  /* a string from a config_word list, stored in its canonical spelling */
	CK_CATCH_UP, /* enum job_catch_up: skip or once */
	CK_TZ,       /* a zone tz_load accepts */
	CK_ADDRESS,  /* host:port */
	CK_DOCKER_HOST,
	CK_LIST,     /* struct strv; each value appended */
	CK_FILTERS,  /* struct strv of key=value */
	CK_CIDRS,    /* struct strv; values split at commas, each an IP or CIDR */
	CK_WEB_USER, /* Ofelia's web-username: becomes an admin user */
	CK_WEB_HASH, /* Ofelia's web-password-hash */
	CK_USERS,    /* YAML only: a sequence of {username, password-hash, role} */
	CK_MAP,      /* YAML only: a nested mapping described by another table */
	CK_IGNORED,  /* an Ofelia key this program does not use: a warning */
	CK_MODE,     /* a string holding an octal file mode (save-mode) */
	CK_EMPTY_OK, /* a string where empty is a value, not the default */
	CK_URLS,     /* struct strv; values split at commas, each http(s)://host:port */
	CK_NAME,     /* a string of letters, digits, '.', '_' and '-' (keys in etcd, URLs) */
};

struct config_word {
	const char *word;  /* as written, case ignored */
	const char *canon; /* what is stored */
};

struct config_key {
	const char *key; /* kebab-case; lookups ignore case, '-' and '_' */
	enum config_kind kind;
	size_t offset; /* into struct config */
	int64_t min, max;
	const void *extra; /* CK_ENUM: words; CK_MAP: table; CK_IGNORED: hint */
};

/* Tables, each ending with a NULL key (config.c). */
extern const struct config_key config_global_keys[];
extern const struct config_key config_docker_keys[];
extern const struct config_key config_web_keys[];
extern const struct config_key config_user_keys[];
extern const struct config_key config_cluster_keys[];

/* A place in the file: line and column from 1; line 0 = the whole file. */
struct config_pos {
	int line, col;
};

/* What a loader has done so far: the config it fills, where messages go and
 * which settings were assigned (two spellings of one setting, such as
 * poll-interval and docker-poll-interval, are a duplicate). */
struct config_ld {
	const char *name;
	struct config *c;
	struct config_diag *diag;
	size_t errors_before;
	struct config_claim *claims;
	size_t nclaims;
	char *web_user, *web_hash; /* Ofelia's single web user, joined at the end */
	struct config_pos web_user_pos, web_hash_pos;
	struct map job_names;                          /* name -> index in c->jobs + 1 */
	struct config_pos *job_pos;                    /* where each job of c->jobs is defined */
	struct config_pos *sched_pos;                  /* where its schedule is, or its job_pos */
	struct config_pos (*link_pos)[JOB_LINK_COUNT]; /* its depends-on, on-success, on-failure */
};

void config_error(struct config_ld *ld, struct config_pos pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void config_warning(struct config_ld *ld, struct config_pos pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* config_key_find looks key up in table; NULL when it is not there. */
const struct config_key *config_key_find(const struct config_key *table, const char *key);
/* config_key_unknown warns about a key no table has, suggesting the nearest. */
void config_key_unknown(struct config_ld *ld, const struct config_key *table, const char *where,
                        const char *key, struct config_pos pos);
/* config_key_claim records that k is being set from the key spelled `key`;
 * -1 (and an error) when something set it already. */
int config_key_claim(struct config_ld *ld, const struct config_key *k, const char *where,
                     const char *key, struct config_pos pos);
/* config_key_set stores one value of k (a list key appends). An empty value
 * leaves the default; a CK_IGNORED key only warns, whatever its value.
 * Returns 0, or -1 after an error. */
int config_key_set(struct config_ld *ld, const struct config_key *k, const char *where,
                   const char *value, struct config_pos pos);
/* config_hash_ok tells whether s looks like a crypt(3) hash ofelia can
 * check: yescrypt, bcrypt, sha512crypt or sha256crypt. */
bool config_hash_ok(const char *s);
/* config_user_add appends a web user; the strings are copied. */
void config_user_add(struct config *c, const char *username, const char *hash, const char *role);

/* config_job_field resolves a key of job j. NULL after a warning: an
 * unknown key (with a suggestion), an Ofelia key not supported here, or a key
 * of another job type. The warning text goes to the caller through warn. */
const struct job_field *config_job_field(const struct job *j, const char *key, char *warn,
                                         size_t warnlen);
/* The places of a job's keys that later checks point at. */
struct config_job_pos {
	struct config_pos job, schedule;
	struct config_pos links[JOB_LINK_COUNT]; /* {0, 0}: the key is not there */
};
/* config_job_note_key records where key f of a job is, when a later check
 * may point at it (schedule, depends-on, on-success, on-failure). */
void config_job_note_key(struct config_job_pos *p, const struct job_field *f,
                         struct config_pos pos);
/* config_job_add takes j into ld->c unless its name is taken (an error). */
void config_job_add(struct config_ld *ld, struct job *j, const struct config_job_pos *pos);
/* config_job_check runs job_validate and checks the command splits; -1 with
 * the message (and " [INVALID_SCHEDULE]" for a schedule) in err. *sched
 * tells whether the message is about the schedule. */
int config_job_check(const struct job *j, bool *sched, char *err, size_t errlen);

/* config_envsubst returns s with ${VAR} and ${VAR:-default} replaced (see
 * envsubst.c); the caller frees it. */
char *config_envsubst(const char *s);

/* ---- webhooks.c ---- */

/* config_webhook_add starts the webhook section name (defined at pos; a
 * second definition is an error) and returns it, or NULL after an error. */
struct config_webhook *config_webhook_add(struct config_ld *ld, const char *name,
                                          struct config_pos pos);
/* config_webhook_set stores one key of a webhook section; -1 after an
 * error, 0 otherwise (an unknown key only warns). */
int config_webhook_set(struct config_ld *ld, struct config_webhook *w, const char *key,
                       const char *value, struct config_pos pos);
/* config_webhooks_finish resolves every webhook's preset and checks what
 * refers to webhooks and the notification settings, once the file is read. */
void config_webhooks_finish(struct config_ld *ld);
/* config_webhooks_free releases c's webhooks. */
void config_webhooks_free(struct config *c);

/* The loaders fill ld->c from text (NUL-terminated, len bytes). */
void config_yaml_load(struct config_ld *ld, const char *text, size_t len);
void config_ini_load(struct config_ld *ld, const char *text, size_t len);

#endif
