/* members.c — the member table, peer connections, attributes and membership changes. */
#include "server/members.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"

#define CTX_VERSION                 1
#define ATTR_VERSION                1
#define MEMBER_CHANGE_TIMEOUT_MS(m) (5000 + 2ull * (m)->cfg.election_ms)

/* Origin client ID of membership changes: a value outside our write slots' range. */
static uint64_t origin_cid(const struct member *m)
{
    return m->session_base | 0xffff;
}

/* ---- encoding ---- */

static int put_str(struct buf *b, const char *s)
{
    size_t n = strlen(s);
    int rc = buf_put_uvarint(b, n);
    return rc ? rc : buf_append(b, s, n);
}

static int get_str(struct cursor *c, char *out, size_t cap)
{
    uint64_t n = cursor_uvarint(c);
    if (c->err || n >= cap) return CC_ECORRUPT;
    const uint8_t *p = cursor_bytes(c, n);
    if (!p) return CC_ECORRUPT;
    memcpy(out, p, n);
    out[n] = 0;
    return 0;
}

int members__encode_ctx(const struct srv_member *tab, uint32_t n, uint64_t cid, uint64_t seq,
                        struct buf *out)
{
    int rc = buf_put_u8(out, CTX_VERSION);
    rc = rc ? rc : buf_put_u64le(out, cid);
    rc = rc ? rc : buf_put_u64le(out, seq);
    rc = rc ? rc : buf_put_uvarint(out, n);
    for (uint32_t i = 0; i < n && !rc; i++) {
        rc = buf_put_u64le(out, tab[i].id);
        rc = rc ? rc : buf_put_u8(out, tab[i].is_learner);
        rc = rc ? rc : put_str(out, tab[i].name);
        rc = rc ? rc : buf_put_uvarint(out, tab[i].n_peer_urls);
        for (uint32_t k = 0; k < tab[i].n_peer_urls && !rc; k++)
            rc = put_str(out, tab[i].peer_urls[k]);
    }
    return rc;
}

static int decode_ctx(const uint8_t *p, size_t len, struct srv_member *tab, uint32_t max,
                      uint32_t *n_out, uint64_t *cid, uint64_t *seq)
{
    struct cursor c;
    cursor_init(&c, p, len);
    if (cursor_u8(&c) != CTX_VERSION) return CC_ECORRUPT;
    *cid = cursor_u64le(&c);
    *seq = cursor_u64le(&c);
    uint64_t n = cursor_uvarint(&c);
    if (c.err || n > max) return CC_ECORRUPT;
    for (uint32_t i = 0; i < n; i++) {
        struct srv_member *e = &tab[i];
        memset(e, 0, sizeof(*e));
        e->id = cursor_u64le(&c);
        e->is_learner = cursor_u8(&c) != 0;
        if (get_str(&c, e->name, sizeof(e->name))) return CC_ECORRUPT;
        uint64_t np = cursor_uvarint(&c);
        if (c.err || np > SRV_MAX_URLS) return CC_ECORRUPT;
        e->n_peer_urls = (uint32_t)np;
        for (uint32_t k = 0; k < np; k++)
            if (get_str(&c, e->peer_urls[k], SRV_URL_MAX)) return CC_ECORRUPT;
    }
    if (c.err || c.left) return CC_ECORRUPT;
    *n_out = (uint32_t)n;
    return 0;
}

static int encode_attr(const struct member *m, struct buf *out)
{
    int rc = buf_put_u8(out, ATTR_VERSION);
    rc = rc ? rc : put_str(out, m->cfg.name);
    rc = rc ? rc : buf_put_uvarint(out, m->cfg.advertise_client_urls.n);
    for (uint32_t k = 0; k < m->cfg.advertise_client_urls.n && !rc; k++)
        rc = put_str(out, m->cfg.advertise_client_urls.v[k].text);
    return rc;
}

