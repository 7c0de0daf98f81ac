/* Swarm services for service-run jobs: a one-shot service whose single task
 * runs the command once. Mode replicated-job (API 1.41, which ofelia
 * requires anyway) completes after one task; restart condition none keeps a
 * failed task from being retried, as Ofelia's service-run does. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "docker/internal.h"
#include "util/xalloc.h"

/* mount_json turns one `-v` style volume into a service mount: Swarm has no
 * Binds, only Mounts. */
static json_t *mount_json(const char *volume)
{
	char *copy = xstrdup(volume);
	char *parts[3] = {copy, NULL, NULL};
	for (int i = 0; i < 2 && parts[i]; i++) {
		char *colon = strchr(parts[i], ':');
		if (colon) {
			*colon = '\0';
			parts[i + 1] = colon + 1;
		}
	}
	const char *source = parts[1] ? parts[0] : NULL;
	const char *target = parts[1] ? parts[1] : parts[0];
	bool read_only = parts[2] && strstr(parts[2], "ro") != NULL;
	json_t *m =
	    json_pack("{s:s,s:s,s:b}", "Type", source && source[0] == '/' ? "bind" : "volume",
	              "Target", target, "ReadOnly", read_only);
	if (source)
		json_object_set_new(m, "Source", json_string(source));
	free(copy);
	return m;
}

int docker_service_create(struct docker *d, const struct docker_service_spec *spec, char **id)
{
	json_t *container = json_pack("{s:s}", "Image", spec->image);
	if (spec->command)
		json_object_set_new(container, "Command", docker_json_from_strv(spec->command));
	if (spec->args)
		json_object_set_new(container, "Args", docker_json_from_strv(spec->args));
	if (spec->env)
		json_object_set_new(container, "Env", docker_json_from_strv(spec->env));
	if (spec->user && *spec->user)
		json_object_set_new(container, "User", json_string(spec->user));
	if (spec->working_dir && *spec->working_dir)
		json_object_set_new(container, "Dir", json_string(spec->working_dir));
	if (spec->tty)
		json_object_set_new(container, "TTY", json_true());
	if (spec->hostname && *spec->hostname)
		json_object_set_new(container, "Hostname", json_string(spec->hostname));
	if (spec->mounts && spec->mounts->n) {
		json_t *mounts = json_array();
		for (size_t i = 0; i < spec->mounts->n; i++)
			json_array_append_new(mounts, mount_json(spec->mounts->v[i]));
		json_object_set_new(container, "Mounts", mounts);
	}

	json_t *task = json_pack("{s:o,s:{s:s}}", "ContainerSpec", container, "RestartPolicy",
	                         "Condition", "none");
	if (spec->networks && spec->networks->n) {
		json_t *nets = json_array();
		for (size_t i = 0; i < spec->networks->n; i++)
			json_array_append_new(nets,
			                      json_pack("{s:s}", "Target", spec->networks->v[i]));
		json_object_set_new(task, "Networks", nets);
	}
	json_t *body = json_pack("{s:o,s:{s:{s:i,s:i}}}", "TaskTemplate", task, "Mode",
	                         "ReplicatedJob", "MaxConcurrent", 1, "TotalCompletions", 1);
	if (spec->name && *spec->name)
		json_object_set_new(body, "Name", json_string(spec->name));
	if (spec->labels)
		json_object_set_new(body, "Labels", docker_json_labels(spec->labels));

	/* The nodes pull the image with the credentials sent along. */
	char *auth = NULL, auth_err[512];
	docker_registry_auth(spec->image, &auth, auth_err, sizeof auth_err);
	struct docker_req r = {
	    .method = "POST", .path = "/services/create", .body = body, .registry_auth = auth};
	struct buf resp = BUF_INIT;
	json_t *reply = NULL;
	if (docker_request(d, &r, &resp) == 0) {
		reply = json_loadb(buf_cstr(&resp), resp.len, 0, NULL);
		if (reply == NULL)
			docker_fail(d, DOCKER_E_PROTOCOL, "service create: reply is not JSON");
	}
	buf_free(&resp);
	free(auth);
	int rc = -1;
	if (reply) {
		*id = docker_json_strdup(reply, "ID");
		rc = *id ? 0
		         : docker_fail(d, DOCKER_E_PROTOCOL, "service create: no ID in the reply");
	}
	json_decref(reply);
	json_decref(body);
	return rc;
}

int docker_service_tasks(struct docker *d, const char *service, struct docker_task_list *out)
{
	memset(out, 0, sizeof *out);
	json_t *f = json_pack("{s:[s]}", "service", service);
	char *text = json_dumps(f, JSON_COMPACT);
	char *q = docker_escape(text);
	char *path = xasprintf("/tasks?filters=%s", q);
	json_t *j = docker_call_json(d, "GET", path, NULL);
	free(path);
	free(q);
	free(text);
	json_decref(f);
	if (!j)
		return -1;
	if (!json_is_array(j)) {
		json_decref(j);
		return docker_fail(d, DOCKER_E_PROTOCOL, "task list: reply is not an array");
	}
	out->v = xcalloc(json_array_size(j) + 1, sizeof *out->v);
	size_t i;
	json_t *t;
	json_array_foreach(j, i, t)
	{
		json_t *status = json_object_get(t, "Status");
		json_t *cs = json_object_get(status, "ContainerStatus");
		json_t *code = json_object_get(cs, "ExitCode");
		const char *err = docker_json_str(status, "Err");
		const char *cid = docker_json_str(cs, "ContainerID");
		struct docker_task *task = &out->v[out->n++];
		task->id = docker_json_strdup(t, "ID");
		task->state = docker_json_strdup(status, "State");
		task->desired_state = docker_json_strdup(t, "DesiredState");
		task->message = err && *err ? xstrdup(err) : docker_json_strdup(status, "Message");
		task->container_id = cid && *cid ? xstrdup(cid) : NULL;
		/* ExitCode is 0 until the container ends: trust it only then. */
		bool ended = task->state && (strcmp(task->state, "complete") == 0 ||
		                             strcmp(task->state, "failed") == 0 ||
		                             strcmp(task->state, "shutdown") == 0);
		task->exit_code =
		    ended && json_is_integer(code) ? (int)json_integer_value(code) : -1;
	}
	json_decref(j);
	return 0;
}

void docker_task_list_fini(struct docker_task_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].id);
		free(l->v[i].state);
		free(l->v[i].desired_state);
		free(l->v[i].message);
		free(l->v[i].container_id);
	}
	free(l->v);
	memset(l, 0, sizeof *l);
}

int docker_service_logs(struct docker *d, const char *service, const struct docker_logs_options *o,
                        docker_on_line_fn *on_line, void *arg)
{
	char *es = docker_escape(service);
	struct buf path = BUF_INIT;
	buf_printf(&path, "/services/%s/logs", es);
	docker_logs_query(&path, o);
	int rc =
	    docker_stream_output(d, "GET", path.data, NULL, o->tty, o->timestamps, on_line, arg);
	buf_free(&path);
	free(es);
	return rc;
}

int docker_service_remove(struct docker *d, const char *service)
{
	char *es = docker_escape(service);
	char *path = xasprintf("/services/%s", es);
	int rc = docker_call(d, "DELETE", path, NULL);
	free(path);
	free(es);
	return rc;
}
