/* Readers for Linux /proc and /sys with a configurable root, so a container
 * can read the host's (mount it at /host/proc and set the root). Shared by
 * the collector's system metrics and health's system/process checks. Every
 * reader does blocking file I/O on procfs (fast, never waits on a disk) and
 * returns 0 or a negative errno; arrays it returns are malloc'ed and freed
 * by the caller with free(). Library code: it never logs. */
#ifndef MM_PROCFS_H
#define MM_PROCFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct {
    char proc[256];     /* "/proc" */
    char sys[256];      /* "/sys" */
    char rootfs[256];   /* prefix for statvfs of mount points: "" or "/host" */
    long clk_tck;       /* USER_HZ, from sysconf */
    long page_size;
} mm_procfs_t;

/* Sets the roots (NULL = the defaults above). Paths longer than 255 bytes
 * give -ENAMETOOLONG. */
int mm_procfs_init(mm_procfs_t *p, const char *proc, const char *sys, const char *rootfs);

/* ---- /proc/stat ---- */
enum {
    MM_CPU_USER, MM_CPU_NICE, MM_CPU_SYSTEM, MM_CPU_IDLE, MM_CPU_IOWAIT,
    MM_CPU_IRQ, MM_CPU_SOFTIRQ, MM_CPU_STEAL, MM_CPU_GUEST, MM_CPU_GUEST_NICE,
    MM_CPU_N_MODES
};
/* node_exporter's mode names, indexed by the enum above. */
extern const char *const mm_cpu_mode_names[MM_CPU_N_MODES];

typedef struct {
    int cpu;                        /* index N of "cpuN"; -1 for the "cpu" total line */
    double seconds[MM_CPU_N_MODES]; /* cumulative, seconds */
} mm_cpu_times_t;

typedef struct {
    mm_cpu_times_t total;
    mm_cpu_times_t *cpus;           /* malloc'ed, n_cpus entries */
    size_t n_cpus;
    uint64_t ctxt, forks, intr;
    uint64_t boot_time;             /* btime, seconds since the epoch */
    uint64_t procs_running, procs_blocked;
} mm_stat_t;

int mm_procfs_stat(const mm_procfs_t *p, mm_stat_t *ret);
void mm_stat_fini(mm_stat_t *s);

/* ---- /proc/meminfo: every line, values in bytes where the file says kB ---- */
typedef struct {
    char name[48];                  /* "MemAvailable", "Active(anon)" */
    double value;
} mm_meminfo_entry_t;

int mm_procfs_meminfo(const mm_procfs_t *p, mm_meminfo_entry_t **ret, size_t *ret_n);
/* Value of name in a list, or NAN when absent. */
double mm_meminfo_get(const mm_meminfo_entry_t *e, size_t n, const char *name);

/* ---- /proc/swaps ---- */
typedef struct {
    char filename[256];
    char type[32];
    double size_bytes, used_bytes;
    int priority;
} mm_swap_t;
int mm_procfs_swaps(const mm_procfs_t *p, mm_swap_t **ret, size_t *ret_n);

/* ---- /proc/loadavg ---- */
typedef struct {
    double load1, load5, load15;
    uint64_t runnable;              /* scheduling entities running now */
    uint64_t threads;               /* total threads */
} mm_loadavg_t;
int mm_procfs_loadavg(const mm_procfs_t *p, mm_loadavg_t *ret);

/* ---- mounts (/proc/1/mounts, falling back to /proc/mounts) + statvfs ---- */
typedef struct {
    char device[256];
    char mountpoint[512];
    char fstype[32];
    bool readonly;
    bool stat_ok;                   /* statvfs succeeded (the fields below are set) */
    int stat_errno;                 /* positive errno when it did not */
    double size_bytes, free_bytes, avail_bytes;
    double files, files_free;
} mm_mount_t;

/* Lists mounts; with do_statvfs, calls statvfs(rootfs + mountpoint) on each
 * (which can block on a hung network filesystem: callers skip those fstypes
 * by passing a filter). filter(NULL allowed) returns true to keep a mount. */
int mm_procfs_mounts(const mm_procfs_t *p, bool do_statvfs,
                     bool (*filter)(const mm_mount_t *m, void *data), void *data,
                     mm_mount_t **ret, size_t *ret_n);

/* ---- /proc/diskstats ---- */
typedef struct {
    unsigned major, minor;
    char name[64];
    uint64_t reads, reads_merged, sectors_read, read_ms;
    uint64_t writes, writes_merged, sectors_written, write_ms;
    uint64_t io_now, io_ms, weighted_io_ms;
    uint64_t discards, discards_merged, sectors_discarded, discard_ms;  /* 0 on old kernels */
    uint64_t flushes, flush_ms;
} mm_diskstat_t;
int mm_procfs_diskstats(const mm_procfs_t *p, mm_diskstat_t **ret, size_t *ret_n);

/* ---- /proc/net/dev ---- */
typedef struct {
    char device[64];
    uint64_t rx_bytes, rx_packets, rx_errs, rx_drop, rx_fifo, rx_frame, rx_compressed, rx_multicast;
    uint64_t tx_bytes, tx_packets, tx_errs, tx_drop, tx_fifo, tx_colls, tx_carrier, tx_compressed;
} mm_netdev_t;
int mm_procfs_netdev(const mm_procfs_t *p, mm_netdev_t **ret, size_t *ret_n);

/* ---- processes ---- */
typedef struct {
    pid_t pid;
    char comm[64];                  /* from /proc/<pid>/stat (at most 15 chars) */
    char state;
    double cpu_seconds;             /* utime + stime */
    double start_time_s;            /* since boot */
    uint64_t rss_bytes;
    uint64_t vsize_bytes;
    long threads;
} mm_proc_t;

/* Reads /proc/<pid>/stat. -ENOENT when the process is gone. */
int mm_procfs_proc(const mm_procfs_t *p, pid_t pid, mm_proc_t *ret);

/* Counts the numeric entries of /proc (processes). */
int mm_procfs_count_procs(const mm_procfs_t *p, uint64_t *ret_n);

/* The process's name: basename of argv[0] from cmdline, or comm for kernel
 * threads and empty cmdlines. Returns 0 or -ENOENT. */
int mm_procfs_proc_name(const mm_procfs_t *p, pid_t pid, char *buf, size_t cap);

/* Finds processes whose name (as mm_procfs_proc_name) matches the fnmatch(3)
 * pattern ("memmon-*", "python3"). Returns pids and their names in two
 * malloc'ed arrays (names may be NULL when not wanted); each name is 64 bytes. */
int mm_procfs_find(const mm_procfs_t *p, const char *pattern, pid_t **ret_pids,
                   char (**ret_names)[64], size_t *ret_n);

#endif
