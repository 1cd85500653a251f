/* Drives OWASP CRS (Debian modsecurity-crs 3.3.4) through libmodsecurity3 on
 * a labelled corpus, each line as the value of one query parameter of a GET
 * request with browser-like headers, and prints detection per class, false
 * positives and inspections per second, for comparison with mm_detect. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <modsecurity/intervention.h>
#include <modsecurity/modsecurity.h>
#include <modsecurity/rules_set.h>
#include <modsecurity/transaction.h>

static void quiet(void *data, const void *msg)
{
    (void)data;
    (void)msg;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Escapes only what would break the request line; the rest stays as given. */
static void make_uri(const char *line, char *uri, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    o += (size_t)snprintf(uri, cap, "/?q=");
    for (const unsigned char *p = (const unsigned char *)line; *p && o + 4 < cap; p++) {
        if (*p <= 0x20 || *p >= 0x7f || *p == '#' || *p == '&') {
            uri[o++] = '%';
            uri[o++] = hex[*p >> 4];
            uri[o++] = hex[*p & 15];
        } else {
            uri[o++] = (char)*p;
        }
    }
    uri[o] = 0;
}

static int blocked(ModSecurity *ms, RulesSet *rules, const char *line)
{
    static char uri[16384];
    make_uri(line, uri, sizeof uri);
    Transaction *tx = msc_new_transaction(ms, rules, NULL);
    msc_process_connection(tx, "192.0.2.10", 40000, "192.0.2.1", 80);
    msc_process_uri(tx, uri, "GET", "1.1");
    msc_add_request_header(tx, (const unsigned char *)"Host", (const unsigned char *)"shop.example.com");
    msc_add_request_header(tx, (const unsigned char *)"User-Agent",
                           (const unsigned char *)"Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0");
    msc_add_request_header(tx, (const unsigned char *)"Accept", (const unsigned char *)"text/html,*/*;q=0.8");
    msc_add_request_header(tx, (const unsigned char *)"Accept-Language", (const unsigned char *)"en-US,en;q=0.5");
    msc_process_request_headers(tx);
    msc_process_request_body(tx);
    ModSecurityIntervention it;
    memset(&it, 0, sizeof it);
    it.status = 200;
    int hit = 0;
    if (msc_intervention(tx, &it))
        hit = it.disruptive || it.status >= 400;
    free(it.url);
    free(it.log);
    msc_process_logging(tx);
    msc_transaction_cleanup(tx);
    return hit;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "../shared/security-corpus";
    int pl = argc > 2 ? atoi(argv[2]) : 1;
    const char *crs = getenv("MM_CRS_RULES") ? getenv("MM_CRS_RULES") : "/usr/share/modsecurity-crs/rules";
    char conf[2048];
    snprintf(conf, sizeof conf,
             "SecRuleEngine On\n"
             "SecRequestBodyAccess On\n"
             "SecAuditEngine Off\n"
             "SecDefaultAction \"phase:1,log,auditlog,deny,status:403\"\n"
             "SecDefaultAction \"phase:2,log,auditlog,deny,status:403\"\n"
             "SecCollectionTimeout 600\n"
             "SecAction \"id:900000,phase:1,nolog,pass,t:none,setvar:tx.paranoia_level=%d\"\n"
             "SecAction \"id:900990,phase:1,nolog,pass,t:none,setvar:tx.crs_setup_version=334\"\n"
             "Include %s/*.conf\n", pl, crs);
    ModSecurity *ms = msc_init();
    msc_set_connector_info(ms, "memmon detect-score");
    msc_set_log_cb(ms, quiet);
    RulesSet *rules = msc_create_rules_set();
    const char *err = NULL;
    if (msc_rules_add(rules, conf, &err) < 0) {
        fprintf(stderr, "crs-bench: rules: %s\n", err ? err : "?");
        return 1;
    }
    static const char *const files[] = {"sqli", "xss", "cmdi", "traversal", "benign"};
    size_t n[5] = {0}, hit[5] = {0}, total = 0;
    double t0 = now_s();
    static char line[1 << 16];
    for (int c = 0; c < 5; c++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s.txt", dir, files[c]);
        FILE *f = fopen(path, "r");
        if (!f) {
            fprintf(stderr, "crs-bench: %s: cannot open\n", path);
            return 1;
        }
        while (fgets(line, sizeof line, f)) {
            line[strcspn(line, "\r\n")] = 0;
            if (!line[0])
                continue;
            n[c]++;
            total++;
            hit[c] += (size_t)blocked(ms, rules, line);
        }
        fclose(f);
    }
    double el = now_s() - t0;
    printf("detector: OWASP CRS 3.3.4 paranoia %d on libmodsecurity %s\n", pl, msc_who_am_i(ms));
    printf("%-10s %8s %9s %8s\n", "class", "samples", "detected", "percent");
    for (int c = 0; c < 4; c++)
        printf("%-10s %8zu %9zu %7.1f %%\n", files[c], n[c], hit[c], n[c] ? 100.0 * (double)hit[c] / (double)n[c] : 0.0);
    printf("false positives: %zu of %zu benign = %.2f %%\n", hit[4], n[4],
           n[4] ? 100.0 * (double)hit[4] / (double)n[4] : 0.0);
    printf("inspections/s/core: %.0f (%zu requests in %.2f s)\n", (double)total / el, total, el);
    msc_rules_cleanup(rules);
    msc_cleanup(ms);
    return 0;
}
