/* test_kv_auth.c — the replicated auth store (etcd auth/store.go semantics): users, roles,
 * permissions, the auth revision, checks at apply time, determinism across stores and inside
 * one batch, limits, persistence across reopen and snapshot/restore. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kvtest.h"
#include "util/buf.h"
#include "util/err.h"

static struct kv_cmd auth_cmd(uint8_t op, const char *user, const char *role)
{
    struct kv_cmd c = {.type = KV_CMD_AUTH};
    c.u.auth.op = op;
    c.u.auth.user = kt_b(user);
    c.u.auth.role = kt_b(role);
    return c;
}

/* Applies c; returns its err and sets *msg (may be NULL). */
static int run(struct kt *t, const struct kv_cmd *c, int *msg)
{
    struct kv_result r;
    kt_apply(t, c, &r);
    int err = r.err;
    if (msg) *msg = r.msg;
    assert_int_equal(r.type, KV_CMD_AUTH);
    kv_result_free(&r);
    return err;
}

static int op(struct kt *t, uint8_t o, const char *user, const char *role, int *msg)
{
    struct kv_cmd c = auth_cmd(o, user, role);
    if (o == KV_AUTH_USER_ADD || o == KV_AUTH_USER_PASSWORD) c.u.auth.hash = kt_b("$2b$hash");
    return run(t, &c, msg);
}

static int perm(struct kt *t, uint8_t o, const char *role, const char *key, const char *end,
                uint8_t type, int *msg)
{
    struct kv_cmd c = auth_cmd(o, "", role);
    c.u.auth.key = kt_b(key);
    c.u.auth.range_end = (struct kv_bytes){(const uint8_t *)end, end ? strlen(end) : 0};
    if (end && !strcmp(end, "\\0")) c.u.auth.range_end = (struct kv_bytes){(const uint8_t *)"", 1};
    c.u.auth.perm = type;
    return run(t, &c, msg);
}

/* Expects a failed command with this err and message, and no change of the auth revision. */
static void fails(struct kt *t, int err, int want_msg, int rc, const int *msg, uint64_t rev_before)
{
    assert_int_equal(rc, err);
    assert_int_equal(*msg, want_msg);
    assert_int_equal(kv_auth_revision(t->kv), rev_before);
}

/* The whole auth store as text, to compare stores. */
static void dump(struct kv *kv, struct buf *out)
{
    struct kv_arena a = {0};
    struct kv_bytes *names;
    size_t n;
    char line[256];
    snprintf(line, sizeof(line), "rev=%llu\n", (unsigned long long)kv_auth_revision(kv));
    assert_int_equal(buf_append(out, line, strlen(line)), 0);
    assert_int_equal(kv_auth_users(kv, &a, &names, &n), 0);
    for (size_t i = 0; i < n; i++) {
        struct kv_auth_user u;
        assert_int_equal(kv_auth_user_get(kv, names[i].p, names[i].len, &a, &u), 0);
        snprintf(line, sizeof(line), "user %.*s np=%d hash=%.*s roles:", (int)names[i].len,
                 names[i].p, u.no_password, (int)u.hash.len, u.hash.p);
        assert_int_equal(buf_append(out, line, strlen(line)), 0);
        for (size_t j = 0; j < u.n_roles; j++) {
            snprintf(line, sizeof(line), " %.*s", (int)u.roles[j].len, u.roles[j].p);
            assert_int_equal(buf_append(out, line, strlen(line)), 0);
        }
        assert_int_equal(buf_append(out, "\n", 1), 0);
    }
    assert_int_equal(kv_auth_roles(kv, &a, &names, &n), 0);
    for (size_t i = 0; i < n; i++) {
        struct kv_auth_perm *p;
        size_t np;
        assert_int_equal(kv_auth_role_get(kv, names[i].p, names[i].len, &a, &p, &np), 0);
        snprintf(line, sizeof(line), "role %.*s:", (int)names[i].len, names[i].p);
        assert_int_equal(buf_append(out, line, strlen(line)), 0);
        for (size_t j = 0; j < np; j++) {
            struct kv_bytes end = p[j].range_end;
            if (end.len == 1 && !end.p[0]) end = kt_b("\\0"); /* from-key */
            snprintf(line, sizeof(line), " %d[%.*s,%.*s)", p[j].type, (int)p[j].key.len, p[j].key.p,
                     (int)end.len, end.p);
            assert_int_equal(buf_append(out, line, strlen(line)), 0);
        }
        assert_int_equal(buf_append(out, "\n", 1), 0);
    }
    assert_int_equal(buf_append(out, "", 1), 0); /* NUL-terminate */
    kv_arena_free(&a);
}

