/* Parsers for the /proc and /sys files system metrics and process checks
 * need, reading under a configurable root. Each reader loads the whole file
 * (procfs files are generated at read time, so one read is one snapshot). */
#include "mm_procfs.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

const char *const mm_cpu_mode_names[MM_CPU_N_MODES] = {
    "user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal", "guest", "guest_nice",
};

static int set_root(char *dst, const char *src, const char *def)
{
    if (!src)
        src = def;
    size_t len = strlen(src);
    if (len >= 256)
        return -ENAMETOOLONG;
    /* A trailing slash would double up when paths are joined. */
    while (len > 1 && src[len - 1] == '/')
        len--;
    memcpy(dst, src, len);
    dst[len] = '\0';
    if (strcmp(dst, "/") == 0 && def[0] == '\0')
        dst[0] = '\0';
    return 0;
}

int mm_procfs_init(mm_procfs_t *p, const char *proc, const char *sys, const char *rootfs)
{
    memset(p, 0, sizeof *p);
    int r;
    if ((r = set_root(p->proc, proc, "/proc")) < 0 || (r = set_root(p->sys, sys, "/sys")) < 0 ||
        (r = set_root(p->rootfs, rootfs, "")) < 0)
        return r;
    p->clk_tck = sysconf(_SC_CLK_TCK);
    if (p->clk_tck <= 0)
        p->clk_tck = 100;
    p->page_size = sysconf(_SC_PAGESIZE);
    if (p->page_size <= 0)
        p->page_size = 4096;
    return 0;
}

