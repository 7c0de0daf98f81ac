/* The curl_* functions ofelia calls, each forwarding to libcurl.so.4 loaded
 * on first use (lazycurl.h says why). The type checks curl.h adds under GCC
 * are macros named like these functions, so they are off in this file only. */
#define CURL_DISABLE_TYPECHECK
#include <curl/curl.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>

#include "lazycurl/lazycurl.h"
#include "util/log.h"

#define LIBCURL_SONAME "libcurl.so.4"

/* The libcurl functions ofelia uses, as libcurl exports them. */
static struct {
	CURLcode (*global_init)(long flags);
	void (*global_cleanup)(void);
	CURL *(*easy_init)(void);
	CURLcode (*easy_setopt)(CURL *curl, CURLoption option, ...);
	CURLcode (*easy_perform)(CURL *curl);
	void (*easy_cleanup)(CURL *curl);
	void (*easy_reset)(CURL *curl);
	CURLcode (*easy_getinfo)(CURL *curl, CURLINFO info, ...);
	const char *(*easy_strerror)(CURLcode code);
	char *(*easy_escape)(CURL *curl, const char *string, int length);
	void (*free)(void *p);
	struct curl_slist *(*slist_append)(struct curl_slist *list, const char *s);
	void (*slist_free_all)(struct curl_slist *list);
} api;

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static bool loaded;
static char load_error[256];

/* find fills *slot with the address of symbol, or records why it cannot. */
static int find(void *lib, const char *symbol, void *slot)
{
	void *addr = dlsym(lib, symbol);
	if (addr == NULL) {
		snprintf(load_error, sizeof load_error, "%s has no %s", LIBCURL_SONAME, symbol);
		return -1;
	}
	/* POSIX guarantees a function's address round-trips through void *. */
	*(void **)slot = addr;
	return 0;
}

static void load(void)
{
	void *lib = dlopen(LIBCURL_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (lib == NULL) {
		snprintf(load_error, sizeof load_error, "cannot load %s: %s", LIBCURL_SONAME,
		         dlerror());
		goto fail;
	}
	if (find(lib, "curl_global_init", &api.global_init) < 0 ||
	    find(lib, "curl_global_cleanup", &api.global_cleanup) < 0 ||
	    find(lib, "curl_easy_init", &api.easy_init) < 0 ||
	    find(lib, "curl_easy_setopt", &api.easy_setopt) < 0 ||
	    find(lib, "curl_easy_perform", &api.easy_perform) < 0 ||
	    find(lib, "curl_easy_cleanup", &api.easy_cleanup) < 0 ||
	    find(lib, "curl_easy_reset", &api.easy_reset) < 0 ||
	    find(lib, "curl_easy_getinfo", &api.easy_getinfo) < 0 ||
	    find(lib, "curl_easy_strerror", &api.easy_strerror) < 0 ||
	    find(lib, "curl_easy_escape", &api.easy_escape) < 0 ||
	    find(lib, "curl_free", &api.free) < 0 ||
	    find(lib, "curl_slist_append", &api.slist_append) < 0 ||
	    find(lib, "curl_slist_free_all", &api.slist_free_all) < 0)
		goto fail;
	if (api.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(load_error, sizeof load_error, "curl_global_init failed");
		goto fail;
	}
	__atomic_store_n(&loaded, true, __ATOMIC_RELEASE);
	log_debug("loaded %s", LIBCURL_SONAME);
	return;
fail:
	/* Once: the callers then see libcurl's own failure codes. */
	log_errorx("%s", load_error);
}

static bool ready(void)
{
	pthread_once(&load_once, load);
	return loaded;
}

int lazycurl_load(char *err, size_t errlen)
{
	if (ready())
		return 0;
	snprintf(err, errlen, "%s", load_error);
	return -1;
}

bool lazycurl_loaded(void)
{
	/* pthread_once orders the load before any caller that saw it done; a
	 * caller racing a load in progress may see false, which is what it was. */
	return __atomic_load_n(&loaded, __ATOMIC_ACQUIRE);
}

void lazycurl_cleanup(void)
{
	if (lazycurl_loaded())
		api.global_cleanup();
}

CURL *curl_easy_init(void)
{
	return ready() ? api.easy_init() : NULL;
}

/* The option's number tells the type of its argument (curl.h's
 * CURLOPTTYPE_* ranges), as libcurl itself reads it. */
CURLcode curl_easy_setopt(CURL *curl, CURLoption option, ...)
{
	va_list ap;
	CURLcode rc;

	if (!ready())
		return CURLE_FAILED_INIT;
	va_start(ap, option);
	if (option < CURLOPTTYPE_OBJECTPOINT)
		rc = api.easy_setopt(curl, option, va_arg(ap, long));
	else if (option < CURLOPTTYPE_FUNCTIONPOINT)
		rc = api.easy_setopt(curl, option, va_arg(ap, void *));
	else if (option < CURLOPTTYPE_OFF_T)
		rc = api.easy_setopt(curl, option, va_arg(ap, void (*)(void)));
	else if (option < CURLOPTTYPE_BLOB)
		rc = api.easy_setopt(curl, option, va_arg(ap, curl_off_t));
	else
		rc = api.easy_setopt(curl, option, va_arg(ap, void *));
	va_end(ap);
	return rc;
}

CURLcode curl_easy_perform(CURL *curl)
{
	return ready() ? api.easy_perform(curl) : CURLE_FAILED_INIT;
}

void curl_easy_cleanup(CURL *curl)
{
	if (curl != NULL && ready())
		api.easy_cleanup(curl);
}

void curl_easy_reset(CURL *curl)
{
	if (ready())
		api.easy_reset(curl);
}

/* Every CURLINFO_* takes a pointer to where the answer goes. */
CURLcode curl_easy_getinfo(CURL *curl, CURLINFO info, ...)
{
	va_list ap;
	CURLcode rc;

	if (!ready())
		return CURLE_FAILED_INIT;
	va_start(ap, info);
	rc = api.easy_getinfo(curl, info, va_arg(ap, void *));
	va_end(ap);
	return rc;
}

const char *curl_easy_strerror(CURLcode code)
{
	return ready() ? api.easy_strerror(code) : load_error;
}

char *curl_easy_escape(CURL *curl, const char *string, int length)
{
	return ready() ? api.easy_escape(curl, string, length) : NULL;
}

void curl_free(void *p)
{
	if (p != NULL && ready())
		api.free(p);
}

struct curl_slist *curl_slist_append(struct curl_slist *list, const char *s)
{
	return ready() ? api.slist_append(list, s) : NULL;
}

void curl_slist_free_all(struct curl_slist *list)
{
	if (list != NULL && ready())
		api.slist_free_all(list);
}
