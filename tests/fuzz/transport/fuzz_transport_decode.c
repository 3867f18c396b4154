/* fuzz_transport_decode.c — libFuzzer target for the peer frame decoder: no crash, leak or
 * overread on any byte stream, and every decoded message re-encodes to a fixed point. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "transport/codec.h"
#include "util/err.h"

/* A small cap so the fuzzer reaches the size checks with short inputs. */
#define FUZZ_MAX_BODY 4096u

/* Encodes m, decodes the result, encodes that again: the two encodings must be identical
 * (the decoder kept every field) and the second decode must succeed. */
static void check_reencode(const struct raft_msg *m)
{
    size_t n1;
    int rc = transport_frame_msg_size(m, &n1);
    assert(rc == 0); /* whatever the decoder accepts, the encoder can write */
    uint8_t *e1 = malloc(n1);
    assert(e1);
    assert(transport_frame_encode_msg(m, e1) == n1);
    struct transport_frame f;
    rc = transport_frame_decode(e1, n1, TRANSPORT_MAX_FRAME_LIMIT, &f);
    assert(rc == 0 && f.kind == TRANSPORT_FRAME_MSG);
    size_t n2;
    assert(transport_frame_msg_size(&f.msg, &n2) == 0 && n2 == n1);
    uint8_t *e2 = malloc(n2);
    assert(e2);
    transport_frame_encode_msg(&f.msg, e2);
    assert(memcmp(e1, e2, n1) == 0);
    transport_msg_free(&f.msg);
    free(e1);
    free(e2);
}

static void decode_one(const uint8_t *p, size_t len, uint32_t max_body)
{
    struct transport_frame f;
    int rc = transport_frame_decode(p, len, max_body, &f);
    if (rc != 0) {
        assert(rc == CC_EPROTO || rc == CC_ETOOBIG || rc == CC_ECORRUPT || rc == CC_ENOMEM);
        return;
    }
    if (f.kind == TRANSPORT_FRAME_MSG) {
        check_reencode(&f.msg);
        transport_msg_free(&f.msg);
    } else if (f.kind == TRANSPORT_FRAME_ERROR) {
        assert(f.error.code < 0 && strlen(f.error.reason) <= TRANSPORT_ERROR_REASON_MAX);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* 1. The input as a connection's byte stream, parsed the way the transport reads it. */
    size_t off = 0;
    while (size - off >= TRANSPORT_FRAME_HEADER_BYTES) {
        struct transport_frame_hdr h;
        if (transport_frame_parse_header(data + off, FUZZ_MAX_BODY, &h) != 0) break;
        size_t total = TRANSPORT_FRAME_HEADER_BYTES + (size_t)h.body_len;
        if (size - off < total) break;
        decode_one(data + off, total, FUZZ_MAX_BODY);
        off += total;
    }

    /* 2. The input as a body under a valid header and CRC (first byte picks the kind), so the
     *    body decoders see inputs the CRC would otherwise turn away. */
    if (size >= 1 && size - 1 <= FUZZ_MAX_BODY) {
        uint8_t *frame = malloc(TRANSPORT_FRAME_HEADER_BYTES + size - 1);
        assert(frame);
        if (size > 1) memcpy(frame + TRANSPORT_FRAME_HEADER_BYTES, data + 1, size - 1);
        uint8_t kind = (uint8_t)(1 + data[0] % TRANSPORT_FRAME_KIND_MAX_);
        transport_frame_seal(frame, kind, (uint32_t)(size - 1));
        decode_one(frame, TRANSPORT_FRAME_HEADER_BYTES + size - 1, FUZZ_MAX_BODY);
        free(frame);
    }
    return 0;
}
