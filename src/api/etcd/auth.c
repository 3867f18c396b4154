/* auth.c — the Auth service (etcd v3rpc/auth.go, etcdserver/v3_server.go) on the replicated
 * auth store in kv/: users, roles, permissions and the auth revision, with etcd 3.4's gRPC
 * codes and messages.
 *
 * Changes (UserAdd, UserDelete, UserChangePassword, UserGrantRole, UserRevokeRole, RoleAdd,
 * RoleDelete, RoleGrantPermission, RoleRevokePermission) are AUTH commands through Raft; every
 * existence check happens when they are applied. Passwords are hashed here, on the member that
 * received the request (bcrypt, cost 10, random salt, in libuv's thread pool so the loop keeps
 * running); only the hash is replicated. Reads (UserGet, UserList, RoleGet, RoleList,
 * AuthStatus, AuthEnable's checks) are served from the local store after a linearizable read
 * barrier, where etcd 3.4 sends them through its log: both see every change acknowledged before.
 *
 * Authentication itself is NOT enforced: concur has no tokens and no permission checks on the
 * KV API yet. So AuthEnable checks what etcd checks (the root user exists and has the root
 * role) and then refuses honestly (FAILED_PRECONDITION, "concur: enforcing authentication is
 * not supported yet ...") instead of pretending; authentication stays disabled. AuthDisable is
 * a successful no-op and Authenticate answers "etcdserver: authentication is not enabled", as
 * etcd does while authentication is disabled. */
#include <crypt.h>
#include <stdlib.h>
#include <string.h>

#include "api/etcd/etcd_int.h"
#include "util/err.h"

/* bcrypt uses the first 72 bytes; anything far longer is refused before it is copied or
 * hashed (etcd's bcrypt of that era silently truncates, as libxcrypt does). */
#define PASSWORD_MAX 4096
#define BCRYPT_COST  10

enum kind {
    K_ENABLE,
    K_DISABLE,
    K_STATUS,
    K_AUTHENTICATE,
    K_USER_ADD,
    K_USER_GET,
    K_USER_LIST,
    K_USER_DELETE,
    K_USER_PASSWORD,
    K_USER_GRANT,
    K_USER_REVOKE,
    K_ROLE_ADD,
    K_ROLE_GET,
    K_ROLE_LIST,
    K_ROLE_DELETE,
    K_ROLE_GRANT,
    K_ROLE_REVOKE,
};

struct auth_method {
    const char *name; /* the method, after "/etcdserverpb.Auth/" */
    enum kind kind;
    const ProtobufCMessageDescriptor *resp;
};

#define RESP(n) (&etcdserverpb__##n##__descriptor)

