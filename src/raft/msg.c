/* msg.c — peer message validation, deep copies and names for traces. */
#include <stdlib.h>
#include <string.h>

#include "raft/raft_int.h"
#include "util/err.h"

int raft__entries_validate(const struct raft_entry *e, uint32_t n, bool check_conf)
{
    if (n > RAFT_MAX_MSG_ENTRIES_LIMIT) return CC_ETOOBIG;
    if (n && !e) return CC_EPROTO;
    for (uint32_t i = 0; i < n; i++) {
        if (e[i].len > RAFT_MAX_ENTRY_BYTES_LIMIT) return CC_ETOOBIG;
        if ((e[i].len == 0) != (e[i].data == NULL)) return CC_EPROTO;
        if (e[i].type < RAFT_ENTRY_NORMAL || e[i].type > RAFT_ENTRY_CONF) return CC_EPROTO;
        if (check_conf && e[i].type == RAFT_ENTRY_CONF) {
            struct raft_config c;
            if (raft_conf_entry_decode(e[i].data, e[i].len, &c, NULL, NULL)) return CC_EPROTO;
        }
    }
    return 0;
}

static int validate_append(const struct raft_msg *m)
{
    if (m->term == 0 || m->log_term > m->term) return CC_EPROTO;
    if (m->n_entries > RAFT_MAX_MSG_ENTRIES_LIMIT) return CC_ETOOBIG;
    if (m->index > UINT64_MAX - RAFT_MAX_MSG_ENTRIES_LIMIT) return CC_EPROTO;
    if (m->index == 0 && m->log_term != 0) return CC_EPROTO;
    if (m->n_entries && !m->entries) return CC_EPROTO;
    uint64_t prev_term = m->log_term;
    for (uint32_t i = 0; i < m->n_entries; i++) {
        const struct raft_entry *e = &m->entries[i];
        /* Contiguous after prev, terms never decreasing and never above the sender's term. */
        if (e->index != m->index + 1 + i || e->term < prev_term || e->term > m->term ||
            e->term == 0)
            return CC_EPROTO;
        prev_term = e->term;
    }
    return raft__entries_validate(m->entries, m->n_entries, true);
}

static int validate_snapshot(const struct raft_msg *m)
{
    if (m->term == 0) return CC_EPROTO;
    if (m->len > RAFT_MAX_SNAP_CHUNK_LIMIT) return CC_ETOOBIG;
    if ((m->len == 0) != (m->data == NULL)) return CC_EPROTO;
    if (m->offset > m->snap_size || m->len > m->snap_size - m->offset) return CC_EPROTO;
    if (m->done != (m->offset + m->len == m->snap_size)) return CC_EPROTO;
    if (m->len == 0 && m->snap_size != 0) return CC_EPROTO; /* empty chunks only for empty snaps */
    if (m->snap.index == 0 || m->snap.term == 0 || m->snap.term > m->term) return CC_EPROTO;
    if (raft__config_check(&m->snap.config, false)) return CC_EPROTO;
    return 0;
}

int raft__msg_validate(const struct raft *r, const struct raft_msg *m)
{
    if (m->to != r->id || m->from == RAFT_NONE || m->from == r->id) return CC_EPROTO;
    if (m->type < RAFT_MSG_APPEND || m->type > RAFT_MSG_TYPE_MAX_) return CC_EPROTO;
    if (m->type != RAFT_MSG_APPEND && m->type != RAFT_MSG_PROPOSE && m->n_entries) return CC_EPROTO;
    if (m->type != RAFT_MSG_SNAPSHOT && (m->len || m->data)) return CC_EPROTO;
    switch (m->type) {
    case RAFT_MSG_APPEND:
        return validate_append(m);
    case RAFT_MSG_SNAPSHOT:
        return validate_snapshot(m);
    case RAFT_MSG_PROPOSE:
        if (m->n_entries == 0) return CC_EPROTO;
        return raft__entries_validate(m->entries, m->n_entries, false);
    case RAFT_MSG_VOTE:
    case RAFT_MSG_PREVOTE:
        if (m->term == 0 || (m->index == 0 && m->log_term != 0)) return CC_EPROTO;
        return 0;
    case RAFT_MSG_APPEND_RESP:
    case RAFT_MSG_VOTE_RESP:
    case RAFT_MSG_PREVOTE_RESP:
    case RAFT_MSG_HEARTBEAT:
    case RAFT_MSG_HEARTBEAT_RESP:
    case RAFT_MSG_SNAPSHOT_RESP:
    case RAFT_MSG_TIMEOUT_NOW:
        return m->term == 0 ? CC_EPROTO : 0;
    case RAFT_MSG_TRANSFER_LEADER:
        return m->index == RAFT_NONE ? CC_EPROTO : 0;
    default:
        return 0; /* READ_INDEX, READ_INDEX_RESP */
    }
}

void raft_msg_release(struct raft_msg *m)
{
    if (!m) return;
    if (m->entries) {
        for (uint32_t i = 0; i < m->n_entries; i++) free(m->entries[i].data);
        free(m->entries);
    }
    free(m->data);
    m->entries = NULL;
    m->n_entries = 0;
    m->data = NULL;
    m->len = 0;
}

static void *dup_bytes(const void *p, size_t n)
{
    if (!n) return NULL;
    void *d = malloc(n);
    if (d) memcpy(d, p, n);
    return d;
}

int raft_msg_copy(struct raft_msg *dst, const struct raft_msg *src)
{
    assert(dst && src && dst != src);
    *dst = *src;
    dst->entries = NULL;
    dst->n_entries = 0;
    dst->data = NULL;
    if (src->n_entries) {
        dst->entries = calloc(src->n_entries, sizeof(*dst->entries));
        if (!dst->entries) goto nomem;
        for (uint32_t i = 0; i < src->n_entries; i++) {
            dst->entries[i] = src->entries[i];
            dst->entries[i].data = dup_bytes(src->entries[i].data, src->entries[i].len);
            dst->n_entries = i + 1;
            if (src->entries[i].len && !dst->entries[i].data) goto nomem;
        }
    }
    if (src->len && src->data) {
        dst->data = dup_bytes(src->data, src->len);
        if (!dst->data) goto nomem;
    }
    return 0;
nomem:
    raft_msg_release(dst);
    memset(dst, 0, sizeof(*dst));
    return CC_ENOMEM;
}

const char *raft_msg_type_name(uint8_t type)
{
    static const char *const names[] = {
        "INVALID",        "APPEND",          "APPEND_RESP",   "VOTE",
        "VOTE_RESP",      "PREVOTE",         "PREVOTE_RESP",  "HEARTBEAT",
        "HEARTBEAT_RESP", "SNAPSHOT",        "SNAPSHOT_RESP", "PROPOSE",
        "READ_INDEX",     "READ_INDEX_RESP", "TIMEOUT_NOW",   "TRANSFER_LEADER",
    };
    return type <= RAFT_MSG_TYPE_MAX_ ? names[type] : "INVALID";
}

const char *raft_role_name(enum raft_role role)
{
    switch (role) {
    case RAFT_FOLLOWER:
        return "follower";
    case RAFT_PRE_CANDIDATE:
        return "pre-candidate";
    case RAFT_CANDIDATE:
        return "candidate";
    case RAFT_LEADER:
        return "leader";
    }
    return "unknown";
}