static int decode_attr(const uint8_t *p, size_t len, struct srv_member *e)
{
    struct cursor c;
    cursor_init(&c, p, len);
    if (cursor_u8(&c) != ATTR_VERSION) return CC_ECORRUPT;
    char name[SRV_NAME_MAX];
    if (get_str(&c, name, sizeof(name))) return CC_ECORRUPT;
    uint64_t nc = cursor_uvarint(&c);
    if (c.err || nc > SRV_MAX_URLS) return CC_ECORRUPT;
    char urls[SRV_MAX_URLS][SRV_URL_MAX];
    for (uint32_t k = 0; k < nc; k++)
        if (get_str(&c, urls[k], SRV_URL_MAX)) return CC_ECORRUPT;
    if (c.left) return CC_ECORRUPT;
    memcpy(e->name, name, sizeof(name));
    e->n_client_urls = (uint32_t)nc;
    memcpy(e->client_urls, urls, sizeof(urls[0]) * nc);
    return 0;
}

static void attr_key(uint64_t id, char *out, size_t cap)
{
    snprintf(out, cap, "%s%016llx", MEMBERS_ATTR_PFX, (unsigned long long)id);
}

/* ---- the table ---- */

static struct srv_member *find(struct member *m, uint64_t id)
{
    for (uint32_t i = 0; i < m->n_members; i++)
        if (m->members[i].id == id) return &m->members[i];
    return NULL;
}

struct attr_scan {
    struct member *m;
};

static int on_attr(void *arg, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
    struct attr_scan *s = arg;
    size_t pl = strlen(MEMBERS_ATTR_PFX);
    if (kl != pl + 16) return 0;
    char hex[17];
    memcpy(hex, k + pl, 16);
    hex[16] = 0;
    uint64_t id = strtoull(hex, NULL, 16);
    struct srv_member *e = find(s->m, id);
    if (e) decode_attr(v, vl, e);
    return 0;
}

static void sync_peers(struct member *m)
{
    if (!m->tp) return;
    for (uint32_t i = 0; i < m->n_members; i++) {
        const struct srv_member *e = &m->members[i];
        if (e->id == m->cfg.member_id || !e->n_peer_urls) continue;
        int rc = transport_add_peer(m->tp, e->id, e->peer_urls[0]);
        if (rc)
            log_warn(&m->log, "cannot add peer %016llx at %s: %s", (unsigned long long)e->id,
                     e->peer_urls[0], cc_strerror(rc));
    }
    raft_id ids[TRANSPORT_MAX_PEERS];
    uint32_t n = transport_peer_ids(m->tp, ids, TRANSPORT_MAX_PEERS);
    for (uint32_t i = 0; i < n && i < TRANSPORT_MAX_PEERS; i++)
        if (!find(m, ids[i])) transport_remove_peer(m->tp, ids[i]);
}

void members__reload(struct member *m)
{
    struct buf v;
    buf_init(&v, KV_META_VALUE_MAX);
    int rc = kv_meta_get(m->kv, MEMBERS_KEY, strlen(MEMBERS_KEY), &v);
    if (rc == 0) {
        uint64_t cid, seq;
        uint32_t n = 0;
        if (decode_ctx(v.data, v.len, m->members, 2 * RAFT_MAX_NODES, &n, &cid, &seq) == 0)
            m->n_members = n;
        else
            log_error(&m->log, "the stored member table does not decode; keeping the old one");
    }
    buf_free(&v);
    struct attr_scan s = {m};
    kv_meta_list(m->kv, MEMBERS_ATTR_PFX, strlen(MEMBERS_ATTR_PFX), on_attr, &s);
    struct srv_member *self = find(m, m->cfg.member_id);
    m->attr_published = self && !strcmp(self->name, m->cfg.name) &&
                        self->n_client_urls == m->cfg.advertise_client_urls.n;
    struct raft_status st;
    if (m->raft) {
        raft_status(m->raft, &st);
        m->conf = st.config;
        if (raft_config_contains(&m->conf, m->cfg.member_id)) m->was_member = true;
    }
    member__alarms_reload(m);
    sync_peers(m);
}