/* Reads a whole file into a NUL-terminated malloc'ed buffer. */
static int slurp(const char *path, char **ret, size_t *ret_len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    size_t cap = 8192, len = 0;
    char *buf = malloc(cap);
    if (!buf) {
        close(fd);
        return -ENOMEM;
    }
    for (;;) {
        if (cap - len < 4096) {
            if (cap >= 64u << 20) {
                free(buf);
                close(fd);
                return -EFBIG;
            }
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                close(fd);
                return -ENOMEM;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t n = read(fd, buf + len, cap - len - 1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            int e = -errno;
            free(buf);
            close(fd);
            return e;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    buf[len] = '\0';
    *ret = buf;
    if (ret_len)
        *ret_len = len;
    return 0;
}

static int slurp_at(const char *root, const char *rel, char **ret)
{
    char path[768];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", root, rel) >= sizeof path)
        return -ENAMETOOLONG;
    return slurp(path, ret, NULL);
}

/* Next line in *s (modified in place); NULL at the end. */
static char *next_line(char **s)
{
    char *l = *s;
    if (!l || !*l)
        return NULL;
    char *nl = strchr(l, '\n');
    if (nl) {
        *nl = '\0';
        *s = nl + 1;
    } else {
        *s = l + strlen(l);
    }
    return l;
}

/* Generic growable array append. */
static int grow(void **arr, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap)
        return 0;
    size_t nc = *cap ? *cap * 2 : 16;
    void *na = realloc(*arr, nc * elem);
    if (!na)
        return -ENOMEM;
    *arr = na;
    *cap = nc;
    return 0;
}

/* Parses the lines of a /proc table into an array of elem-byte records:
 * parse() fills a zeroed record from one line and returns false to skip the
 * line. Frees buf; on success *ret owns the array (NULL when empty). */
typedef bool (*record_fn)(char *line, void *rec, void *ctx);

static int read_records(char *buf, size_t elem, record_fn parse, void *ctx, void **ret, size_t *ret_n)
{
    char *arr = NULL, *s = buf, *l;
    size_t n = 0, cap = 0;
    int r = 0;
    while ((l = next_line(&s))) {
        if ((r = grow((void **)&arr, &cap, n, elem)) < 0)
            break;
        char *rec = arr + n * elem;
        memset(rec, 0, elem);
        if (parse(l, rec, ctx))
            n++;
    }
    free(buf);
    if (r < 0 || n == 0) {
        free(arr);
        arr = NULL;
        n = 0;
    }
    *ret = arr;
    *ret_n = n;
    return r;
}

/* ---- /proc/stat ---- */

static void parse_cpu_line(const mm_procfs_t *p, char *rest, mm_cpu_times_t *c)
{
    for (int i = 0; i < MM_CPU_N_MODES; i++) {
        char *end;
        unsigned long long v = strtoull(rest, &end, 10);
        if (end == rest)
            break;
        c->seconds[i] = (double)v / (double)p->clk_tck;
        rest = end;
    }
    /* The kernel counts guest time inside user (and guest_nice inside nice);
     * node_exporter reports them as they are, and so do we. */
}

int mm_procfs_stat(const mm_procfs_t *p, mm_stat_t *ret)
{
    memset(ret, 0, sizeof *ret);
    ret->total.cpu = -1;
    char *buf;
    int r = slurp_at(p->proc, "stat", &buf);
    if (r < 0)
        return r;
    size_t cap = 0;
    char *s = buf, *l;
    while ((l = next_line(&s))) {
        if (strncmp(l, "cpu", 3) == 0) {
            if (l[3] == ' ') {
                parse_cpu_line(p, l + 4, &ret->total);
            } else if (isdigit((unsigned char)l[3])) {
                char *end;
                long idx = strtol(l + 3, &end, 10);
                if ((r = grow((void **)&ret->cpus, &cap, ret->n_cpus, sizeof *ret->cpus)) < 0)
                    goto fail;
                mm_cpu_times_t *c = &ret->cpus[ret->n_cpus++];
                memset(c, 0, sizeof *c);
                c->cpu = (int)idx;
                parse_cpu_line(p, end, c);
            }
        } else if (strncmp(l, "ctxt ", 5) == 0) {
            ret->ctxt = strtoull(l + 5, NULL, 10);
        } else if (strncmp(l, "btime ", 6) == 0) {
            ret->boot_time = strtoull(l + 6, NULL, 10);
        } else if (strncmp(l, "processes ", 10) == 0) {
            ret->forks = strtoull(l + 10, NULL, 10);
        } else if (strncmp(l, "intr ", 5) == 0) {
            ret->intr = strtoull(l + 5, NULL, 10);
        } else if (strncmp(l, "procs_running ", 14) == 0) {
            ret->procs_running = strtoull(l + 14, NULL, 10);
        } else if (strncmp(l, "procs_blocked ", 14) == 0) {
            ret->procs_blocked = strtoull(l + 14, NULL, 10);
        }
    }
    free(buf);
    return 0;
fail:
    free(buf);
    mm_stat_fini(ret);
    return r;
}

void mm_stat_fini(mm_stat_t *s)
{
    if (!s)
        return;
    free(s->cpus);
    s->cpus = NULL;
    s->n_cpus = 0;
}

/* ---- /proc/meminfo ---- */

static bool meminfo_line(char *l, void *rec, void *ctx)
{
    mm_meminfo_entry_t *e = rec;
    (void)ctx;
    char *colon = strchr(l, ':');
    if (!colon || colon == l || (size_t)(colon - l) >= sizeof e->name)
        return false;
    char *end;
    double v = strtod(colon + 1, &end);
    if (end == colon + 1)
        return false;
    while (*end == ' ')
        end++;
    if (strncmp(end, "kB", 2) == 0)
        v *= 1024.0;
    memcpy(e->name, l, (size_t)(colon - l));
    e->name[colon - l] = '\0';
    e->value = v;
    return true;
}

int mm_procfs_meminfo(const mm_procfs_t *p, mm_meminfo_entry_t **ret, size_t *ret_n)
{
    char *buf;
    int r = slurp_at(p->proc, "meminfo", &buf);
    if (r < 0)
        return r;
    return read_records(buf, sizeof **ret, meminfo_line, NULL, (void **)ret, ret_n);
}

double mm_meminfo_get(const mm_meminfo_entry_t *e, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(e[i].name, name) == 0)
            return e[i].value;
    return NAN;
}

/* ---- /proc/swaps ---- */

static bool swaps_line(char *l, void *rec, void *ctx)
{
    mm_swap_t *sw = rec;
    bool *header = ctx;
    if (*header) {
        *header = false;
        return false;
    }
    unsigned long long size, used;
    if (sscanf(l, "%255s %31s %llu %llu %d", sw->filename, sw->type, &size, &used, &sw->priority) != 5)
        return false;
    sw->size_bytes = (double)size * 1024.0;
    sw->used_bytes = (double)used * 1024.0;
    return true;
}

int mm_procfs_swaps(const mm_procfs_t *p, mm_swap_t **ret, size_t *ret_n)
{
    char *buf;
    int r = slurp_at(p->proc, "swaps", &buf);
    if (r < 0)
        return r;
    bool header = true;
    return read_records(buf, sizeof **ret, swaps_line, &header, (void **)ret, ret_n);
}

/* ---- /proc/loadavg ---- */

int mm_procfs_loadavg(const mm_procfs_t *p, mm_loadavg_t *ret)
{
    char *buf;
    int r = slurp_at(p->proc, "loadavg", &buf);
    if (r < 0)
        return r;
    unsigned long long run = 0, thr = 0;
    memset(ret, 0, sizeof *ret);
    int k = sscanf(buf, "%lf %lf %lf %llu/%llu", &ret->load1, &ret->load5, &ret->load15, &run, &thr);
    free(buf);
    if (k < 3)
        return -EBADMSG;
    ret->runnable = run;
    ret->threads = thr;
    return 0;
}

/* ---- mounts ---- */

/* Undoes the octal escapes (\040 for space) of /proc/mounts in place. */
static void unescape_octal(char *s)
{
    char *w = s;
    for (char *r = s; *r; r++) {
        if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' && r[3] >= '0' &&
            r[3] <= '7') {
            *w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
            r += 3;
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
}

static void copy_field(char *dst, size_t cap, const char *src)
{
    size_t len = strlen(src);
    if (len >= cap)
        len = cap - 1;
    memcpy(dst, src, len);
    dst[len] = '\0';
}

typedef struct {
    const mm_procfs_t *p;
    bool do_statvfs;
    bool (*filter)(const mm_mount_t *m, void *data);
    void *data;
} mounts_ctx_t;

static bool mounts_line(char *l, void *rec, void *ctx)
{
    mm_mount_t *m = rec;
    const mounts_ctx_t *c = ctx;
    char *save = NULL;
    char *dev = strtok_r(l, " \t", &save);
    char *mp = strtok_r(NULL, " \t", &save);
    char *fs = strtok_r(NULL, " \t", &save);
    char *opts = strtok_r(NULL, " \t", &save);
    if (!dev || !mp || !fs || !opts)
        return false;
    unescape_octal(dev);
    unescape_octal(mp);
    copy_field(m->device, sizeof m->device, dev);
    copy_field(m->mountpoint, sizeof m->mountpoint, mp);
    copy_field(m->fstype, sizeof m->fstype, fs);
    m->readonly = strncmp(opts, "ro", 2) == 0 && (opts[2] == ',' || opts[2] == '\0');
    if (c->filter && !c->filter(m, c->data))
        return false;
    if (c->do_statvfs) {
        char path[1024];
        struct statvfs sv;
        snprintf(path, sizeof path, "%s%s", c->p->rootfs, m->mountpoint);
        if (statvfs(path, &sv) == 0) {
            m->stat_ok = true;
            double fr = (double)sv.f_frsize;
            m->size_bytes = (double)sv.f_blocks * fr;
            m->free_bytes = (double)sv.f_bfree * fr;
            m->avail_bytes = (double)sv.f_bavail * fr;
            m->files = (double)sv.f_files;
            m->files_free = (double)sv.f_ffree;
        } else {
            m->stat_errno = errno;
        }
    }
    return true;
}

int mm_procfs_mounts(const mm_procfs_t *p, bool do_statvfs,
                     bool (*filter)(const mm_mount_t *m, void *data), void *data,
                     mm_mount_t **ret, size_t *ret_n)
{
    char *buf;
    /* PID 1's view is the host's when we run in a container with the host's
     * /proc mounted; our own mount namespace may differ. */
    int r = slurp_at(p->proc, "1/mounts", &buf);
    if (r < 0 && (r = slurp_at(p->proc, "mounts", &buf)) < 0)
        return r;
    mounts_ctx_t c = {p, do_statvfs, filter, data};
    return read_records(buf, sizeof **ret, mounts_line, &c, (void **)ret, ret_n);
}

/* ---- /proc/diskstats ---- */

static bool diskstats_line(char *l, void *rec, void *ctx)
{
    mm_diskstat_t *d = rec;
    (void)ctx;
    unsigned long long v[17] = {0};
    int k = sscanf(l, " %u %u %63s %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu"
                      " %llu %llu %llu %llu %llu %llu",
                   &d->major, &d->minor, d->name, &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6],
                   &v[7], &v[8], &v[9], &v[10], &v[11], &v[12], &v[13], &v[14], &v[15], &v[16]);
    if (k < 14)
        return false;
    d->reads = v[0]; d->reads_merged = v[1]; d->sectors_read = v[2]; d->read_ms = v[3];
    d->writes = v[4]; d->writes_merged = v[5]; d->sectors_written = v[6]; d->write_ms = v[7];
    d->io_now = v[8]; d->io_ms = v[9]; d->weighted_io_ms = v[10];
    d->discards = v[11]; d->discards_merged = v[12]; d->sectors_discarded = v[13]; d->discard_ms = v[14];
    d->flushes = v[15]; d->flush_ms = v[16];
    return true;
}

int mm_procfs_diskstats(const mm_procfs_t *p, mm_diskstat_t **ret, size_t *ret_n)
{
    char *buf;
    int r = slurp_at(p->proc, "diskstats", &buf);
    if (r < 0)
        return r;
    return read_records(buf, sizeof **ret, diskstats_line, NULL, (void **)ret, ret_n);
}

/* ---- /proc/net/dev ---- */

static bool netdev_line(char *l, void *rec, void *ctx)
{
    mm_netdev_t *d = rec;
    (void)ctx;
    char *colon = strchr(l, ':');
    if (!colon)
        return false;   /* the two header lines */
    *colon = '\0';
    while (*l == ' ')
        l++;
    copy_field(d->device, sizeof d->device, l);
    unsigned long long v[16];
    int k = sscanf(colon + 1, "%llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu",
                   &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9], &v[10], &v[11],
                   &v[12], &v[13], &v[14], &v[15]);
    if (k != 16)
        return false;
    d->rx_bytes = v[0]; d->rx_packets = v[1]; d->rx_errs = v[2]; d->rx_drop = v[3];
    d->rx_fifo = v[4]; d->rx_frame = v[5]; d->rx_compressed = v[6]; d->rx_multicast = v[7];
    d->tx_bytes = v[8]; d->tx_packets = v[9]; d->tx_errs = v[10]; d->tx_drop = v[11];
    d->tx_fifo = v[12]; d->tx_colls = v[13]; d->tx_carrier = v[14]; d->tx_compressed = v[15];
    return true;
}

