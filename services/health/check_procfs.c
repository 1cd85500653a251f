/* The `system` and `process` probes over common/mm_procfs, run in the libuv
 * threadpool (statvfs can block on a dead network mount). CPU percentages
 * come from the change since the previous run; the first run samples twice,
 * 100 ms apart, as the reference's psutil.cpu_percent(interval=0.1) did. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "health_probe.h"
#include "mm_procfs.h"

typedef struct {
    bool valid;
    double busy_s, total_s;     /* system: /proc/stat totals */
    long pid;                   /* process: the last pid seen */
    double start_time_s;
    double cpu_s;
    int64_t mono_ns;
    uint64_t restarts;
} sample_t;

typedef struct {
    uv_work_t work;
    health_run_t *run;
    const health_check_conf_t *conf;
    sample_t prev, next;
    health_level_t prev_levels[4], levels[4];
    health_result_t res;
} job_t;

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };
    nanosleep(&ts, NULL);
}

static int proc_root(const health_check_conf_t *k, mm_procfs_t *p)
{
    char proc[300];
    const char *root = k->proc_root && strcmp(k->proc_root, "/") != 0 ? k->proc_root : NULL;
    if (root)
        snprintf(proc, sizeof(proc), "%s/proc", root);
    return mm_procfs_init(p, root ? proc : NULL, NULL, root);
}

/* ---- system ---- */

static int cpu_sample(const mm_procfs_t *p, sample_t *s)
{
    mm_stat_t st;
    int r = mm_procfs_stat(p, &st);
    if (r < 0)
        return r;
    double total = 0;
    for (int m = 0; m < MM_CPU_N_MODES; m++)
        if (m != MM_CPU_GUEST && m != MM_CPU_GUEST_NICE)    /* already in user/nice */
            total += st.total.seconds[m];
    s->total_s = total;
    s->busy_s = total - st.total.seconds[MM_CPU_IDLE] - st.total.seconds[MM_CPU_IOWAIT];
    s->valid = true;
    mm_stat_fini(&st);
    return 0;
}

static void measure(job_t *j, const health_thresholds_t *t, int slot, double v, const char *what,
                    const char *unit)
{
    health_level_t l = health_thresholds_eval(t, v, j->prev_levels[slot]);
    if (l > j->levels[slot])
        j->levels[slot] = l;
    if (l > HEALTH_HEALTHY)
        health_result_raise(&j->res, l, "%s at %.1f%s (over the %s bound)", what, v, unit,
                            health_level_name(l));
}

static bool mount_wanted(const mm_mount_t *m, void *data)
{
    const health_check_conf_t *k = data;
    if (k->mounts.n == 0)
        return strcmp(m->mountpoint, "/") == 0;
    for (size_t i = 0; i < k->mounts.n; i++)
        if (strcmp(m->mountpoint, k->mounts.v[i]) == 0)
            return true;
    return false;
}

