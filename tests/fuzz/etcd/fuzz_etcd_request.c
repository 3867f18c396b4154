/* fuzz_etcd_request.c — the etcd API's request path without a server: any bytes as any etcd
 * request type through the bounded protobuf decoder, etcd's validation, the conversion to kv
 * commands, kv's own checks and command encoding, and the JSON rendering (which must survive
 * a JSON round trip unchanged). The first input byte picks the request type. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/etcd/codec.h"
#include "api/etcd/pbmem.h"
#include "api/gateway/json.h"
#include "api/gateway/pbjson.h"
#include "fuzz_etcd.h"
#include "util/err.h"

/* Runs what the KV handlers run before proposing or reading. */
static void kv_path(const ProtobufCMessage *m)
{
    struct kv_arena a = {.limit = 64u << 20};
    int msg = 0;
    struct kv_cmd cmd;
    memset(&cmd, 0, sizeof(cmd));
    if (m->descriptor == &etcdserverpb__range_request__descriptor) {
        const Etcdserverpb__RangeRequest *r = (const void *)m;
        struct kv_range kr;
        if (codec_check_range(r, &msg) == 0) {
            codec_range_in(r, &kr);
            assert(kv_range_check(&kr, &msg) == 0);
        }
    } else if (m->descriptor == &etcdserverpb__put_request__descriptor) {
        if (codec_check_put((const void *)m, &msg) == 0) {
            cmd.type = KV_CMD_PUT;
            codec_put_in((const void *)m, &cmd.u.put);
        }
    } else if (m->descriptor == &etcdserverpb__delete_range_request__descriptor) {
        if (codec_check_delete((const void *)m, &msg) == 0) {
            cmd.type = KV_CMD_DELETE;
            codec_delete_in((const void *)m, &cmd.u.del);
        }
    } else if (m->descriptor == &etcdserverpb__txn_request__descriptor) {
        const Etcdserverpb__TxnRequest *t = (const void *)m;
        if (codec_check_txn(t, 128, &msg) == 0 && codec_txn_in(t, &a, &cmd.u.txn, &msg) == 0) {
            cmd.type = KV_CMD_TXN;
            (void)codec_txn_serializable(t);
            (void)kv_txn_is_readonly(&cmd.u.txn);
        }
    }
    if (cmd.type && kv_cmd_check(&cmd, &msg) == 0) {
        /* What srv_write proposes must decode back to the same command. */
        struct buf b, b2;
        buf_init(&b, KV_CMD_MAX);
        buf_init(&b2, KV_CMD_MAX);
        if (kv_cmd_encode(&cmd, &b) == 0) {
            struct kv_arena da = {.limit = 256u << 20};
            struct kv_cmd back;
            assert(kv_cmd_decode(b.data, b.len, &da, &back, &msg) == 0);
            assert(kv_cmd_encode(&back, &b2) == 0);
            assert(b.len == b2.len && memcmp(b.data, b2.data, b.len) == 0);
            kv_arena_free(&da);
        }
        buf_free(&b);
        buf_free(&b2);
    }
    kv_arena_free(&a);
}

/* Renders m as JSON into out and reads it back. Returns the message read (free with pm). */
static ProtobufCMessage *json_through(const ProtobufCMessage *m, struct buf *out, struct pbmem *pm)
{
    if (pbjson_encode(m, out)) return NULL; /* over the buffer's limit */
    struct kv_arena a = {.limit = 1u << 30};
    struct json_val *v = NULL;
    size_t used = 0;
    char err[256];
    int rc = json_parse((const char *)out->data, out->len, &a, &v, &used, err, sizeof(err));
    assert(rc == 0 && used == out->len);
    ProtobufCMessage *back = NULL;
    rc = pbjson_decode(m->descriptor, v, &pm->pa, &back, err, sizeof(err));
    assert(rc == 0);
    kv_arena_free(&a);
    return back;
}

/* The gateway reads what it writes: after one pass (which only normalises invalid UTF-8 in
 * strings to U+FFFD), a JSON round trip changes nothing. */
static void json_round_trip(const ProtobufCMessage *m)
{
    struct buf j1, j2, j3;
    buf_init(&j1, 256u << 20);
    buf_init(&j2, 256u << 20);
    buf_init(&j3, 256u << 20);
    struct pbmem pm;
    pbmem_init(&pm, 1u << 30);
    ProtobufCMessage *b1 = json_through(m, &j1, &pm);
    ProtobufCMessage *b2 = b1 ? json_through(b1, &j2, &pm) : NULL;
    if (b2) {
        assert(pbjson_encode(b2, &j3) == 0);
        assert(j2.len == j3.len && memcmp(j2.data, j3.data, j2.len) == 0);
        protobuf_c_message_free_unpacked(b2, &pm.pa);
    }
    if (b1) protobuf_c_message_free_unpacked(b1, &pm.pa);
    assert(pm.used == 0);
    buf_free(&j1);
    buf_free(&j2);
    buf_free(&j3);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    const ProtobufCMessageDescriptor *d = fuzz_etcd_request_type(data[0]);
    struct pbmem pm;
    pbmem_init(&pm, pbmem_budget(size - 1));
    ProtobufCMessage *m = pbmem_unpack(&pm, d, data + 1, size - 1);
    if (!m) {
        assert(pm.used == 0);
        return 0;
    }
    kv_path(m);
    json_round_trip(m);
    protobuf_c_message_free_unpacked(m, &pm.pa);
    assert(pm.used == 0);
    return 0;
}
