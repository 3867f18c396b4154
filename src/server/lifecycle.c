/* lifecycle.c — a member from recovery to shutdown: boot, housekeeping, signals, close. */
#include "server/lifecycle.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/member.h"
#include "server/members.h"
#include "server/persist.h"
#include "server/snapshot.h"
#include "util/clock.h"
#include "util/dirs.h"
#include "util/err.h"

#define HOUSEKEEPING_MS   100
#define SHUTDOWN_DRAIN_MS 5000

struct logger *member_logger(struct member *m)
{
    return &m->log;
}

const struct member_config *member_config(const struct member *m)
{
    return &m->cfg;
}

uv_loop_t *member_loop(struct member *m)
{
    return m->loop;
}

/* Seeds the member's generator from the OS (member IDs stay derived; this only feeds session
 * IDs, election jitter and reconnect jitter). */
static uint64_t os_seed(void)
{
    uint64_t s = clock_wall_ms() ^ ((uint64_t)getpid() << 32);
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        uint64_t r;
        if (read(fd, &r, sizeof(r)) == (ssize_t)sizeof(r)) s ^= r;
        close(fd);
    }
    return s;
}

/* Identity: the stored metadata wins over flags on restart (as etcd ignores --initial-*). */
static int load_identity(struct member *m, struct storage_boot *b)
{
    if (!b->has_meta) return 0;
    uint64_t id = 0, cid = 0;
    if (storage_meta_get_u64(&b->meta, "member_id", &id) == 0 && id) {
        if (id != m->cfg.member_id)
            log_info(&m->log, "using the stored member ID %016llx (flags would give %016llx)",
                     (unsigned long long)id, (unsigned long long)m->cfg.member_id);
        m->cfg.member_id = id;
    }
    if (storage_meta_get_u64(&b->meta, "cluster_id", &cid) == 0 && cid) m->cfg.cluster_id = cid;
    return 0;
}

static int identity_meta(const struct member *m, struct storage_meta *meta)
{
    memset(meta, 0, sizeof(*meta));
    int rc = storage_meta_set_u64(meta, "member_id", m->cfg.member_id);
    if (!rc && m->cfg.cluster_id) rc = storage_meta_set_u64(meta, "cluster_id", m->cfg.cluster_id);
    if (!rc) rc = storage_meta_set(meta, "name", m->cfg.name);
    return rc;
}

static int save_identity(struct member *m)
{
    struct storage_meta meta;
    int rc = identity_meta(m, &meta);
    return rc ? rc : storage_meta_save(m->st, &meta);
}

