/* config.c — membership configurations: helpers, validation, changes and the CONF entry codec. */
#include <stdlib.h>
#include <string.h>

#include "raft/raft_int.h"
#include "util/buf.h"
#include "util/err.h"

static bool ids_has(const raft_id *v, uint32_t n, raft_id id)
{
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (v[mid] == id) return true;
        if (v[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

/* Inserts id keeping v sorted; CC_ETOOBIG when full. id must be absent. */
static int ids_insert(raft_id *v, uint32_t *n, raft_id id)
{
    if (*n >= RAFT_MAX_NODES) return CC_ETOOBIG;
    uint32_t i = *n;
    while (i > 0 && v[i - 1] > id) {
        v[i] = v[i - 1];
        i--;
    }
    v[i] = id;
    (*n)++;
    return 0;
}

static void ids_remove(raft_id *v, uint32_t *n, raft_id id)
{
    for (uint32_t i = 0; i < *n; i++) {
        if (v[i] != id) continue;
        memmove(v + i, v + i + 1, (*n - i - 1) * sizeof(*v));
        (*n)--;
        v[*n] = 0;
        return;
    }
}

static bool ids_sorted_unique(const raft_id *v, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        if (v[i] == RAFT_NONE) return false;
        if (i && v[i - 1] >= v[i]) return false;
    }
    return true;
}

bool raft_config_is_voter(const struct raft_config *c, raft_id id)
{
    return ids_has(c->voters, c->n_voters, id) || ids_has(c->voters_out, c->n_voters_out, id);
}

bool raft_config_is_learner(const struct raft_config *c, raft_id id)
{
    return ids_has(c->learners, c->n_learners, id);
}

bool raft_config_contains(const struct raft_config *c, raft_id id)
{
    return raft_config_is_voter(c, id) || raft_config_is_learner(c, id);
}

bool raft_config_equal(const struct raft_config *a, const struct raft_config *b)
{
    return a->n_voters == b->n_voters && a->n_voters_out == b->n_voters_out &&
           a->n_learners == b->n_learners &&
           !memcmp(a->voters, b->voters, a->n_voters * sizeof(raft_id)) &&
           !memcmp(a->voters_out, b->voters_out, a->n_voters_out * sizeof(raft_id)) &&
           !memcmp(a->learners, b->learners, a->n_learners * sizeof(raft_id));
}

int raft__config_check(const struct raft_config *c, bool allow_empty)
{
    if (c->n_voters > RAFT_MAX_NODES || c->n_voters_out > RAFT_MAX_NODES ||
        c->n_learners > RAFT_MAX_NODES)
        return CC_EINVAL;
    if (!ids_sorted_unique(c->voters, c->n_voters) ||
        !ids_sorted_unique(c->voters_out, c->n_voters_out) ||
        !ids_sorted_unique(c->learners, c->n_learners))
        return CC_EINVAL;
    if (c->n_voters == 0 && (c->n_voters_out || c->n_learners || !allow_empty)) return CC_EINVAL;
    for (uint32_t i = 0; i < c->n_learners; i++)
        if (ids_has(c->voters, c->n_voters, c->learners[i])) return CC_EINVAL;
    return 0;
}

/* Symmetric difference of two sorted voter lists. */
static uint32_t voters_changed(const struct raft_config *a, const struct raft_config *b)
{
    uint32_t d = 0;
    for (uint32_t i = 0; i < a->n_voters; i++) d += !ids_has(b->voters, b->n_voters, a->voters[i]);
    for (uint32_t i = 0; i < b->n_voters; i++) d += !ids_has(a->voters, a->n_voters, b->voters[i]);
    return d;
}

static int apply_one(struct raft_config *c, const struct raft_conf_change *ch)
{
    bool voter = ids_has(c->voters, c->n_voters, ch->id);
    bool learner = ids_has(c->learners, c->n_learners, ch->id);
    switch (ch->op) {
    case RAFT_CONF_ADD_VOTER:
    case RAFT_CONF_PROMOTE:
        if (voter || (ch->op == RAFT_CONF_PROMOTE && !learner)) return CC_ECONFCHANGE;
        ids_remove(c->learners, &c->n_learners, ch->id);
        return ids_insert(c->voters, &c->n_voters, ch->id);
    case RAFT_CONF_ADD_LEARNER:
        if (learner) return CC_ECONFCHANGE;
        ids_remove(c->voters, &c->n_voters, ch->id);
        return ids_insert(c->learners, &c->n_learners, ch->id);
    case RAFT_CONF_REMOVE:
        if (!voter && !learner) return CC_ECONFCHANGE;
        ids_remove(c->voters, &c->n_voters, ch->id);
        ids_remove(c->learners, &c->n_learners, ch->id);
        return 0;
    default:
        return CC_ECONFCHANGE;
    }
}

int raft__config_change(const struct raft_config *cur, const struct raft_conf_change *changes,
                        uint32_t n, struct raft_config *out)
{
    if (cur->n_voters_out) return CC_ECONFCHANGE; /* joint: the leave is still pending */
    /* No change: the same configuration again (the caller updates what its ctx describes,
     * e.g. a member's URLs, through the same one-change-at-a-time path). */
    if (n > 2 * RAFT_MAX_NODES) return CC_ETOOBIG;
    struct raft_config c = *cur;
    for (uint32_t i = 0; i < n; i++) {
        if (changes[i].id == RAFT_NONE) return CC_ECONFCHANGE;
        for (uint32_t j = 0; j < i; j++)
            if (changes[j].id == changes[i].id) return CC_ECONFCHANGE;
        int rc = apply_one(&c, &changes[i]);
        if (rc) return rc;
    }
    if (c.n_voters == 0) return CC_ECONFCHANGE; /* removing the last voter */
    memset(out, 0, sizeof(*out));
    out->n_voters = c.n_voters;
    memcpy(out->voters, c.voters, c.n_voters * sizeof(raft_id));
    out->n_learners = c.n_learners;
    memcpy(out->learners, c.learners, c.n_learners * sizeof(raft_id));
    if (voters_changed(cur, &c) > 1) {
        /* §4.3: C_old,new. voters_out is C_old; a voter being demoted stays in C_old until the
         * leave, and is already a learner of C_new. */
        out->n_voters_out = cur->n_voters;
        memcpy(out->voters_out, cur->voters, cur->n_voters * sizeof(raft_id));
    }
    return 0;
}

/* --- CONF entry codec: u32le config length | u32le n_voters | u32le n_voters_out |
 *     u32le n_learners | u64le ids ... | ctx bytes --------------------------------------------- */

static uint32_t config_encoded_len(const struct raft_config *c)
{
    return 12 + 8 * (c->n_voters + c->n_voters_out + c->n_learners);
}

static uint8_t *put_ids(uint8_t *p, const raft_id *v, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++, p += 8) put_u64le(p, v[i]);
    return p;
}

int raft_conf_entry_encode(const struct raft_config *cfg, const void *ctx, uint32_t ctx_len,
                           uint8_t **out, uint32_t *out_len)
{
    assert(cfg && out && out_len && (ctx || ctx_len == 0));
    assert(raft__config_check(cfg, false) == 0);
    uint32_t clen = config_encoded_len(cfg);
    if (ctx_len > UINT32_MAX - 4 - clen) return CC_ETOOBIG;
    uint32_t total = 4 + clen + ctx_len;
    uint8_t *b = malloc(total);
    if (!b) return CC_ENOMEM;
    uint8_t *p = b;
    put_u32le(p, clen);
    put_u32le(p + 4, cfg->n_voters);
    put_u32le(p + 8, cfg->n_voters_out);
    put_u32le(p + 12, cfg->n_learners);
    p = put_ids(p + 16, cfg->voters, cfg->n_voters);
    p = put_ids(p, cfg->voters_out, cfg->n_voters_out);
    p = put_ids(p, cfg->learners, cfg->n_learners);
    if (ctx_len) memcpy(p, ctx, ctx_len);
    *out = b;
    *out_len = total;
    return 0;
}

static void get_ids(struct cursor *c, raft_id *v, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) v[i] = cursor_u64le(c);
}

