/* config.c — parsing and validating concurd's flags and CONCUR_* environment variables. */
#include "server/config.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"
#include "util/hash64.h"

enum flag_kind { F_STR, F_URLS, F_U32, F_U64, F_BOOL, F_SPECIAL };

struct flag {
    const char *name; /* without dashes */
    enum flag_kind kind;
    const char *def; /* default shown in usage ("" when derived) */
    const char *help;
};

static const struct flag flags[] = {
    {"name", F_STR, "default", "Human-readable name for this member."},
    {"data-dir", F_STR, "${name}.etcd", "Path to the data directory."},
    {"listen-peer-urls", F_URLS, "http://localhost:2380", "URLs to listen on for peer traffic."},
    {"initial-advertise-peer-urls", F_URLS, "http://localhost:2380",
     "This member's peer URLs to advertise to the rest of the cluster."},
    {"listen-client-urls", F_URLS, "http://localhost:2379",
     "URLs to listen on for client traffic (gRPC and HTTP)."},
    {"advertise-client-urls", F_URLS, "http://localhost:2379",
     "This member's client URLs to advertise to the rest of the cluster."},
    {"initial-cluster", F_SPECIAL, "default=http://localhost:2380",
     "Initial cluster configuration for bootstrapping (name=peer-url,...)."},
    {"initial-cluster-state", F_SPECIAL, "new", "Initial cluster state ('new' or 'existing')."},
    {"initial-cluster-token", F_STR, "etcd-cluster",
     "Initial cluster token for the cluster during bootstrap."},
    {"heartbeat-interval", F_U32, "100", "Time (in milliseconds) of a heartbeat interval."},
    {"election-timeout", F_U32, "1000", "Time (in milliseconds) for an election to timeout."},
    {"snapshot-count", F_U64, "100000",
     "Number of committed transactions to trigger a snapshot to disk."},
    {"experimental-snapshot-catchup-entries", F_U64, "5000",
     "Number of entries for a slow follower to catch up after compacting the raft storage "
     "entries."},
    {"redis-addr", F_SPECIAL, "", "HOST:PORT of the Redis-protocol listener (off when absent)."},
    {"max-request-bytes", F_U32, "1572864",
     "Maximum client request size in bytes the server will accept."},
    {"max-txn-ops", F_U32, "128", "Maximum number of operations permitted in a transaction."},
    {"quota-backend-bytes", F_U64, "0",
     "Raise the NOSPACE alarm when the backend exceeds this size (0: 2 GiB, etcd's default)."},
    {"log-level", F_SPECIAL, "info", "Log level: debug, info, warn or error."},
    {"experimental-watch-progress-notify-interval", F_STR, "10m",
     "Duration of periodic watch progress notifications (Go duration: 10m, 1s, 500ms)."},
    {"experimental-lease-read", F_BOOL, "false",
     "Serve linearizable reads from the leader lease (relies on bounded clock drift)."},
};
#define N_FLAGS (sizeof(flags) / sizeof(flags[0]))

/* Raw string values per flag; the last source (env, then argv) wins. */
struct raw {
    const char *v[N_FLAGS];
};

