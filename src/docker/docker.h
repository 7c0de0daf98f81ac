/* docker: a client of the Docker Engine API (paths pinned to v1.41) over
 * its own HTTP/1.1 (wire.c), for the runner threads and label discovery.
 * Every call blocks.
 *
 * A struct docker belongs to one thread; the only
 * call another thread may make on it is docker_cancel. Calls return 0 or -1
 * (a few say otherwise); after -1, docker_status tells what kind of failure
 * it was and docker_errmsg keeps the engine's own message with the HTTP
 * status, e.g. "No such container: web (HTTP 404)". Strings and objects
 * handed out are owned by the caller unless a comment says otherwise. */
#ifndef OFELIA_DOCKER_DOCKER_H
#define OFELIA_DOCKER_DOCKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "util/strv.h"

/* The API version ofelia speaks; an older engine is refused at connect. */
#define DOCKER_API_VERSION "1.41"
/* Used when neither the configuration nor DOCKER_HOST names an engine. */
#define DOCKER_DEFAULT_HOST "unix:///var/run/docker.sock"
/* Output lines longer than this are delivered in pieces of this size. */
#define DOCKER_LINE_MAX (64 * 1024)

struct docker;

enum docker_status {
	DOCKER_OK,
	DOCKER_E_CONNECT,     /* engine unreachable, connection lost, TLS failure */
	DOCKER_E_NOT_FOUND,   /* 404: no such container, image, exec, service */
	DOCKER_E_CONFLICT,    /* 409: name in use, container running on remove */
	DOCKER_E_NOT_RUNNING, /* 409 "... is not running": exec, kill, pause */
	DOCKER_E_BAD_REQUEST, /* 400: e.g. "No command specified" */
	DOCKER_E_ENGINE,      /* other HTTP errors (500) and errors in a pull stream */
	DOCKER_E_PROTOCOL,    /* a reply ofelia cannot read */
	DOCKER_E_VERSION,     /* the engine's API is older than DOCKER_API_VERSION */
	DOCKER_E_CANCELLED,   /* docker_cancel was called */
	DOCKER_E_TIMEOUT,     /* the deadline passed, or a short call took > 60 s */
};

/* docker_new makes a handle for host ("unix:///path" or "tcp://host:port";
 * NULL: $DOCKER_HOST, else DOCKER_DEFAULT_HOST). For tcp, TLS is used when
 * DOCKER_TLS_VERIFY is set to anything non-empty, as Docker's clients do,
 * with cert.pem, key.pem and ca.pem from $DOCKER_CERT_PATH (else ~/.docker).
 * It connects to nothing yet. Returns NULL with the reason in err (bad
 * address, unreadable TLS files). */
struct docker *docker_new(const char *host, char *err, size_t errlen);
/* docker_free releases the handle; NULL is fine. */
void docker_free(struct docker *d);
/* docker_host returns the address in use, e.g. "unix:///var/run/docker.sock"
 * (owned by d). */
const char *docker_host(const struct docker *d);

/* docker_status returns the kind of the last failure (DOCKER_OK after a
 * success). */
enum docker_status docker_status(const struct docker *d);
/* docker_http_status returns the HTTP status of the last reply, 0 if none. */
long docker_http_status(const struct docker *d);
/* docker_errmsg describes the last failure (owned by d, valid until the next
 * call). */
const char *docker_errmsg(const struct docker *d);
/* docker_status_name: "not found", "conflict", ... for logs and tests. */
const char *docker_status_name(enum docker_status s);

/* docker_cancel makes the call in progress on d, and every later one, fail
 * with DOCKER_E_CANCELLED within about a second. Safe from any thread. */
void docker_cancel(struct docker *d);
/* docker_cancel_clear lets calls on d run again (e.g. to stop and remove a
 * container after its wait was cancelled). */
void docker_cancel_clear(struct docker *d);
/* docker_set_deadline makes calls on d fail with DOCKER_E_TIMEOUT once
 * CLOCK_MONOTONIC (util/clock.h: clock_mono_ns) passes deadline_ns; 0 lifts it. */
void docker_set_deadline(struct docker *d, int64_t deadline_ns);

/* ---- engine ---- */

struct docker_version {
	char version[64];     /* engine version: "20.10.24+dfsg1" */
	char api_version[16]; /* "1.41" */
	char min_api_version[16];
	char os[32];
	char arch[32];
};

