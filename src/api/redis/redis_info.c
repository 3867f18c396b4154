/* redis_info.c — INFO: server, clients, stats, replication, raft and keyspace sections. */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "api/redis/redis_int.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/err.h"

#define INFO_MAX (256u << 10)

static int addf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int addf(struct buf *b, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n < 0) return CC_EINVAL;
    return buf_append(b, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

static bool want(const struct redis_op *op, const char *section)
{
    if (op->argc < 2) return true;
    for (size_t i = 1; i < op->argc; i++) {
        const struct kv_bytes *a = &op->argv[i];
        if ((a->len == 3 && !strncasecmp((const char *)a->p, "all", 3)) ||
            (a->len == 8 && !strncasecmp((const char *)a->p, "everything", 8)) ||
            (a->len == 7 && !strncasecmp((const char *)a->p, "default", 7)))
            return true;
        if (a->len == strlen(section) && !strncasecmp((const char *)a->p, section, a->len))
            return true;
    }
    return false;
}

static const char *role_word(enum raft_role r)
{
    return r == RAFT_LEADER          ? "leader"
           : r == RAFT_CANDIDATE     ? "candidate"
           : r == RAFT_PRE_CANDIDATE ? "pre-candidate"
                                     : "follower";
}

static void cmd_info(struct resp_ctx *ctx, size_t argc, const struct resp_str *argv, void *ud)
{
    struct redis_op *op = redis_op_new(ctx, ud, argc, argv);
    if (!op) return;
    struct member *m = op->m;
    struct srv_status st;
    srv_status(m, &st);
    struct buf b;
    buf_init(&b, INFO_MAX);
    struct resp_conn *conn = resp_ctx_conn(ctx);
    struct resp_server *rs = conn ? resp_conn_server(conn) : NULL;
    bool first = true;
#define SECTION(name)                                                                              \
    do {                                                                                           \
        if (!first) buf_append(&b, "\r\n", 2);                                                     \
        first = false;                                                                             \
        addf(&b, "# %s\r\n", name);                                                                \
    } while (0)
    if (want(op, "server")) {
        SECTION("Server");
        struct utsname u;
        uname(&u);
        addf(&b, "redis_version:7.0.0\r\nconcur_version:%s\r\nredis_mode:standalone\r\n",
             st.version);
        addf(&b, "os:%s %s %s\r\nprocess_id:%d\r\n", u.sysname, u.release, u.machine,
             (int)getpid());
        addf(&b, "member_id:%016llx\r\ncluster_id:%016llx\r\n", (unsigned long long)st.member_id,
             (unsigned long long)st.cluster_id);
    }
    if (want(op, "clients") && rs) {
        SECTION("Clients");
        resp_server_info_clients(rs, &b);
    }
    if (want(op, "stats") && rs) {
        SECTION("Stats");
        resp_server_info_stats(rs, &b);
    }
    if (want(op, "replication")) {
        SECTION("Replication");
        /* Redis's words: the leader is the master, followers are replicas of it. */
        addf(&b, "role:%s\r\n", st.role == RAFT_LEADER ? "master" : "slave");
        addf(&b, "raft_role:%s\r\nleader_id:%016llx\r\n", role_word(st.role),
             (unsigned long long)st.leader_id);
        struct srv_member mem[2 * RAFT_MAX_NODES];
        uint32_t n = srv_members(m, mem, 2 * RAFT_MAX_NODES);
        addf(&b, "connected_members:%u\r\n", n);
    }
    if (want(op, "raft")) {
        SECTION("Raft");
        addf(&b, "role:%s\r\nterm:%llu\r\nleader:%016llx\r\n", role_word(st.role),
             (unsigned long long)st.raft_term, (unsigned long long)st.leader_id);
        addf(&b,
             "commit_index:%llu\r\napplied_index:%llu\r\nfirst_index:%llu\r\n"
             "last_index:%llu\r\nsnapshot_index:%llu\r\nlog_size:%llu\r\n"
             "log_bytes:%llu\r\n",
             (unsigned long long)st.commit_index, (unsigned long long)st.raft_applied_index,
             (unsigned long long)st.first_index, (unsigned long long)st.last_index,
             (unsigned long long)st.snap_index,
             (unsigned long long)(st.last_index >= st.first_index
                                      ? st.last_index - st.first_index + 1
                                      : 0),
             (unsigned long long)st.log_bytes);
        addf(&b,
             "leader_changes:%llu\r\nproposals_committed:%llu\r\nproposals_failed:%llu\r\n"
             "proposals_pending:%llu\r\nrevision:%lld\r\ncompact_revision:%lld\r\n",
             (unsigned long long)st.leader_changes, (unsigned long long)st.proposals_committed,
             (unsigned long long)st.proposals_failed, (unsigned long long)st.proposals_pending,
             (long long)st.revision, (long long)st.compact_revision);
        struct srv_member mem[2 * RAFT_MAX_NODES];
        uint32_t n = srv_members(m, mem, 2 * RAFT_MAX_NODES);
        addf(&b, "members:%u\r\n", n);
        for (uint32_t i = 0; i < n; i++)
            addf(&b, "member%u:id=%016llx,name=%s,peer=%s,client=%s,learner=%d\r\n", i,
                 (unsigned long long)mem[i].id, mem[i].name,
                 mem[i].n_peer_urls ? mem[i].peer_urls[0] : "",
                 mem[i].n_client_urls ? mem[i].client_urls[0] : "", mem[i].is_learner);
    }
    if (want(op, "keyspace")) {
        SECTION("Keyspace");
        if (st.keys) addf(&b, "db0:keys=%llu,expires=0,avg_ttl=0\r\n", (unsigned long long)st.keys);
    }
#undef SECTION
    resp_reply_bulk(ctx, b.data, b.len);
    buf_free(&b);
    redis_op_finish(op);
}

int redis__register_info(struct resp_server *srv, struct member *m)
{
    const struct resp_command info = {"info",
                                      -1,
                                      RESP_CMD_STALE | RESP_CMD_LOADING,
                                      0,
                                      0,
                                      0,
                                      "Returns information and statistics about the server.",
                                      "1.0.0",
                                      "server",
                                      cmd_info,
                                      m};
    return resp_server_register(srv, &info);
}
