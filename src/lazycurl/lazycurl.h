/* lazycurl: libcurl is loaded the first time ofelia calls it (the Docker
 * client, notifications, etcd), not when the daemon starts. With its
 * dependencies (GnuTLS, Kerberos, LDAP, SSH, RTMP) it is about half the
 * memory of a daemon that runs only local jobs.
 *
 * The binary is not linked with libcurl: lazycurl.c defines the curl_*
 * functions ofelia calls, and each one loads libcurl.so.4 once (dlopen, then
 * curl_global_init) and forwards to it. Callers use libcurl's API as usual. */
#ifndef OFELIA_LAZYCURL_LAZYCURL_H
#define OFELIA_LAZYCURL_LAZYCURL_H

#include <stdbool.h>
#include <stddef.h>

/* lazycurl_load loads libcurl now if it is not yet loaded; thread-safe.
 * Returns 0, or -1 with the reason in err (libcurl missing or failing to
 * initialize); a failure is final for the process, and every curl_* call
 * then fails as libcurl does when it cannot start (NULL, CURLE_FAILED_INIT). */
int lazycurl_load(char *err, size_t errlen);

/* lazycurl_loaded tells whether libcurl has been loaded. */
bool lazycurl_loaded(void);

/* lazycurl_cleanup runs curl_global_cleanup if libcurl was loaded; at exit,
 * once no thread uses libcurl any more. The library stays mapped. */
void lazycurl_cleanup(void);

#endif
