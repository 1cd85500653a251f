/* Tests for the shared hash table: identity keys, colliding hashes resolved
 * by eq, deletion that keeps every probe run reachable, growth, and the
 * byte hash. Checked against a plain array as the model. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "mm_map.h"

typedef struct {
    uint64_t h;
    int id;
    int live;
} item_t;

static bool id_eq(const void *v, const void *key)
{
    return ((const item_t *)v)->id == *(const int *)key;
}

static void test_identity(void **state)
{
    (void)state;
    mm_map_t m;
    mm_map_init(&m);
    assert_null(mm_map_get(&m, 1, NULL, NULL));
    assert_false(mm_map_del(&m, 1, &m));
    item_t a = {.h = 0}, b = {.h = 64}, c = {.h = UINT64_MAX};
    assert_int_equal(mm_map_put(&m, a.h, &a), 0);
    assert_int_equal(mm_map_put(&m, b.h, &b), 0);
    assert_int_equal(mm_map_put(&m, c.h, &c), 0);
    assert_ptr_equal(mm_map_get(&m, 0, NULL, NULL), &a);
    assert_ptr_equal(mm_map_get(&m, 64, NULL, NULL), &b);
    assert_ptr_equal(mm_map_get(&m, UINT64_MAX, NULL, NULL), &c);
    assert_null(mm_map_get(&m, 65, NULL, NULL));
    assert_false(mm_map_del(&m, 64, &a));       /* only the exact value */
    assert_true(mm_map_del(&m, 64, &b));
    assert_null(mm_map_get(&m, 64, NULL, NULL));
    assert_int_equal(m.n, 2);
    mm_map_fini(&m);
}

/* Many items on few hashes (forced collisions), random deletes and
 * re-inserts, each step compared with the model. */
static void test_collisions_model(void **state)
{
    (void)state;
    enum { N = 5000 };
    item_t *it = calloc(N, sizeof *it);
    assert_non_null(it);
    mm_map_t m;
    mm_map_init(&m);
    srand(7);
    for (int round = 0; round < 6; round++) {
        for (int i = 0; i < N; i++) {
            int op = rand() % 3;
            if (!it[i].live && op != 0) {
                it[i].id = i;
                it[i].h = (uint64_t)(i % 97) * (round % 2 ? 1 : 0x10000);
                assert_int_equal(mm_map_put(&m, it[i].h, &it[i]), 0);
                it[i].live = 1;
            } else if (it[i].live && op == 0) {
                assert_true(mm_map_del(&m, it[i].h, &it[i]));
                it[i].live = 0;
            }
        }
        size_t live = 0;
        for (int i = 0; i < N; i++) {
            item_t *got = mm_map_get(&m, it[i].h, id_eq, &i);
            if (it[i].live) {
                assert_ptr_equal(got, &it[i]);
                live++;
            } else {
                assert_null(got);
            }
        }
        assert_int_equal(m.n, live);
        assert_true(m.n * 2 <= m.cap);
    }
    for (int i = 0; i < N; i++)
        if (it[i].live)
            assert_true(mm_map_del(&m, it[i].h, &it[i]));
    assert_int_equal(m.n, 0);
    for (size_t i = 0; i < m.cap; i++)
        assert_null(m.slots[i].v);
    mm_map_fini(&m);
    free(it);
}

static void test_hash_bytes(void **state)
{
    (void)state;
    const char *s = "node_cpu_seconds_total";
    uint64_t h = mm_hash_bytes(s, strlen(s), 0);
    assert_int_equal(h, mm_hash_bytes(s, strlen(s), 0));
    assert_int_not_equal(h, mm_hash_bytes(s, strlen(s), 1));
    assert_int_not_equal(h, mm_hash_bytes(s, strlen(s) - 1, 0));
    assert_int_not_equal(mm_hash_bytes("", 0, 0), mm_hash_bytes("\0", 1, 0));
    /* Every length up to two words reads only its own bytes. */
    char buf[17];
    memset(buf, 'x', sizeof buf);
    for (size_t n = 0; n < 16; n++) {
        uint64_t a = mm_hash_bytes(buf, n, 0);
        buf[n] = 'y';
        assert_int_equal(a, mm_hash_bytes(buf, n, 0));
        buf[n] = 'x';
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_identity),
        cmocka_unit_test(test_collisions_model),
        cmocka_unit_test(test_hash_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
