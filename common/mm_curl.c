/* dlopen()s libcurl.so.4 and fills mm_curl with its functions. */
#include "mm_curl.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

mm_curl_t mm_curl;

static int load_result = 1;     /* 1: not tried yet */
static char load_error[256];

/* Each entry: the symbol and where its address goes. */
#define FN(field, sym) { sym, &mm_curl.field, sizeof mm_curl.field }
static const struct {
    const char *sym;
    void *slot;         /* the function pointer field */
    size_t size;
} fns[] = {
    FN(easy_init, "curl_easy_init"),
    FN(easy_cleanup, "curl_easy_cleanup"),
    FN(easy_setopt, "curl_easy_setopt"),
    FN(easy_getinfo, "curl_easy_getinfo"),
    FN(easy_strerror, "curl_easy_strerror"),
    FN(getdate, "curl_getdate"),
    FN(multi_init, "curl_multi_init"),
    FN(multi_cleanup, "curl_multi_cleanup"),
    FN(multi_add_handle, "curl_multi_add_handle"),
    FN(multi_remove_handle, "curl_multi_remove_handle"),
    FN(multi_assign, "curl_multi_assign"),
    FN(multi_setopt, "curl_multi_setopt"),
    FN(multi_socket_action, "curl_multi_socket_action"),
    FN(multi_info_read, "curl_multi_info_read"),
    FN(multi_strerror, "curl_multi_strerror"),
    FN(slist_append, "curl_slist_append"),
    FN(slist_free_all, "curl_slist_free_all"),
};
#undef FN

static int load(void)
{
    void *h = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(load_error, sizeof load_error, "cannot load libcurl: %s", dlerror());
        return -ENOENT;
    }
    for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
        void *p = dlsym(h, fns[i].sym);
        if (!p) {
            snprintf(load_error, sizeof load_error, "libcurl has no %s", fns[i].sym);
            dlclose(h);
            return -ENOENT;
        }
        /* POSIX guarantees dlsym's object pointer holds a function's address. */
        memcpy(fns[i].slot, &p, fns[i].size);
    }
    CURLcode (*global_init)(long) = NULL;
    void *gi = dlsym(h, "curl_global_init");
    if (gi)
        memcpy(&global_init, &gi, sizeof global_init);
    if (!global_init || global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(load_error, sizeof load_error, "libcurl failed to initialise");
        dlclose(h);
        return -ENOENT;
    }
    /* Loaded for the process's lifetime. */
    return 0;
}

int mm_curl_load(char *err, size_t errcap)
{
    if (load_result == 1)
        load_result = load();
    if (load_result < 0 && err && errcap)
        snprintf(err, errcap, "%s", load_error);
    return load_result;
}

bool mm_curl_loaded(void) { return load_result == 0; }
