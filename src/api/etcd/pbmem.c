/* pbmem.c — a budgeted allocator for protobuf-c and a wire-format nesting check. */
#include "api/etcd/pbmem.h"

#include <stdlib.h>

#include "util/err.h"

#define HDR 16 /* keeps the payload 16-byte aligned, like malloc */

static void *pa_alloc(void *data, size_t n)
{
    return pbmem_alloc(data, n);
}

static void pa_free(void *data, void *p)
{
    pbmem_free(data, p);
}

void pbmem_init(struct pbmem *pm, size_t limit)
{
    pm->pa.alloc = pa_alloc;
    pm->pa.free = pa_free;
    pm->pa.allocator_data = pm;
    pm->used = 0;
    pm->peak = 0;
    pm->limit = limit;
    pm->shared = NULL;
    pm->shared_limit = 0;
    pm->refused = false;
}

size_t pbmem_budget(size_t len)
{
    return 96 * len + (64u << 10);
}

void *pbmem_alloc(struct pbmem *pm, size_t n)
{
    if (n > pm->limit || pm->used + HDR + n > pm->limit ||
        (pm->shared && *pm->shared + HDR + n > pm->shared_limit)) {
        pm->refused = true;
        return NULL;
    }
    uint8_t *p = malloc(HDR + n);
    if (!p) return NULL;
    *(size_t *)p = n;
    pm->used += HDR + n;
    if (pm->shared) *pm->shared += HDR + n;
    if (pm->used > pm->peak) pm->peak = pm->used;
    return p + HDR;
}

void pbmem_free(struct pbmem *pm, void *p)
{
    if (!p) return;
    uint8_t *b = (uint8_t *)p - HDR;
    size_t n = *(size_t *)b;
    pm->used -= HDR + n;
    if (pm->shared) *pm->shared -= HDR + n;
    free(b);
}

/* Reads a varint; returns bytes used or 0 when malformed/truncated. */
static size_t varint(const uint8_t *p, size_t len, uint64_t *v)
{
    uint64_t r = 0;
    for (size_t i = 0; i < len && i < 10; i++) {
        r |= (uint64_t)(p[i] & 0x7f) << (7 * i);
        if (!(p[i] & 0x80)) {
            *v = r;
            return i + 1;
        }
    }
    return 0;
}

static int check(const ProtobufCMessageDescriptor *desc, const uint8_t *p, size_t len, int depth)
{
    if (depth > PBMEM_MAX_DEPTH) return CC_EINVAL;
    size_t off = 0;
    while (off < len) {
        uint64_t tag, n;
        size_t k = varint(p + off, len - off, &tag);
        if (!k) return 0; /* malformed: protobuf-c reports it */
        off += k;
        switch (tag & 7) {
        case 0:
            k = varint(p + off, len - off, &n);
            if (!k) return 0;
            off += k;
            break;
        case 1:
            if (len - off < 8) return 0;
            off += 8;
            break;
        case 5:
            if (len - off < 4) return 0;
            off += 4;
            break;
        case 2: {
            k = varint(p + off, len - off, &n);
            if (!k || n > len - off - k) return 0;
            off += k;
            uint64_t id = tag >> 3;
            const ProtobufCFieldDescriptor *f =
                id <= UINT32_MAX ? protobuf_c_message_descriptor_get_field(desc, (unsigned)id)
                                 : NULL;
            if (f && f->type == PROTOBUF_C_TYPE_MESSAGE) {
                int rc = check(f->descriptor, p + off, (size_t)n, depth + 1);
                if (rc) return rc;
            }
            off += (size_t)n;
            break;
        }
        default:
            return 0; /* groups and invalid wire types: protobuf-c decides */
        }
    }
    return 0;
}

int pbmem_check_depth(const ProtobufCMessageDescriptor *desc, const uint8_t *p, size_t len)
{
    return check(desc, p, len, 1);
}

ProtobufCMessage *pbmem_unpack(struct pbmem *pm, const ProtobufCMessageDescriptor *desc,
                               const uint8_t *p, size_t len)
{
    pm->refused = false;
    if (pbmem_check_depth(desc, p, len)) return NULL;
    return protobuf_c_message_unpack(desc, &pm->pa, len, p);
}