static void seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
    if (!errlen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static int flag_index(const char *name, size_t len)
{
    for (size_t i = 0; i < N_FLAGS; i++)
        if (strlen(flags[i].name) == len && !strncmp(flags[i].name, name, len)) return (int)i;
    return -1;
}

/* "initial-cluster-token" -> "CONCUR_INITIAL_CLUSTER_TOKEN" */
static void env_name(const char *flag, char *out, size_t outlen)
{
    size_t n = (size_t)snprintf(out, outlen, "CONCUR_");
    for (const char *p = flag; *p && n + 1 < outlen; p++)
        out[n++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
    out[n] = 0;
}

int config_parse_url(const char *s, struct cfg_url *out, char *err, size_t errlen)
{
    size_t len = strlen(s);
    while (len && s[len - 1] == '/') len--;
    if (len == 0 || len >= CFG_URL_MAX) {
        seterr(err, errlen, "invalid URL %.64s: empty or too long", s);
        return CC_EINVAL;
    }
    if (strncmp(s, "http://", 7) != 0) {
        seterr(err, errlen, "URL scheme must be http (TLS is not supported yet): %.200s", s);
        return CC_EINVAL;
    }
    memcpy(out->text, s, len);
    out->text[len] = 0;
    const char *hp = out->text + 7;
    const char *colon = strrchr(hp, ':');
    if (!colon || colon == hp || strchr(colon, '/')) {
        seterr(err, errlen, "URL address does not have the form \"host:port\": %s", out->text);
        return CC_EINVAL;
    }
    size_t hlen = (size_t)(colon - hp);
    if (hp[0] == '[' && hlen >= 2 && hp[hlen - 1] == ']') { /* [::1]:2379 */
        hp++;
        hlen -= 2;
    }
    memcpy(out->host, hp, hlen);
    out->host[hlen] = 0;
    char *end;
    errno = 0;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (errno || *end || port == 0 || port > 65535 || colon[1] == 0) {
        seterr(err, errlen, "invalid port in URL %s", out->text);
        return CC_EINVAL;
    }
    out->port = (uint16_t)port;
    return 0;
}

int config_parse_hostport(const char *s, char *host, size_t hostlen, uint16_t *port)
{
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s || (size_t)(colon - s) >= hostlen) return CC_EINVAL;
    char *end;
    errno = 0;
    unsigned long p = strtoul(colon + 1, &end, 10);
    if (errno || *end || colon[1] == 0 || p > 65535) return CC_EINVAL;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = 0;
    *port = (uint16_t)p;
    return 0;
}

int config_parse_urls(const char *s, struct cfg_urls *out, char *err, size_t errlen)
{
    out->n = 0;
    const char *p = s;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char one[CFG_URL_MAX];
        if (len >= sizeof(one)) {
            seterr(err, errlen, "URL too long in %.64s", s);
            return CC_EINVAL;
        }
        if (out->n == CFG_MAX_URLS) {
            seterr(err, errlen, "too many URLs in %.64s (at most %d)", s, CFG_MAX_URLS);
            return CC_EINVAL;
        }
        memcpy(one, p, len);
        one[len] = 0;
        int rc = config_parse_url(one, &out->v[out->n], err, errlen);
        if (rc) return rc;
        out->n++;
        if (!comma) break;
        p = comma + 1;
    }
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

uint64_t config_member_id(const char *name, const struct cfg_urls *peer_urls, const char *token)
{
    const char *sorted[CFG_MAX_URLS];
    for (uint32_t i = 0; i < peer_urls->n; i++) sorted[i] = peer_urls->v[i].text;
    qsort(sorted, peer_urls->n, sizeof(sorted[0]), cmp_str);
    uint64_t h = hash64_extend(HASH64_INIT, "concur-member", 14);
    h = hash64_extend(h, name, strlen(name) + 1);
    for (uint32_t i = 0; i < peer_urls->n; i++)
        h = hash64_extend(h, sorted[i], strlen(sorted[i]) + 1);
    h = hash64_extend(h, token, strlen(token) + 1);
    h = hash64_final(h);
    return h ? h : 1;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

uint64_t config_cluster_id(const uint64_t *ids, uint32_t n, const char *token)
{
    uint64_t sorted[CFG_MAX_MEMBERS];
    assert(n <= CFG_MAX_MEMBERS);
    memcpy(sorted, ids, n * sizeof(ids[0]));
    qsort(sorted, n, sizeof(sorted[0]), cmp_u64);
    uint64_t h = hash64_extend(HASH64_INIT, "concur-cluster", 15);
    for (uint32_t i = 0; i < n; i++) {
        uint8_t b[8];
        for (int k = 0; k < 8; k++) b[k] = (uint8_t)(sorted[i] >> (56 - 8 * k));
        h = hash64_extend(h, b, 8);
    }
    h = hash64_extend(h, token, strlen(token) + 1);
    h = hash64_final(h);
    return h ? h : 1;
}

int config_parse_initial_cluster(const char *s, const char *token, struct cfg_member *out,
                                 uint32_t *n_out, char *err, size_t errlen)
{
    uint32_t n = 0;
    const char *p = s;
    if (!*s) {
        seterr(err, errlen, "--initial-cluster is empty");
        return CC_EINVAL;
    }
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        if (!eq || eq == p) {
            seterr(err, errlen, "--initial-cluster entry %.*s is not name=url", (int)len, p);
            return CC_EINVAL;
        }
        size_t nlen = (size_t)(eq - p);
        if (nlen >= CFG_NAME_MAX) {
            seterr(err, errlen, "--initial-cluster name %.*s is too long", (int)nlen, p);
            return CC_EINVAL;
        }
        char url[CFG_URL_MAX];
        size_t ulen = len - nlen - 1;
        if (ulen >= sizeof(url)) {
            seterr(err, errlen, "--initial-cluster URL too long for %.*s", (int)nlen, p);
            return CC_EINVAL;
        }
        memcpy(url, eq + 1, ulen);
        url[ulen] = 0;
        struct cfg_url u;
        int rc = config_parse_url(url, &u, err, errlen);
        if (rc) return rc;
        /* A name may repeat to list several URLs of one member (etcd's form). */
        struct cfg_member *m = NULL;
        for (uint32_t i = 0; i < n; i++)
            if (strlen(out[i].name) == nlen && !memcmp(out[i].name, p, nlen)) m = &out[i];
        if (!m) {
            if (n == CFG_MAX_MEMBERS) {
                seterr(err, errlen, "--initial-cluster has more than %d members", CFG_MAX_MEMBERS);
                return CC_EINVAL;
            }
            m = &out[n++];
            memset(m, 0, sizeof(*m));
            memcpy(m->name, p, nlen);
        }
        for (uint32_t i = 0; i < n; i++)
            for (uint32_t k = 0; k < out[i].peer_urls.n; k++)
                if (!strcmp(out[i].peer_urls.v[k].text, u.text)) {
                    seterr(err, errlen, "--initial-cluster has duplicate peer URL %s", u.text);
                    return CC_EINVAL;
                }
        if (m->peer_urls.n == CFG_MAX_URLS) {
            seterr(err, errlen, "--initial-cluster: too many URLs for %s", m->name);
            return CC_EINVAL;
        }
        m->peer_urls.v[m->peer_urls.n++] = u;
        if (!comma) break;
        p = comma + 1;
    }
    /* Names repeat only as consecutive URL lists of one member; a name given again after
     * another member is still one member (etcd merges them), so duplicates cannot slip in. */
    for (uint32_t i = 0; i < n; i++)
        out[i].id = config_member_id(out[i].name, &out[i].peer_urls, token);
    for (uint32_t i = 0; i < n; i++)
        for (uint32_t k = i + 1; k < n; k++)
            if (out[i].id == out[k].id) {
                seterr(err, errlen, "--initial-cluster members %s and %s have the same ID",
                       out[i].name, out[k].name);
                return CC_EINVAL;
            }
    *n_out = n;
    return 0;
}

static int parse_u64(const char *s, uint64_t *out)
{
    if (!*s || *s == '-' || *s == '+') return CC_EINVAL;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end) return CC_EINVAL;
    *out = v;
    return 0;
}

