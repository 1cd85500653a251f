/* Tests for the procfs readers against a fake /proc written into a temp dir. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mm_procfs.h"

static char root[256];

static void put(const char *rel, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    /* Create parent directories. */
    for (char *s = path + strlen(root) + 1; *s; s++) {
        if (*s == '/') {
            *s = '\0';
            mkdir(path, 0755);
            *s = '/';
        }
    }
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int setup(void **state)
{
    (void)state;
    snprintf(root, sizeof root, "/tmp/mm-procfs-XXXXXX");
    assert_non_null(mkdtemp(root));
    put("stat", "cpu  1000 20 300 40000 50 6 7 8 0 0\n"
                "cpu0 600 10 200 20000 25 3 4 4 0 0\n"
                "cpu1 400 10 100 20000 25 3 3 4 0 0\n"
                "intr 12345 1 2 3\nctxt 987654\nbtime 1700000000\nprocesses 4242\n"
                "procs_running 3\nprocs_blocked 1\nsoftirq 1 2 3\n");
    put("meminfo", "MemTotal:       16000000 kB\nMemFree:         1000000 kB\n"
                   "MemAvailable:    8000000 kB\nActive(anon):      10000 kB\n"
                   "HugePages_Total:       0\nSwapTotal:       2000000 kB\nSwapFree:        1500000 kB\n");
    put("swaps", "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"
                 "/dev/sda2                               partition\t2000000\t\t500000\t\t-2\n");
    put("loadavg", "0.52 0.41 0.30 2/345 6789\n");
    put("1/mounts", "/dev/sda1 / ext4 rw,relatime 0 0\nproc /proc proc rw 0 0\n"
                    "/dev/sdb1 /mnt/my\\040disk ext4 ro,noatime 0 0\n");
    put("diskstats", "   8       0 sda 100 2 800 50 200 3 1600 70 0 120 130 0 0 0 0 5 6\n"
                     "   8       1 sda1 90 2 700 40 190 3 1500 60 1 110 120\n");
    put("net/dev", "Inter-|   Receive                                                |  Transmit\n"
                   " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n"
                   "    lo:    1000      10    0    0    0     0          0         0     1000      10    0    0    0     0       0          0\n"
                   "  eth0: 5000000    4000    1    2    0     0          0         3   300000    2000    0    0    0     0       0          0\n");
    put("100/stat", "100 (memmon-collecto) S 1 100 100 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 4 0 12345 "
                    "104857600 2560 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n");
    put("100/comm", "memmon-collecto\n");
    {
        char path[512];
        snprintf(path, sizeof path, "%s/100/cmdline", root);
        FILE *f = fopen(path, "w");
        fwrite("/usr/bin/memmon-collector\0--config-dir\0/etc\0", 1, 44, f);
        fclose(f);
    }
    put("200/stat", "200 (weird) name)) R 1 2 3 4 5 6 7 8 9 10 100 100 0 0 20 0 1 0 5 1000 10 0\n");
    put("200/comm", "weird) name)\n");
    put("200/cmdline", "");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", root);
    assert_int_equal(system(cmd), 0);
    return 0;
}

static void init(mm_procfs_t *p)
{
    char sys[300];
    snprintf(sys, sizeof sys, "%s/sys", root);
    assert_int_equal(mm_procfs_init(p, root, sys, NULL), 0);
    p->clk_tck = 100;
    p->page_size = 4096;
}

static void test_stat(void **state)
{
    (void)state;
    mm_procfs_t p;
    init(&p);
    mm_stat_t st;
    assert_int_equal(mm_procfs_stat(&p, &st), 0);
    assert_int_equal(st.n_cpus, 2);
    assert_int_equal(st.cpus[1].cpu, 1);
    assert_true(fabs(st.cpus[0].seconds[MM_CPU_USER] - 6.0) < 1e-9);
    assert_true(fabs(st.cpus[1].seconds[MM_CPU_STEAL] - 0.04) < 1e-9);
    assert_true(fabs(st.total.seconds[MM_CPU_IDLE] - 400.0) < 1e-9);
    assert_int_equal(st.ctxt, 987654);
    assert_int_equal(st.boot_time, 1700000000);
    assert_int_equal(st.forks, 4242);
    assert_int_equal(st.procs_running, 3);
    assert_int_equal(st.procs_blocked, 1);
    assert_string_equal(mm_cpu_mode_names[MM_CPU_SOFTIRQ], "softirq");
    mm_stat_fini(&st);
}

