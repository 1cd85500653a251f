/* Tests for Nagios plugin output parsing and exit status mapping: the usual
 * forms, multi-line perfdata, quoted labels, and garbage of every kind. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <signal.h>

#include "health_nagios.h"

static void test_levels(void **state)
{
    (void)state;
    char why[128];
    assert_int_equal(health_nagios_level(0, 0, false, why, sizeof(why)), HEALTH_HEALTHY);
    assert_int_equal(health_nagios_level(1, 0, false, why, sizeof(why)), HEALTH_DEGRADED);
    assert_int_equal(health_nagios_level(2, 0, false, why, sizeof(why)), HEALTH_CRITICAL);
    assert_int_equal(health_nagios_level(3, 0, false, why, sizeof(why)), HEALTH_UNHEALTHY);
    assert_non_null(strstr(why, "unknown"));
    assert_int_equal(health_nagios_level(4, 0, false, why, sizeof(why)), HEALTH_CRITICAL);
    assert_non_null(strstr(why, "exit status 4"));
    assert_int_equal(health_nagios_level(127, 0, false, why, sizeof(why)), HEALTH_CRITICAL);
    assert_int_equal(health_nagios_level(0, SIGKILL, false, why, sizeof(why)), HEALTH_CRITICAL);
    assert_non_null(strstr(why, "signal 9"));
    assert_int_equal(health_nagios_level(0, 0, true, why, sizeof(why)), HEALTH_CRITICAL);
    assert_non_null(strstr(why, "timed out"));
}

static void test_simple(void **state)
{
    (void)state;
    const char *out = "DISK OK - free space: / 3326 MB (56%); | /=2643MB;5948;5958;0;5968\n";
    char msg[128];
    health_perf_t pf[8];
    size_t bad = 99;
    size_t n = health_nagios_parse(out, strlen(out), msg, sizeof(msg), pf, 8, &bad);
    assert_string_equal(msg, "DISK OK - free space: / 3326 MB (56%);");
    assert_int_equal(n, 1);
    assert_int_equal(bad, 0);
    assert_string_equal(pf[0].label, "_");
    assert_true(pf[0].value == 2643);
    assert_string_equal(pf[0].uom, "MB");
    assert_true(pf[0].warn == 5948);
    assert_true(pf[0].crit == 5958);
    assert_true(pf[0].min == 0);
    assert_true(pf[0].max == 5968);
}

static void test_multi(void **state)
{
    (void)state;
    const char *out =
        "PING ok - Packet loss = 0%, RTA = 0.80 ms | 'packet loss'=0%;10;20 rta=0.8ms\n"
        "long text line 1\n"
        "long text line 2 | time=0.5s;;;0 size=12B\n"
        "more=3c\n";
    char msg[128];
    health_perf_t pf[8];
    size_t bad;
    size_t n = health_nagios_parse(out, strlen(out), msg, sizeof(msg), pf, 8, &bad);
    assert_string_equal(msg, "PING ok - Packet loss = 0%, RTA = 0.80 ms");
    assert_int_equal(bad, 0);
    assert_int_equal(n, 5);
    assert_string_equal(pf[0].label, "packet_loss");
    assert_string_equal(pf[0].uom, "%");
    assert_true(pf[0].crit == 20);
    assert_true(isnan(pf[0].min));
    assert_string_equal(pf[1].label, "rta");
    assert_true(fabs(pf[1].value - 0.8) < 1e-12);
    assert_string_equal(pf[2].label, "time");
    assert_true(isnan(pf[2].warn));
    assert_true(pf[2].min == 0);
    assert_string_equal(pf[3].label, "size");
    assert_string_equal(pf[4].label, "more");
    assert_string_equal(pf[4].uom, "c");
}

static void test_garbage(void **state)
{
    (void)state;
    char msg[64];
    health_perf_t pf[4];
    size_t bad;
    /* No output at all. */
    assert_int_equal(health_nagios_parse("", 0, msg, sizeof(msg), pf, 4, &bad), 0);
    assert_string_equal(msg, "");
    assert_int_equal(health_nagios_parse(NULL, 5, msg, sizeof(msg), pf, 4, &bad), 0);
    /* Binary bytes, NULs and an over-long line are bounded and cleaned. */
    char bin[300];
    for (size_t i = 0; i < sizeof(bin); i++)
        bin[i] = (char)(i * 7);
    health_nagios_parse(bin, sizeof(bin), msg, sizeof(msg), pf, 4, &bad);
    assert_true(strlen(msg) < sizeof(msg));
    for (const char *p = msg; *p; p++)
        assert_true((unsigned char)*p >= 0x20);
    /* Broken perfdata items are skipped, good ones kept. */
    const char *out = "X | a= b=1x2 =3 'c=4 d=5;;; e=U f=1;2;3;4;5;6 g=1;@10:20 h=7s";
    size_t n = health_nagios_parse(out, strlen(out), msg, sizeof(msg), pf, 4, &bad);
    assert_string_equal(msg, "X");
    assert_true(n >= 2);
    bool saw_d = false, saw_e = false;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(pf[i].label, "d") == 0)
            saw_d = pf[i].value == 5;
        if (strcmp(pf[i].label, "e") == 0)
            saw_e = isnan(pf[i].value);
    }
    assert_true(saw_d);
    assert_true(saw_e);
    assert_true(bad >= 3);
    /* More items than room: the rest is dropped, not overflowed. */
    const char *many = "ok | a=1 b=2 c=3 d=4 e=5 f=6 g=7";
    assert_int_equal(health_nagios_parse(many, strlen(many), msg, sizeof(msg), pf, 4, NULL), 4);
    /* A megabyte of one line. */
    size_t big = 1 << 20;
    char *mb = malloc(big);
    assert_non_null(mb);
    memset(mb, 'A', big);
    mb[big / 2] = '|';
    health_nagios_parse(mb, big, msg, sizeof(msg), pf, 4, &bad);
    assert_int_equal(strlen(msg), sizeof(msg) - 1);
    free(mb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_levels),
        cmocka_unit_test(test_simple),
        cmocka_unit_test(test_multi),
        cmocka_unit_test(test_garbage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
