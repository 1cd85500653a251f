/* Renders the gateway's /api/status JSON for a terminal. */
#include <errno.h>
#include <jansson.h>
#include <string.h>

#include "memmonctl.h"

int memmonctl_print_status(const char *text, FILE *out)
{
    json_error_t err;
    json_t *root = json_loads(text, 0, &err);
    if (!root || !json_is_object(root)) {
        fprintf(stderr, "memmonctl: the gateway's answer is not a JSON object (%s)\n", err.text);
        json_decref(root);
        return -EBADMSG;
    }
    const char *status = json_string_value(json_object_get(root, "system_status"));
    if (!status)
        status = json_string_value(json_object_get(root, "status"));
    fprintf(out, "status: %s\n", status ? status : "unknown");
    json_t *health = json_object_get(root, "health");
    if (json_is_object(health)) {
        const char *o = json_string_value(json_object_get(health, "overall_status"));
        if (!o)
            o = json_string_value(json_object_get(health, "status"));
        json_t *score = json_object_get(health, "score");
        fprintf(out, "health: %s", o ? o : "unknown");
        if (json_is_number(score))
            fprintf(out, " (score %.2f)", json_number_value(score));
        fputc('\n', out);
    }
    json_t *services = json_object_get(root, "services");
    if (json_is_object(services) || json_is_array(services)) {
        fprintf(out, "%-24s %-10s %-10s %-10s %s\n", "SERVICE", "STATE", "UPTIME", "RSS", "GAPS");
        const char *key;
        json_t *s;
        size_t idx;
        json_t *arr = services;
        if (json_is_object(services)) {
            arr = json_array();
            json_object_foreach(services, key, s) {
                json_t *c = json_deep_copy(s);
                if (!json_object_get(c, "instance"))
                    json_object_set_new(c, "instance", json_string(key));
                json_array_append_new(arr, c);
            }
        }
        json_array_foreach(arr, idx, s) {
            const char *name = json_string_value(json_object_get(s, "instance"));
            if (!name)
                name = json_string_value(json_object_get(s, "service"));
            const char *st = json_string_value(json_object_get(s, "state"));
            double up = json_number_value(json_object_get(s, "uptime_s"));
            double rss = json_number_value(json_object_get(s, "rss_bytes"));
            double gaps = json_number_value(json_object_get(s, "bus_gaps"));
            fprintf(out, "%-24s %-10s %-10.0f %-10.1f %.0f\n", name ? name : "?", st ? st : "?",
                    up, rss / 1048576.0, gaps);
        }
        if (arr != services)
            json_decref(arr);
    }
    json_decref(root);
    return 0;
}