int member_open(const struct member_config *cfg, uv_loop_t *loop, struct member **out)
{
    struct member *m = calloc(1, sizeof(*m));
    if (!m) return CC_ENOMEM;
    m->cfg = *cfg;
    m->loop = loop;
    enum log_level lvl = LOG_INFO;
    log_level_parse(cfg->log_level, &lvl);
    log_init(&m->log, cfg->name, 2, lvl);
    rng_seed(&m->rng, os_seed());

    int rc = dirs_make(cfg->data_dir);
    if (rc) {
        log_error(&m->log, "cannot create data dir %s: %s", cfg->data_dir, cc_strerror(rc));
        free(m);
        return rc;
    }
    struct storage_options so;
    storage_options_default(&so);
    so.log = &m->log;
    struct storage_boot boot;
    memset(&boot, 0, sizeof(boot));
    char err[512];
    rc = storage_open(cfg->data_dir, &so, &m->st, &boot, err, sizeof(err));
    if (rc) {
        log_error(&m->log, "cannot open storage in %s: %s", cfg->data_dir, err);
        free(m);
        return rc;
    }
    load_identity(m, &boot);

    char kvdir[1100];
    snprintf(kvdir, sizeof(kvdir), "%s/member/kv", cfg->data_dir);
    struct kv_opts ko;
    memset(&ko, 0, sizeof(ko));
    ko.dir = kvdir;
    ko.log = &m->log;
    rc = kv_open(&ko, &m->kv, err, sizeof(err));
    if (rc) {
        log_error(&m->log, "cannot open the store in %s: %s", kvdir, err);
        goto fail;
    }

    /* The store may be behind the snapshot the log starts from (a crash right after a
     * snapshot from the leader was made durable): restore it first. */
    if (boot.snap.index && kv_applied_index(m->kv) < boot.snap.index) {
        log_info(&m->log, "store at index %llu is behind snapshot %llu: restoring it",
                 (unsigned long long)kv_applied_index(m->kv), (unsigned long long)boot.snap.index);
        rc = kv_restore_file(m->kv, boot.snap_path, SNAP_HEADER_BYTES, boot.snap_size);
        if (rc) {
            log_error(&m->log, "cannot restore the store from %s: %s", boot.snap_path,
                      kv_errmsg(m->kv));
            goto fail;
        }
    }

    struct raft_boot rb;
    memset(&rb, 0, sizeof(rb));
    struct raft_entry first;
    uint8_t *first_data = NULL;
    if (boot.fresh) {
        if (cfg->cluster_state == CFG_CLUSTER_NEW) {
            /* Every initial member writes the same first entry: the initial configuration. */
            rc = members__bootstrap_entry(m, &first, &first_data);
            if (rc) goto fail;
            struct raft_hard_state hs = {.term = 1, .vote = 0, .commit = 1};
            struct wal_batch wb = {.entries = &first, .n_entries = 1, .hs = &hs};
            rc = storage_save(m->st, &wb);
            if (rc) {
                free(first_data);
                log_error(&m->log, "cannot write the bootstrap entry: %s", cc_strerror(rc));
                goto fail;
            }
            rb.hs = hs;
            rb.entries = &first;
            rb.n_entries = 1;
            raft_conf_entry_decode(first.data, first.len, &rb.snap.config, NULL, NULL);
            log_info(&m->log, "bootstrapping a new cluster %016llx of %u members as %016llx",
                     (unsigned long long)cfg->cluster_id, cfg->n_initial,
                     (unsigned long long)cfg->member_id);
        } else {
            log_info(&m->log, "joining an existing cluster as %016llx; waiting for the leader",
                     (unsigned long long)cfg->member_id);
        }
        rc = save_identity(m);
        if (rc) {
            free(first_data);
            log_error(&m->log, "cannot save member metadata: %s", cc_strerror(rc));
            goto fail;
        }
    } else {
        rb.hs = boot.hs;
        rb.snap = boot.snap;
        rb.snap_size = boot.snap_size;
        rb.entries = boot.entries.v;
        rb.n_entries = boot.entries.n;
        log_info(&m->log,
                 "recovered: term %llu, commit %llu, snapshot %llu, log %llu..%llu, "
                 "store applied %llu",
                 (unsigned long long)boot.hs.term, (unsigned long long)boot.hs.commit,
                 (unsigned long long)boot.snap.index, (unsigned long long)boot.wal.first_index,
                 (unsigned long long)boot.wal.last_index,
                 (unsigned long long)kv_applied_index(m->kv));
    }
    rb.applied = kv_applied_index(m->kv);
    m->applied = rb.applied;
    m->snap_applied_at = rb.applied;

    struct raft_options ro;
    raft_options_default(&ro);
    ro.id = m->cfg.member_id;
    ro.seed = rng_next(&m->rng);
    ro.heartbeat_tick = 1;
    ro.election_tick = cfg->election_ms / cfg->heartbeat_ms;
    ro.lease_read = cfg->lease_read;
    rc = raft_new(&ro, &rb, &m->raft);
    free(first_data);
    if (rc) {
        log_error(&m->log, "cannot start raft from the recovered state: %s", cc_strerror(rc));
        goto fail;
    }
    if (boot.snap.index) {
        struct snap_file f;
        memset(&f, 0, sizeof(f));
        f.meta = boot.snap;
        f.size = boot.snap_size;
        snprintf(f.path, sizeof(f.path), "%s", boot.snap_path);
        if (member__snapshot_use(m, &f) == 0) raft_snapshot_taken(m->raft, &f.meta, f.size);
    }
    storage_boot_free(&boot);
    members__reload(m);
    member__writes_init(m);
    *out = m;
    return 0;
fail:
    storage_boot_free(&boot);
    kv_close(m->kv);
    storage_close(m->st);
    free(m);
    return rc ? rc : CC_EIO;
}

