/* codec.h — etcd's protobuf requests and responses (protobuf-c) to and from kv's command and
 * result structs, with etcd's request validation in etcd's order. Pure: no server, no I/O. */
#ifndef CONCUR_API_ETCD_CODEC_H
#define CONCUR_API_ETCD_CODEC_H

#include <stdbool.h>
#include <stdint.h>

#include "etcdserverpb/rpc.pb-c.h"
#include "kv/kv.h"
#include "kv/kv_watch.h"

/*
 * Memory: requests converted to kv structs borrow the protobuf message's bytes (the message
 * must outlive the kv struct); arrays for txns come from the arena. Responses are built in
 * the arena and borrow keys and values from the kv result (which must outlive the packing).
 * Every function returns 0, CC_ENOMEM when the arena refuses, or the documented error.
 */

/* etcd's checkRangeRequest / checkPutRequest / checkDeleteRequest / checkTxnRequest
 * (v3rpc/key.go) on the wire form, in etcd's order, with max_ops = --max-txn-ops. Catches what
 * the kv form cannot express (an empty RequestOp: "etcdserver: key not found"). Returns 0 or
 * a cc_err with *msg (enum kv_msg). The txn overlap check (checkIntervals) is kv's
 * (kv_txn_check). A Compare with an unknown target or result is CC_EPROTO (kv cannot store
 * it; etcd's open Go enums would let it through). */
int codec_check_range(const Etcdserverpb__RangeRequest *r, int *msg);
int codec_check_put(const Etcdserverpb__PutRequest *r, int *msg);
int codec_check_delete(const Etcdserverpb__DeleteRangeRequest *r, int *msg);
int codec_check_txn(const Etcdserverpb__TxnRequest *t, uint32_t max_ops, int *msg);

/* Request conversions. They do not validate (run the checks above first). */
void codec_range_in(const Etcdserverpb__RangeRequest *r, struct kv_range *out);
void codec_put_in(const Etcdserverpb__PutRequest *r, struct kv_put *out);
void codec_delete_in(const Etcdserverpb__DeleteRangeRequest *r, struct kv_delete *out);
/* Converts a checked txn tree. Returns 0, CC_ENOMEM, or CC_EINVAL (*msg KV_MSG_KEY_NOT_FOUND)
 * for an empty RequestOp, or KV_MSG_TOO_DEEP when nested deeper than KV_TXN_DEPTH_MAX. */
int codec_txn_in(const Etcdserverpb__TxnRequest *t, struct kv_arena *a, struct kv_txn *out,
                 int *msg);
/* True when every range of the txn tree asked for serializable reads (etcd's
 * isTxnSerializable): a read-only txn may then skip the read index. */
bool codec_txn_serializable(const Etcdserverpb__TxnRequest *t);

/* A message of descriptor d, initialised to its defaults, in the arena; NULL when the arena
 * refuses. Response messages are built this way (they are packed, never freed one by one). */
void *codec_new(struct kv_arena *a, const ProtobufCMessageDescriptor *d);

/* The identity part of every header; the revision is set per response. */
struct codec_hdr {
    uint64_t cluster_id, member_id, raft_term;
};

/* A ResponseHeader with the identity and revision (etcd's header.fill). */
Etcdserverpb__ResponseHeader *codec_header(struct kv_arena *a, const struct codec_hdr *h,
                                           int64_t revision);

/* mvccpb.KeyValue for kv (keys_only leaves value out as etcd does: kv already did). */
Mvccpb__KeyValue *codec_kv_out(struct kv_arena *a, const struct kv_kv *kv);

/* Responses of KV operations. The top-level header (identity + revision) is h's; nested txn
 * responses carry a header with only their revision, as etcd's applier fills them. */
Etcdserverpb__RangeResponse *codec_range_out(struct kv_arena *a, const struct codec_hdr *h,
                                             const struct kv_range_res *r);
Etcdserverpb__PutResponse *codec_put_out(struct kv_arena *a, const struct codec_hdr *h,
                                         const struct kv_put_res *r);
Etcdserverpb__DeleteRangeResponse *codec_delete_out(struct kv_arena *a, const struct codec_hdr *h,
                                                    const struct kv_delete_res *r);
/* rev: the header revision of the top-level response. */
Etcdserverpb__TxnResponse *codec_txn_out(struct kv_arena *a, const struct codec_hdr *h,
                                         const struct kv_txn_res *r, int64_t rev);

/* mvccpb.Event for a watch event. */
Mvccpb__Event *codec_event_out(struct kv_arena *a, const struct kv_event *e);

#endif
