/* node_exporter-compatible host metrics from mm_procfs readers: cpu, stat,
 * loadavg, meminfo, filesystem, diskstats, netdev, processes; memmon's own
 * processes; a few derived memmon_system_* gauges for the dashboard. */
#include "sysmetrics.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    collector_sink_t sink;      /* first: wraps the caller's sink */
    collector_sink_t *out;
    uint64_t *fps;
    size_t n, cap;
} track_t;

struct collector_sysmetrics {
    mm_procfs_t p;
    char *pattern;
    uint64_t *prev;             /* fps emitted by the last collection, sorted */
    size_t n_prev;
    double last_busy, last_total;
};

static void track_emit(collector_sink_t *sink, const collector_sample_t *s)
{
    track_t *t = (track_t *)sink;
    collector_sample_t c = *s;
    if (!c.fp)
        c.fp = mm_labels_fingerprint(c.name, c.labels, c.n_labels);
    if (t->n == t->cap) {
        size_t nc = t->cap ? t->cap * 2 : 512;
        uint64_t *nf = realloc(t->fps, nc * sizeof *nf);
        if (nf) {
            t->fps = nf;
            t->cap = nc;
        }
    }
    if (t->n < t->cap)
        t->fps[t->n++] = c.fp;
    collector_emit(t->out, &c);
}

static void emit(track_t *t, const char *name, collector_type_t type, const char *help, const mm_label_t *l,
                 size_t nl, int64_t now, double v)
{
    mm_label_t sorted[8];
    if (nl)
        memcpy(sorted, l, nl * sizeof *l);
    mm_labels_sort(sorted, nl);
    collector_sample_t s = {.name = name, .labels = sorted, .n_labels = nl, .type = type, .help = help,
                            .time_ms = now, .value = v};
    collector_emit(&t->sink, &s);
}

#define C COLLECTOR_COUNTER
#define G COLLECTOR_GAUGE

collector_sysmetrics_t *collector_sysmetrics_new(const mm_procfs_t *procfs, const char *pattern)
{
    collector_sysmetrics_t *sm = calloc(1, sizeof *sm);
    if (!sm)
        return NULL;
    sm->p = *procfs;
    sm->pattern = strdup(pattern ? pattern : "memmon-*");
    if (!sm->pattern) {
        free(sm);
        return NULL;
    }
    return sm;
}

void collector_sysmetrics_free(collector_sysmetrics_t *sm)
{
    if (!sm)
        return;
    free(sm->pattern);
    free(sm->prev);
    free(sm);
}