int config_parse_duration_ms(const char *s, uint64_t *out)
{
    static const struct {
        const char *unit;
        double ms;
    } units[] = {{"ms", 1},  {"us", 1e-3}, {"µs", 1e-3}, {"ns", 1e-6},
                 {"s", 1e3}, {"m", 6e4},   {"h", 3.6e6}};
    double total = 0;
    if (!*s) return CC_EINVAL;
    if (!strcmp(s, "0")) {
        *out = 0;
        return 0;
    }
    while (*s) {
        char *end;
        if (*s == '-' || *s == '+') return CC_EINVAL;
        double v = strtod(s, &end);
        if (end == s) return CC_EINVAL;
        size_t i = 0;
        for (; i < sizeof(units) / sizeof(units[0]); i++)
            if (!strncmp(end, units[i].unit, strlen(units[i].unit))) break;
        if (i == sizeof(units) / sizeof(units[0])) return CC_EINVAL;
        total += v * units[i].ms;
        if (total > 1e15) return CC_EINVAL;
        s = end + strlen(units[i].unit);
    }
    *out = (uint64_t)total;
    return 0;
}

static int parse_bool(const char *s, bool *out)
{
    if (!strcmp(s, "true") || !strcmp(s, "1") || !strcmp(s, "t") || !strcmp(s, "TRUE")) {
        *out = true;
        return 0;
    }
    if (!strcmp(s, "false") || !strcmp(s, "0") || !strcmp(s, "f") || !strcmp(s, "FALSE")) {
        *out = false;
        return 0;
    }
    return CC_EINVAL;
}

