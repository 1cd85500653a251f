/* Tests for the node_exporter-compatible host metrics against a fake /proc
 * written into a temp dir: names, labels, units, exclusions, memmon process
 * series, and stale markers when something disappears. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/stat.h>
#include <unistd.h>

#include "capture.h"
#include "sysmetrics.h"

static char root[64];

static void put(const char *rel, const char *text, size_t len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    for (char *s = path + strlen(root) + 1; *s; s++) {
        if (*s == '/') {
            *s = '\0';
            mkdir(path, 0755);
            *s = '/';
        }
    }
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fwrite(text, 1, len ? len : strlen(text), f);
    fclose(f);
}

static const char netdev2[] =
    "Inter-|   Receive                                                |  Transmit\n"
    " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n"
    "    lo:    1000      10    0    0    0     0          0         0     1000      10    0    0    0     0       0          0\n"
    "  eth0: 5000000    4000    1    2    0     0          0         3   300000    2000    0    0    0     0       0          0\n";

static int setup(void **state)
{
    (void)state;
    snprintf(root, sizeof root, "/tmp/mm-sysm-XXXXXX");
    assert_non_null(mkdtemp(root));
    put("stat", "cpu  1000 0 1000 8000 0 0 0 0 0 0\ncpu0 1000 0 1000 8000 0 0 0 0 5 0\n"
                "ctxt 10\nbtime 1700000000\nprocesses 5\nprocs_running 2\nprocs_blocked 0\nintr 7 1\n", 0);
    put("loadavg", "1.00 0.50 0.25 1/100 999\n", 0);
    put("meminfo", "MemTotal: 1000 kB\nMemAvailable: 250 kB\nActive(anon): 10 kB\nHugePages_Total: 0\n", 0);
    put("1/mounts", "/dev/root / ext4 rw 0 0\nproc /proc proc rw 0 0\ntmpfs /dev/shm tmpfs rw 0 0\n"
                    "srv:/x /mnt/nfs nfs4 rw 0 0\n", 0);
    put("diskstats", " 8 0 sda 1 2 3 4000 5 6 7 8000 0 100 200\n 8 1 sda1 1 2 3 4 5 6 7 8 0 1 2\n"
                     " 7 0 loop0 1 2 3 4 5 6 7 8 0 1 2\n 259 0 nvme0n1 1 2 3 4 5 6 7 8 0 1 2\n"
                     " 259 1 nvme0n1p1 1 2 3 4 5 6 7 8 0 1 2\n", 0);
    put("net/dev", netdev2, 0);
    put("100/stat", "100 (memmon-gatewa) S 1 1 1 0 -1 0 0 0 0 0 100 100 0 0 20 0 1 0 1 1000 100 0\n", 0);
    put("100/cmdline", "/x/memmon-gateway\0", 18);
    put("101/stat", "101 (memmon-gatewa) S 1 1 1 0 -1 0 0 0 0 0 50 50 0 0 20 0 1 0 1 1000 50 0\n", 0);
    put("101/cmdline", "memmon-gateway\0", 15);
    put("102/stat", "102 (bash) S 1 1 1 0 -1 0 0 0 0 0 50 50 0 0 20 0 1 0 1 1000 50 0\n", 0);
    put("102/cmdline", "bash\0", 5);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", root);
    assert_int_equal(system(cmd), 0);
    return 0;
}

static void test_collect(void **state)
{
    (void)state;
    mm_procfs_t p;
    assert_int_equal(mm_procfs_init(&p, root, NULL, NULL), 0);
    p.clk_tck = 100;
    p.page_size = 4096;
    collector_sysmetrics_t *sm = collector_sysmetrics_new(&p, "memmon-*");
    capture_t c;
    cap_init(&c);
    assert_int_equal(collector_sysmetrics_collect(sm, 1000, &c.sink), 0);
    assert_true(cap_value(&c, "node_cpu_seconds_total{cpu=\"0\",mode=\"user\"}") == 10.0);
    assert_true(cap_value(&c, "node_cpu_seconds_total{cpu=\"0\",mode=\"idle\"}") == 80.0);
    assert_int_equal(cap_find(&c, "node_cpu_seconds_total{cpu=\"0\",mode=\"idle\"}")->type, COLLECTOR_COUNTER);
    assert_true(cap_value(&c, "node_cpu_guest_seconds_total{cpu=\"0\",mode=\"user\"}") == 0.05);
    assert_true(cap_value(&c, "node_load1") == 1.0);
    assert_true(cap_value(&c, "node_load15") == 0.25);
    assert_true(cap_value(&c, "node_procs_running") == 2.0);
    assert_true(cap_value(&c, "node_processes_pids") == 4.0);   /* 1, 100, 101, 102 */
    assert_true(cap_value(&c, "node_memory_MemAvailable_bytes") == 250.0 * 1024);
    assert_true(cap_value(&c, "node_memory_Active_anon_bytes") == 10.0 * 1024);
    assert_true(cap_value(&c, "node_memory_HugePages_Total") == 0.0);
    assert_true(cap_value(&c, "memmon_system_memory_usage_percent") == 75.0);
    /* Only / survives the filesystem exclusions. */
    assert_true(cap_value(&c, "node_filesystem_size_bytes{device=\"/dev/root\",fstype=\"ext4\",mountpoint=\"/\"}") > 0);
    size_t fs = 0;
    for (size_t i = 0; i < c.n; i++)
        fs += strncmp(c.s[i].key, "node_filesystem_size_bytes", 26) == 0;
    assert_int_equal(fs, 1);
    /* Whole disks only. */
    assert_true(cap_value(&c, "node_disk_read_bytes_total{device=\"sda\"}") == 3 * 512.0);
    assert_true(cap_value(&c, "node_disk_read_time_seconds_total{device=\"sda\"}") == 4.0);
    assert_true(cap_value(&c, "node_disk_reads_completed_total{device=\"nvme0n1\"}") == 1.0);
    assert_null(cap_find(&c, "node_disk_reads_completed_total{device=\"sda1\"}"));
    assert_null(cap_find(&c, "node_disk_reads_completed_total{device=\"loop0\"}"));
    assert_null(cap_find(&c, "node_disk_reads_completed_total{device=\"nvme0n1p1\"}"));
    assert_true(cap_value(&c, "node_network_receive_bytes_total{device=\"eth0\"}") == 5000000.0);
    assert_true(cap_value(&c, "node_network_transmit_packets_total{device=\"lo\"}") == 10.0);
    /* Two gateway processes add up; bash is not ours. */
    assert_true(cap_value(&c, "memmon_process_cpu_seconds_total{service=\"gateway\"}") == 3.0);
    assert_true(cap_value(&c, "memmon_process_resident_memory_bytes{service=\"gateway\"}") == 150.0 * 4096);
    assert_null(cap_find(&c, "memmon_process_cpu_seconds_total{service=\"bash\"}"));
    assert_null(cap_find(&c, "memmon_system_cpu_usage_percent"));   /* needs two readings */

    /* eth0 and the gateway go away; CPU moves on. */
    put("net/dev", netdev2, sizeof netdev2 - 1 - 123);
    put("100/cmdline", "other\0", 6);
    put("101/cmdline", "other\0", 6);
    put("stat", "cpu  1050 0 1050 8100 0 0 0 0 0 0\ncpu0 1050 0 1050 8100 0 0 0 0 5 0\n", 0);
    cap_reset(&c);
    assert_int_equal(collector_sysmetrics_collect(sm, 2000, &c.sink), 0);
    assert_true(cap_value(&c, "memmon_system_cpu_usage_percent") == 50.0);
    size_t stale = 0;
    for (size_t i = 0; i < c.n; i++)
        stale += mm_is_stale_nan(c.s[i].value);
    assert_int_equal(stale, 16 + 2);
    cap_fini(&c);
    collector_sysmetrics_free(sm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_collect),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
