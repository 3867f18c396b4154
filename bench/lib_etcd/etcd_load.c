/* etcd_load.c — the closed-loop Put/Range load: clients, key generation, timing and checks. */
#include "etcd_load.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "api/h2client/h2c.h"
#include "etcdserverpb/rpc.pb-c.h"
#include "util/clock.h"
#include "util/err.h"
#include "util/rng.h"

#define PATH_PUT   "/etcdserverpb.KV/Put"
#define PATH_RANGE "/etcdserverpb.KV/Range"
/* How often request deadlines and the connect deadline are checked. */
#define TICK_MS 20

enum phase { PH_CONNECTING, PH_PRIMING, PH_RUNNING, PH_DONE };

struct load;

struct slot { /* one HTTP/2 connection */
    struct load *L;
    struct h2c *h;
};

struct client {
    struct load *L;
    struct slot *slot;
    int32_t stream; /* the request in flight (0: none) */
    bool busy;
    uint64_t t0_ns;
};

struct load {
    const struct etcd_load_opts *o;
    struct etcd_load_result *res;
    uv_loop_t loop;
    uv_timer_t tick;
    struct slot *slots;
    struct client *clients;
    struct client primer; /* writes the range key before the clock starts */
    enum phase phase;
    unsigned ready;
    unsigned busy;
    uint64_t started;
    uint64_t seq;
    uint64_t t_setup_ns, t_start_ns, t_last_ns;
    struct rng rng;
    uint8_t *value;
    uint8_t *req; /* one serialized request, reused */
    size_t req_cap;
    int rc; /* setup failure */
    char err[256];
};

void etcd_load_defaults(struct etcd_load_opts *o)
{
    memset(o, 0, sizeof *o);
    o->clients = 1;
    o->conns = 1;
    o->total = 10000;
    o->key_size = 8;
    o->val_size = 256;
    o->key_space = 100000;
    o->op = ETCD_LOAD_PUT;
    o->timeout_ms = 10000;
    o->connect_timeout_ms = 10000;
    o->seed = 1;
}

static unsigned digits(uint64_t v)
{
    unsigned n = 1;
    while (v >= 10) {
        v /= 10;
        n++;
    }
    return n;
}

static int check_opts(const struct etcd_load_opts *o, char *err, size_t errlen)
{
    const char *why = NULL;
    if (o->n_endpoints < 1 || o->n_endpoints > ETCD_LOAD_MAX_ENDPOINTS)
        why = "need 1..64 endpoints";
    else if (o->clients < 1 || o->clients > ETCD_LOAD_MAX_CLIENTS)
        why = "clients must be 1..100000";
    else if (o->conns < 1 || o->conns > o->clients)
        why = "conns must be 1..clients";
    else if (o->duration_ms == 0 && o->total == 0)
        why = "need a total or a duration";
    else if (o->key_size < 1 || o->key_size > ETCD_LOAD_MAX_KEY)
        why = "key size must be 1..1024";
    else if (o->val_size > ETCD_LOAD_MAX_VALUE)
        why = "value size must be at most 1 MiB";
    else if (o->key_space < 1)
        why = "key space must be at least 1";
    else if (digits(o->key_space - 1) > o->key_size)
        why = "key size too small to number the key space in decimal";
    else if (o->timeout_ms < 1 || o->connect_timeout_ms < 1)
        why = "timeouts must be positive";
    if (why) snprintf(err, errlen, "%s", why);
    return why ? CC_EINVAL : 0;
}

/* Key number i as key_size decimal digits, zero-padded ("00001234"): readable in etcdctl. */
static void make_key(uint8_t *key, unsigned key_size, uint64_t i)
{
    for (unsigned p = key_size; p-- > 0;) {
        key[p] = (uint8_t)('0' + i % 10);
        i /= 10;
    }
}

static void note_failure(struct load *L, const char *what, int code, const char *msg)
{
    L->res->failed++;
    if (L->res->first_error[0]) return;
    snprintf(L->res->first_error, sizeof L->res->first_error, "%s: code %d: %s", what, code,
             msg && msg[0] ? msg : "(no message)");
}

static bool more_to_start(struct load *L, uint64_t now_ns)
{
    if (L->o->duration_ms) return now_ns - L->t_start_ns < L->o->duration_ms * 1000000ull;
    return L->started < L->o->total;
}

/* Serializes the next request into L->req. Returns its length. */
static size_t build_request(struct load *L, bool range)
{
    const struct etcd_load_opts *o = L->o;
    uint8_t key[ETCD_LOAD_MAX_KEY];
    uint64_t k = 0; /* the range key, and the primer's put, use key 0 */
    if (!range && L->phase == PH_RUNNING)
        k = o->seq_keys ? L->seq++ % o->key_space : rng_below(&L->rng, o->key_space);
    make_key(key, o->key_size, k);
    if (range) {
        Etcdserverpb__RangeRequest r = ETCDSERVERPB__RANGE_REQUEST__INIT;
        r.key.data = key;
        r.key.len = o->key_size;
        r.serializable = o->serializable;
        assert(etcdserverpb__range_request__get_packed_size(&r) <= L->req_cap);
        return etcdserverpb__range_request__pack(&r, L->req);
    }
    Etcdserverpb__PutRequest p = ETCDSERVERPB__PUT_REQUEST__INIT;
    p.key.data = key;
    p.key.len = o->key_size;
    p.value.data = L->value;
    p.value.len = o->val_size;
    assert(etcdserverpb__put_request__get_packed_size(&p) <= L->req_cap);
    return etcdserverpb__put_request__pack(&p, L->req);
}