int mm_procfs_netdev(const mm_procfs_t *p, mm_netdev_t **ret, size_t *ret_n)
{
    char *buf;
    int r = slurp_at(p->proc, "net/dev", &buf);
    if (r < 0)
        return r;
    return read_records(buf, sizeof **ret, netdev_line, NULL, (void **)ret, ret_n);
}

/* ---- processes ---- */

int mm_procfs_proc(const mm_procfs_t *p, pid_t pid, mm_proc_t *ret)
{
    char rel[64];
    snprintf(rel, sizeof rel, "%d/stat", (int)pid);
    char *buf;
    int r = slurp_at(p->proc, rel, &buf);
    if (r < 0)
        return r == -ESRCH ? -ENOENT : r;
    memset(ret, 0, sizeof *ret);
    ret->pid = pid;
    /* comm may hold spaces and parentheses: it ends at the last ')'. */
    char *open = strchr(buf, '(');
    char *close = strrchr(buf, ')');
    if (!open || !close || close < open) {
        free(buf);
        return -EBADMSG;
    }
    size_t clen = (size_t)(close - open - 1);
    if (clen >= sizeof ret->comm)
        clen = sizeof ret->comm - 1;
    memcpy(ret->comm, open + 1, clen);
    ret->comm[clen] = '\0';
    /* Fields after comm, numbered as in proc(5): 3 is state. */
    unsigned long long f[25] = {0};
    char state = '?';
    int field = 3;
    char *save = NULL;
    for (char *t = strtok_r(close + 1, " \n", &save); t && field < 25;
         t = strtok_r(NULL, " \n", &save), field++) {
        if (field == 3)
            state = t[0];
        else
            f[field] = strtoull(t, NULL, 10);
    }
    free(buf);
    if (field < 25)
        return -EBADMSG;
    ret->state = state;
    ret->cpu_seconds = (double)(f[14] + f[15]) / (double)p->clk_tck;
    ret->threads = (long)f[20];
    ret->start_time_s = (double)f[22] / (double)p->clk_tck;
    ret->vsize_bytes = f[23];
    ret->rss_bytes = f[24] * (uint64_t)p->page_size;
    return 0;
}