void members__connect_peers(struct member *m)
{
    if (m->n_members) {
        sync_peers(m);
        return;
    }
    /* Nothing applied yet: the peers are the ones named by --initial-cluster. A joining member
     * learns the others' IDs when they contact it (members__note_sender). */
    if (m->cfg.cluster_state != CFG_CLUSTER_NEW) return;
    for (uint32_t i = 0; i < m->cfg.n_initial; i++) {
        const struct cfg_member *c = &m->cfg.initial[i];
        if (c->id == m->cfg.member_id) continue;
        transport_add_peer(m->tp, c->id, c->peer_urls.v[0].text);
    }
}

void members__note_sender(struct member *m, uint64_t id)
{
    struct transport_peer_stats ps;
    if (!m->tp || transport_peer_stats(m->tp, id, &ps) == 0) return;
    const struct srv_member *e = find(m, id);
    if (e && e->n_peer_urls) {
        transport_add_peer(m->tp, id, e->peer_urls[0]);
        return;
    }
    /* Not in our table yet (we are joining): the sender is one of --initial-cluster, its ID
     * derived with its name (an initial member) or without (a member added at run time). */
    for (uint32_t i = 0; i < m->cfg.n_initial; i++) {
        const struct cfg_member *c = &m->cfg.initial[i];
        if (c->id == id || config_member_id("", &c->peer_urls, m->cfg.token) == id) {
            log_info(&m->log, "learned peer %016llx at %s", (unsigned long long)id,
                     c->peer_urls.v[0].text);
            transport_add_peer(m->tp, id, c->peer_urls.v[0].text);
            return;
        }
    }
}

int members__bootstrap_entry(struct member *m, struct raft_entry *e, uint8_t **data)
{
    struct srv_member tab[CFG_MAX_MEMBERS];
    struct raft_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    for (uint32_t i = 0; i < m->cfg.n_initial; i++) {
        const struct cfg_member *c = &m->cfg.initial[i];
        memset(&tab[i], 0, sizeof(tab[i]));
        tab[i].id = c->id;
        snprintf(tab[i].name, sizeof(tab[i].name), "%s", c->name);
        tab[i].n_peer_urls = c->peer_urls.n;
        for (uint32_t k = 0; k < c->peer_urls.n; k++)
            snprintf(tab[i].peer_urls[k], SRV_URL_MAX, "%s", c->peer_urls.v[k].text);
        cfg.voters[cfg.n_voters++] = c->id;
    }
    /* Sorted voters, as raft.h requires. */
    for (uint32_t i = 1; i < cfg.n_voters; i++)
        for (uint32_t k = i; k > 0 && cfg.voters[k - 1] > cfg.voters[k]; k--) {
            raft_id t = cfg.voters[k];
            cfg.voters[k] = cfg.voters[k - 1];
            cfg.voters[k - 1] = t;
        }
    struct buf ctx;
    buf_init(&ctx, KV_META_VALUE_MAX);
    int rc = members__encode_ctx(tab, m->cfg.n_initial, 0, 0, &ctx);
    uint32_t len = 0;
    if (!rc) rc = raft_conf_entry_encode(&cfg, ctx.data, (uint32_t)ctx.len, data, &len);
    buf_free(&ctx);
    if (rc) return rc;
    memset(e, 0, sizeof(*e));
    e->index = 1;
    e->term = 1;
    e->type = RAFT_ENTRY_CONF;
    e->data = *data;
    e->len = len;
    return 0;
}

/* ---- applying ---- */

int members__conf_cmd(struct member *m, const uint8_t *ctx, uint32_t ctx_len, struct buf *out)
{
    (void)m;
    if (!ctx_len) return 0;
    struct kv_cmd c;
    memset(&c, 0, sizeof(c));
    c.type = KV_CMD_META_PUT;
    c.u.meta.key.p = (const uint8_t *)MEMBERS_KEY;
    c.u.meta.key.len = strlen(MEMBERS_KEY);
    c.u.meta.value.p = ctx;
    c.u.meta.value.len = ctx_len;
    return kv_cmd_encode(&c, out);
}

