/* libcurl, loaded on first use. The daemons link libcurl's headers only:
 * libcurl.so.4 (and the TLS, Kerberos and LDAP libraries it pulls in) is
 * mapped when the first HTTP check, scrape or notification needs it, so a
 * daemon that never speaks HTTP stays small. Call mm_curl_load() before
 * any mm_curl.<function>; after it succeeded, every pointer is set. */
#ifndef MM_CURL_H
#define MM_CURL_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

/* Calls go through pointers, so curl.h's compile-time option checks (macros
 * named like the functions) cannot apply. */
#define CURL_DISABLE_TYPECHECK 1
#include <curl/curl.h>

typedef struct {
    CURL *(*easy_init)(void);
    void (*easy_cleanup)(CURL *e);
    CURLcode (*easy_setopt)(CURL *e, CURLoption opt, ...);
    CURLcode (*easy_getinfo)(CURL *e, CURLINFO info, ...);
    const char *(*easy_strerror)(CURLcode c);
    time_t (*getdate)(const char *s, const time_t *unused);
    CURLM *(*multi_init)(void);
    CURLMcode (*multi_cleanup)(CURLM *m);
    CURLMcode (*multi_add_handle)(CURLM *m, CURL *e);
    CURLMcode (*multi_remove_handle)(CURLM *m, CURL *e);
    CURLMcode (*multi_assign)(CURLM *m, curl_socket_t fd, void *p);
    CURLMcode (*multi_setopt)(CURLM *m, CURLMoption opt, ...);
    CURLMcode (*multi_socket_action)(CURLM *m, curl_socket_t fd, int ev, int *running);
    CURLMsg *(*multi_info_read)(CURLM *m, int *left);
    const char *(*multi_strerror)(CURLMcode c);
    struct curl_slist *(*slist_append)(struct curl_slist *l, const char *s);
    void (*slist_free_all)(struct curl_slist *l);
} mm_curl_t;

extern mm_curl_t mm_curl;

/* Loads libcurl and runs its global initialisation, once per process (call
 * from one thread). Returns 0, or -ENOENT with the reason in err. Later
 * calls return the first call's result. */
int mm_curl_load(char *err, size_t errcap);

/* True once mm_curl_load() has succeeded. */
bool mm_curl_loaded(void);

#endif