static void test_meminfo_swaps_load(void **state)
{
    (void)state;
    mm_procfs_t p;
    init(&p);
    mm_meminfo_entry_t *m;
    size_t n;
    assert_int_equal(mm_procfs_meminfo(&p, &m, &n), 0);
    assert_int_equal(n, 7);
    assert_true(mm_meminfo_get(m, n, "MemAvailable") == 8000000.0 * 1024);
    assert_true(mm_meminfo_get(m, n, "Active(anon)") == 10000.0 * 1024);
    assert_true(mm_meminfo_get(m, n, "HugePages_Total") == 0.0);
    assert_true(isnan(mm_meminfo_get(m, n, "Nope")));
    free(m);

    mm_swap_t *sw;
    assert_int_equal(mm_procfs_swaps(&p, &sw, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(sw[0].filename, "/dev/sda2");
    assert_true(sw[0].used_bytes == 500000.0 * 1024);
    assert_int_equal(sw[0].priority, -2);
    free(sw);

    mm_loadavg_t la;
    assert_int_equal(mm_procfs_loadavg(&p, &la), 0);
    assert_true(la.load1 == 0.52 && la.load15 == 0.30);
    assert_int_equal(la.runnable, 2);
    assert_int_equal(la.threads, 345);
}

static bool skip_proc(const mm_mount_t *m, void *data)
{
    (void)data;
    return strcmp(m->fstype, "proc") != 0;
}

static void test_mounts(void **state)
{
    (void)state;
    mm_procfs_t p;
    init(&p);
    mm_mount_t *m;
    size_t n;
    assert_int_equal(mm_procfs_mounts(&p, false, skip_proc, NULL, &m, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(m[1].mountpoint, "/mnt/my disk");
    assert_true(m[1].readonly);
    assert_false(m[0].readonly);
    free(m);
    /* statvfs of "/" under an empty rootfs really works. */
    assert_int_equal(mm_procfs_mounts(&p, true, skip_proc, NULL, &m, &n), 0);
    assert_true(m[0].stat_ok);
    assert_true(m[0].size_bytes > 0);
    assert_false(m[1].stat_ok);
    assert_int_equal(m[1].stat_errno, ENOENT);
    free(m);
}

static void test_disk_net(void **state)
{
    (void)state;
    mm_procfs_t p;
    init(&p);
    mm_diskstat_t *d;
    size_t n;
    assert_int_equal(mm_procfs_diskstats(&p, &d, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(d[0].name, "sda");
    assert_int_equal(d[0].sectors_written, 1600);
    assert_int_equal(d[0].flush_ms, 6);
    assert_int_equal(d[1].weighted_io_ms, 120);
    assert_int_equal(d[1].discards, 0);
    free(d);

    mm_netdev_t *nd;
    assert_int_equal(mm_procfs_netdev(&p, &nd, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(nd[1].device, "eth0");
    assert_int_equal(nd[1].rx_bytes, 5000000);
    assert_int_equal(nd[1].rx_multicast, 3);
    assert_int_equal(nd[1].tx_packets, 2000);
    free(nd);
}

static void test_procs(void **state)
{
    (void)state;
    mm_procfs_t p;
    init(&p);
    mm_proc_t pr;
    assert_int_equal(mm_procfs_proc(&p, 100, &pr), 0);
    assert_string_equal(pr.comm, "memmon-collecto");
    assert_true(fabs(pr.cpu_seconds - 3.0) < 1e-9);
    assert_int_equal(pr.rss_bytes, 2560 * 4096);
    assert_int_equal(pr.threads, 4);
    assert_int_equal(pr.state, 'S');
    assert_int_equal(mm_procfs_proc(&p, 200, &pr), 0);
    assert_string_equal(pr.comm, "weird) name)");
    assert_int_equal(pr.state, 'R');
    assert_int_equal(mm_procfs_proc(&p, 999, &pr), -ENOENT);

    uint64_t count;
    assert_int_equal(mm_procfs_count_procs(&p, &count), 0);
    assert_int_equal(count, 3);   /* 1, 100, 200 */

    pid_t *pids;
    char(*names)[64];
    size_t n;
    assert_int_equal(mm_procfs_find(&p, "memmon-*", &pids, &names, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(pids[0], 100);
    assert_string_equal(names[0], "memmon-collector");
    free(pids);
    free(names);
    /* Empty cmdline: the name comes from comm. */
    assert_int_equal(mm_procfs_find(&p, "weird*", &pids, NULL, &n), 0);
    assert_int_equal(n, 1);
    free(pids);
}

static void test_real_proc(void **state)
{
    (void)state;
    mm_procfs_t p;
    assert_int_equal(mm_procfs_init(&p, NULL, NULL, NULL), 0);
    mm_proc_t pr;
    assert_int_equal(mm_procfs_proc(&p, getpid(), &pr), 0);
    assert_true(pr.rss_bytes > 0);
    mm_stat_t st;
    assert_int_equal(mm_procfs_stat(&p, &st), 0);
    assert_true(st.n_cpus >= 1);
    mm_stat_fini(&st);
    mm_procfs_t q;
    assert_int_equal(mm_procfs_init(&q, "/nonexistent", NULL, NULL), 0);
    assert_int_equal(mm_procfs_stat(&q, &st), -ENOENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stat),
        cmocka_unit_test(test_meminfo_swaps_load),
        cmocka_unit_test(test_mounts),
        cmocka_unit_test(test_disk_net),
        cmocka_unit_test(test_procs),
        cmocka_unit_test(test_real_proc),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
