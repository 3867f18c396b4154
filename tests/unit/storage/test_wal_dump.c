/* test_wal_dump.c — `concurctl wal dump`'s library side (wal_dump.h). */
/* Exact text and JSON output, decoder callbacks and their fallbacks, snapshot summary, and a torn
 * tail shown without touching it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "storage/storage.h"
#include "storage/wal_dump.h"
#include "testutil.h"
#include "util/buf.h"
#include "util/err.h"

/* A stand-in for raft_conf_entry_decode: u32le length, then (here) u32le n_voters and that many
 * u64le IDs; the rest is ctx. */
static int fake_conf_decode(const uint8_t *data, uint32_t len, struct raft_config *cfg,
                            const uint8_t **ctx, uint32_t *ctx_len)
{
    if (len < 8) return CC_ECORRUPT;
    uint32_t clen = get_u32le(data), n = get_u32le(data + 4);
    if (clen != 4 + 8 * n || 4 + clen > len || n > RAFT_MAX_NODES) return CC_ECORRUPT;
    memset(cfg, 0, sizeof(*cfg));
    cfg->n_voters = n;
    for (uint32_t i = 0; i < n; i++) cfg->voters[i] = get_u64le(data + 8 + 8 * i);
    *ctx = data + 4 + clen;
    *ctx_len = len - 4 - clen;
    return 0;
}

/* A stand-in command decoder: knows commands starting with "CMD:". */
static int fake_cmd(void *arg, const uint8_t *data, uint32_t len, struct buf *out)
{
    int *calls = arg;
    (*calls)++;
    if (len < 4 || memcmp(data, "CMD:", 4) != 0) return -1;
    buf_append(out, "decoded ", 8);
    return buf_append(out, data + 4, len - 4);
}

struct fx {
    char *dir;
    struct storage *s;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    f->dir = tu_mkdtemp("wal-dump");
    struct storage_options o;
    storage_options_default(&o);
    o.wal.segment_bytes = 1 << 20;
    o.log = tu_logger();
    struct storage_boot boot;
    assert_int_equal(storage_open(f->dir, &o, &f->s, &boot, NULL, 0), 0);
    storage_boot_free(&boot);

    uint8_t conf[4 + 4 + 16 + 3];
    put_u32le(conf, 20);
    put_u32le(conf + 4, 2);
    put_u64le(conf + 8, 0xa);
    put_u64le(conf + 16, 0xb);
    memcpy(conf + 24, "url", 3);
    uint8_t bin[3] = {0x00, 0xff, 0x10};
    struct raft_entry e[6] = {
        {.index = 1, .term = 1, .type = RAFT_ENTRY_NOOP},
        {.index = 2, .term = 1, .type = RAFT_ENTRY_CONF, .len = sizeof(conf), .data = conf},
        {.index = 3,
         .term = 2,
         .type = RAFT_ENTRY_NORMAL,
         .len = 11,
         .data = (uint8_t *)"put \"a\" b\\c"},
        {.index = 4, .term = 2, .type = RAFT_ENTRY_NORMAL, .len = 3, .data = bin},
        {.index = 5, .term = 2, .type = RAFT_ENTRY_NORMAL},
        {.index = 6,
         .term = 2,
         .type = RAFT_ENTRY_NORMAL,
         .len = 11,
         .data = (uint8_t *)"CMD:inc foo"},
    };
    struct raft_hard_state hs = {.term = 2, .vote = 0xa, .commit = 5};
    struct wal_batch wb = {.entries = e, .n_entries = 6, .hs = &hs};
    assert_int_equal(storage_save(f->s, &wb), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    storage_close(f->s);
    tu_rmrf(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static char *dump(struct fx *f, const struct wal_dump_options *o, int *rc)
{
    char *out = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&out, &len);
    char err[512];
    *rc = wal_dump_print(m, f->dir, o, err, sizeof(err));
    fclose(m);
    return out;
}

static void test_text(void **state)
{
    struct fx *f = *state;
    int calls = 0, rc;
    struct wal_dump_options o = {.format = WAL_DUMP_TEXT,
                                 .cmd = fake_cmd,
                                 .cmd_arg = &calls,
                                 .conf = fake_conf_decode,
                                 .log = tu_logger()};
    char *out = dump(f, &o, &rc);
    assert_int_equal(rc, 0);
    assert_string_equal(out, "1 (1): no-op\n"
                             "2 (1): conf voters=[000000000000000a,000000000000000b] "
                             "voters_out=[] learners=[] ctx=\"url\"\n"
                             "3 (2): \"put \\\"a\\\" b\\\\c\"\n"
                             "4 (2): 0x00ff10\n"
                             "5 (2): empty\n"
                             "6 (2): decoded inc foo\n"
                             "first index: 1\n"
                             "last index: 6\n"
                             "snapshot index: 0\n"
                             "snapshot term: 0\n"
                             "hard state: term=2 vote=000000000000000a commit=5\n");
    assert_int_equal(calls, 3); /* entries 3, 4 and 6; never for empty, no-op or conf */
    free(out);
    /* Without decoders, raw bytes. */
    struct wal_dump_options raw = {.format = WAL_DUMP_TEXT};
    out = dump(f, &raw, &rc);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "2 (1): conf 0x14000000"));
    assert_non_null(strstr(out, "6 (2): \"CMD:inc foo\"\n"));
    free(out);
}