static void system_work(uv_work_t *w)
{
    job_t *j = w->data;
    const health_check_conf_t *k = j->conf;
    health_result_t *r = &j->res;
    mm_procfs_t p;
    int e = proc_root(k, &p);
    if (e < 0) {
        health_result_raise(r, HEALTH_CRITICAL, "proc_root: %s", strerror(-e));
        return;
    }
    for (int i = 0; i < 4; i++)
        j->levels[i] = HEALTH_HEALTHY;

    mm_meminfo_entry_t *mi = NULL;
    size_t nmi = 0;
    if ((e = mm_procfs_meminfo(&p, &mi, &nmi)) < 0) {
        health_result_raise(r, HEALTH_CRITICAL, "cannot read meminfo: %s", strerror(-e));
        return;
    }
    double total = mm_meminfo_get(mi, nmi, "MemTotal");
    double avail = mm_meminfo_get(mi, nmi, "MemAvailable");
    free(mi);
    double mem = total > 0 && !isnan(avail) ? (total - avail) / total * 100.0 : NAN;
    health_result_detail(r, "memory_percent", "%.1f", mem);

    sample_t *prev = &j->prev, *now = &j->next;
    if ((e = cpu_sample(&p, now)) < 0) {
        health_result_raise(r, HEALTH_CRITICAL, "cannot read /proc/stat: %s", strerror(-e));
        return;
    }
    if (!prev->valid || now->total_s <= prev->total_s) {
        sample_t first = *now;
        sleep_ms(100);
        cpu_sample(&p, now);
        *prev = first;
    }
    double dt = now->total_s - prev->total_s;
    double cpu = dt > 0 ? (now->busy_s - prev->busy_s) / dt * 100.0 : NAN;
    health_result_detail(r, "cpu_percent", "%.1f", cpu);

    mm_mount_t *mounts = NULL;
    size_t nm = 0;
    double worst_disk = NAN;
    const char *worst_mount = "/";
    if ((e = mm_procfs_mounts(&p, true, mount_wanted, (void *)k, &mounts, &nm)) < 0) {
        health_result_raise(r, HEALTH_CRITICAL, "cannot list mounts: %s", strerror(-e));
        return;
    }
    char worst_buf[128] = "/";
    for (size_t i = 0; i < nm; i++) {
        if (!mounts[i].stat_ok) {
            health_result_raise(r, HEALTH_CRITICAL, "statvfs %s: %s", mounts[i].mountpoint,
                                strerror(mounts[i].stat_errno));
            continue;
        }
        double used = mounts[i].size_bytes - mounts[i].free_bytes;
        double pct = used + mounts[i].avail_bytes > 0
                         ? used / (used + mounts[i].avail_bytes) * 100.0 : 0;
        char name[48];
        snprintf(name, sizeof(name), "disk_percent:%.34s", mounts[i].mountpoint);
        health_result_detail(r, name, "%.1f", pct);
        if (isnan(worst_disk) || pct > worst_disk) {
            worst_disk = pct;
            snprintf(worst_buf, sizeof(worst_buf), "%s", mounts[i].mountpoint);
        }
    }
    worst_mount = worst_buf;
    for (size_t i = 0; i < k->mounts.n; i++) {
        bool found = false;
        for (size_t m = 0; m < nm && !found; m++)
            found = strcmp(mounts[m].mountpoint, k->mounts.v[i]) == 0;
        if (!found)
            health_result_raise(r, HEALTH_CRITICAL, "%s is not mounted", k->mounts.v[i]);
    }
    free(mounts);

    measure(j, &k->memory_percent, 0, mem, "memory", "%");
    measure(j, &k->cpu_total_percent, 1, cpu, "CPU", "%");
    char what[160];
    snprintf(what, sizeof(what), "disk %s", worst_mount);
    measure(j, &k->disk_percent, 2, worst_disk, what, "%");
    if (r->level == HEALTH_HEALTHY)
        snprintf(r->message, sizeof(r->message), "memory %.1f%%, CPU %.1f%%, disk %.1f%%", mem,
                 cpu, isnan(worst_disk) ? 0.0 : worst_disk);
}

/* ---- process ---- */

static long read_pidfile(const char *path, char *err, size_t cap)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, cap, "cannot read pidfile %s: %s", path, strerror(errno));
        return -1;
    }
    long pid = -1;
    if (fscanf(f, "%ld", &pid) != 1 || pid <= 0) {
        snprintf(err, cap, "pidfile %s holds no pid", path);
        pid = -1;
    }
    fclose(f);
    return pid;
}