void members__conf_applied(struct member *m, const struct raft_config *cfg, const uint8_t *ctx,
                           uint32_t ctx_len)
{
    m->conf = *cfg;
    uint64_t cid = 0, seq = 0;
    if (ctx_len) {
        uint32_t n = 0;
        if (decode_ctx(ctx, ctx_len, m->members, 2 * RAFT_MAX_NODES, &n, &cid, &seq) == 0) {
            m->n_members = n;
            struct attr_scan s = {m};
            kv_meta_list(m->kv, MEMBERS_ATTR_PFX, strlen(MEMBERS_ATTR_PFX), on_attr, &s);
        } else {
            log_error(&m->log, "a configuration entry's member table does not decode");
        }
    }
    for (uint32_t i = 0; i < m->n_members; i++)
        m->members[i].is_learner = raft_config_is_learner(cfg, m->members[i].id);
    sync_peers(m);
    /* A member joining an existing cluster replays configurations from before it was added:
     * only a configuration applied after one that contained us means we were removed. */
    bool in = raft_config_contains(cfg, m->cfg.member_id);
    if (in) m->was_member = true;
    if (!in && m->was_member && !m->removed) {
        m->removed = true;
        log_error(&m->log, "the member has been permanently removed from the cluster");
        /* As etcd: a removed member stops (cleanly: its data stays for inspection). */
        member__shutdown(m, "removed from the cluster", 0);
    }
    if (m->mchange.active && cid == origin_cid(m) && seq == m->mchange.seq) {
        m->mchange.active = false;
        struct srv_member changed;
        memset(&changed, 0, sizeof(changed));
        const struct srv_member *e = find(m, m->mchange.target);
        if (e)
            changed = *e;
        else
            changed.id = m->mchange.target;
        m->mchange.cb(m->mchange.arg, 0, &changed);
    }
}

void members__result_applied(struct member *m, const struct kv_result *res)
{
    if (res->type == KV_CMD_META_PUT || res->type == KV_CMD_META_DELETE) {
        member__alarms_reload(m);
        struct attr_scan s = {m};
        kv_meta_list(m->kv, MEMBERS_ATTR_PFX, strlen(MEMBERS_ATTR_PFX), on_attr, &s);
    }
}

/* ---- attributes ---- */

static void attr_done(void *arg, int err, const struct kv_result *res)
{
    struct member *m = arg;
    if (err == 0 && res && res->err == 0) {
        m->attr_published = true;
        log_info(&m->log, "published name %s and client URLs to the cluster", m->cfg.name);
    } else {
        m->attr_retry_ms = member__now_ms() + m->cfg.election_ms;
    }
}

static void publish_attr(struct member *m)
{
    if (m->attr_published || !m->leader || m->stopped || m->removed) return;
    if (member__now_ms() < m->attr_retry_ms) return;
    if (!find(m, m->cfg.member_id)) return; /* not in the table yet (joining) */
    struct buf v;
    buf_init(&v, 4096);
    char key[64];
    attr_key(m->cfg.member_id, key, sizeof(key));
    struct kv_cmd c;
    memset(&c, 0, sizeof(c));
    c.type = KV_CMD_META_PUT;
    c.u.meta.key.p = (const uint8_t *)key;
    c.u.meta.key.len = strlen(key);
    if (encode_attr(m, &v) == 0) {
        c.u.meta.value.p = v.data;
        c.u.meta.value.len = v.len;
        /* Retry after an election timeout if this attempt fails or times out. */
        m->attr_retry_ms = member__now_ms() + 10ull * m->cfg.election_ms;
        member__write(m, &c, attr_done, m, NULL, true);
    }
    buf_free(&v);
}

void members__on_leader(struct member *m)
{
    publish_attr(m);
    if (m->transfer.active && m->leader == m->transfer.target) {
        m->transfer.active = false;
        m->transfer.cb(m->transfer.arg, 0);
    }
}

/* A member whose removal it never applied (the leader stops replicating to it as soon as the
 * removal is appended, so the commit may never reach it) learns it from its peers: they refuse
 * its connections with CC_EREMOVED once they have applied the removal (etcd: 410 Gone). */