static bool urls_equal_set(const struct cfg_urls *a, const struct cfg_urls *b)
{
    if (a->n != b->n) return false;
    for (uint32_t i = 0; i < a->n; i++) {
        bool found = false;
        for (uint32_t k = 0; k < b->n; k++) found |= !strcmp(a->v[i].text, b->v[k].text);
        if (!found) return false;
    }
    return true;
}

/* Collects raw values from env then argv. */
static int collect(struct raw *raw, int argc, char **argv, char **envp, char *err, size_t errlen)
{
    if (envp) {
        for (char **e = envp; *e; e++) {
            if (strncmp(*e, "CONCUR_", 7) != 0) continue;
            const char *eq = strchr(*e, '=');
            if (!eq) continue;
            bool known = false;
            for (size_t i = 0; i < N_FLAGS; i++) {
                char en[96];
                env_name(flags[i].name, en, sizeof(en));
                if (strlen(en) == (size_t)(eq - *e) && !strncmp(en, *e, (size_t)(eq - *e))) {
                    raw->v[i] = eq + 1;
                    known = true;
                }
            }
            (void)known; /* unknown CONCUR_* variables (e.g. for tools) are ignored */
        }
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-' || a[1] == 0) {
            seterr(err, errlen, "unexpected argument %.200s (flags start with --)", a);
            return CC_EINVAL;
        }
        a += a[1] == '-' ? 2 : 1;
        if (!strcmp(a, "help") || !strcmp(a, "h")) return CONFIG_HELP;
        if (!strcmp(a, "version")) return CONFIG_VERSION;
        const char *eq = strchr(a, '=');
        size_t nlen = eq ? (size_t)(eq - a) : strlen(a);
        int fi = flag_index(a, nlen);
        if (fi < 0) {
            seterr(err, errlen, "unknown flag: --%.*s", (int)nlen, a);
            return CC_EINVAL;
        }
        if (eq) {
            raw->v[fi] = eq + 1;
        } else if (flags[fi].kind == F_BOOL) {
            raw->v[fi] = "true";
        } else {
            if (i + 1 >= argc) {
                seterr(err, errlen, "flag needs an argument: --%s", flags[fi].name);
                return CC_EINVAL;
            }
            raw->v[fi] = argv[++i];
        }
    }
    return 0;
}

#define RAW(nm) raw.v[flag_index(nm, strlen(nm))]