static int do_stat(collector_sysmetrics_t *sm, track_t *t, int64_t now)
{
    mm_stat_t st;
    int r = mm_procfs_stat(&sm->p, &st);
    if (r < 0)
        return r;
    static const char *const help = "Seconds the CPUs spent in each mode.";
    for (size_t i = 0; i < st.n_cpus; i++) {
        char cpu[16];
        snprintf(cpu, sizeof cpu, "%d", st.cpus[i].cpu);
        for (int m = 0; m < MM_CPU_GUEST; m++) {
            mm_label_t l[2] = {{"cpu", cpu}, {"mode", mm_cpu_mode_names[m]}};
            emit(t, "node_cpu_seconds_total", C, help, l, 2, now, st.cpus[i].seconds[m]);
        }
        mm_label_t g1[2] = {{"cpu", cpu}, {"mode", "user"}};
        emit(t, "node_cpu_guest_seconds_total", C, "Seconds the CPUs spent in guests (VMs) for each mode.", g1, 2,
             now, st.cpus[i].seconds[MM_CPU_GUEST]);
        mm_label_t g2[2] = {{"cpu", cpu}, {"mode", "nice"}};
        emit(t, "node_cpu_guest_seconds_total", C, "Seconds the CPUs spent in guests (VMs) for each mode.", g2, 2,
             now, st.cpus[i].seconds[MM_CPU_GUEST_NICE]);
    }
    emit(t, "node_context_switches_total", C, "Total number of context switches.", NULL, 0, now, (double)st.ctxt);
    emit(t, "node_forks_total", C, "Total number of forks.", NULL, 0, now, (double)st.forks);
    emit(t, "node_intr_total", C, "Total number of interrupts serviced.", NULL, 0, now, (double)st.intr);
    emit(t, "node_boot_time_seconds", G, "Node boot time, in unixtime.", NULL, 0, now, (double)st.boot_time);
    emit(t, "node_procs_running", G, "Number of processes in runnable state.", NULL, 0, now,
         (double)st.procs_running);
    emit(t, "node_procs_blocked", G, "Number of processes blocked waiting for I/O to complete.", NULL, 0, now,
         (double)st.procs_blocked);
    /* Whole-machine CPU busy percentage since the last collection (what the
     * reference's memmimic_cpu_usage_percent meant). */
    const double *s = st.total.seconds;
    double idle = s[MM_CPU_IDLE] + s[MM_CPU_IOWAIT];
    double total = 0;
    for (int m = 0; m < MM_CPU_GUEST; m++)
        total += s[m];
    double busy = total - idle;
    if (sm->last_total > 0 && total > sm->last_total)
        emit(t, "memmon_system_cpu_usage_percent", G, "Share of CPU time not idle since the last reading, in percent",
             NULL, 0, now, 100.0 * (busy - sm->last_busy) / (total - sm->last_total));
    sm->last_busy = busy;
    sm->last_total = total;
    mm_stat_fini(&st);
    return 0;
}

static int do_load(collector_sysmetrics_t *sm, track_t *t, int64_t now)
{
    mm_loadavg_t la;
    int r = mm_procfs_loadavg(&sm->p, &la);
    if (r < 0)
        return r;
    emit(t, "node_load1", G, "1m load average.", NULL, 0, now, la.load1);
    emit(t, "node_load5", G, "5m load average.", NULL, 0, now, la.load5);
    emit(t, "node_load15", G, "15m load average.", NULL, 0, now, la.load15);
    emit(t, "node_processes_threads", G, "Allocated threads in system", NULL, 0, now, (double)la.threads);
    uint64_t procs;
    if (mm_procfs_count_procs(&sm->p, &procs) == 0)
        emit(t, "node_processes_pids", G, "Number of PIDs", NULL, 0, now, (double)procs);
    return 0;
}

static int do_meminfo(collector_sysmetrics_t *sm, track_t *t, int64_t now)
{
    mm_meminfo_entry_t *m;
    size_t n;
    int r = mm_procfs_meminfo(&sm->p, &m, &n);
    if (r < 0)
        return r;
    for (size_t i = 0; i < n; i++) {
        /* node_exporter: "Active(anon)" → node_memory_Active_anon_bytes;
         * fields without a unit (HugePages_Total) get no _bytes. */
        char key[64], name[96];
        size_t k = 0;
        for (const char *c = m[i].name; *c && k + 1 < sizeof key; c++) {
            if (*c == '(')
                key[k++] = '_';
            else if (*c != ')')
                key[k++] = isalnum((unsigned char)*c) ? *c : '_';
        }
        key[k] = '\0';
        bool pages = strncmp(m[i].name, "HugePages_", 10) == 0;
        snprintf(name, sizeof name, "node_memory_%s%s", key, pages ? "" : "_bytes");
        char help[128];
        snprintf(help, sizeof help, "Memory information field %s.", key);
        emit(t, name, G, help, NULL, 0, now, m[i].value);
    }
    double total = mm_meminfo_get(m, n, "MemTotal"), avail = mm_meminfo_get(m, n, "MemAvailable");
    if (!isnan(total) && !isnan(avail) && total > 0) {
        emit(t, "memmon_system_memory_used_bytes", G, "MemTotal - MemAvailable", NULL, 0, now, total - avail);
        emit(t, "memmon_system_memory_usage_percent", G, "(MemTotal - MemAvailable) / MemTotal, in percent", NULL,
             0, now, 100.0 * (total - avail) / total);
    }
    free(m);
    return 0;
}

