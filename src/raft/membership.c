/* membership.c — configuration changes (§4): effective when appended, joint consensus. */
#include <stdlib.h>
#include <string.h>

#include "raft/raft_int.h"
#include "util/err.h"

int raft__conf_reserve(struct raft *r, uint32_t k)
{
    if (r->n_confs + k <= r->cap_confs) return 0;
    uint32_t cap = r->cap_confs ? r->cap_confs : 4;
    while (cap < r->n_confs + k) cap *= 2;
    struct raft_conf_rec *v = realloc(r->confs, cap * sizeof(*v));
    if (!v) return CC_ENOMEM;
    r->confs = v;
    r->cap_confs = cap;
    return 0;
}

void raft__conf_free(struct raft *r)
{
    free(r->confs);
    r->confs = NULL;
    r->n_confs = r->cap_confs = 0;
}

/* Forgets members outside the configuration; keeps those that must still hear from us when
 * keep(p) says so. Recomputes r->departing. */
static void prune(struct raft *r, bool (*keep)(const struct raft *, const struct progress *))
{
    r->departing = false;
    for (uint32_t i = 0; i < r->n_prs;) {
        struct progress *p = &r->prs[i];
        bool member = p->voter || p->voter_out || p->learner;
        if (member || (keep && keep(r, p))) {
            r->departing |= !member;
            i++;
            continue;
        }
        progress__free(p);
        *p = r->prs[--r->n_prs];
        memset(&r->prs[r->n_prs], 0, sizeof(r->prs[0]));
    }
}

static bool keep_all(const struct raft *r, const struct progress *p)
{
    return true;
}

static bool keep_untold(const struct raft *r, const struct progress *p)
{
    return p->sent_commit < r->conf_index && p->id != r->id;
}

static struct progress *progress_get(struct raft *r, raft_id id)
{
    struct progress *p = raft__progress(r, id);
    if (p) return p;
    /* Departing members are a courtesy: when a burst of changes fills the table, they go. */
    if (r->n_prs == sizeof(r->prs) / sizeof(r->prs[0])) prune(r, NULL);
    assert(r->n_prs < sizeof(r->prs) / sizeof(r->prs[0])); /* members <= RAFT_MAX_MEMBERS */
    p = &r->prs[r->n_prs++];
    progress__init(p, id, raft__last_index(r) + 1);
    return p;
}

void raft__progress_sync(struct raft *r)
{
    const struct raft_config *c = &r->cfg;
    for (uint32_t i = 0; i < r->n_prs; i++) {
        struct progress *p = &r->prs[i];
        p->voter = p->voter_out = p->learner = false;
    }
    for (uint32_t i = 0; i < c->n_voters; i++) progress_get(r, c->voters[i])->voter = true;
    for (uint32_t i = 0; i < c->n_voters_out; i++)
        progress_get(r, c->voters_out[i])->voter_out = true;
    for (uint32_t i = 0; i < c->n_learners; i++) progress_get(r, c->learners[i])->learner = true;
    /* Members a leader's change removes keep receiving the log until the change commits and
     * they have been told so (raft__drop_departing): that is how they learn the configuration
     * without them and stop campaigning (§4.2.3). They count toward nothing meanwhile. */
    prune(r, r->role == RAFT_LEADER ? keep_all : NULL);
    /* A transfer to a peer that is no longer an incoming voter cannot complete. */
    if (r->transferee) {
        bool ok = false;
        for (uint32_t i = 0; i < c->n_voters; i++) ok |= c->voters[i] == r->transferee;
        if (!ok) raft__transfer_abort(r);
    }
}

static void set_config(struct raft *r, uint64_t index, const struct raft_config *cfg)
{
    r->cfg = *cfg;
    r->conf_index = index;
    raft__progress_sync(r);
}

void raft__conf_appended(struct raft *r, uint64_t index, const struct raft_config *cfg)
{
    assert(r->n_confs < r->cap_confs); /* reserved by the caller */
    r->confs[r->n_confs].index = index;
    r->confs[r->n_confs].cfg = *cfg;
    r->n_confs++;
    /* §4.1: a server uses the latest configuration in its log, committed or not. */
    set_config(r, index, cfg);
}

