/* cmd_member.c — member add / remove / update / list / promote (member_command.go). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ctl/ctl.h"
#include "ctl/print.h"

#define MEMBER_MAX_URLS 64

/* memberID argument: strconv.ParseUint(s, 16, 64). Returns 0 or an exit code. */
static int member_id_arg(struct ctl *ctl, uint64_t *id)
{
    if (ctl->n_args != 1) return ctl_error(ctl, CTL_EXIT_BAD_ARGS, "member ID is not provided");
    int rc = flags_parse_hex_uint64(ctl->args[0], id);
    if (rc == 0) return 0;
    char why[200];
    flags_strconv_error("ParseUint", ctl->args[0], rc, why, sizeof why);
    return ctl_error(ctl, CTL_EXIT_BAD_ARGS, "bad member ID arg (%s), expecting ID in Hex", why);
}

/* strings.Split(urls, ","): splits a copy in place; *copy must be freed by the caller. */
static size_t split_urls(const char *urls, char **copy, char **out)
{
    size_t n = 0;
    *copy = strdup(urls);
    if (!*copy) return 0;
    char *p = *copy;
    for (;;) {
        if (n == MEMBER_MAX_URLS) break;
        out[n++] = p;
        char *c = strchr(p, ',');
        if (!c) break;
        *c = 0;
        p = c + 1;
    }
    return n;
}

static void print_env_assignments(struct ctl *ctl, const char *name, const char *peer_urls,
                                  const Etcdserverpb__MemberAddResponse *r)
{
    FILE *f = ctl->out;
    uint64_t new_id = r->member ? r->member->id : 0;
    fputs("\nETCD_NAME=", f);
    print_go_quote(f, (const uint8_t *)name, strlen(name));
    /* ETCD_INITIAL_CLUSTER lists every peer URL of every member, the new one by its name. */
    char *conf = NULL;
    size_t conf_len = 0;
    FILE *cf = open_memstream(&conf, &conf_len);
    if (cf) {
        bool first = true;
        for (size_t i = 0; i < r->n_members; i++) {
            const Etcdserverpb__Member *m = r->members[i];
            for (size_t k = 0; k < m->n_peerurls; k++) {
                fprintf(cf, "%s%s=%s", first ? "" : ",", m->id == new_id ? name : m->name,
                        m->peerurls[k]);
                first = false;
            }
        }
        fclose(cf);
    }
    fputs("\nETCD_INITIAL_CLUSTER=", f);
    print_go_quote(f, (const uint8_t *)(conf ? conf : ""), conf ? conf_len : 0);
    free(conf);
    fputs("\nETCD_INITIAL_ADVERTISE_PEER_URLS=", f);
    print_go_quote(f, (const uint8_t *)peer_urls, strlen(peer_urls));
    fputs("\nETCD_INITIAL_CLUSTER_STATE=\"existing\"\n", f);
}

int cmd_member_add(struct ctl *ctl, int argc, char **argv)
{
    char peer_urls[4096] = "";
    bool learner = false;
    struct flag_def d[] = {FLAG_DEF_STR("peer-urls", 0, peer_urls),
                           FLAG_DEF_BOOL("learner", 0, &learner)};
    int rc = ctl_parse(ctl, d, 2, argc, argv);
    if (rc != 0) return rc;
    if (ctl->n_args < 1) return ctl_error(ctl, CTL_EXIT_BAD_ARGS, "member name not provided");
    if (ctl->n_args > 1) {
        char msg[2048] = "too many arguments";
        for (int i = 0; i < ctl->n_args; i++) {
            if (strncasecmp(ctl->args[i], "http", 4) == 0) {
                size_t l = strlen(msg);
                snprintf(msg + l, sizeof msg - l, ", did you mean --peer-urls=%s", ctl->args[i]);
            }
        }
        return ctl_error(ctl, CTL_EXIT_BAD_ARGS, "%s", msg);
    }
    if (!peer_urls[0]) return ctl_error(ctl, CTL_EXIT_BAD_ARGS, "member peer urls not provided");
    char *copy, *urls[MEMBER_MAX_URLS];
    size_t n = split_urls(peer_urls, &copy, urls);
    if (!copy) return ctl_error(ctl, CTL_EXIT_ERROR, "out of memory");
    Etcdserverpb__MemberAddRequest req = ETCDSERVERPB__MEMBER_ADD_REQUEST__INIT;
    req.n_peerurls = n;
    req.peerurls = urls;
    req.islearner = learner;
    Etcdserverpb__MemberAddResponse *resp;
    struct gc_status st;
    int call = ctl_unary(ctl, "/etcdserverpb.Cluster/MemberAdd", &req,
                         &etcdserverpb__member_add_response__descriptor, false, &resp, &st);
    free(copy);
    if (call != 0) return ctl_rpc_error(ctl, CTL_EXIT_ERROR, &st);
    rc = ctl_print(ctl, member_add, resp);
    if (rc == 0 && ctl->format == CTL_FMT_SIMPLE)
        print_env_assignments(ctl, ctl->args[0], peer_urls, resp);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    return rc;
}