static void check_refused_as_removed(struct member *m)
{
    if (!m->tp || m->removed) return;
    raft_id ids[TRANSPORT_MAX_PEERS];
    uint32_t n = transport_peer_ids(m->tp, ids, TRANSPORT_MAX_PEERS);
    for (uint32_t i = 0; i < n && i < TRANSPORT_MAX_PEERS; i++) {
        struct transport_peer_stats ps;
        if (transport_peer_stats(m->tp, ids[i], &ps) || ps.last_error != CC_EREMOVED) continue;
        m->removed = true;
        log_error(&m->log, "the member has been permanently removed from the cluster (%s)",
                  ps.last_error_msg);
        member__shutdown(m, "removed from the cluster", 0);
        return;
    }
}

void members__tick(struct member *m, uint64_t now_ms)
{
    publish_attr(m);
    check_refused_as_removed(m);
    if (m->mchange.active && now_ms >= m->mchange.deadline_ms) {
        m->mchange.active = false;
        m->mchange.cb(m->mchange.arg, CC_ETIMEDOUT, NULL);
    }
    if (m->transfer.active && now_ms >= m->transfer.deadline_ms) {
        m->transfer.active = false;
        m->transfer.cb(m->transfer.arg, CC_ETIMEDOUT);
    }
}

/* ---- the API ---- */

uint32_t srv_members(struct member *m, struct srv_member *out, uint32_t max)
{
    uint32_t n = m->n_members < max ? m->n_members : max;
    memcpy(out, m->members, n * sizeof(out[0]));
    return n;
}

/* Proposes a configuration change with the new table; cb fires when it is applied here. */
static int propose_change(struct member *m, const struct raft_conf_change *ch, uint32_t n_ch,
                          const struct srv_member *tab, uint32_t n_tab, uint64_t target,
                          srv_member_fn cb, void *arg)
{
    if (m->stopped) return CC_ESTOPPED;
    if (m->role != RAFT_LEADER) return m->leader ? CC_ENOTLEADER : CC_ENOLEADER;
    if (m->mchange.active) return CC_ECONFCHANGE;
    struct buf ctx;
    buf_init(&ctx, KV_META_VALUE_MAX);
    uint64_t seq = m->mchange_seq + 1;
    int rc = members__encode_ctx(tab, n_tab, origin_cid(m), seq, &ctx);
    if (!rc) rc = raft_propose_conf(m->raft, ch, n_ch, ctx.data, (uint32_t)ctx.len, NULL);
    buf_free(&ctx);
    if (rc) return rc;
    m->mchange_seq = seq;
    m->mchange.active = true;
    m->mchange.seq = seq;
    m->mchange.target = target;
    m->mchange.deadline_ms = member__now_ms() + MEMBER_CHANGE_TIMEOUT_MS(m);
    m->mchange.cb = cb;
    m->mchange.arg = arg;
    return 0;
}

static int parse_urls(const char *const *urls, uint32_t n, struct cfg_urls *out)
{
    if (n == 0 || n > CFG_MAX_URLS) return CC_EINVAL;
    char err[128];
    out->n = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (config_parse_url(urls[i], &out->v[i], err, sizeof(err))) return CC_EINVAL;
        out->n++;
    }
    return 0;
}

static bool url_taken(const struct member *m, const struct cfg_urls *u, uint64_t except)
{
    for (uint32_t i = 0; i < m->n_members; i++) {
        if (m->members[i].id == except) continue;
        for (uint32_t k = 0; k < m->members[i].n_peer_urls; k++)
            for (uint32_t j = 0; j < u->n; j++)
                if (!strcmp(m->members[i].peer_urls[k], u->v[j].text)) return true;
    }
    return false;
}