static void on_reply(void *ud, const struct h2c_reply *r);
static void finish(struct load *L);

/* Starts the client's next request, or retires the client when the load is over. */
static void issue(struct client *cl, bool range)
{
    struct load *L = cl->L;
    if (L->phase == PH_RUNNING && !more_to_start(L, clock_mono_ns())) {
        if (L->busy == 0) finish(L);
        return;
    }
    size_t len = build_request(L, range);
    int32_t id = 0;
    uint64_t t0 = clock_mono_ns();
    int rv =
        h2c_call(cl->slot->h, range ? PATH_RANGE : PATH_PUT, L->req, len, NULL, on_reply, cl, &id);
    if (rv != 0) {
        /* The connection is gone (its calls were answered and counted already): this client
         * retires; the others carry on. */
        if (L->phase == PH_RUNNING) {
            if (!L->res->first_error[0])
                snprintf(L->res->first_error, sizeof L->res->first_error, "starting a request: %s",
                         cc_strerror(rv));
            if (L->busy == 0) finish(L);
        } else {
            L->rc = CC_EIO;
            snprintf(L->err, sizeof L->err, "writing the range key: %s", cc_strerror(rv));
            finish(L);
        }
        return;
    }
    if (L->phase == PH_RUNNING) L->started++;
    cl->stream = id;
    cl->busy = true;
    cl->t0_ns = t0;
    L->busy++;
}

static void start_running(struct load *L)
{
    L->phase = PH_RUNNING;
    L->t_start_ns = L->t_last_ns = clock_mono_ns();
    bool range = L->o->op == ETCD_LOAD_RANGE;
    for (unsigned i = 0; i < L->o->clients && L->phase == PH_RUNNING; i++)
        issue(&L->clients[i], range);
}

/* Checks a successful reply's content: a Put must decode, a Range must return the key with a
 * value of val_size bytes (so an empty or wrong answer never counts as a read). */
static const char *check_reply(struct load *L, const struct h2c_reply *r, bool range)
{
    if (!range) {
        Etcdserverpb__PutResponse *p = etcdserverpb__put_response__unpack(NULL, r->msg_len, r->msg);
        if (!p) return "undecodable PutResponse";
        bool ok = p->header != NULL;
        etcdserverpb__put_response__free_unpacked(p, NULL);
        return ok ? NULL : "PutResponse without header";
    }
    Etcdserverpb__RangeResponse *g = etcdserverpb__range_response__unpack(NULL, r->msg_len, r->msg);
    if (!g) return "undecodable RangeResponse";
    bool ok = g->count == 1 && g->n_kvs == 1 && g->kvs[0]->value.len == L->o->val_size;
    etcdserverpb__range_response__free_unpacked(g, NULL);
    return ok ? NULL : "RangeResponse without the key or with a wrong value";
}

static void on_reply(void *ud, const struct h2c_reply *r)
{
    struct client *cl = ud;
    struct load *L = cl->L;
    if (!cl->busy || r->stream_id != cl->stream || L->phase == PH_DONE) return; /* timed out */
    uint64_t now = clock_mono_ns();
    cl->busy = false;
    cl->stream = 0;
    L->busy--;
    if (L->phase == PH_PRIMING) {
        const char *bad = r->code == 0 ? check_reply(L, r, false) : r->message;
        if (r->code != 0 || bad) {
            L->rc = CC_EIO;
            snprintf(L->err, sizeof L->err, "writing the range key: code %d: %s", r->code, bad);
            finish(L);
        } else {
            start_running(L);
        }
        return;
    }
    bool range = L->o->op == ETCD_LOAD_RANGE;
    L->t_last_ns = now;
    const char *bad = r->code == 0 ? check_reply(L, r, range) : NULL;
    if (r->code != 0) {
        note_failure(L, range ? "range" : "put", r->code, r->message);
    } else if (bad) {
        note_failure(L, range ? "range" : "put", 0, bad);
    } else {
        L->res->ok++;
        hist_add(&L->res->latency_us, (now - cl->t0_ns) / 1000);
    }
    issue(cl, range);
}

static void on_event(void *ud, struct h2c *h, enum h2c_event ev, const char *why)
{
    struct slot *s = ud;
    struct load *L = s->L;
    if (ev == H2C_FAILED) {
        if (L->phase == PH_CONNECTING || L->phase == PH_PRIMING) {
            L->rc = CC_EIO;
            snprintf(L->err, sizeof L->err, "%s", why);
            finish(L);
        }
        /* While running, the failed calls were already answered and counted. */
        return;
    }
    if (L->phase != PH_CONNECTING || ++L->ready < L->o->conns) return;
    if (L->o->op == ETCD_LOAD_RANGE) {
        L->phase = PH_PRIMING;
        issue(&L->primer, false);
    } else {
        start_running(L);
    }
}

