/* The web UI: the files of src/http/ui, compiled into the binary, served
 * at / (index.html) and /<file>. The page only uses the API, so it needs no
 * more privilege than the token its user logs in with. */
#include <stdio.h>
#include <string.h>

#include "http/http_int.h"
#include "util/embedded.h"

#define UI_DIR "src/http/ui/"

static const char *content_type(const char *name)
{
	const char *dot = strrchr(name, '.');
	if (dot == NULL)
		return "application/octet-stream";
	if (strcmp(dot, ".html") == 0)
		return "text/html; charset=utf-8";
	if (strcmp(dot, ".js") == 0)
		return "text/javascript; charset=utf-8";
	if (strcmp(dot, ".css") == 0)
		return "text/css; charset=utf-8";
	if (strcmp(dot, ".svg") == 0)
		return "image/svg+xml";
	return "application/octet-stream";
}

void http_on_ui(struct http_req *r)
{
	char path[256];
	const char *name = r->param ? r->param : "index.html";
	snprintf(path, sizeof path, UI_DIR "%s", name);
	const struct embedded_file *f = strlen(name) < 128 ? embedded_find(path) : NULL;
	if (f == NULL) {
		http_reply_error(r, 404, "NOT_FOUND", NULL, NULL, "No route for GET %.*s",
		                 (int)r->path.len, r->path.base);
		return;
	}
	/* Scripts come only from this server; no inline code, no framing. */
	http_header(r, "content-security-policy",
	            "default-src 'self'; connect-src 'self' ws: wss:; frame-ancestors 'none'");
	http_header(r, "cache-control", "no-cache");
	http_reply_bytes(r, 200, content_type(name), f->data, f->len);
}