static bool all_digits(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

int mm_procfs_count_procs(const mm_procfs_t *p, uint64_t *ret_n)
{
    DIR *d = opendir(p->proc);
    if (!d)
        return -errno;
    uint64_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (all_digits(e->d_name))
            n++;
    closedir(d);
    *ret_n = n;
    return 0;
}

int mm_procfs_proc_name(const mm_procfs_t *p, pid_t pid, char *buf, size_t cap)
{
    char rel[64], *data;
    size_t len;
    char path[768];
    snprintf(rel, sizeof rel, "%d/cmdline", (int)pid);
    snprintf(path, sizeof path, "%s/%s", p->proc, rel);
    int r = slurp(path, &data, &len);
    if (r < 0)
        return -ENOENT;
    if (len > 0 && data[0]) {
        /* argv[0] ends at the first NUL; take its basename. */
        const char *base = strrchr(data, '/');
        base = base ? base + 1 : data;
        copy_field(buf, cap, base);
        free(data);
        return 0;
    }
    free(data);
    snprintf(rel, sizeof rel, "%d/comm", (int)pid);
    if (slurp_at(p->proc, rel, &data) < 0)
        return -ENOENT;
    data[strcspn(data, "\n")] = '\0';
    copy_field(buf, cap, data);
    free(data);
    return 0;
}

int mm_procfs_find(const mm_procfs_t *p, const char *pattern, pid_t **ret_pids,
                   char (**ret_names)[64], size_t *ret_n)
{
    DIR *d = opendir(p->proc);
    if (!d)
        return -errno;
    pid_t *pids = NULL;
    char (*names)[64] = NULL;
    size_t n = 0, cap = 0, ncap = 0;
    struct dirent *e;
    int r = 0;
    while ((e = readdir(d))) {
        if (!all_digits(e->d_name))
            continue;
        pid_t pid = (pid_t)strtol(e->d_name, NULL, 10);
        char name[64];
        if (mm_procfs_proc_name(p, pid, name, sizeof name) < 0)
            continue;   /* exited meanwhile */
        if (fnmatch(pattern, name, 0) != 0)
            continue;
        if ((r = grow((void **)&pids, &cap, n, sizeof *pids)) < 0 ||
            (ret_names && (r = grow((void **)&names, &ncap, n, sizeof *names)) < 0))
            break;
        pids[n] = pid;
        if (ret_names)
            memcpy(names[n], name, sizeof name);
        n++;
    }
    closedir(d);
    if (r < 0) {
        free(pids);
        free(names);
        return r;
    }
    *ret_pids = pids;
    if (ret_names)
        *ret_names = names;
    *ret_n = n;
    return 0;
}