int cmd_member_remove(struct ctl *ctl, int argc, char **argv)
{
    int rc = ctl_parse(ctl, NULL, 0, argc, argv);
    uint64_t id;
    if (rc != 0 || (rc = member_id_arg(ctl, &id)) != 0) return rc;
    Etcdserverpb__MemberRemoveRequest req = ETCDSERVERPB__MEMBER_REMOVE_REQUEST__INIT;
    req.id = id;
    Etcdserverpb__MemberRemoveResponse *resp;
    struct gc_status st;
    if (ctl_unary(ctl, "/etcdserverpb.Cluster/MemberRemove", &req,
                  &etcdserverpb__member_remove_response__descriptor, false, &resp, &st) != 0)
        return ctl_rpc_error(ctl, CTL_EXIT_ERROR, &st);
    rc = ctl_print(ctl, member_remove, id, resp);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    return rc;
}

int cmd_member_update(struct ctl *ctl, int argc, char **argv)
{
    char peer_urls[4096] = "";
    struct flag_def d[] = {FLAG_DEF_STR("peer-urls", 0, peer_urls)};
    int rc = ctl_parse(ctl, d, 1, argc, argv);
    uint64_t id;
    if (rc != 0 || (rc = member_id_arg(ctl, &id)) != 0) return rc;
    if (!peer_urls[0]) return ctl_error(ctl, CTL_EXIT_BAD_ARGS, "member peer urls not provided");
    char *copy, *urls[MEMBER_MAX_URLS];
    size_t n = split_urls(peer_urls, &copy, urls);
    if (!copy) return ctl_error(ctl, CTL_EXIT_ERROR, "out of memory");
    Etcdserverpb__MemberUpdateRequest req = ETCDSERVERPB__MEMBER_UPDATE_REQUEST__INIT;
    req.id = id;
    req.n_peerurls = n;
    req.peerurls = urls;
    Etcdserverpb__MemberUpdateResponse *resp;
    struct gc_status st;
    int call = ctl_unary(ctl, "/etcdserverpb.Cluster/MemberUpdate", &req,
                         &etcdserverpb__member_update_response__descriptor, false, &resp, &st);
    free(copy);
    if (call != 0) return ctl_rpc_error(ctl, CTL_EXIT_ERROR, &st);
    rc = ctl_print(ctl, member_update, id, resp);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    return rc;
}

int cmd_member_list(struct ctl *ctl, int argc, char **argv)
{
    int rc = ctl_parse(ctl, NULL, 0, argc, argv);
    if (rc != 0) return rc;
    Etcdserverpb__MemberListRequest req = ETCDSERVERPB__MEMBER_LIST_REQUEST__INIT;
    Etcdserverpb__MemberListResponse *resp;
    struct gc_status st;
    if (ctl_unary(ctl, "/etcdserverpb.Cluster/MemberList", &req,
                  &etcdserverpb__member_list_response__descriptor, true, &resp, &st) != 0)
        return ctl_rpc_error(ctl, CTL_EXIT_ERROR, &st);
    rc = ctl_print(ctl, member_list, resp);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    return rc;
}

int cmd_member_promote(struct ctl *ctl, int argc, char **argv)
{
    int rc = ctl_parse(ctl, NULL, 0, argc, argv);
    uint64_t id;
    if (rc != 0 || (rc = member_id_arg(ctl, &id)) != 0) return rc;
    Etcdserverpb__MemberPromoteRequest req = ETCDSERVERPB__MEMBER_PROMOTE_REQUEST__INIT;
    req.id = id;
    Etcdserverpb__MemberPromoteResponse *resp;
    struct gc_status st;
    if (ctl_unary(ctl, "/etcdserverpb.Cluster/MemberPromote", &req,
                  &etcdserverpb__member_promote_response__descriptor, false, &resp, &st) != 0)
        return ctl_rpc_error(ctl, CTL_EXIT_ERROR, &st);
    rc = ctl_print(ctl, member_promote, id, resp);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    return rc;
}
