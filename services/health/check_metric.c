/* The `metric` probe: evaluates a condition on series kept from the metric
 * stream (health_metric.c) at once, on the loop; no data in the window gives
 * the check's `absent` level. */
#include <errno.h>
#include <stdio.h>

#include "health_metric.h"
#include "health_probe.h"

static int metric_start(health_run_t *run)
{
    const health_check_conf_t *k = run->conf;
    health_result_t *r = &run->result;
    double v;
    char why[200] = "";
    int e = health_metric_eval(health_io_metrics(run->io), k, health_run_now_ms(run), &v, why,
                               sizeof(why));
    if (e == -ENODATA) {
        health_result_raise(r, k->absent_level, "%s", why);
        if (k->absent_level == HEALTH_HEALTHY)
            snprintf(r->message, sizeof(r->message), "%s", why);
    } else if (e == -EDOM) {
        /* No traffic: a ratio is undefined, nothing is wrong. */
        snprintf(r->message, sizeof(r->message), "%s", why);
    } else if (e < 0) {
        return e;
    } else {
        health_result_detail(r, "value", "%.6g", v);
        health_level_t l = health_thresholds_eval(&k->value, v, run->memo->last_level[0]);
        run->memo->last_level[0] = l;
        snprintf(r->message, sizeof(r->message), "%s = %.4g", k->series.v[0].name, v);
        if (l > HEALTH_HEALTHY)
            health_result_raise(r, l, "%s%s = %.4g (%s the %s bound)", k->series.v[0].name,
                                k->divide_by.n ? " ratio" : "", v,
                                k->value.lower_is_worse ? "under" : "over", health_level_name(l));
    }
    health_run_done(run);
    return 0;
}

const health_probe_ops_t health_probe_metric = { metric_start, NULL };