static void assert_dump(struct kv *kv, const char *want)
{
    struct buf b;
    buf_init(&b, 1 << 20);
    dump(kv, &b);
    assert_string_equal((const char *)b.data, want);
    buf_free(&b);
}

static void assert_same(struct kv *x, struct kv *y)
{
    struct buf a, b;
    buf_init(&a, 1 << 20);
    buf_init(&b, 1 << 20);
    dump(x, &a);
    dump(y, &b);
    assert_string_equal((const char *)a.data, (const char *)b.data);
    buf_free(&a);
    buf_free(&b);
}

static void test_users(void **state)
{
    (void)state;
    struct kt t;
    kt_open(&t);
    int msg;
    assert_int_equal(kv_auth_revision(t.kv), 1); /* etcd starts at 1 */
    assert_int_equal(op(&t, KV_AUTH_USER_ADD, "root", "", &msg), 0);
    assert_int_equal(kv_auth_revision(t.kv), 2);
    fails(&t, CC_EEXIST, KV_MSG_USER_EXISTS, op(&t, KV_AUTH_USER_ADD, "root", "", &msg), &msg, 2);
    fails(&t, CC_EINVAL, KV_MSG_USER_EMPTY, op(&t, KV_AUTH_USER_ADD, "", "", &msg), &msg, 2);
    /* the root role needs no role record to be granted (etcd) */
    assert_int_equal(op(&t, KV_AUTH_USER_GRANT, "root", "root", &msg), 0);
    assert_int_equal(kv_auth_revision(t.kv), 3);
    /* granting it again succeeds and changes nothing, not even the revision */
    assert_int_equal(op(&t, KV_AUTH_USER_GRANT, "root", "root", &msg), 0);
    assert_int_equal(kv_auth_revision(t.kv), 3);
    fails(&t, CC_ENOTFOUND, KV_MSG_ROLE_NOT_FOUND, op(&t, KV_AUTH_USER_GRANT, "root", "r1", &msg),
          &msg, 3);
    fails(&t, CC_ENOTFOUND, KV_MSG_USER_NOT_FOUND, op(&t, KV_AUTH_USER_GRANT, "bob", "root", &msg),
          &msg, 3);
    /* roles are kept sorted */
    assert_int_equal(op(&t, KV_AUTH_ROLE_ADD, "", "b", &msg), 0);
    assert_int_equal(op(&t, KV_AUTH_ROLE_ADD, "", "a", &msg), 0);
    assert_int_equal(op(&t, KV_AUTH_USER_GRANT, "root", "b", &msg), 0);
    assert_int_equal(op(&t, KV_AUTH_USER_GRANT, "root", "a", &msg), 0);
    assert_int_equal(kv_auth_revision(t.kv), 7);
    struct kv_cmd nop = auth_cmd(KV_AUTH_USER_ADD, "carol", "");
    nop.u.auth.no_password = true;
    assert_int_equal(run(&t, &nop, &msg), 0);
    assert_int_equal(op(&t, KV_AUTH_USER_ADD, "bob", "", &msg), 0);
    assert_dump(t.kv, "rev=9\n"
                      "user bob np=0 hash=$2b$hash roles:\n"
                      "user carol np=1 hash= roles:\n"
                      "user root np=0 hash=$2b$hash roles: a b root\n"
                      "role a:\nrole b:\n");
    /* revoke */
    fails(&t, CC_ENOTFOUND, KV_MSG_ROLE_NOT_GRANTED, op(&t, KV_AUTH_USER_REVOKE, "bob", "a", &msg),
          &msg, 9);
    fails(&t, CC_ENOTFOUND, KV_MSG_USER_NOT_FOUND, op(&t, KV_AUTH_USER_REVOKE, "x", "a", &msg),
          &msg, 9);
    assert_int_equal(op(&t, KV_AUTH_USER_REVOKE, "root", "b", &msg), 0);
    /* a new password keeps the roles; a no-password user stays one (etcd keeps the options) */
    struct kv_cmd pw = auth_cmd(KV_AUTH_USER_PASSWORD, "root", "");
    pw.u.auth.hash = kt_b("$2b$other");
    assert_int_equal(run(&t, &pw, &msg), 0);
    pw.u.auth.user = kt_b("carol");
    assert_int_equal(run(&t, &pw, &msg), 0);
    pw.u.auth.user = kt_b("dave");
    fails(&t, CC_ENOTFOUND, KV_MSG_USER_NOT_FOUND, run(&t, &pw, &msg), &msg, 12);
    /* delete */
    assert_int_equal(op(&t, KV_AUTH_USER_DELETE, "bob", "", &msg), 0);
    fails(&t, CC_ENOTFOUND, KV_MSG_USER_NOT_FOUND, op(&t, KV_AUTH_USER_DELETE, "bob", "", &msg),
          &msg, 13);
    struct kv_arena a = {0};
    struct kv_auth_user u;
    assert_int_equal(kv_auth_user_get(t.kv, "bob", 3, &a, &u), CC_ENOTFOUND);
    kv_arena_free(&a);
    assert_dump(t.kv, "rev=13\n"
                      "user carol np=1 hash=$2b$other roles:\n"
                      "user root np=0 hash=$2b$other roles: a root\n"
                      "role a:\nrole b:\n");
    kt_destroy(&t);
}

