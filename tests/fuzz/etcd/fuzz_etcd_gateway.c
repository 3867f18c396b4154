/* fuzz_etcd_gateway.c — the JSON gateway's request path: a body of concatenated JSON values
 * read one at a time (bounded depth and memory), each built into the request type picked by
 * the first input byte, which must then pack, unpack and render to the same JSON. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/etcd/pbmem.h"
#include "api/gateway/json.h"
#include "api/gateway/pbjson.h"
#include "fuzz_etcd.h"
#include "util/err.h"

static void check_message(const ProtobufCMessage *m)
{
    size_t len = protobuf_c_message_get_packed_size(m);
    uint8_t *wire = malloc(len ? len : 1);
    assert(protobuf_c_message_pack(m, wire) == len);
    struct pbmem pm;
    pbmem_init(&pm, pbmem_budget(len));
    ProtobufCMessage *back = pbmem_unpack(&pm, m->descriptor, wire, len);
    /* Our own output may only be refused for nesting (JSON allows deeper than the wire). */
    if (back) {
        struct buf j1, j2;
        buf_init(&j1, 256u << 20);
        buf_init(&j2, 256u << 20);
        assert(pbjson_encode(m, &j1) == 0 && pbjson_encode(back, &j2) == 0);
        assert(j1.len == j2.len && memcmp(j1.data, j2.data, j1.len) == 0);
        buf_free(&j1);
        buf_free(&j2);
        protobuf_c_message_free_unpacked(back, &pm.pa);
    } else {
        assert(!pm.refused);
    }
    assert(pm.used == 0);
    free(wire);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    const ProtobufCMessageDescriptor *d = fuzz_etcd_request_type(data[0]);
    const char *body = (const char *)data + 1;
    size_t len = size - 1, off = 0;
    for (int i = 0; i < 64 && off < len; i++) {
        struct kv_arena a = {.limit = 16 * (len - off) + (64u << 10)};
        struct json_val *v = NULL;
        size_t used = 0;
        char err[256];
        int rc = json_parse(body + off, len - off, &a, &v, &used, err, sizeof(err));
        if (rc) {
            assert(rc == CC_ENOTFOUND || err[0]);
            kv_arena_free(&a);
            break;
        }
        assert(used > 0 && used <= len - off);
        off += used;
        struct pbmem pm;
        pbmem_init(&pm, pbmem_budget(used));
        ProtobufCMessage *m = NULL;
        rc = pbjson_decode(d, v, &pm.pa, &m, err, sizeof(err));
        kv_arena_free(&a);
        if (rc) {
            assert(m == NULL && pm.used == 0 && err[0]);
            continue;
        }
        check_message(m);
        protobuf_c_message_free_unpacked(m, &pm.pa);
        assert(pm.used == 0);
    }
    return 0;
}
