/* sim_fsm.c — concur-sim's replicated state machine and the byte image its snapshots carry. */
#include <stdlib.h>

#include "sim.h"
#include "util/buf.h"
#include "util/crc32c.h"
#include "util/err.h"

#define IMAGE_MAGIC   0x4d495343u /* "CSIM" */
#define IMAGE_HEADER  (4 + 8 + 8 + 8 + 4)
#define IMAGE_MAX_PAD 3000u

/* Every entry type advances the applied index and the hash (the state machine records the
 * applied index of NOOP and CONF entries too); NORMAL entries are counted. */
void sim__fsm_apply(struct fsm *f, uint64_t index, uint8_t type, uint64_t dhash)
{
    f->applied = index;
    if (type == RAFT_ENTRY_NORMAL) f->count++;
    f->hash = sim__mix(sim__mix(f->hash, index), dhash ^ ((uint64_t)type << 56));
}

/* Padding makes images of different sizes (up to ~3 KB, i.e. many chunks at the small chunk
 * sizes the simulator configures) whose every byte is a function of the state, so a chunk
 * written at the wrong offset fails the CRC. */
static uint32_t pad_len(const struct fsm *f)
{
    return (uint32_t)(sim__mix(f->hash, f->applied) % IMAGE_MAX_PAD);
}

/* Serializes f: magic, applied, count, hash, pad length, pad, CRC-32C of all before it.
 * *out is malloc'd (caller frees). Returns 0 or CC_ENOMEM. */
int sim__fsm_image(const struct fsm *f, uint8_t **out, uint64_t *size)
{
    uint32_t pad = pad_len(f);
    uint64_t n = IMAGE_HEADER + pad + 4;
    uint8_t *p = malloc(n);
    if (!p) return CC_ENOMEM;
    put_u32le(p, IMAGE_MAGIC);
    put_u64le(p + 4, f->applied);
    put_u64le(p + 12, f->count);
    put_u64le(p + 20, f->hash);
    put_u32le(p + 28, pad);
    struct rng r;
    rng_seed(&r, f->hash);
    for (uint32_t i = 0; i < pad; i++) p[IMAGE_HEADER + i] = (uint8_t)rng_next(&r);
    put_u32le(p + IMAGE_HEADER + pad, crc32c_extend(0, p, IMAGE_HEADER + pad));
    *out = p;
    *size = n;
    return 0;
}

/* Parses and verifies an image. Returns 0 or CC_ECORRUPT. */
int sim__fsm_parse(const uint8_t *data, uint64_t size, struct fsm *out)
{
    if (size < IMAGE_HEADER + 4 || get_u32le(data) != IMAGE_MAGIC) return CC_ECORRUPT;
    uint32_t pad = get_u32le(data + 28);
    if (pad >= IMAGE_MAX_PAD || size != IMAGE_HEADER + (uint64_t)pad + 4) return CC_ECORRUPT;
    if (get_u32le(data + IMAGE_HEADER + pad) != crc32c_extend(0, data, IMAGE_HEADER + pad))
        return CC_ECORRUPT;
    out->applied = get_u64le(data + 4);
    out->count = get_u64le(data + 12);
    out->hash = get_u64le(data + 20);
    if (pad != pad_len(out)) return CC_ECORRUPT;
    return 0;
}
