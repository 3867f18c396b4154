/* fuzz_etcd.h — the etcd request types the fuzz targets pick from. */
#ifndef CONCUR_TESTS_FUZZ_ETCD_H
#define CONCUR_TESTS_FUZZ_ETCD_H

#include <stdint.h>

#include "etcdserverpb/rpc.pb-c.h"

/* Every request message of etcd's services (and the nested ones), chosen by a byte. */
static inline const ProtobufCMessageDescriptor *fuzz_etcd_request_type(uint8_t pick)
{
    static const ProtobufCMessageDescriptor *const types[] = {
        &etcdserverpb__range_request__descriptor,
        &etcdserverpb__put_request__descriptor,
        &etcdserverpb__delete_range_request__descriptor,
        &etcdserverpb__txn_request__descriptor,
        &etcdserverpb__compaction_request__descriptor,
        &etcdserverpb__watch_request__descriptor,
        &etcdserverpb__lease_grant_request__descriptor,
        &etcdserverpb__lease_revoke_request__descriptor,
        &etcdserverpb__lease_keep_alive_request__descriptor,
        &etcdserverpb__lease_time_to_live_request__descriptor,
        &etcdserverpb__lease_leases_request__descriptor,
        &etcdserverpb__member_add_request__descriptor,
        &etcdserverpb__member_remove_request__descriptor,
        &etcdserverpb__member_update_request__descriptor,
        &etcdserverpb__member_list_request__descriptor,
        &etcdserverpb__member_promote_request__descriptor,
        &etcdserverpb__alarm_request__descriptor,
        &etcdserverpb__status_request__descriptor,
        &etcdserverpb__defragment_request__descriptor,
        &etcdserverpb__hash_request__descriptor,
        &etcdserverpb__hash_kvrequest__descriptor,
        &etcdserverpb__snapshot_request__descriptor,
        &etcdserverpb__move_leader_request__descriptor,
        &etcdserverpb__auth_enable_request__descriptor,
        &etcdserverpb__authenticate_request__descriptor,
        &etcdserverpb__auth_user_add_request__descriptor,
        &etcdserverpb__auth_role_grant_permission_request__descriptor,
        &etcdserverpb__auth_role_revoke_permission_request__descriptor,
    };
    return types[pick % (sizeof(types) / sizeof(types[0]))];
}

#endif