void raft__conf_truncated(struct raft *r, uint64_t from)
{
    if (r->n_confs == 0 || r->confs[r->n_confs - 1].index < from) return;
    while (r->n_confs && r->confs[r->n_confs - 1].index >= from) r->n_confs--;
    /* The entry that set the configuration is gone: fall back to the previous one. */
    if (r->n_confs)
        set_config(r, r->confs[r->n_confs - 1].index, &r->confs[r->n_confs - 1].cfg);
    else
        set_config(r, r->log.offset, &r->base_cfg);
}

const struct raft_config *raft__config_at(const struct raft *r, uint64_t index)
{
    for (uint32_t i = r->n_confs; i > 0; i--)
        if (r->confs[i - 1].index <= index) return &r->confs[i - 1].cfg;
    return &r->base_cfg;
}

void raft__conf_compacted(struct raft *r, uint64_t upto)
{
    uint32_t drop = 0;
    while (drop < r->n_confs && r->confs[drop].index <= upto) drop++;
    if (drop == 0) return;
    r->base_cfg = r->confs[drop - 1].cfg;
    memmove(r->confs, r->confs + drop, (r->n_confs - drop) * sizeof(*r->confs));
    r->n_confs -= drop;
}

void raft__conf_reset(struct raft *r, uint64_t index, const struct raft_config *cfg)
{
    r->base_cfg = *cfg;
    r->n_confs = 0;
    set_config(r, index, cfg);
}

void raft__drop_departing(struct raft *r, bool only_told)
{
    if (!r->departing || r->role != RAFT_LEADER || r->conf_index > r->commit) return;
    prune(r, only_told ? keep_untold : NULL);
}

/* Appends cfg as a CONF entry carrying ctx. */
static int append_conf(struct raft *r, const struct raft_config *cfg, const void *ctx,
                       uint32_t ctx_len, uint64_t *index_out)
{
    uint8_t *data;
    uint32_t len;
    int rc = raft_conf_entry_encode(cfg, ctx, ctx_len, &data, &len);
    if (rc) return rc;
    if (len > r->o.max_entry_bytes) {
        free(data);
        return CC_ETOOBIG;
    }
    rc = raft__append_local(r, RAFT_ENTRY_CONF, data, len, index_out);
    free(data);
    return rc;
}

/* Hands leadership to the most up-to-date voter before a removed leader steps down, so the
 * cluster need not wait out the followers' leases. */
static void hand_off(struct raft *r)
{
    const struct progress *best = NULL;
    for (uint32_t i = 0; i < r->n_prs; i++) {
        const struct progress *p = &r->prs[i];
        if (p->id == r->id || !p->voter) continue;
        if (!best || p->match > best->match) best = p;
    }
    if (best && best->match == raft__last_index(r)) {
        raft__send(r, RAFT_MSG_TIMEOUT_NOW, best->id, false);
        r->lease_void = true;
    }
}

void raft__conf_committed(struct raft *r)
{
    if (r->role != RAFT_LEADER || r->conf_index > r->commit) return;
    if (r->cfg.n_voters_out) {
        /* §4.3: C_old,new is committed; move on to C_new. */
        struct raft_config next = r->cfg;
        next.n_voters_out = 0;
        memset(next.voters_out, 0, sizeof(next.voters_out));
        append_conf(r, &next, NULL, 0, NULL); /* on failure the next tick retries */
        return;
    }
    if (!raft_config_is_voter(&r->cfg, r->id)) {
        /* §4.2.2: a leader that is not part of C_new steps down once C_new is committed. */
        hand_off(r);
        raft__become_follower(r, r->term, RAFT_NONE);
    }
}

int raft_propose_conf(struct raft *r, const struct raft_conf_change *changes, uint32_t n,
                      const void *ctx, uint32_t ctx_len, uint64_t *index_out)
{
    assert(r && (changes || n == 0) && (ctx || ctx_len == 0));
    raft_out__prepare(&r->out);
    if (index_out) *index_out = 0;
    if (r->role != RAFT_LEADER) return CC_ENOTLEADER;
    if (r->transferee) return CC_ETRANSFER;
    /* The fix for single-server changes (raft-dev, 2015): a new leader first commits an entry
     * of its own term, and only one change is ever uncommitted. */
    if (!raft__term_committed(r) || r->conf_index > r->commit) return CC_ECONFCHANGE;
    struct raft_config next;
    int rc = raft__config_change(&r->cfg, changes, n, &next);
    if (rc) return rc;
    return append_conf(r, &next, ctx, ctx_len, index_out);
}
