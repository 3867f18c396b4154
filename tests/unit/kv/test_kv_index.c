/* test_kv_index.c — the in-memory B+tree index against a sorted reference: random inserts,
 * removals, seeks and scans, with the tree's invariants checked as it grows and shrinks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kv/internal.h"
#include "util/rng.h"

#define UNIVERSE 20000

static char keys[UNIVERSE][12];
static bool present[UNIVERSE];

static void test_random_ops(void **state)
{
    struct kv__idx x;
    kv__idx_init(&x);
    struct rng r;
    rng_seed(&r, 7);
    for (int i = 0; i < UNIVERSE; i++) {
        snprintf(keys[i], sizeof(keys[i]), "k%07d", i); /* keys[i] sorts by i */
        present[i] = false;
    }
    long live = 0;
    for (int round = 0; round < 400000; round++) {
        int i = (int)rng_below(&r, UNIVERSE);
        /* phases: grow, then shrink, then mixed, so merges and borrows happen */
        int phase = round / 100000;
        bool insert = phase == 0   ? rng_chance(&r, 9, 10)
                      : phase == 1 ? rng_chance(&r, 1, 10)
                                   : rng_chance(&r, 1, 2);
        size_t kl = strlen(keys[i]);
        if (insert && !present[i]) {
            struct krec *k = kv__krec_new((const uint8_t *)keys[i], kl);
            assert_non_null(k);
            struct kv__cur at;
            assert_int_equal(kv__idx_insert(&x, k, &at), 0);
            assert_ptr_equal(kv__cur_rec(&at), k); /* the cursor points at the new record */
            present[i] = true;
            live++;
        } else if (!insert && present[i]) {
            struct krec *k = kv__idx_remove(&x, (const uint8_t *)keys[i], kl);
            assert_memory_equal(krec_key(k), keys[i], kl);
            free(k);
            present[i] = false;
            live--;
        }
        if (round % 20000 == 0) assert_int_equal(kv__idx_verify(&x), 0);
        if (round % 997 == 0) { /* seek + scan a window against the reference */
            struct kv__cur c;
            bool exact = kv__idx_seek(&x, (const uint8_t *)keys[i], kl, &c);
            assert_int_equal(exact, present[i]);
            int j = i;
            for (int n = 0; n < 50; n++) {
                while (j < UNIVERSE && !present[j]) j++;
                struct krec *k = kv__cur_rec(&c);
                if (j == UNIVERSE) {
                    assert_null(k);
                    break;
                }
                assert_non_null(k);
                assert_memory_equal(krec_key(k), keys[j], strlen(keys[j]));
                kv__cur_next(&c);
                j++;
            }
        }
    }
    assert_int_equal(x.nkeys, live);
    assert_int_equal(kv__idx_verify(&x), 0);
    /* empty it completely */
    for (int i = 0; i < UNIVERSE; i++) {
        if (!present[i]) continue;
        free(kv__idx_remove(&x, (const uint8_t *)keys[i], strlen(keys[i])));
        if (i % 1000 == 0) assert_int_equal(kv__idx_verify(&x), 0);
    }
    assert_int_equal(x.nkeys, 0);
    assert_null(x.root);
    kv__idx_free(&x);
}

static void test_sequential_fill(void **state)
{
    /* appending in key order keeps leaves full (the right-edge split) */
    struct kv__idx x;
    kv__idx_init(&x);
    char k[16];
    for (int i = 0; i < 100000; i++) {
        snprintf(k, sizeof(k), "s%08d", i);
        assert_int_equal(kv__idx_insert(&x, kv__krec_new((const uint8_t *)k, strlen(k)), NULL), 0);
    }
    assert_int_equal(kv__idx_verify(&x), 0);
    struct kv__cur c;
    kv__idx_seek(&x, (const uint8_t *)"", 0, &c);
    int n = 0;
    for (; kv__cur_rec(&c); kv__cur_next(&c)) n++;
    assert_int_equal(n, 100000);
    kv__idx_free(&x);
}

static void test_revisions(void **state)
{
    struct krec *r = kv__krec_new((const uint8_t *)"key", 3);
    for (int64_t m = 2; m < 40; m += 3) {
        r = kv__krec_push(r, m, (uint32_t)(m % 5), m == 14);
        assert_non_null(r);
    }
    assert_int_equal(r->nrev, 13);
    assert_int_equal(kv__krec_at(r, 1), -1);
    assert_int_equal(kv__krec_at(r, 2), 0);
    assert_int_equal(kv__krec_at(r, 4), 0);
    assert_int_equal(kv__krec_at(r, 5), 1);
    assert_int_equal(kv__krec_at(r, 100), 12);
    assert_true(krec_tomb(r, 4));
    assert_false(krec_tomb(r, 3));
    assert_int_equal(krec_sub(r, 4), 4);
    assert_int_equal(krec_main(r, 4), 14);
    assert_int_equal(kv__krec_before(r, 14, 4), 3);
    assert_int_equal(kv__krec_before(r, 14, 5), 4);
    r = kv__krec_drop(r, 10);
    assert_int_equal(r->nrev, 3);
    assert_int_equal(krec_main(r, 0), 32);
    assert_memory_equal(krec_key(r), "key", 3);
    free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_ops),
        cmocka_unit_test(test_sequential_fill),
        cmocka_unit_test(test_revisions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