/* docker_ping asks GET /_ping: 0 when the engine answers. */
int docker_ping(struct docker *d);
/* docker_version_get reads GET /version into out. */
int docker_version_get(struct docker *d, struct docker_version *out);
/* docker_connect reads the version and fails with DOCKER_E_VERSION ("Docker
 * engine API 1.40 is older than the 1.41 ofelia needs") on an old engine.
 * out may be NULL. */
int docker_connect(struct docker *d, struct docker_version *out);

/* ---- output streams ---- */

enum docker_stream { DOCKER_STDOUT = 1, DOCKER_STDERR = 2 };

/* One line of a container's output, without its "\n" or "\r\n", as valid
 * UTF-8 without NUL (bad bytes become U+FFFD, NUL "\0"; util/lines.h). data
 * is not NUL-terminated and is valid during the callback only. */
struct docker_line {
	enum docker_stream stream; /* TTY streams mix both and say DOCKER_STDOUT */
	const char *data;
	size_t len;
	int64_t time_ns; /* engine's timestamp (Unix ns) when asked for, else 0 */
	bool more;       /* a piece of a longer line; the next piece follows */
};

/* Called for every line of output, in order. */
typedef void docker_on_line_fn(void *arg, const struct docker_line *line);

/* ---- containers ---- */

/* What docker_container_create makes. Every pointer is borrowed; NULL (and
 * false, 0) leave the engine's default. String lists are struct strv. */
struct docker_container_spec {
	const char *name;
	const char *image;             /* required */
	const struct strv *cmd;        /* busybox:local has no default Cmd */
	const struct strv *entrypoint; /* replaces the image's; {""} clears it */
	const struct strv *env;        /* "KEY=value" */
	const struct strv *labels;     /* "key=value" */
	const struct strv *binds;      /* "src:dst[:ro]" */
	const struct strv *volumes_from;
	const char *user;
	const char *working_dir;
	const char *hostname;
	const char *network_mode; /* "none", "host", "container:x", a network */
	const char *stop_signal;  /* "SIGTERM" */
	int stop_timeout_s;       /* 0 = engine default (10 s) */
	bool tty;
	bool privileged;
};

/* docker_container_create makes a container; *id gets its id (caller frees). */
int docker_container_create(struct docker *d, const struct docker_container_spec *spec, char **id);
/* docker_container_start starts a container; one already running is fine
 * (docker_http_status then says 304). */
int docker_container_start(struct docker *d, const char *id);

enum docker_wait_condition {
	DOCKER_WAIT_NOT_RUNNING, /* returns at once for a stopped container */
	DOCKER_WAIT_NEXT_EXIT,   /* the next exit after the call, even of a stopped one */
	DOCKER_WAIT_REMOVED,
};

/* docker_container_wait blocks until the condition holds and sets
 * *exit_code. Use docker_cancel or a deadline to give up. */
int docker_container_wait(struct docker *d, const char *id, enum docker_wait_condition cond,
                          int *exit_code);

struct docker_container_info {
	char *id;
	char *name;   /* without the leading '/' */
	char *image;  /* as created: "busybox:local" */
	char *status; /* "created", "running", "exited", ... */
	char *error;  /* State.Error, e.g. why start failed; NULL if none */
	bool running;
	bool oom_killed;
	bool tty;
	int exit_code;
	int64_t started_ns;  /* Unix ns; 0 = never */
	int64_t finished_ns; /* Unix ns; 0 = not yet */
	json_t *labels;      /* object of strings; a reference the info owns */
};

/* docker_container_inspect fills out (free it with
 * docker_container_info_fini); a missing container fails with
 * DOCKER_E_NOT_FOUND. */
int docker_container_inspect(struct docker *d, const char *id, struct docker_container_info *out);
void docker_container_info_fini(struct docker_container_info *ci);

struct docker_logs_options {
	bool tty;         /* the container's Config.Tty: its logs are not framed */
	bool follow;      /* keep streaming until the container stops */
	bool timestamps;  /* fill docker_line.time_ns */
	int64_t since_ns; /* only lines from then on (Unix ns); 0 = all */
};

/* docker_container_logs streams stdout and stderr line by line to on_line.
 * With follow it returns when the container stops (or on cancel). */