static void test_roles(void **state)
{
    (void)state;
    struct kt t;
    kt_open(&t);
    int msg;
    assert_int_equal(op(&t, KV_AUTH_ROLE_ADD, "", "r1", &msg), 0);
    fails(&t, CC_EEXIST, KV_MSG_ROLE_EXISTS, op(&t, KV_AUTH_ROLE_ADD, "", "r1", &msg), &msg, 2);
    fails(&t, CC_EINVAL, KV_MSG_ROLE_EMPTY, op(&t, KV_AUTH_ROLE_ADD, "", "", &msg), &msg, 2);
    fails(&t, CC_ENOTFOUND, KV_MSG_ROLE_NOT_FOUND,
          perm(&t, KV_AUTH_ROLE_GRANT, "nope", "/x", NULL, 0, &msg), &msg, 2);
    /* permissions stay sorted by key; a second range on the same key goes after the first */
    assert_int_equal(perm(&t, KV_AUTH_ROLE_GRANT, "r1", "/foo", "/fop", 2, &msg), 0);
    assert_int_equal(perm(&t, KV_AUTH_ROLE_GRANT, "r1", "/bar", "/bas", 0, &msg), 0);
    assert_int_equal(perm(&t, KV_AUTH_ROLE_GRANT, "r1", "/zzz", NULL, 1, &msg), 0);
    assert_int_equal(perm(&t, KV_AUTH_ROLE_GRANT, "r1", "/foo", "\\0", 0, &msg), 0);
    assert_int_equal(kv_auth_revision(t.kv), 6);
    /* the same key and range end updates the type in place (and still bumps the revision) */
    assert_int_equal(perm(&t, KV_AUTH_ROLE_GRANT, "r1", "/foo", "/fop", 1, &msg), 0);
    assert_int_equal(kv_auth_revision(t.kv), 7);
    /* etcd isValidPermissionRange: no key, or an end not after the key, is refused */
    fails(&t, CC_EINVAL, KV_MSG_INVALID_AUTH_MGMT,
          perm(&t, KV_AUTH_ROLE_GRANT, "r1", "/b", "/a", 0, &msg), &msg, 7);
    fails(&t, CC_EINVAL, KV_MSG_INVALID_AUTH_MGMT,
          perm(&t, KV_AUTH_ROLE_GRANT, "r1", "/b", "/b", 0, &msg), &msg, 7);
    fails(&t, CC_EINVAL, KV_MSG_INVALID_AUTH_MGMT,
          perm(&t, KV_AUTH_ROLE_GRANT, "r1", "", NULL, 0, &msg), &msg, 7);
    assert_dump(t.kv, "rev=7\nrole r1: 0[/bar,/bas) 1[/foo,/fop) 0[/foo,\\0) 1[/zzz,)\n");
    /* revoke matches key and range end exactly */
    fails(&t, CC_ENOTFOUND, KV_MSG_PERM_NOT_GRANTED,
          perm(&t, KV_AUTH_ROLE_REVOKE, "r1", "/foo", "/fo", 0, &msg), &msg, 7);
    fails(&t, CC_ENOTFOUND, KV_MSG_PERM_NOT_GRANTED,
          perm(&t, KV_AUTH_ROLE_REVOKE, "r1", "/zzz", "/zz{", 0, &msg), &msg, 7);
    fails(&t, CC_ENOTFOUND, KV_MSG_ROLE_NOT_FOUND,
          perm(&t, KV_AUTH_ROLE_REVOKE, "r9", "/zzz", NULL, 0, &msg), &msg, 7);
    assert_int_equal(perm(&t, KV_AUTH_ROLE_REVOKE, "r1", "/foo", "/fop", 0, &msg), 0);
    assert_int_equal(perm(&t, KV_AUTH_ROLE_REVOKE, "r1", "/zzz", NULL, 0, &msg), 0);
    assert_dump(t.kv, "rev=9\nrole r1: 0[/bar,/bas) 0[/foo,\\0)\n");
    /* deleting a role revokes it from every user that has it */
    assert_int_equal(op(&t, KV_AUTH_ROLE_ADD, "", "r0", &msg), 0);
    assert_int_equal(op(&t, KV_AUTH_USER_ADD, "u1", "", &msg), 0);
    assert_int_equal(op(&t, KV_AUTH_USER_ADD, "u2", "", &msg), 0);
    assert_int_equal(op(&t, KV_AUTH_USER_GRANT, "u1", "r1", &msg), 0);
    assert_int_equal(op(&t, KV_AUTH_USER_GRANT, "u1", "r0", &msg), 0);
    assert_int_equal(op(&t, KV_AUTH_USER_GRANT, "u2", "r1", &msg), 0);
    assert_int_equal(op(&t, KV_AUTH_ROLE_DELETE, "", "r1", &msg), 0);
    fails(&t, CC_ENOTFOUND, KV_MSG_ROLE_NOT_FOUND, op(&t, KV_AUTH_ROLE_DELETE, "", "r1", &msg),
          &msg, 16);
    assert_dump(t.kv, "rev=16\n"
                      "user u1 np=0 hash=$2b$hash roles: r0\n"
                      "user u2 np=0 hash=$2b$hash roles:\n"
                      "role r0:\n");
    kt_destroy(&t);
}