static void test_json(void **state)
{
    struct fx *f = *state;
    int calls = 0, rc;
    struct wal_dump_options o = {
        .format = WAL_DUMP_JSON, .cmd = fake_cmd, .cmd_arg = &calls, .conf = fake_conf_decode};
    char *out = dump(f, &o, &rc);
    assert_int_equal(rc, 0);
    assert_string_equal(
        out, "{\n  \"entries\": [\n"
             "    {\"index\":1,\"term\":1,\"type\":\"noop\"},\n"
             "    {\"index\":2,\"term\":1,\"type\":\"conf\",\"voters\":[\"000000000000000a\","
             "\"000000000000000b\"],\"voters_out\":[],\"learners\":[],\"ctx\":\"dXJs\"},\n"
             "    {\"index\":3,\"term\":2,\"type\":\"normal\",\"data\":\"cHV0ICJhIiBiXGM=\"},\n"
             "    {\"index\":4,\"term\":2,\"type\":\"normal\",\"data\":\"AP8Q\"},\n"
             "    {\"index\":5,\"term\":2,\"type\":\"normal\",\"data\":\"\"},\n"
             "    {\"index\":6,\"term\":2,\"type\":\"normal\",\"command\":\"decoded inc foo\","
             "\"data\":\"Q01EOmluYyBmb28=\"}\n"
             "  ],\n"
             "  \"first_index\": 1,\n  \"last_index\": 6,\n"
             "  \"snapshot\": {\"index\": 0, \"term\": 0},\n"
             "  \"hard_state\": {\"term\": 2, \"vote\": \"000000000000000a\", \"commit\": 5}\n}\n");
    free(out);
}

static void test_snapshot_and_torn_tail(void **state)
{
    struct fx *f = *state;
    struct raft_snapshot_meta m = {.index = 3, .term = 2};
    struct snap_writer *sw;
    assert_int_equal(storage_snap_begin(f->s, &m, &sw), 0);
    assert_int_equal(snap_writer_write(sw, 0, "state", 5), 0);
    assert_int_equal(snap_writer_finish(sw, 5, NULL), 0);
    struct wal_batch mk = {.has_snap = true, .snap_index = 3, .snap_term = 2};
    assert_int_equal(storage_save(f->s, &mk), 0);
    uint8_t data[200];
    memset(data, 'x', sizeof(data));
    struct raft_entry e = {
        .index = 7, .term = 2, .type = RAFT_ENTRY_NORMAL, .len = 200, .data = data};
    struct wal_batch wb = {.entries = &e, .n_entries = 1};
    assert_int_equal(storage_save(f->s, &wb), 0);
    storage_close(f->s);
    f->s = NULL;
    /* Tear the last batch: its final bytes never reached the disk. */
    char waldir[STORAGE_PATH_MAX + 16], seg[STORAGE_PATH_MAX];
    snprintf(waldir, sizeof(waldir), "%s/member/wal", f->dir);
    assert_true(tu_nth_file(waldir, ".wal", 0, seg, sizeof(seg)));
    size_t len;
    uint8_t *d = tu_read_file(seg, &len);
    size_t p = len;
    while (p > 0 && d[p - 1] == 0) p--;
    memset(d + p - 40, 0, 40);
    tu_write_file(seg, d, len);

    int rc;
    struct wal_dump_options o = {.format = WAL_DUMP_TEXT, .log = tu_logger()};
    char *out = dump(f, &o, &rc);
    assert_int_equal(rc, 0);
    assert_string_equal(out, "4 (2): 0x00ff10\n"
                             "5 (2): empty\n"
                             "6 (2): \"CMD:inc foo\"\n"
                             "first index: 4\n"
                             "last index: 6\n"
                             "snapshot index: 3\n"
                             "snapshot term: 2\n"
                             "hard state: term=2 vote=000000000000000a commit=5\n");
    free(out);
    size_t nlen;
    uint8_t *now = tu_read_file(seg, &nlen);
    assert_int_equal(nlen, len);
    assert_memory_equal(now, d, len); /* read-only: nothing cut */
    free(now);
    free(d);

    /* No data directory at all. */
    char missing[STORAGE_PATH_MAX + 16];
    snprintf(missing, sizeof(missing), "%s/none", f->dir);
    FILE *m2 = fopen("/dev/null", "w");
    char err[512];
    assert_int_equal(wal_dump_print(m2, missing, &o, err, sizeof(err)), CC_ENOTFOUND);
    fclose(m2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_text, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_and_torn_tail, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
