/* Exec: a command in a running container (exec jobs). Start is attached:
 * the engine hijacks the connection and streams the output until the
 * process ends and it closes the connection (STACK.md §4); the exit code
 * then comes from the exec's inspect. */
#include <stdlib.h>
#include <string.h>

#include "docker/internal.h"
#include "util/xalloc.h"

int docker_exec_create(struct docker *d, const char *container, const struct docker_exec_spec *spec,
                       char **id)
{
	json_t *body = json_pack("{s:b,s:b,s:b,s:o}", "AttachStdout", 1, "AttachStderr", 1, "Tty",
	                         spec->tty, "Cmd", docker_json_from_strv(spec->cmd));
	if (spec->env)
		json_object_set_new(body, "Env", docker_json_from_strv(spec->env));
	if (spec->user && *spec->user)
		json_object_set_new(body, "User", json_string(spec->user));
	if (spec->working_dir && *spec->working_dir)
		json_object_set_new(body, "WorkingDir", json_string(spec->working_dir));
	if (spec->privileged)
		json_object_set_new(body, "Privileged", json_true());

	char *ec = docker_escape(container);
	char *path = xasprintf("/containers/%s/exec", ec);
	json_t *reply = docker_call_json(d, "POST", path, body);
	int rc = -1;
	if (reply) {
		*id = docker_json_strdup(reply, "Id");
		rc = *id ? 0 : docker_fail(d, DOCKER_E_PROTOCOL, "exec create: no Id in the reply");
	}
	json_decref(reply);
	json_decref(body);
	free(path);
	free(ec);
	return rc;
}

int docker_exec_start(struct docker *d, const char *id, bool tty, docker_on_line_fn *on_line,
                      void *arg)
{
	json_t *body = json_pack("{s:b,s:b}", "Detach", 0, "Tty", tty);
	char *eid = docker_escape(id);
	char *path = xasprintf("/exec/%s/start", eid);
	int rc = docker_stream_output(d, "POST", path, body, tty, false, on_line, arg);
	free(path);
	free(eid);
	json_decref(body);
	return rc;
}

int docker_exec_inspect(struct docker *d, const char *id, struct docker_exec_info *out)
{
	char *eid = docker_escape(id);
	char *path = xasprintf("/exec/%s/json", eid);
	json_t *j = docker_call_json(d, "GET", path, NULL);
	free(path);
	free(eid);
	if (!j)
		return -1;
	/* ExitCode is null while the process runs. */
	json_t *code = json_object_get(j, "ExitCode");
	out->running = json_is_true(json_object_get(j, "Running"));
	out->exit_code = json_is_integer(code) ? (int)json_integer_value(code) : -1;
	out->pid = (int)json_integer_value(json_object_get(j, "Pid"));
	json_decref(j);
	return 0;
}