/* Applies the same entries to two stores, in batches of different sizes: identical results
 * and identical stores. A grant of a role deleted just before (one entry earlier, in the same
 * batch) fails the same way on both. */
static void test_determinism(void **state)
{
    (void)state;
    struct kt x, y;
    kt_open(&x);
    kt_open(&y);
    struct kv_cmd cmds[] = {
        auth_cmd(KV_AUTH_ROLE_ADD, "", "r"),     auth_cmd(KV_AUTH_USER_ADD, "u", ""),
        auth_cmd(KV_AUTH_USER_ADD, "u", ""),     auth_cmd(KV_AUTH_ROLE_DELETE, "", "r"),
        auth_cmd(KV_AUTH_USER_GRANT, "u", "r"),  auth_cmd(KV_AUTH_ROLE_ADD, "", "r"),
        auth_cmd(KV_AUTH_USER_GRANT, "u", "r"),  auth_cmd(KV_AUTH_USER_DELETE, "u", ""),
        auth_cmd(KV_AUTH_USER_REVOKE, "u", "r"),
    };
    enum { N = sizeof(cmds) / sizeof(cmds[0]) };
    int want[N][2] = {{0, 0},
                      {0, 0},
                      {CC_EEXIST, KV_MSG_USER_EXISTS},
                      {0, 0},
                      {CC_ENOTFOUND, KV_MSG_ROLE_NOT_FOUND},
                      {0, 0},
                      {0, 0},
                      {0, 0},
                      {CC_ENOTFOUND, KV_MSG_USER_NOT_FOUND}};
    struct buf enc[N];
    struct kv_entry e[N];
    for (int i = 0; i < N; i++) {
        buf_init(&enc[i], KV_CMD_MAX);
        assert_int_equal(kv_cmd_encode(&cmds[i], &enc[i]), 0);
        e[i] = (struct kv_entry){(uint64_t)i + 1, enc[i].data, enc[i].len};
    }
    struct kv_result rx[N], ry[N];
    assert_int_equal(kv_apply(x.kv, e, N, rx), 0); /* one batch */
    for (int i = 0; i < N; i++) assert_int_equal(kv_apply(y.kv, &e[i], 1, &ry[i]), 0);
    for (int i = 0; i < N; i++) {
        assert_int_equal(rx[i].err, want[i][0]);
        assert_int_equal(rx[i].msg, want[i][1]);
        assert_int_equal(ry[i].err, want[i][0]);
        assert_int_equal(ry[i].msg, want[i][1]);
        kv_result_free(&rx[i]);
        kv_result_free(&ry[i]);
        buf_free(&enc[i]);
    }
    assert_dump(x.kv, "rev=7\nrole r:\n");
    assert_same(x.kv, y.kv);
    /* the auth store is not part of the key space: no revision was used */
    assert_int_equal(kv_rev(x.kv), 1);
    kt_close_store(&x);
    kt_reopen(&x);
    assert_same(x.kv, y.kv);
    kt_destroy(&x);
    kt_destroy(&y);
}