/* ---- running ---- */

/* A joining member learns its cluster ID from the first peer that contacts it; it is saved
 * (by the persistence thread, which owns storage) so a restart knows it. */
static void persist_cluster_id(struct member *m)
{
    if (m->cfg.cluster_id || !m->tp || m->stopped) return;
    uint64_t cid = transport_cluster_id(m->tp);
    if (!cid) return;
    m->cfg.cluster_id = cid;
    struct persist_job *j = calloc(1, sizeof(*j));
    if (!j || identity_meta(m, &j->meta)) {
        free(j);
        member__fail(m, "cannot record the cluster ID");
        return;
    }
    j->kind = PERSIST_META;
    persist_submit(m->persist, j);
    log_info(&m->log, "joined cluster %016llx", (unsigned long long)cid);
}

static void on_housekeeping(uv_timer_t *t)
{
    struct member *m = t->data;
    uint64_t now = member__now_ms();
    member__writes_tick(m, now);
    member__reads_tick(m, now);
    members__tick(m, now);
    member__quota_tick(m);
    if (!m->stopped) member__leases_tick(m, now);
    persist_cluster_id(m);
}

static void on_compact_idle(uv_idle_t *h)
{
    struct member *m = h->data;
    bool done = false;
    if (m->stopped || kv_compact_pending(m->kv) == 0)
        done = true;
    else if (kv_compact_step(m->kv, KV_COMPACT_STEP_BUDGET, &done) != 0)
        done = true;
    if (done) uv_idle_stop(h);
}

/* ---- shutdown ---- */

static void clients_stopped(struct member *m);

static void begin_shutdown(struct member *m, const char *why)
{
    if (m->closing) return;
    m->closing = true;
    log_info(&m->log, "%s: stopping (no new clients; finishing requests in flight)", why);
    if (m->hooks.stop_clients)
        m->hooks.stop_clients(m, m->hooks.arg, clients_stopped);
    else
        clients_stopped(m);
}

/* Signals stay handled until the process is done (member_close): supervisors often signal
 * twice — foreman sends SIGTERM to its process group and then to each child, a terminal's
 * Ctrl-C reaches every process of the foreground group — and a repeated SIGTERM must not cut
 * the clean shutdown short (nor, once the handles are gone, kill the process with the default
 * action). Only a second SIGINT, someone pressing Ctrl-C again, exits at once. */
