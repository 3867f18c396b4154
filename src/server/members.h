/* members.h — cluster membership as the member sees it: the replicated member table, peer
 * connections, member attributes, and safe membership changes through Raft. */
#ifndef CONCUR_SERVER_MEMBERS_H
#define CONCUR_SERVER_MEMBERS_H

#include <stdbool.h>
#include <stdint.h>

#include "server/member.h"
#include "util/buf.h"

/*
 * Where membership lives. The Raft configuration (voters, learners) is the core's. The member
 * table — IDs, names and peer URLs — travels in every CONF entry's context as the complete new
 * table and is stored by the state machine under the metadata key "members" atomically with
 * the entry's index, so restarts and snapshots restore it. A member's client URLs and name
 * (its attributes, known once it has started) are published by the member itself under
 * "attr/<id hex>". A new cluster starts with one CONF entry at index 1, term 1, holding the
 * initial table, written identically by every initial member (as etcd bootstraps).
 */

#define MEMBERS_KEY      "members"
#define MEMBERS_ATTR_PFX "attr/"

/* Encodes the member table (m->members) with a change origin into out. */
int members__encode_ctx(const struct srv_member *tab, uint32_t n, uint64_t origin_cid,
                        uint64_t origin_seq, struct buf *out);

/* The state-machine command a CONF entry with context ctx applies (a META_PUT of the table),
 * encoded into out; out stays empty when ctx is empty (joint-consensus leave entries). */
int members__conf_cmd(struct member *m, const uint8_t *ctx, uint32_t ctx_len, struct buf *out);

/* After a CONF entry applied: adopt the table, reconcile peer connections, complete the change
 * this member asked for, and notice our own removal. */
void members__conf_applied(struct member *m, const struct raft_config *cfg, const uint8_t *ctx,
                           uint32_t ctx_len);

/* After any other command applied (attribute records, forwarded membership requests). */
void members__result_applied(struct member *m, const struct kv_result *res);

/* Reload the table and attributes from the store (boot, snapshot install). */
void members__reload(struct member *m);

/* Add transport peers for every member we know (boot). */
void members__connect_peers(struct member *m);

/* A message arrived from id: a joining member that does not know id yet looks it up among
 * the --initial-cluster URLs and connects back. */
void members__note_sender(struct member *m, uint64_t id);

/* The leader changed: publish our attributes if the table does not have them yet. */
void members__on_leader(struct member *m);

/* Bootstrap a new cluster: the initial CONF entry (index 1, term 1) for the --initial-cluster
 * members. *data is malloc'd (caller frees). */
int members__bootstrap_entry(struct member *m, struct raft_entry *e, uint8_t **data);

/* Housekeeping: deadlines of membership changes in flight, attribute publication retries. */
void members__tick(struct member *m, uint64_t now_ms);

#endif