static void test_limits(void **state)
{
    (void)state;
    struct kt t;
    kt_open(&t);
    int msg;
    assert_int_equal(op(&t, KV_AUTH_ROLE_ADD, "", "r", &msg), 0);
    char key[32];
    for (unsigned i = 0; i < KV_AUTH_PERMS_MAX; i++) {
        snprintf(key, sizeof(key), "k%05u", i);
        assert_int_equal(perm(&t, KV_AUTH_ROLE_GRANT, "r", key, NULL, 0, &msg), 0);
    }
    uint64_t rev = kv_auth_revision(t.kv);
    fails(&t, CC_ETOOBIG, KV_MSG_AUTH_LIMIT,
          perm(&t, KV_AUTH_ROLE_GRANT, "r", "another", NULL, 0, &msg), &msg, rev);
    /* updating an existing permission is still possible at the limit */
    assert_int_equal(perm(&t, KV_AUTH_ROLE_GRANT, "r", "k00007", NULL, 2, &msg), 0);
    /* names over the limit do not encode */
    static char big[KV_AUTH_NAME_MAX + 2];
    memset(big, 'n', sizeof(big) - 1);
    struct kv_cmd c = auth_cmd(KV_AUTH_ROLE_ADD, "", big);
    struct buf b;
    buf_init(&b, KV_CMD_MAX);
    assert_int_equal(kv_cmd_encode(&c, &b), CC_ETOOBIG);
    buf_free(&b);
    kt_destroy(&t);
}

static void test_persistence(void **state)
{
    (void)state;
    struct kt a;
    kt_open(&a);
    int msg;
    assert_int_equal(op(&a, KV_AUTH_USER_ADD, "root", "", &msg), 0);
    assert_int_equal(op(&a, KV_AUTH_ROLE_ADD, "", "root", &msg), 0);
    assert_int_equal(op(&a, KV_AUTH_USER_GRANT, "root", "root", &msg), 0);
    assert_int_equal(op(&a, KV_AUTH_ROLE_ADD, "", "r1", &msg), 0);
    assert_int_equal(perm(&a, KV_AUTH_ROLE_GRANT, "r1", "/a", "/b", 2, &msg), 0);
    assert_int_equal(kt_put(&a, "k", "v", 0), 0);
    const char *want = "rev=6\n"
                       "user root np=0 hash=$2b$hash roles: root\n"
                       "role r1: 2[/a,/b)\nrole root:\n";
    assert_dump(a.kv, want);
    /* a restart recovers users, roles and the revision */
    kt_close_store(&a);
    kt_reopen(&a);
    assert_dump(a.kv, want);
    /* and changes after the restart continue from there */
    assert_int_equal(op(&a, KV_AUTH_ROLE_DELETE, "", "r1", &msg), 0);
    assert_int_equal(kv_auth_revision(a.kv), 7);
    want = "rev=7\nuser root np=0 hash=$2b$hash roles: root\nrole root:\n";
    assert_dump(a.kv, want);

    /* a snapshot carries the auth store; restoring replaces the target's own */
    char path[300];
    snprintf(path, sizeof(path), "%s.archive", a.dir);
    kt_write_archive(a.kv, path);
    struct kt b;
    kt_open(&b);
    assert_int_equal(op(&b, KV_AUTH_USER_ADD, "stale", "", &msg), 0);
    assert_int_equal(op(&b, KV_AUTH_ROLE_ADD, "", "stale", &msg), 0);
    assert_int_equal(kv_restore(b.kv, path), 0);
    assert_dump(b.kv, want);
    kt_close_store(&b);
    kt_reopen(&b);
    assert_dump(b.kv, want);
    /* the restored store applies the next changes like the source */
    b.index = a.index;
    assert_int_equal(op(&a, KV_AUTH_USER_REVOKE, "root", "root", &msg), 0);
    assert_int_equal(op(&b, KV_AUTH_USER_REVOKE, "root", "root", &msg), 0);
    assert_same(a.kv, b.kv);
    remove(path);
    kt_destroy(&a);
    kt_destroy(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_users),       cmocka_unit_test(test_roles),
        cmocka_unit_test(test_determinism), cmocka_unit_test(test_limits),
        cmocka_unit_test(test_persistence),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