static void process_work(uv_work_t *w)
{
    job_t *j = w->data;
    const health_check_conf_t *k = j->conf;
    health_result_t *r = &j->res;
    mm_procfs_t p;
    int e = proc_root(k, &p);
    if (e < 0) {
        health_result_raise(r, HEALTH_CRITICAL, "proc_root: %s", strerror(-e));
        return;
    }
    for (int i = 0; i < 4; i++)
        j->levels[i] = HEALTH_HEALTHY;
    j->next = j->prev;
    j->next.valid = false;

    pid_t *pids = NULL;
    size_t n = 0;
    char err[300] = "";
    const char *what = k->pidfile ? k->pidfile : k->process_name;
    if (k->pidfile) {
        long pid = read_pidfile(k->pidfile, err, sizeof(err));
        mm_proc_t pr;
        if (pid > 0 && mm_procfs_proc(&p, (pid_t)pid, &pr) == 0 && pr.state != 'Z') {
            pids = malloc(sizeof(*pids));
            if (pids) {
                pids[0] = (pid_t)pid;
                n = 1;
            }
        } else if (pid > 0) {
            snprintf(err, sizeof(err), "pid %ld from %s is not running", pid, k->pidfile);
        }
    } else if ((e = mm_procfs_find(&p, k->process_name, &pids, NULL, &n)) < 0) {
        snprintf(err, sizeof(err), "cannot search processes: %s", strerror(-e));
    } else if (n == 0) {
        snprintf(err, sizeof(err), "no process named \"%s\"", k->process_name);
    }
    if (n == 0) {
        free(pids);
        health_result_raise(r, k->missing_level, "%s", err[0] ? err : "not running");
        if (k->missing_level == HEALTH_HEALTHY)
            snprintf(r->message, sizeof(r->message), "%s", err);
        health_result_detail(r, "processes", "0");
        j->next.pid = j->prev.pid;
        return;
    }

    /* The oldest matching process identifies "the" process for restarts;
     * RSS and CPU add up over all matches. */
    double rss = 0, cpu_s = 0, oldest_start = INFINITY;
    long oldest = 0;
    for (size_t i = 0; i < n; i++) {
        mm_proc_t pr;
        if (mm_procfs_proc(&p, pids[i], &pr) < 0)
            continue;
        rss += (double)pr.rss_bytes;
        cpu_s += pr.cpu_seconds;
        if (pr.start_time_s < oldest_start) {
            oldest_start = pr.start_time_s;
            oldest = pr.pid;
        }
    }
    free(pids);
    int64_t t = mono_ns();
    sample_t *prev = &j->prev;
    double cpu = NAN;
    bool same = prev->valid && prev->pid == oldest && prev->start_time_s == oldest_start;
    if (same && t > prev->mono_ns)
        cpu = (cpu_s - prev->cpu_s) / ((double)(t - prev->mono_ns) / 1e9) * 100.0;
    j->next = (sample_t){ .valid = true, .pid = oldest, .start_time_s = oldest_start,
                          .cpu_s = cpu_s, .mono_ns = t, .restarts = prev->restarts };
    if (prev->pid > 0 && prev->pid != oldest) {
        j->next.restarts++;
        health_result_raise(r, k->restart_level, "%s restarted (pid %ld -> %ld)", what,
                            prev->pid, oldest);
    }
    health_result_detail(r, "pid", "%ld", oldest);
    health_result_detail(r, "processes", "%zu", n);
    health_result_detail(r, "rss_bytes", "%.0f", rss);
    if (!isnan(cpu))
        health_result_detail(r, "cpu_percent", "%.1f", cpu);
    health_result_detail(r, "restarts", "%llu", (unsigned long long)j->next.restarts);
    health_level_t l = health_thresholds_eval(&k->rss_bytes, rss, j->prev_levels[0]);
    j->levels[0] = l;
    if (l > HEALTH_HEALTHY)
        health_result_raise(r, l, "%s uses %.1f MiB (over the %s bound)", what, rss / 1048576.0,
                            health_level_name(l));
    l = health_thresholds_eval(&k->cpu_percent, cpu, j->prev_levels[1]);
    j->levels[1] = l;
    if (l > HEALTH_HEALTHY)
        health_result_raise(r, l, "%s uses %.1f%% CPU (over the %s bound)", what, cpu,
                            health_level_name(l));
    if (r->level == HEALTH_HEALTHY)
        snprintf(r->message, sizeof(r->message), "%s: pid %ld, %zu process%s, %.1f MiB", what,
                 oldest, n, n == 1 ? "" : "es", rss / 1048576.0);
}

/* ---- shared ---- */

static void memo_free(void *data) { free(data); }

static void after_work(uv_work_t *w, int status)
{
    job_t *j = w->data;
    health_run_t *run = j->run;
    if (!run->done) {
        if (status < 0) {
            health_result_raise(&run->result, HEALTH_CRITICAL, "probe cancelled");
        } else {
            run->result = j->res;
            sample_t *m = run->memo->data;
            if (!m && (m = calloc(1, sizeof(*m)))) {
                run->memo->data = m;
                run->memo->free_fn = memo_free;
            }
            if (m)
                *m = j->next;
            for (int i = 0; i < 4; i++)
                run->memo->last_level[i] = j->levels[i];
        }
        health_run_done(run);
    }
    run->probe = NULL;
    free(j);
    health_run_unref(run);
}

static int start(health_run_t *run, uv_work_cb fn)
{
    job_t *j = calloc(1, sizeof(*j));
    if (!j)
        return -ENOMEM;
    j->run = run;
    j->conf = run->conf;
    if (run->memo->data)
        j->prev = *(sample_t *)run->memo->data;
    for (int i = 0; i < 4; i++)
        j->prev_levels[i] = run->memo->last_level[i];
    health_result_init(&j->res);
    j->work.data = j;
    int r = uv_queue_work(run->loop, &j->work, fn, after_work);
    if (r < 0) {
        free(j);
        return r;
    }
    health_run_ref(run);
    run->probe = j;
    return 0;
}

static int system_start(health_run_t *run) { return start(run, system_work); }
static int process_start(health_run_t *run) { return start(run, process_work); }

static void cancel(health_run_t *run)
{
    job_t *j = run->probe;
    if (j)
        uv_cancel((uv_req_t *)&j->work);
}

const health_probe_ops_t health_probe_system = { system_start, cancel };
const health_probe_ops_t health_probe_process = { process_start, cancel };