int config_parse(struct member_config *c, int argc, char **argv, char **envp, char *err,
                 size_t errlen)
{
    struct raw raw;
    memset(&raw, 0, sizeof(raw));
    memset(c, 0, sizeof(*c));
    seterr(err, errlen, "%s", "");
    int rc = collect(&raw, argc, argv, envp, err, errlen);
    if (rc) return rc;
    for (size_t i = 0; i < N_FLAGS; i++)
        if (!raw.v[i] && flags[i].def[0] && flags[i].def[0] != '$') raw.v[i] = flags[i].def;

    const char *name = RAW("name");
    if (!*name || strlen(name) >= sizeof(c->name)) {
        seterr(err, errlen, "--name must be 1..%zu bytes", sizeof(c->name) - 1);
        return CC_EINVAL;
    }
    snprintf(c->name, sizeof(c->name), "%s", name);
    const char *dd = RAW("data-dir");
    if (dd) {
        if (!*dd || strlen(dd) >= sizeof(c->data_dir)) {
            seterr(err, errlen, "--data-dir must be 1..%zu bytes", sizeof(c->data_dir) - 1);
            return CC_EINVAL;
        }
        snprintf(c->data_dir, sizeof(c->data_dir), "%s", dd);
    } else {
        snprintf(c->data_dir, sizeof(c->data_dir), "%s.etcd", c->name);
    }
    static const struct {
        const char *flag;
        size_t off;
    } url_flags[] = {
        {"listen-peer-urls", offsetof(struct member_config, listen_peer_urls)},
        {"initial-advertise-peer-urls", offsetof(struct member_config, advertise_peer_urls)},
        {"listen-client-urls", offsetof(struct member_config, listen_client_urls)},
        {"advertise-client-urls", offsetof(struct member_config, advertise_client_urls)},
    };
    for (size_t i = 0; i < sizeof(url_flags) / sizeof(url_flags[0]); i++) {
        char why[200];
        struct cfg_urls *u = (struct cfg_urls *)((char *)c + url_flags[i].off);
        if (config_parse_urls(RAW(url_flags[i].flag), u, why, sizeof(why))) {
            seterr(err, errlen, "--%s: %s", url_flags[i].flag, why);
            return CC_EINVAL;
        }
    }
    snprintf(c->token, sizeof(c->token), "%s", RAW("initial-cluster-token"));
    if (strlen(RAW("initial-cluster-token")) >= sizeof(c->token)) {
        seterr(err, errlen, "--initial-cluster-token is too long");
        return CC_EINVAL;
    }

    const char *state = RAW("initial-cluster-state");
    if (!strcmp(state, "new"))
        c->cluster_state = CFG_CLUSTER_NEW;
    else if (!strcmp(state, "existing"))
        c->cluster_state = CFG_CLUSTER_EXISTING;
    else {
        seterr(err, errlen, "--initial-cluster-state must be 'new' or 'existing', not %.64s",
               state);
        return CC_EINVAL;
    }

    /* The default initial cluster is this member alone at its advertised peer URLs. */
    const char *ic = raw.v[flag_index("initial-cluster", 15)];
    char defic[CFG_MAX_URLS * (CFG_URL_MAX + CFG_NAME_MAX + 2)];
    if (!RAW("initial-cluster") || ic == flags[flag_index("initial-cluster", 15)].def) {
        size_t n = 0;
        for (uint32_t i = 0; i < c->advertise_peer_urls.n; i++)
            n += (size_t)snprintf(defic + n, sizeof(defic) - n, "%s%s=%s", i ? "," : "", c->name,
                                  c->advertise_peer_urls.v[i].text);
        ic = defic;
    }
    char why[300];
    if (config_parse_initial_cluster(ic, c->token, c->initial, &c->n_initial, why, sizeof(why))) {
        seterr(err, errlen, "%s", why);
        return CC_EINVAL;
    }
    const struct cfg_member *self = NULL;
    for (uint32_t i = 0; i < c->n_initial; i++)
        if (!strcmp(c->initial[i].name, c->name)) self = &c->initial[i];
    if (!self) {
        seterr(err, errlen, "couldn't find local name \"%s\" in the initial cluster configuration",
               c->name);
        return CC_EINVAL;
    }
    if (!urls_equal_set(&self->peer_urls, &c->advertise_peer_urls)) {
        seterr(err, errlen,
               "--initial-cluster has %s=%s but missing from --initial-advertise-peer-urls=%s",
               c->name, self->peer_urls.v[0].text, c->advertise_peer_urls.v[0].text);
        return CC_EINVAL;
    }

    uint64_t v;
    if (parse_u64(RAW("heartbeat-interval"), &v) || v == 0 || v > 10000) {
        seterr(err, errlen, "--heartbeat-interval must be 1..10000 ms");
        return CC_EINVAL;
    }
    c->heartbeat_ms = (uint32_t)v;
    if (parse_u64(RAW("election-timeout"), &v) || v == 0 || v > 50000) {
        seterr(err, errlen, "--election-timeout must be 1..50000 ms");
        return CC_EINVAL;
    }
    c->election_ms = (uint32_t)v;
    if (c->election_ms < 5 * c->heartbeat_ms) {
        seterr(err, errlen,
               "--election-timeout[%ums] should be at least as 5 times as "
               "--heartbeat-interval[%ums]",
               c->election_ms, c->heartbeat_ms);
        return CC_EINVAL;
    }
    if (parse_u64(RAW("snapshot-count"), &c->snapshot_count) || c->snapshot_count == 0) {
        seterr(err, errlen, "--snapshot-count must be a positive integer");
        return CC_EINVAL;
    }
    if (parse_u64(RAW("experimental-snapshot-catchup-entries"), &c->snapshot_catchup_entries)) {
        seterr(err, errlen,
               "--experimental-snapshot-catchup-entries must be a non-negative "
               "integer");
        return CC_EINVAL;
    }
    if (parse_u64(RAW("max-request-bytes"), &v) || v < 1024 || v > (64u << 20)) {
        seterr(err, errlen, "--max-request-bytes must be 1024..67108864");
        return CC_EINVAL;
    }
    c->max_request_bytes = (uint32_t)v;
    if (parse_u64(RAW("max-txn-ops"), &v) || v == 0 || v > 100000) {
        seterr(err, errlen, "--max-txn-ops must be 1..100000");
        return CC_EINVAL;
    }
    c->max_txn_ops = (uint32_t)v;
    if (parse_u64(RAW("quota-backend-bytes"), &c->quota_backend_bytes)) {
        seterr(err, errlen, "--quota-backend-bytes must be a non-negative integer");
        return CC_EINVAL;
    }
    if (c->quota_backend_bytes == 0) c->quota_backend_bytes = 2ull << 30;
    const char *lvl = RAW("log-level");
    if (strcmp(lvl, "debug") && strcmp(lvl, "info") && strcmp(lvl, "warn") &&
        strcmp(lvl, "error")) {
        seterr(err, errlen, "--log-level must be debug, info, warn or error");
        return CC_EINVAL;
    }
    snprintf(c->log_level, sizeof(c->log_level), "%s", lvl);
    if (config_parse_duration_ms(RAW("experimental-watch-progress-notify-interval"),
                                 &c->watch_progress_notify_ms) ||
        c->watch_progress_notify_ms == 0) {
        seterr(err, errlen,
               "--experimental-watch-progress-notify-interval must be a positive "
               "duration such as 10m or 500ms");
        return CC_EINVAL;
    }
    if (parse_bool(RAW("experimental-lease-read"), &c->lease_read)) {
        seterr(err, errlen, "--experimental-lease-read must be true or false");
        return CC_EINVAL;
    }
    const char *ra = RAW("redis-addr");
    if (ra && *ra) {
        if (config_parse_hostport(ra, c->redis_host, sizeof(c->redis_host), &c->redis_port)) {
            seterr(err, errlen, "--redis-addr must be HOST:PORT, not %.64s", ra);
            return CC_EINVAL;
        }
        c->redis_enabled = true;
    }

    if (c->cluster_state == CFG_CLUSTER_NEW) {
        uint64_t ids[CFG_MAX_MEMBERS];
        for (uint32_t i = 0; i < c->n_initial; i++) ids[i] = c->initial[i].id;
        c->member_id = self->id;
        c->cluster_id = config_cluster_id(ids, c->n_initial, c->token);
    } else {
        /* Joining: the cluster added us by peer URLs only (MemberAdd carries no name). */
        c->member_id = config_member_id("", &c->advertise_peer_urls, c->token);
        c->cluster_id = 0;
    }
    return CONFIG_OK;
}

void config_usage(void *fp)
{
    FILE *f = fp;
    fprintf(f, "Usage: concurd [flags]\n\n"
               "A concur cluster member (etcd-compatible flags; each flag can also be set with\n"
               "the CONCUR_<FLAG_NAME> environment variable, which a flag overrides).\n\n");
    for (size_t i = 0; i < N_FLAGS; i++) {
        char en[96];
        env_name(flags[i].name, en, sizeof(en));
        fprintf(f, "  --%s%s\n      %s\n      env %s%s%s%s\n", flags[i].name,
                flags[i].kind == F_BOOL ? "" : " VALUE", flags[i].help, en,
                flags[i].def[0] ? ", default '" : "", flags[i].def, flags[i].def[0] ? "'" : "");
    }
    fprintf(f, "  --help, --version\n");
}