static void on_signal(uv_signal_t *h, int signum)
{
    struct member *m = h->data;
    bool again = signum == SIGINT && m->got_sigint;
    if (signum == SIGINT) m->got_sigint = true;
    if (!m->closing) {
        begin_shutdown(m, signum == SIGTERM ? "SIGTERM" : "SIGINT");
        return;
    }
    if (again) {
        log_warn(&m->log, "second SIGINT: exiting now");
        _exit(1);
    }
    log_info(&m->log, "%s: already stopping", signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

static void close_all(struct member *m)
{
    member__writes_fail_all(m, CC_ESTOPPED);
    member__reads_fail_all(m, CC_ESTOPPED);
    uv_timer_stop(&m->housekeeping);
    uv_close((uv_handle_t *)&m->housekeeping, NULL);
    uv_idle_stop(&m->compact_idle);
    uv_close((uv_handle_t *)&m->compact_idle, NULL);
    /* Still handled until member_close, but no longer keeping the loop alive. */
    uv_unref((uv_handle_t *)&m->sigterm);
    uv_unref((uv_handle_t *)&m->sigint);
    member__node_stop(m);
}

/* The voter to hand leadership to on shutdown: one we are connected to and that answered
 * within the last election timeout, with the longest log (etcd picks a connected voter too).
 * 0 when there is none: then there is no one to wait for. */
static raft_id drain_transferee(struct member *m)
{
    struct raft_status st;
    raft_status(m->raft, &st);
    raft_id best = 0;
    uint64_t best_match = 0;
    for (uint32_t i = 0; i < st.n_peers; i++) {
        const struct raft_peer_status *p = &st.peers[i];
        bool voter = false;
        for (uint32_t k = 0; k < m->conf.n_voters; k++) voter |= m->conf.voters[k] == p->id;
        struct transport_peer_stats ps;
        if (!voter || !p->recent_active || !m->tp || transport_peer_stats(m->tp, p->id, &ps) ||
            !ps.connected)
            continue;
        if (!best || p->match > best_match) {
            best = p->id;
            best_match = p->match;
        }
    }
    return best;
}

static void on_drain_timer(uv_timer_t *t)
{
    struct member *m = t->data;
    uint64_t now = member__now_ms();
    /* Hand leadership over so the cluster does not wait an election timeout (etcd does the
     * same on shutdown), then close once writes in flight are done or the drain timed out. */
    bool in_flight = m->n_pending || m->n_queued;
    bool leading = m->role == RAFT_LEADER && !m->stopped;
    raft_id to = leading ? drain_transferee(m) : 0;
    if (to && !m->transfer.active) {
        struct raft_status st;
        raft_status(m->raft, &st);
        if (!st.transferring && raft_transfer_leadership(m->raft, to) == 0)
            log_info(&m->log, "handing leadership over to %016llx", (unsigned long long)to);
    }
    if ((!in_flight && !to) || now >= m->drain_deadline_ms || m->stopped) {
        uv_timer_stop(t);
        uv_close((uv_handle_t *)t, NULL);
        close_all(m);
    }
}

static void clients_stopped(struct member *m)
{
    m->drain_deadline_ms = member__now_ms() + SHUTDOWN_DRAIN_MS;
    uv_timer_init(m->loop, &m->drain);
    m->drain.data = m;
    uv_timer_start(&m->drain, on_drain_timer, 0, 20);
}

int member_run(struct member *m, const struct member_hooks *hooks)
{
    if (hooks)
        m->hooks = *hooks;
    else
        memset(&m->hooks, 0, sizeof(m->hooks));
    int rc = member__node_start(m);
    if (rc) return 1;
    uv_timer_init(m->loop, &m->housekeeping);
    m->housekeeping.data = m;
    uv_timer_start(&m->housekeeping, on_housekeeping, HOUSEKEEPING_MS, HOUSEKEEPING_MS);
    uv_idle_init(m->loop, &m->compact_idle);
    m->compact_idle.data = m;
    uv_signal_init(m->loop, &m->sigterm);
    uv_signal_init(m->loop, &m->sigint);
    m->sigterm.data = m->sigint.data = m;
    uv_signal_start(&m->sigterm, on_signal, SIGTERM);
    uv_signal_start(&m->sigint, on_signal, SIGINT);
    m->signals_open = true;
    if (m->hooks.start_clients) {
        rc = m->hooks.start_clients(m, m->hooks.arg);
        if (rc) {
            m->exit_code = 1;
            begin_shutdown(m, "cannot listen for clients");
        }
    }
    log_info(&m->log, "member %016llx of cluster %016llx ready (peers on %s)",
             (unsigned long long)m->cfg.member_id, (unsigned long long)m->cfg.cluster_id,
             m->cfg.listen_peer_urls.v[0].text);
    uv_run(m->loop, UV_RUN_DEFAULT);
    log_info(&m->log, "stopped");
    return m->exit_code;
}

void member__compaction_kick(struct member *m)
{
    if (!uv_is_active((uv_handle_t *)&m->compact_idle) && kv_compact_pending(m->kv))
        uv_idle_start(&m->compact_idle, on_compact_idle);
}

void member__shutdown(struct member *m, const char *why, int exit_code)
{
    m->exit_code = exit_code;
    begin_shutdown(m, why);
}

void member_close(struct member *m)
{
    if (!m) return;
    snap_reader_close(m->snap_reader);
    raft_free(m->raft);
    kv_close(m->kv);
    storage_close(m->st);
    if (m->signals_open) {
        /* Last: the signal handles answered repeated signals during the teardown above. */
        uv_close((uv_handle_t *)&m->sigterm, NULL);
        uv_close((uv_handle_t *)&m->sigint, NULL);
        uv_run(m->loop, UV_RUN_NOWAIT);
    }
    free(m);
}