/* node_exporter's default exclusions, plus network filesystems whose
 * statvfs can hang for minutes when the server is gone. */
static bool keep_mount(const mm_mount_t *m, void *data)
{
    (void)data;
    static const char *const fs[] = {
        "autofs", "binfmt_misc", "bpf", "cgroup", "cgroup2", "configfs", "debugfs", "devpts", "devtmpfs",
        "fusectl", "hugetlbfs", "iso9660", "mqueue", "nsfs", "overlay", "proc", "procfs", "pstore",
        "rpc_pipefs", "securityfs", "selinuxfs", "squashfs", "sysfs", "tracefs",
        "nfs", "nfs4", "cifs", "smb3", "fuse.sshfs", "9p",
    };
    for (size_t i = 0; i < sizeof fs / sizeof fs[0]; i++)
        if (strcmp(m->fstype, fs[i]) == 0)
            return false;
    static const char *const mp[] = {"/dev", "/proc", "/sys"};
    for (size_t i = 0; i < 3; i++) {
        size_t l = strlen(mp[i]);
        if (strncmp(m->mountpoint, mp[i], l) == 0 && (m->mountpoint[l] == '\0' || m->mountpoint[l] == '/'))
            return false;
    }
    static const char *const prefixes[] = {"/run/credentials/", "/var/lib/docker/", "/var/lib/containers/storage/"};
    for (size_t i = 0; i < 3; i++)
        if (strncmp(m->mountpoint, prefixes[i], strlen(prefixes[i])) == 0)
            return false;
    return true;
}

static int do_fs(collector_sysmetrics_t *sm, track_t *t, int64_t now)
{
    mm_mount_t *m;
    size_t n;
    int r = mm_procfs_mounts(&sm->p, true, keep_mount, NULL, &m, &n);
    if (r < 0)
        return r;
    for (size_t i = 0; i < n; i++) {
        /* A mount point mounted over keeps only its last (visible) mount. */
        bool shadowed = false;
        for (size_t j = i + 1; j < n && !shadowed; j++)
            shadowed = strcmp(m[i].mountpoint, m[j].mountpoint) == 0;
        if (shadowed)
            continue;
        mm_label_t l[3] = {{"device", m[i].device}, {"fstype", m[i].fstype}, {"mountpoint", m[i].mountpoint}};
        emit(t, "node_filesystem_device_error", G, "Whether an error occurred while getting statistics for the given device.",
             l, 3, now, m[i].stat_ok ? 0 : 1);
        emit(t, "node_filesystem_readonly", G, "Filesystem read-only status.", l, 3, now, m[i].readonly);
        if (!m[i].stat_ok)
            continue;
        emit(t, "node_filesystem_size_bytes", G, "Filesystem size in bytes.", l, 3, now, m[i].size_bytes);
        emit(t, "node_filesystem_free_bytes", G, "Filesystem free space in bytes.", l, 3, now, m[i].free_bytes);
        emit(t, "node_filesystem_avail_bytes", G, "Filesystem space available to non-root users in bytes.", l, 3, now,
             m[i].avail_bytes);
        emit(t, "node_filesystem_files", G, "Filesystem total file nodes.", l, 3, now, m[i].files);
        emit(t, "node_filesystem_files_free", G, "Filesystem total free file nodes.", l, 3, now, m[i].files_free);
    }
    free(m);
    return 0;
}

