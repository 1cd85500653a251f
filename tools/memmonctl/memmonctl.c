/* memmonctl: the operator's command-line tool. `check` validates a config
 * directory the way the services load it, `config` prints effective values of
 * memmon.yml, `status` prints the stack's state from the gateway. */
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "memmonctl.h"
#include "mm_build.h"
#include "mm_config.h"
#include "mm_err.h"

static const char *default_dir(void)
{
    const char *d = getenv("MEMMON_CONFIG_DIR");
    return d ? d : "/etc/memmon";
}

static void print_diag(const mm_diag_t *d, int r)
{
    char buf[1200];
    if (d->file[0])
        mm_diag_format(d, buf, sizeof buf);
    else
        snprintf(buf, sizeof buf, "%s", mm_strerror(r));
    fprintf(stderr, "%s\n", buf);
}

/* Loads memmon.yml as the services do; prints the error and returns -1 on failure. */
static int load_cfg(const char *dir, mm_config_t *cfg)
{
    mm_diag_t d = {0};
    int r = mm_config_load(dir, "memmonctl", cfg, &d);
    if (r < 0) {
        print_diag(&d, r);
        return -1;
    }
    return 0;
}

/* Validates memmon.yml and every service file present; stops at the first error. */
static int cmd_check(const char *dir)
{
    mm_config_t cfg;
    mm_diag_t d;
    int r;
    if (load_cfg(dir, &cfg) < 0)
        return 1;
    printf("ok   %s/memmon.yml\n", dir);
    for (const memmonctl_validator_t *v = memmonctl_validators; v->service; v++) {
        memset(&d, 0, sizeof d);
        r = v->check(&cfg, &d);
        if (r < 0) {
            print_diag(&d, r);
            mm_config_fini(&cfg);
            return 1;
        }
        printf("ok   %s (%s)\n", v->files, v->service);
    }
    mm_config_fini(&cfg);
    return 0;
}

/* Prints the effective value of a memmon.yml key (after env overrides). */
static int cmd_config(const char *dir, const char *key)
{
    mm_config_t cfg;
    if (load_cfg(dir, &cfg) < 0)
        return 1;
    int rc = 0;
    const mm_cfg_field_t *f = mm_config_table;
    while (f->key && strcmp(f->key, key) != 0)
        f++;
    if (!f->key) {
        fprintf(stderr, "memmonctl: memmon.yml has no key \"%s\"\n", key);
        rc = 2;
    } else {
        const void *p = (const char *)&cfg + f->offset;
        switch (f->type) {
        case MM_CFG_STRING: printf("%s\n", *(char *const *)p ? *(char *const *)p : ""); break;
        case MM_CFG_BOOL: printf("%s\n", *(const bool *)p ? "true" : "false"); break;
        case MM_CFG_DOUBLE: printf("%g\n", *(const double *)p); break;
        case MM_CFG_CUSTOM:
            for (size_t i = 0; i < cfg.n_external_labels && f->offset ==
                 offsetof(mm_config_t, external_labels); i++)
                printf("%s=%s\n", cfg.external_labels[i].name, cfg.external_labels[i].value);
            break;
        default: printf("%lld\n", (long long)*(const int64_t *)p); break;
        }
    }
    mm_config_fini(&cfg);
    return rc;
}

typedef struct {
    char *buf;
    size_t len;
} body_t;

static size_t on_body(char *ptr, size_t size, size_t n, void *data)
{
    body_t *b = data;
    size_t add = size * n;
    if (b->len + add > (16u << 20))
        return 0;
    char *nb = realloc(b->buf, b->len + add + 1);
    if (!nb)
        return 0;
    memcpy(nb + b->len, ptr, add);
    b->buf = nb;
    b->len += add;
    b->buf[b->len] = '\0';
    return add;
}

static int cmd_status(const char *dir, const char *url_flag, bool raw)
{
    char url[512];
    if (url_flag) {
        snprintf(url, sizeof url, "%s/api/status", url_flag);
    } else {
        mm_config_t cfg;
        if (load_cfg(dir, &cfg) < 0)
            return 1;
        const char *host = cfg.gateway_host;
        if (strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0)
            host = "127.0.0.1";
        snprintf(url, sizeof url, "http://%s:%lld/api/status", host, (long long)cfg.gateway_port);
        mm_config_fini(&cfg);
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURL *c = curl_easy_init();
    body_t body = {0};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    CURLcode cr = curl_easy_perform(c);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(c);
    curl_global_cleanup();
    int rc = 0;
    if (cr != CURLE_OK) {
        fprintf(stderr, "memmonctl: cannot reach the gateway at %s: %s\n", url,
                curl_easy_strerror(cr));
        rc = 1;
    } else if (code != 200) {
        fprintf(stderr, "memmonctl: %s answered %ld: %s\n", url, code, body.buf ? body.buf : "");
        rc = 1;
    } else if (raw) {
        printf("%s\n", body.buf);
    } else {
        rc = memmonctl_print_status(body.buf, stdout) < 0 ? 1 : 0;
    }
    free(body.buf);
    return rc;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: memmonctl [--config-dir DIR] COMMAND [ARGS]\n\n"
            "commands:\n"
            "  check                validate every file of the config directory; the first\n"
            "                       error is printed as file:line:col: message (exit 1)\n"
            "  config KEY           print the effective value of a memmon.yml key\n"
            "  status [--url URL] [--json]\n"
            "                       print the stack's state from the gateway\n"
            "  rules check FILE...  check rule files like `promtool check rules`\n"
            "  rules test FILE...   run promtool unit-test files with memmon's engine\n"
            "  version\n\n"
            "DIR defaults to $MEMMON_CONFIG_DIR, else /etc/memmon.\n");
}

int main(int argc, char **argv)
{
    const char *dir = default_dir();
    int i = 1;
    while (i < argc && argv[i][0] == '-') {
        if ((strcmp(argv[i], "--config-dir") == 0 || strcmp(argv[i], "-c") == 0) && i + 1 < argc) {
            dir = argv[i + 1];
            i += 2;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (i >= argc) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[i++];
    if (strcmp(cmd, "check") == 0 && i == argc)
        return cmd_check(dir);
    if (strcmp(cmd, "config") == 0 && i + 1 == argc)
        return cmd_config(dir, argv[i]);
    if (strcmp(cmd, "status") == 0) {
        const char *url = NULL;
        bool raw = false;
        for (; i < argc; i++) {
            if (strcmp(argv[i], "--url") == 0 && i + 1 < argc)
                url = argv[++i];
            else if (strcmp(argv[i], "--json") == 0)
                raw = true;
            else {
                usage(stderr);
                return 2;
            }
        }
        return cmd_status(dir, url, raw);
    }
    if (strcmp(cmd, "rules") == 0)
        return memmonctl_rules(argc - i, argv + i);
    if (strcmp(cmd, "version") == 0) {
        printf("memmonctl %s\n", MM_VERSION);
        return 0;
    }
    usage(stderr);
    return 2;
}