static const struct auth_method table[] = {
    {"AuthEnable", K_ENABLE, RESP(auth_enable_response)},
    {"AuthDisable", K_DISABLE, RESP(auth_disable_response)},
    {"AuthStatus", K_STATUS, RESP(auth_status_response)},
    {"Authenticate", K_AUTHENTICATE, RESP(authenticate_response)},
    {"UserAdd", K_USER_ADD, RESP(auth_user_add_response)},
    {"UserGet", K_USER_GET, RESP(auth_user_get_response)},
    {"UserList", K_USER_LIST, RESP(auth_user_list_response)},
    {"UserDelete", K_USER_DELETE, RESP(auth_user_delete_response)},
    {"UserChangePassword", K_USER_PASSWORD, RESP(auth_user_change_password_response)},
    {"UserGrantRole", K_USER_GRANT, RESP(auth_user_grant_role_response)},
    {"UserRevokeRole", K_USER_REVOKE, RESP(auth_user_revoke_role_response)},
    {"RoleAdd", K_ROLE_ADD, RESP(auth_role_add_response)},
    {"RoleGet", K_ROLE_GET, RESP(auth_role_get_response)},
    {"RoleList", K_ROLE_LIST, RESP(auth_role_list_response)},
    {"RoleDelete", K_ROLE_DELETE, RESP(auth_role_delete_response)},
    {"RoleGrantPermission", K_ROLE_GRANT, RESP(auth_role_grant_permission_response)},
    {"RoleRevokePermission", K_ROLE_REVOKE, RESP(auth_role_revoke_permission_response)},
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

static struct kv_bytes str_bytes(const char *s)
{
    struct kv_bytes b = {(const uint8_t *)(s ? s : ""), s ? strlen(s) : 0};
    return b;
}

static struct kv_bytes bin_bytes(ProtobufCBinaryData d)
{
    struct kv_bytes b = {d.data ? d.data : (const uint8_t *)"", d.len};
    return b;
}

static void fail_nomem(struct ecall *c)
{
    ecall_fail_err(c, CC_ENOMEM, 0, ECTX_DEFAULT);
}

/* A new response of the call's method with a header at revision rev (0: the store's now). */
static struct header_resp *new_resp(struct ecall *c, int64_t rev)
{
    const struct auth_method *am = c->data;
    struct header_resp *o = codec_new(&c->a, am->resp);
    if (!o) return NULL;
    if (rev) {
        struct codec_hdr h;
        etcd__hdr(c->api, &h);
        o->header = codec_header(&c->a, &h, rev);
    } else {
        o->header = etcd__header_now(c->api, &c->a);
    }
    return o->header ? o : NULL;
}

static char *cstr(struct kv_arena *a, struct kv_bytes b)
{
    char *s = kv_arena_alloc(a, b.len + 1);
    if (!s) return NULL;
    memcpy(s, b.p, b.len);
    s[b.len] = 0;
    return s;
}

/* ---- changes: AUTH commands through Raft ---- */

static void write_done(void *arg, int err, const struct kv_result *res)
{
    struct ecall *c = arg;
    if (err || res->err) {
        ecall_fail_err(c, err ? err : res->err, err ? 0 : res->msg, ECTX_DEFAULT);
        return;
    }
    struct header_resp *o = new_resp(c, res->rev);
    if (!o) {
        fail_nomem(c);
        return;
    }
    ecall_reply(c, &o->base);
}

static void propose(struct ecall *c, const struct kv_auth *au)
{
    struct kv_cmd cmd;
    memset(&cmd, 0, sizeof(cmd));
    cmd.type = KV_CMD_AUTH;
    cmd.u.auth = *au;
    int msg = 0;
    int rc = srv_write(c->api->m, &cmd, write_done, c, &msg);
    if (rc) ecall_fail_err(c, rc, msg, ECTX_DEFAULT);
}

/* Hashing in the thread pool. Lives in the call's arena: the call cannot end before
 * hash_after ran, because only hash_after goes on to complete it. */
struct hash_job {
    uv_work_t w;
    struct ecall *c;
    struct kv_auth au;
    const char *password; /* the request's (valid until the call completes) */
    char hash[CRYPT_OUTPUT_SIZE];
    int rc;
};

static void hash_work(uv_work_t *w)
{
    struct hash_job *j = w->data;
    char salt[CRYPT_GENSALT_OUTPUT_SIZE];
    struct crypt_data *cd = calloc(1, sizeof(*cd));
    j->rc = CC_ENOMEM;
    if (!cd) return;
    j->rc = CC_EIO;
    /* NULL random bytes: libxcrypt draws the salt from the system's random source */
    if (crypt_gensalt_rn("$2b$", BCRYPT_COST, NULL, 0, salt, sizeof(salt))) {
        const char *h = crypt_rn(j->password, salt, cd, sizeof(*cd));
        if (h && h[0] == '$' && strlen(h) < sizeof(j->hash)) {
            memcpy(j->hash, h, strlen(h) + 1);
            j->rc = 0;
        }
    }
    explicit_bzero(cd, sizeof(*cd)); /* it held the password */
    free(cd);
}

static void hash_after(uv_work_t *w, int status)
{
    struct hash_job *j = w->data;
    struct ecall *c = j->c;
    if (status || j->rc) {
        ecall_fail(c, GRPC_INTERNAL, "concur: hashing the password failed");
        return;
    }
    j->au.hash = str_bytes(j->hash);
    propose(c, &j->au);
}

static void hash_then_propose(struct ecall *c, const struct kv_auth *au, const char *password)
{
    if (strlen(password) > PASSWORD_MAX) {
        ecall_fail(c, GRPC_INVALID_ARGUMENT, "concur: password longer than 4096 bytes");
        return;
    }
    struct hash_job *j = kv_arena_calloc(&c->a, 1, sizeof(*j));
    if (!j) {
        fail_nomem(c);
        return;
    }
    j->c = c;
    j->au = *au;
    j->password = password;
    j->w.data = j;
    if (uv_queue_work(c->api->loop, &j->w, hash_work, hash_after)) {
        ecall_fail(c, GRPC_INTERNAL, "concur: hashing the password failed");
        return;
    }
}

/* ---- reads after a read barrier ---- */

static void reply_names(struct ecall *c, struct kv_bytes *names, size_t n, char ***out,
                        size_t *n_out, struct header_resp *o)
{
    char **v = n ? kv_arena_calloc(&c->a, n, sizeof(*v)) : NULL;
    if (n && !v) {
        fail_nomem(c);
        return;
    }
    for (size_t i = 0; i < n; i++)
        if (!(v[i] = cstr(&c->a, names[i]))) {
            fail_nomem(c);
            return;
        }
    *out = v;
    *n_out = n;
    ecall_reply(c, &o->base);
}

static void enable_checked(struct ecall *c, struct kv *kv)
{
    struct kv_auth_user u;
    int rc = kv_auth_user_get(kv, "root", 4, &c->a, &u);
    if (rc == CC_ENOTFOUND) {
        ecall_fail(c, GRPC_FAILED_PRECONDITION, "etcdserver: root user does not exist");
        return;
    }
    if (rc) {
        ecall_fail_err(c, rc, 0, ECTX_DEFAULT);
        return;
    }
    bool root_role = false;
    for (size_t i = 0; i < u.n_roles; i++)
        root_role |= u.roles[i].len == 4 && !memcmp(u.roles[i].p, "root", 4);
    if (!root_role) {
        ecall_fail(c, GRPC_FAILED_PRECONDITION, "etcdserver: root user does not have root role");
        return;
    }
    ecall_fail(c, GRPC_FAILED_PRECONDITION,
               "concur: enforcing authentication is not supported yet; authentication stays "
               "disabled");
}

static void read_ready(void *arg, int err)
{
    struct ecall *c = arg;
    const struct auth_method *am = c->data;
    if (err) {
        ecall_fail_err(c, err, 0, ECTX_READ);
        return;
    }
    struct kv *kv = srv_kv(c->api->m);
    if (am->kind == K_ENABLE) {
        enable_checked(c, kv);
        return;
    }
    struct header_resp *o = new_resp(c, 0);
    if (!o) {
        fail_nomem(c);
        return;
    }
    struct kv_bytes *names = NULL;
    size_t n = 0;
    int rc = 0;
    switch (am->kind) {
    case K_STATUS: {
        Etcdserverpb__AuthStatusResponse *s = (void *)o;
        s->enabled = 0;
        s->authrevision = kv_auth_revision(kv);
        ecall_reply(c, &o->base);
        return;
    }
    case K_USER_GET: {
        const Etcdserverpb__AuthUserGetRequest *r = (const void *)c->req;
        struct kv_auth_user u;
        struct kv_bytes name = str_bytes(r->name);
        rc = kv_auth_user_get(kv, name.p, name.len, &c->a, &u);
        if (rc == CC_ENOTFOUND) {
            ecall_fail_err(c, rc, KV_MSG_USER_NOT_FOUND, ECTX_DEFAULT);
            return;
        }
        if (!rc) {
            Etcdserverpb__AuthUserGetResponse *g = (void *)o;
            reply_names(c, u.roles, u.n_roles, &g->roles, &g->n_roles, o);
            return;
        }
        break;
    }
    case K_USER_LIST:
        if (!(rc = kv_auth_users(kv, &c->a, &names, &n))) {
            Etcdserverpb__AuthUserListResponse *l = (void *)o;
            reply_names(c, names, n, &l->users, &l->n_users, o);
            return;
        }
        break;
    case K_ROLE_LIST:
        if (!(rc = kv_auth_roles(kv, &c->a, &names, &n))) {
            Etcdserverpb__AuthRoleListResponse *l = (void *)o;
            reply_names(c, names, n, &l->roles, &l->n_roles, o);
            return;
        }
        break;
    case K_ROLE_GET: {
        const Etcdserverpb__AuthRoleGetRequest *r = (const void *)c->req;
        struct kv_auth_perm *p;
        struct kv_bytes name = str_bytes(r->role);
        rc = kv_auth_role_get(kv, name.p, name.len, &c->a, &p, &n);
        if (rc == CC_ENOTFOUND) {
            ecall_fail_err(c, rc, KV_MSG_ROLE_NOT_FOUND, ECTX_DEFAULT);
            return;
        }
        if (rc) break;
        Etcdserverpb__AuthRoleGetResponse *g = (void *)o;
        g->perm = n ? kv_arena_calloc(&c->a, n, sizeof(*g->perm)) : NULL;
        if (n && !g->perm) {
            rc = CC_ENOMEM;
            break;
        }
        for (size_t i = 0; i < n; i++) {
            Authpb__Permission *pm = codec_new(&c->a, &authpb__permission__descriptor);
            if (!pm) {
                fail_nomem(c);
                return;
            }
            pm->permtype = (Authpb__Permission__Type)p[i].type;
            pm->key.data = (uint8_t *)p[i].key.p;
            pm->key.len = p[i].key.len;
            pm->range_end.data = (uint8_t *)p[i].range_end.p;
            pm->range_end.len = p[i].range_end.len;
            g->perm[i] = pm;
        }
        g->n_perm = n;
        ecall_reply(c, &o->base);
        return;
    }
    default:
        rc = CC_EINVAL;
    }
    ecall_fail_err(c, rc, 0, ECTX_DEFAULT);
}

void etcd__auth(struct ecall *c, const ProtobufCMessage *req)
{
    const struct auth_method *am = lookup(c->m->path);
    if (!am) {
        ecall_fail(c, GRPC_UNIMPLEMENTED, "concur: unknown auth method");
        return;
    }
    c->data = (void *)am;
    struct kv_auth au;
    memset(&au, 0, sizeof(au));
    switch (am->kind) {
    case K_AUTHENTICATE:
        ecall_fail(c, GRPC_FAILED_PRECONDITION, "etcdserver: authentication is not enabled");
        return;
    case K_DISABLE: { /* etcd: disabling a disabled store changes nothing */
        struct header_resp *o = new_resp(c, 0);
        if (!o) {
            fail_nomem(c);
            return;
        }
        ecall_reply(c, &o->base);
        return;
    }
    case K_ENABLE:
    case K_STATUS:
    case K_USER_GET:
    case K_USER_LIST:
    case K_ROLE_GET:
    case K_ROLE_LIST: {
        int rc = srv_read_barrier(c->api->m, false, read_ready, c);
        if (rc) ecall_fail_err(c, rc, 0, ECTX_READ);
        return;
    }
    case K_USER_ADD: {
        const Etcdserverpb__AuthUserAddRequest *r = (const void *)req;
        au.op = KV_AUTH_USER_ADD;
        au.user = str_bytes(r->name);
        au.no_password = r->options && r->options->no_password;
        if (!au.user.len) { /* etcd checks the name before hashing */
            ecall_fail_err(c, CC_EINVAL, KV_MSG_USER_EMPTY, ECTX_DEFAULT);
            return;
        }
        if (au.no_password)
            propose(c, &au);
        else
            hash_then_propose(c, &au, r->password ? r->password : "");
        return;
    }
    case K_USER_PASSWORD: {
        const Etcdserverpb__AuthUserChangePasswordRequest *r = (const void *)req;
        au.op = KV_AUTH_USER_PASSWORD;
        au.user = str_bytes(r->name);
        hash_then_propose(c, &au, r->password ? r->password : "");
        return;
    }
    case K_USER_DELETE:
        au.op = KV_AUTH_USER_DELETE;
        au.user = str_bytes(((const Etcdserverpb__AuthUserDeleteRequest *)req)->name);
        break;
    case K_USER_GRANT: {
        const Etcdserverpb__AuthUserGrantRoleRequest *r = (const void *)req;
        au.op = KV_AUTH_USER_GRANT;
        au.user = str_bytes(r->user);
        au.role = str_bytes(r->role);
        break;
    }
    case K_USER_REVOKE: {
        const Etcdserverpb__AuthUserRevokeRoleRequest *r = (const void *)req;
        au.op = KV_AUTH_USER_REVOKE;
        au.user = str_bytes(r->name);
        au.role = str_bytes(r->role);
        break;
    }
    case K_ROLE_ADD:
        au.op = KV_AUTH_ROLE_ADD;
        au.role = str_bytes(((const Etcdserverpb__AuthRoleAddRequest *)req)->name);
        break;
    case K_ROLE_DELETE:
        au.op = KV_AUTH_ROLE_DELETE;
        au.role = str_bytes(((const Etcdserverpb__AuthRoleDeleteRequest *)req)->role);
        break;
    case K_ROLE_GRANT: {
        const Etcdserverpb__AuthRoleGrantPermissionRequest *r = (const void *)req;
        if (!r->perm) {
            ecall_fail(c, GRPC_INVALID_ARGUMENT, "etcdserver: permission not given");
            return;
        }
        if ((unsigned)r->perm->permtype > KV_PERM_READWRITE) {
            ecall_fail_err(c, CC_EINVAL, KV_MSG_INVALID_AUTH_MGMT, ECTX_DEFAULT);
            return;
        }
        au.op = KV_AUTH_ROLE_GRANT;
        au.role = str_bytes(r->name);
        au.key = bin_bytes(r->perm->key);
        au.range_end = bin_bytes(r->perm->range_end);
        au.perm = (uint8_t)r->perm->permtype;
        break;
    }
    case K_ROLE_REVOKE: {
        const Etcdserverpb__AuthRoleRevokePermissionRequest *r = (const void *)req;
        au.op = KV_AUTH_ROLE_REVOKE;
        au.role = str_bytes(r->role);
        au.key = bin_bytes(r->key);
        au.range_end = bin_bytes(r->range_end);
        break;
    }
    }
    propose(c, &au);
}