/* node_exporter's default: ^(ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$ */
static bool skip_disk(const char *name)
{
    const char *p = name;
    if (strncmp(p, "ram", 3) == 0 || strncmp(p, "fd", 2) == 0 || strncmp(p, "loop", 4) == 0) {
        p += p[0] == 'l' ? 4 : p[0] == 'r' ? 3 : 2;
    } else if ((p[0] == 'h' || p[0] == 's' || p[0] == 'v') && p[1] == 'd' && islower((unsigned char)p[2])) {
        p += 3;
    } else if (strncmp(p, "xvd", 3) == 0 && islower((unsigned char)p[3])) {
        p += 4;
    } else if (strncmp(p, "nvme", 4) == 0) {
        p += 4;
        if (!isdigit((unsigned char)*p))
            return false;
        while (isdigit((unsigned char)*p))
            p++;
        if (*p++ != 'n' || !isdigit((unsigned char)*p))
            return false;
        while (isdigit((unsigned char)*p))
            p++;
        if (*p++ != 'p')
            return false;
    } else {
        return false;
    }
    if (!isdigit((unsigned char)*p))
        return false;
    while (isdigit((unsigned char)*p))
        p++;
    return *p == '\0';
}

static int do_disks(collector_sysmetrics_t *sm, track_t *t, int64_t now)
{
    mm_diskstat_t *d;
    size_t n;
    int r = mm_procfs_diskstats(&sm->p, &d, &n);
    if (r < 0)
        return r;
    for (size_t i = 0; i < n; i++) {
        if (skip_disk(d[i].name))
            continue;
        mm_label_t l[1] = {{"device", d[i].name}};
        const mm_diskstat_t *x = &d[i];
        emit(t, "node_disk_reads_completed_total", C, "The total number of reads completed successfully.", l, 1, now, (double)x->reads);
        emit(t, "node_disk_reads_merged_total", C, "The total number of reads merged.", l, 1, now, (double)x->reads_merged);
        emit(t, "node_disk_read_bytes_total", C, "The total number of bytes read successfully.", l, 1, now, (double)x->sectors_read * 512);
        emit(t, "node_disk_read_time_seconds_total", C, "The total number of seconds spent by all reads.", l, 1, now, (double)x->read_ms / 1000);
        emit(t, "node_disk_writes_completed_total", C, "The total number of writes completed successfully.", l, 1, now, (double)x->writes);
        emit(t, "node_disk_writes_merged_total", C, "The number of writes merged.", l, 1, now, (double)x->writes_merged);
        emit(t, "node_disk_written_bytes_total", C, "The total number of bytes written successfully.", l, 1, now, (double)x->sectors_written * 512);
        emit(t, "node_disk_write_time_seconds_total", C, "This is the total number of seconds spent by all writes.", l, 1, now, (double)x->write_ms / 1000);
        emit(t, "node_disk_io_now", G, "The number of I/Os currently in progress.", l, 1, now, (double)x->io_now);
        emit(t, "node_disk_io_time_seconds_total", C, "Total seconds spent doing I/Os.", l, 1, now, (double)x->io_ms / 1000);
        emit(t, "node_disk_io_time_weighted_seconds_total", C, "The weighted # of seconds spent doing I/Os.", l, 1, now, (double)x->weighted_io_ms / 1000);
        emit(t, "node_disk_discards_completed_total", C, "The total number of discards completed successfully.", l, 1, now, (double)x->discards);
        emit(t, "node_disk_discarded_sectors_total", C, "The total number of sectors discarded successfully.", l, 1, now, (double)x->sectors_discarded);
        emit(t, "node_disk_flush_requests_total", C, "The total number of flush requests completed successfully", l, 1, now, (double)x->flushes);
    }
    free(d);
    return 0;
}