int docker_container_logs(struct docker *d, const char *id, const struct docker_logs_options *o,
                          docker_on_line_fn *on_line, void *arg);
/* docker_container_stop sends the stop signal, then SIGKILL after timeout_s
 * (< 0: the container's own stop timeout). A stopped container is fine. */
int docker_container_stop(struct docker *d, const char *id, int timeout_s);
/* docker_container_kill sends signal ("SIGTERM", "9"; NULL = SIGKILL); a
 * stopped container fails with DOCKER_E_NOT_RUNNING. */
int docker_container_kill(struct docker *d, const char *id, const char *signal);
/* docker_container_remove deletes a container; force kills a running one,
 * volumes removes its anonymous volumes. */
int docker_container_remove(struct docker *d, const char *id, bool force, bool volumes);

struct docker_container_summary {
	char *id;
	struct strv names; /* without the leading '/' */
	char *image;
	char *state;           /* "running", "exited", ... */
	char *compose_service; /* label com.docker.compose.service, or NULL */
	json_t *labels;        /* object of strings; a reference the summary owns */
};

struct docker_container_list {
	struct docker_container_summary *v;
	size_t n;
};

/* docker_container_list lists containers carrying every label of
 * label_filters ("key" or "key=value"; NULL: all); all adds stopped ones.
 * Free out with docker_container_list_fini. */
int docker_container_list(struct docker *d, const struct strv *label_filters, bool all,
                          struct docker_container_list *out);
void docker_container_list_fini(struct docker_container_list *l);

/* ---- exec ---- */

struct docker_exec_spec {
	const struct strv *cmd; /* required */
	const struct strv *env;
	const char *user; /* NULL: the container's user */
	const char *working_dir;
	bool tty;
	bool privileged;
};

/* docker_exec_create prepares cmd in a running container; *id gets the exec
 * id (caller frees). A stopped container fails with DOCKER_E_NOT_RUNNING. */
int docker_exec_create(struct docker *d, const char *container, const struct docker_exec_spec *spec,
                       char **id);
/* docker_exec_start runs the exec attached and streams its output to on_line
 * until the process ends. tty must match the spec. Cancelling only detaches:
 * the process goes on in the container. */
int docker_exec_start(struct docker *d, const char *id, bool tty, docker_on_line_fn *on_line,
                      void *arg);

struct docker_exec_info {
	bool running;
	int exit_code; /* -1 while running */
	int pid;       /* on the host; 0 once finished */
};

/* docker_exec_inspect reads an exec's state into out. */
int docker_exec_inspect(struct docker *d, const char *id, struct docker_exec_info *out);

/* ---- images ---- */

/* docker_image_exists returns 1 when the engine has image ref, 0 when it has
 * not, -1 on failure. */
int docker_image_exists(struct docker *d, const char *ref);
/* docker_registry_auth finds the credentials for image's registry the way
 * the Docker CLI does (config.json in $DOCKER_CONFIG or ~/.docker: auths,
 * credHelpers, credsStore) and sets *header to the X-Registry-Auth value
 * (caller frees), or NULL when there are none. -1 with the reason in err
 * when a credential helper fails (*header is then NULL). */
int docker_registry_auth(const char *image, char **header, char *err, size_t errlen);
/* docker_image_pull pulls ref ("name", "name:tag", "name@sha256:...";
 * default tag latest) with the registry's credentials (docker_registry_auth)
 * and fails with the engine's message, whether it comes as an HTTP error or
 * as an error line in the progress stream. A pull can
 * take long: set a deadline. */
int docker_image_pull(struct docker *d, const char *ref);

/* ---- services (Swarm) ---- */

/* A one-shot service: mode replicated-job (1 completion), restart policy
 * none. Pointers are borrowed. */
struct docker_service_spec {
	const char *name;
	const char *image;          /* required */
	const struct strv *command; /* replaces the image's entrypoint, as Ofelia sets it */
	const struct strv *args;    /* the image's Cmd */
	const struct strv *env;
	const struct strv *labels;   /* service labels, "key=value" */
	const struct strv *networks; /* names or ids */
	const char *user;
	const char *working_dir;
	const char *hostname;
	/* volumes as `docker run -v` writes them: "/host:/in[:ro]" binds a host
	 * path, "name:/in[:ro]" mounts a named volume, "/in" an anonymous one */
	const struct strv *mounts;
	bool tty;
};