static void on_tick(uv_timer_t *t)
{
    struct load *L = t->data;
    uint64_t now = clock_mono_ns();
    if (L->phase != PH_RUNNING) {
        if (now - L->t_setup_ns > L->o->connect_timeout_ms * 1000000ull) {
            L->rc = CC_ETIMEDOUT;
            snprintf(L->err, sizeof L->err, "%s",
                     L->phase == PH_CONNECTING ? "connecting timed out"
                                               : "writing the range key timed out");
            finish(L);
        }
        return;
    }
    bool range = L->o->op == ETCD_LOAD_RANGE;
    uint64_t limit = L->o->timeout_ms * 1000000ull;
    for (unsigned i = 0; i < L->o->clients && L->phase == PH_RUNNING; i++) {
        struct client *cl = &L->clients[i];
        if (!cl->busy || now - cl->t0_ns <= limit) continue;
        h2c_cancel(cl->slot->h, cl->stream);
        cl->busy = false;
        cl->stream = 0;
        L->busy--;
        L->res->timeouts++;
        L->t_last_ns = now;
        note_failure(L, range ? "range" : "put", 4, "deadline exceeded (client timeout)");
        issue(cl, range);
    }
}

/* Ends the run: closes every connection and the timer so uv_run returns. */
static void finish(struct load *L)
{
    if (L->phase == PH_DONE) return;
    L->phase = PH_DONE;
    for (unsigned i = 0; L->slots && i < L->o->conns; i++) {
        h2c_close(L->slots[i].h, NULL, NULL); /* its running calls are answered (ignored) */
        L->slots[i].h = NULL;
    }
    uv_close((uv_handle_t *)&L->tick, NULL);
}

static int setup(struct load *L, char *err, size_t errlen)
{
    const struct etcd_load_opts *o = L->o;
    L->slots = calloc(o->conns, sizeof *L->slots);
    L->clients = calloc(o->clients, sizeof *L->clients);
    L->value = malloc(o->val_size ? o->val_size : 1);
    L->req_cap = (size_t)o->key_size + o->val_size + 64;
    L->req = malloc(L->req_cap);
    if (!L->slots || !L->clients || !L->value || !L->req) {
        snprintf(err, errlen, "out of memory");
        return CC_ENOMEM;
    }
    static const char alnum[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    for (unsigned i = 0; i < o->val_size; i++)
        L->value[i] = (uint8_t)alnum[rng_below(&L->rng, sizeof alnum - 1)];
    /* Every client of a connection may have a call alive, plus as many cancelled ones whose
     * streams are still closing. */
    struct h2c_limits lim;
    h2c_limits_default(&lim);
    lim.max_calls = 2 * ((o->clients + o->conns - 1) / o->conns) + 16;
    for (unsigned i = 0; i < o->conns; i++) {
        L->slots[i].L = L;
        int rv = h2c_open(&L->loop, o->endpoints[i % o->n_endpoints], &lim, on_event, &L->slots[i],
                          &L->slots[i].h, err, errlen);
        if (rv != 0) return rv;
    }
    for (unsigned i = 0; i < o->clients; i++) {
        L->clients[i].L = L;
        L->clients[i].slot = &L->slots[i % o->conns];
    }
    L->primer.L = L;
    L->primer.slot = &L->slots[0];
    return 0;
}

int etcd_load_run(const struct etcd_load_opts *o, struct etcd_load_result *res, char *err,
                  size_t errlen)
{
    memset(res, 0, sizeof *res);
    hist_init(&res->latency_us);
    int rv = check_opts(o, err, errlen);
    if (rv != 0) return rv;
    struct load *L = calloc(1, sizeof *L);
    if (!L) {
        snprintf(err, errlen, "out of memory");
        return CC_ENOMEM;
    }
    L->o = o;
    L->res = res;
    rng_seed(&L->rng, o->seed);
    L->t_setup_ns = clock_mono_ns();
    rv = uv_loop_init(&L->loop);
    if (rv != 0) {
        snprintf(err, errlen, "uv_loop_init: %s", uv_strerror(rv));
        free(L);
        return CC_EIO;
    }
    uv_timer_init(&L->loop, &L->tick);
    L->tick.data = L;
    uv_timer_start(&L->tick, on_tick, TICK_MS, TICK_MS);
    rv = setup(L, err, errlen);
    if (rv != 0) {
        finish(L);
    } else {
        uv_run(&L->loop, UV_RUN_DEFAULT);
        rv = L->rc;
        if (rv != 0) snprintf(err, errlen, "%s", L->err);
    }
    /* Everything was closed by finish(); this run only drains the close callbacks. */
    uv_run(&L->loop, UV_RUN_DEFAULT);
    uv_loop_close(&L->loop);
    res->elapsed_ns = L->t_last_ns - L->t_start_ns;
    free(L->slots);
    free(L->clients);
    free(L->value);
    free(L->req);
    free(L);
    return rv;
}
