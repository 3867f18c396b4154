/* pbmem.h — safe decoding of client protobuf messages: a byte budget for everything protobuf-c
 * allocates, and a nesting check done before protobuf-c's recursive unpacker ever sees the bytes.
 */
#ifndef CONCUR_API_ETCD_PBMEM_H
#define CONCUR_API_ETCD_PBMEM_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Deepest message nesting accepted from a client. A TxnRequest nests two messages per level
 * (RequestOp, TxnRequest), and kv allows 16 txn levels, so 64 leaves room; protobuf-c itself
 * recurses without a bound, so deeper input is refused before unpacking. */
#define PBMEM_MAX_DEPTH 64

/* A malloc-backed ProtobufCAllocator charging every allocation to a budget. Each block carries
 * its size so frees return it. Usable by protobuf_c_message_unpack/free_unpacked and by the JSON
 * decoder, which builds messages the same way. */
struct pbmem {
    ProtobufCAllocator pa; /* pass &pbmem.pa to protobuf-c; allocator_data points back here */
    size_t used;           /* bytes currently allocated (headers included) */
    size_t limit;          /* allocations that would pass it fail */
    size_t peak;
    /* Optional budget shared with other allocators (all requests of a member): NULL, or a
     * counter this allocator also charges, refused past shared_limit. */
    size_t *shared;
    size_t shared_limit;
    bool refused; /* an allocation was refused for the budget since the last unpack began */
};

/* Prepares an allocator allowing limit bytes in total (no shared budget). */
void pbmem_init(struct pbmem *pm, size_t limit);

/* The budget for decoding a message of len wire bytes. A decoded message takes a multiple of
 * its wire size; the worst case is a list of empty sub-messages (two wire bytes each for a
 * struct of ~100 bytes, a pointer, an allocation header and protobuf-c's scan record: ~77x,
 * measured). Anything needing more is an amplification attack. */
size_t pbmem_budget(size_t len);

/* Allocates n bytes from the budget (NULL when over it or out of memory); pbmem_free returns
 * them. These are what the allocator hands protobuf-c. */
void *pbmem_alloc(struct pbmem *pm, size_t n);
void pbmem_free(struct pbmem *pm, void *p);

/* Checks that the wire bytes of a desc message nest no deeper than PBMEM_MAX_DEPTH, descending
 * only into fields the descriptor declares as messages. Returns 0, or CC_EINVAL when too deep.
 * Malformed framing is left for protobuf-c to report (returns 0). Bounded recursion. */
int pbmem_check_depth(const ProtobufCMessageDescriptor *desc, const uint8_t *p, size_t len);

/* Decodes len bytes as a desc message with pm's budget after the depth check. Returns the
 * message (free with protobuf_c_message_free_unpacked(msg, &pm->pa)) or NULL: malformed, too
 * deep, or (pm->refused) over budget. */
ProtobufCMessage *pbmem_unpack(struct pbmem *pm, const ProtobufCMessageDescriptor *desc,
                               const uint8_t *p, size_t len);

#endif