int srv_member_add(struct member *m, const char *const *peer_urls, uint32_t n, bool learner,
                   srv_member_fn cb, void *arg)
{
    struct cfg_urls u;
    if (parse_urls(peer_urls, n, &u)) return CC_EINVAL;
    if (url_taken(m, &u, 0)) return CC_EEXIST;
    if (m->n_members >= RAFT_MAX_NODES) return CC_ETOOBIG;
    struct srv_member tab[2 * RAFT_MAX_NODES];
    memcpy(tab, m->members, m->n_members * sizeof(tab[0]));
    struct srv_member *e = &tab[m->n_members];
    memset(e, 0, sizeof(*e));
    e->id = config_member_id("", &u, m->cfg.token);
    if (find(m, e->id)) return CC_EEXIST;
    e->is_learner = learner;
    e->n_peer_urls = u.n;
    for (uint32_t i = 0; i < u.n; i++) snprintf(e->peer_urls[i], SRV_URL_MAX, "%s", u.v[i].text);
    struct raft_conf_change ch = {learner ? RAFT_CONF_ADD_LEARNER : RAFT_CONF_ADD_VOTER, e->id};
    return propose_change(m, &ch, 1, tab, m->n_members + 1, e->id, cb, arg);
}

int srv_member_remove(struct member *m, uint64_t id, srv_member_fn cb, void *arg)
{
    if (!find(m, id)) return CC_ENOTFOUND;
    struct srv_member tab[2 * RAFT_MAX_NODES];
    uint32_t n = 0;
    for (uint32_t i = 0; i < m->n_members; i++)
        if (m->members[i].id != id) tab[n++] = m->members[i];
    struct raft_conf_change ch = {RAFT_CONF_REMOVE, id};
    return propose_change(m, &ch, 1, tab, n, id, cb, arg);
}

int srv_member_update(struct member *m, uint64_t id, const char *const *peer_urls, uint32_t n,
                      srv_member_fn cb, void *arg)
{
    struct srv_member *cur = find(m, id);
    if (!cur) return CC_ENOTFOUND;
    struct cfg_urls u;
    if (parse_urls(peer_urls, n, &u)) return CC_EINVAL;
    if (url_taken(m, &u, id)) return CC_EEXIST;
    struct srv_member tab[2 * RAFT_MAX_NODES];
    memcpy(tab, m->members, m->n_members * sizeof(tab[0]));
    struct srv_member *e = &tab[cur - m->members];
    e->n_peer_urls = u.n;
    for (uint32_t i = 0; i < u.n; i++) snprintf(e->peer_urls[i], SRV_URL_MAX, "%s", u.v[i].text);
    /* No voter changes: a configuration entry carrying the same configuration and the new
     * table (the core applies it as a no-op change). */
    return propose_change(m, NULL, 0, tab, m->n_members, id, cb, arg);
}

int srv_member_promote(struct member *m, uint64_t id, srv_member_fn cb, void *arg)
{
    struct srv_member *cur = find(m, id);
    if (!cur) return CC_ENOTFOUND;
    if (!raft_config_is_learner(&m->conf, id)) return CC_EINVAL;
    if (m->role == RAFT_LEADER) {
        /* etcd only promotes a learner whose log is within 10% of the leader's. */
        struct raft_status st;
        raft_status(m->raft, &st);
        for (uint32_t i = 0; i < st.n_peers; i++)
            if (st.peers[i].id == id && st.peers[i].match < st.last_index - st.last_index / 10)
                return CC_ECONFCHANGE;
    }
    struct srv_member tab[2 * RAFT_MAX_NODES];
    memcpy(tab, m->members, m->n_members * sizeof(tab[0]));
    tab[cur - m->members].is_learner = false;
    struct raft_conf_change ch = {RAFT_CONF_PROMOTE, id};
    return propose_change(m, &ch, 1, tab, m->n_members, id, cb, arg);
}

int srv_move_leader(struct member *m, uint64_t target, srv_done_fn cb, void *arg)
{
    if (m->stopped) return CC_ESTOPPED;
    if (m->role != RAFT_LEADER) return CC_ENOTLEADER;
    if (m->transfer.active) return CC_ETRANSFER;
    if (target == m->cfg.member_id) return CC_EINVAL;
    int rc = raft_transfer_leadership(m->raft, target);
    if (rc) return rc;
    m->transfer.active = true;
    m->transfer.target = target;
    m->transfer.deadline_ms = member__now_ms() + 3ull * m->cfg.election_ms;
    m->transfer.cb = cb;
    m->transfer.arg = arg;
    return 0;
}
