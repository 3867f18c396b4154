/* auth.c — the Auth service of a cluster without authentication: concur has no auth store
 * yet, so every call answers what etcd 3.4 answers while authentication is disabled and no
 * user or role exists (lists are empty, lookups say "not found", enabling needs a root user).
 * Creating users or roles would need the store: those two calls say so (UNIMPLEMENTED). */
#include <string.h>

#include "api/etcd/etcd_int.h"
#include "util/err.h"

enum answer {
    A_EMPTY,          /* success: the response with only its header */
    A_STATUS,         /* AuthStatus: enabled = false */
    A_NOT_ENABLED,    /* Authenticate */
    A_NO_ROOT,        /* AuthEnable */
    A_USER_NOT_FOUND, /* lookups and changes of a user */
    A_ROLE_NOT_FOUND, /* lookups and changes of a role */
    A_USER_ADD,       /* needs the auth store */
    A_ROLE_ADD,
};

struct auth_method {
    const char *name; /* the method, after "/etcdserverpb.Auth/" */
    enum answer answer;
    const ProtobufCMessageDescriptor *resp;
};

#define RESP(n) (&etcdserverpb__##n##__descriptor)

static const struct auth_method table[] = {
    {"AuthEnable", A_NO_ROOT, RESP(auth_enable_response)},
    {"AuthDisable", A_EMPTY, RESP(auth_disable_response)},
    {"AuthStatus", A_STATUS, RESP(auth_status_response)},
    {"Authenticate", A_NOT_ENABLED, RESP(authenticate_response)},
    {"UserAdd", A_USER_ADD, RESP(auth_user_add_response)},
    {"UserGet", A_USER_NOT_FOUND, RESP(auth_user_get_response)},
    {"UserList", A_EMPTY, RESP(auth_user_list_response)},
    {"UserDelete", A_USER_NOT_FOUND, RESP(auth_user_delete_response)},
    {"UserChangePassword", A_USER_NOT_FOUND, RESP(auth_user_change_password_response)},
    {"UserGrantRole", A_USER_NOT_FOUND, RESP(auth_user_grant_role_response)},
    {"UserRevokeRole", A_USER_NOT_FOUND, RESP(auth_user_revoke_role_response)},
    {"RoleAdd", A_ROLE_ADD, RESP(auth_role_add_response)},
    {"RoleGet", A_ROLE_NOT_FOUND, RESP(auth_role_get_response)},
    {"RoleList", A_EMPTY, RESP(auth_role_list_response)},
    {"RoleDelete", A_ROLE_NOT_FOUND, RESP(auth_role_delete_response)},
    {"RoleGrantPermission", A_ROLE_NOT_FOUND, RESP(auth_role_grant_permission_response)},
    {"RoleRevokePermission", A_ROLE_NOT_FOUND, RESP(auth_role_revoke_permission_response)},
};

/* Every Auth response starts with its header, so one layout serves them all. */
struct header_resp {
    ProtobufCMessage base;
    Etcdserverpb__ResponseHeader *header;
};

static const struct auth_method *lookup(const char *path)
{
    const char *name = strrchr(path, '/');
    name = name ? name + 1 : path;
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
        if (!strcmp(table[i].name, name)) return &table[i];
    return NULL;
}

void etcd__auth(struct ecall *c, const ProtobufCMessage *req)
{
    const struct auth_method *am = lookup(c->m->path);
    if (!am) {
        ecall_fail(c, GRPC_UNIMPLEMENTED, "concur: unknown auth method");
        return;
    }
    const char *empty_name = NULL; /* etcd validates names before looking at the store */
    switch (am->answer) {
    case A_NOT_ENABLED:
        ecall_fail(c, GRPC_FAILED_PRECONDITION, "etcdserver: authentication is not enabled");
        return;
    case A_NO_ROOT:
        ecall_fail(c, GRPC_FAILED_PRECONDITION, "etcdserver: root user does not exist");
        return;
    case A_USER_NOT_FOUND:
        ecall_fail(c, GRPC_FAILED_PRECONDITION, "etcdserver: user name not found");
        return;
    case A_ROLE_NOT_FOUND:
        ecall_fail(c, GRPC_FAILED_PRECONDITION, "etcdserver: role name not found");
        return;
    case A_USER_ADD:
        if (!((const Etcdserverpb__AuthUserAddRequest *)req)->name[0])
            empty_name = "etcdserver: user name is empty";
        break;
    case A_ROLE_ADD:
        if (!((const Etcdserverpb__AuthRoleAddRequest *)req)->name[0])
            empty_name = "etcdserver: role name is empty";
        break;
    default:
        break;
    }
    if (empty_name) {
        ecall_fail(c, GRPC_INVALID_ARGUMENT, empty_name);
        return;
    }
    if (am->answer == A_USER_ADD || am->answer == A_ROLE_ADD) {
        ecall_fail(c, GRPC_UNIMPLEMENTED,
                   "concur: users and roles are not supported yet (authentication is disabled)");
        return;
    }
    struct header_resp *o = codec_new(&c->a, am->resp);
    if (!o || !(o->header = etcd__header_now(c->api, &c->a))) {
        ecall_fail_err(c, CC_ENOMEM, 0, ECTX_DEFAULT);
        return;
    }
    if (am->answer == A_STATUS) {
        Etcdserverpb__AuthStatusResponse *s = (void *)o;
        s->enabled = 0;
        s->authrevision = 1; /* an auth store that never changed (etcd starts it at 1) */
    }
    ecall_reply(c, &o->base);
}