/* docker_service_create makes the service; *id gets its id (caller frees).
 * The engine must be a swarm manager. */
int docker_service_create(struct docker *d, const struct docker_service_spec *spec, char **id);

struct docker_task {
	char *id;
	char *state;         /* "new" ... "running", "complete", "failed", "rejected" */
	char *desired_state; /* "running", "shutdown", "complete" */
	char *message;       /* Status.Err, else Status.Message; may be NULL */
	char *container_id;  /* NULL until a container exists */
	int exit_code;       /* -1 until the container has exited */
};

struct docker_task_list {
	struct docker_task *v;
	size_t n;
};

/* docker_service_tasks lists the tasks of a service; free out with
 * docker_task_list_fini. */
int docker_service_tasks(struct docker *d, const char *service, struct docker_task_list *out);
void docker_task_list_fini(struct docker_task_list *l);
/* docker_service_logs streams a service's logs as docker_container_logs. */
int docker_service_logs(struct docker *d, const char *service, const struct docker_logs_options *o,
                        docker_on_line_fn *on_line, void *arg);
/* docker_service_remove deletes a service and with it its tasks. */
int docker_service_remove(struct docker *d, const char *service);

/* ---- events ---- */

/* One engine event. Strings are borrowed from the event's JSON and valid
 * during the callback (or until docker_event_fini). */
struct docker_event {
	const char *type;   /* "container", "image", "network", ... */
	const char *action; /* "start", "die", "exec_start" (without the command) */
	const char *id;     /* Actor.ID: the container's id for container events */
	int64_t time_ns;    /* Unix ns */
	json_t *attributes; /* Actor.Attributes: labels, "name", "image", "exitCode" */
	json_t *json;       /* the whole event (owned by the event) */
	char action_buf[64];
};

typedef void docker_on_event_fn(void *arg, const struct docker_event *ev);

/* docker_events streams events matching filters (a JSON object such as
 * {"type":["container"],"label":["ofelia.enabled=true"]}; borrowed; NULL:
 * all) to on_event. since_s/until_s (Unix s, 0 = none) replay past events.
 * Returns 0 when the engine ends the stream (it does at until_s, and may when
 * it shuts down), -1 when cancelled or the connection fails: either way a
 * watcher reconnects, with since_s to catch up. */
int docker_events(struct docker *d, json_t *filters, int64_t since_s, int64_t until_s,
                  docker_on_event_fn *on_event, void *arg);
/* docker_event_attr returns an attribute ("name", "exitCode", a label) or NULL. */
const char *docker_event_attr(const struct docker_event *ev, const char *key);

/* ---- stream decoding, public for the unit tests and the fuzzer ---- */

/* A decoder of one output stream: the engine's 8-byte frame headers ([0]
 * stream, [4..7] big-endian length), or raw bytes for TTY streams, cut into
 * lines of at most line_max input bytes (0: DOCKER_LINE_MAX; longer ones go
 * out in pieces; UTF-8 repair may triple a piece's size) for on_line. Chunks may split frames and
 * lines anywhere; memory stays bounded by the line limit and the chunk size. */
struct docker_demux;

/* docker_demux_new starts a decoder; the caller frees it. */
struct docker_demux *docker_demux_new(bool raw, bool timestamps, size_t line_max,
                                      docker_on_line_fn *on_line, void *arg);
void docker_demux_free(struct docker_demux *m);
/* docker_demux_feed decodes a chunk. Returns -1 on a bad frame header or an
 * error the engine sent in the stream (docker_demux_error says which); later
 * feeds then do nothing. */
int docker_demux_feed(struct docker_demux *m, const void *data, size_t len);
/* docker_demux_finish delivers what is left at the end of the stream: a last
 * line without '\n'. */
void docker_demux_finish(struct docker_demux *m);
/* docker_demux_error describes why feed failed (owned by m), or NULL. */
const char *docker_demux_error(const struct docker_demux *m);

/* docker_event_parse reads one line of GET /events into ev; release it with
 * docker_event_fini. Returns -1 when the line is not an event object. */
int docker_event_parse(const char *line, size_t len, struct docker_event *ev);
void docker_event_fini(struct docker_event *ev);

#endif