int raft_conf_entry_decode(const uint8_t *data, uint32_t len, struct raft_config *cfg,
                           const uint8_t **ctx, uint32_t *ctx_len)
{
    assert(cfg);
    if (!data && len) return CC_ECORRUPT;
    struct cursor c;
    cursor_init(&c, data, len);
    uint32_t clen = cursor_u32le(&c);
    struct raft_config tmp;
    memset(&tmp, 0, sizeof(tmp));
    tmp.n_voters = cursor_u32le(&c);
    tmp.n_voters_out = cursor_u32le(&c);
    tmp.n_learners = cursor_u32le(&c);
    if (c.err || tmp.n_voters > RAFT_MAX_NODES || tmp.n_voters_out > RAFT_MAX_NODES ||
        tmp.n_learners > RAFT_MAX_NODES || clen != config_encoded_len(&tmp) || clen > len - 4)
        return CC_ECORRUPT;
    get_ids(&c, tmp.voters, tmp.n_voters);
    get_ids(&c, tmp.voters_out, tmp.n_voters_out);
    get_ids(&c, tmp.learners, tmp.n_learners);
    if (c.err || raft__config_check(&tmp, false)) return CC_ECORRUPT;
    *cfg = tmp;
    if (ctx) *ctx = c.left ? c.p : NULL;
    if (ctx_len) *ctx_len = (uint32_t)c.left;
    return 0;
}