static int do_net(collector_sysmetrics_t *sm, track_t *t, int64_t now)
{
    mm_netdev_t *d;
    size_t n;
    int r = mm_procfs_netdev(&sm->p, &d, &n);
    if (r < 0)
        return r;
    for (size_t i = 0; i < n; i++) {
        mm_label_t l[1] = {{"device", d[i].device}};
        const mm_netdev_t *x = &d[i];
        const struct { const char *name; uint64_t v; } f[] = {
            {"node_network_receive_bytes_total", x->rx_bytes}, {"node_network_receive_packets_total", x->rx_packets},
            {"node_network_receive_errs_total", x->rx_errs}, {"node_network_receive_drop_total", x->rx_drop},
            {"node_network_receive_fifo_total", x->rx_fifo}, {"node_network_receive_frame_total", x->rx_frame},
            {"node_network_receive_compressed_total", x->rx_compressed},
            {"node_network_receive_multicast_total", x->rx_multicast},
            {"node_network_transmit_bytes_total", x->tx_bytes}, {"node_network_transmit_packets_total", x->tx_packets},
            {"node_network_transmit_errs_total", x->tx_errs}, {"node_network_transmit_drop_total", x->tx_drop},
            {"node_network_transmit_fifo_total", x->tx_fifo}, {"node_network_transmit_colls_total", x->tx_colls},
            {"node_network_transmit_carrier_total", x->tx_carrier},
            {"node_network_transmit_compressed_total", x->tx_compressed},
        };
        for (size_t k = 0; k < sizeof f / sizeof f[0]; k++) {
            char help[96];
            snprintf(help, sizeof help, "Network device statistic %s.", f[k].name + 13);
            emit(t, f[k].name, C, help, l, 1, now, (double)f[k].v);
        }
    }
    free(d);
    return 0;
}

static int do_procs(collector_sysmetrics_t *sm, track_t *t, int64_t now)
{
    pid_t *pids;
    char(*names)[64];
    size_t n;
    int r = mm_procfs_find(&sm->p, sm->pattern, &pids, &names, &n);
    if (r < 0)
        return r;
    /* One series per service; several processes of one service (scaled
     * out) add up. */
    for (size_t i = 0; i < n; i++) {
        if (!names[i][0])
            continue;
        double cpu = 0, rss = 0;
        for (size_t j = i; j < n; j++) {
            if (strcmp(names[j], names[i]) != 0)
                continue;
            mm_proc_t p;
            if (mm_procfs_proc(&sm->p, pids[j], &p) == 0) {
                cpu += p.cpu_seconds;
                rss += (double)p.rss_bytes;
            }
            if (j != i)
                names[j][0] = '\0';
        }
        const char *svc = strncmp(names[i], "memmon-", 7) == 0 ? names[i] + 7 : names[i];
        mm_label_t l[1] = {{"service", svc}};
        emit(t, "memmon_process_cpu_seconds_total", C, "CPU time (user + system) of memmon's processes, by service",
             l, 1, now, cpu);
        emit(t, "memmon_process_resident_memory_bytes", G, "Resident memory of memmon's processes, by service", l, 1,
             now, rss);
    }
    free(pids);
    free(names);
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int collector_sysmetrics_collect(collector_sysmetrics_t *sm, int64_t now_ms, collector_sink_t *sink)
{
    track_t t = {.sink = {.emit = track_emit}, .out = sink};
    int (*const readers[])(collector_sysmetrics_t *, track_t *, int64_t) = {
        do_stat, do_load, do_meminfo, do_fs, do_disks, do_net, do_procs,
    };
    int first = 0;
    for (size_t i = 0; i < sizeof readers / sizeof readers[0]; i++) {
        int r = readers[i](sm, &t, now_ms);
        if (r < 0 && first == 0)
            first = r;
    }
    /* Whatever was there last time and is not now has ended. A reader that
     * failed is not taken as "everything ended": keep its series quiet. */
    qsort(t.fps, t.n, sizeof *t.fps, cmp_u64);
    if (first == 0) {
        size_t j = 0;
        for (size_t i = 0; i < sm->n_prev; i++) {
            while (j < t.n && t.fps[j] < sm->prev[i])
                j++;
            if (j < t.n && t.fps[j] == sm->prev[i])
                continue;
            collector_sample_t s = {.fp = sm->prev[i], .time_ms = now_ms, .value = mm_stale_nan()};
            collector_emit(sink, &s);
        }
    }
    free(sm->prev);
    sm->prev = t.fps;
    sm->n_prev = t.n;
    return first;
}
