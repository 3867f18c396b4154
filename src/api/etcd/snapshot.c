/* snapshot.c — Maintenance.Snapshot: the store's snapshot archive (kv_snapshot_*) streamed in
 * 32 KiB chunks with remaining_bytes, then its SHA-256 as the last message, as etcd does.
 *
 * etcdctl's "snapshot save" accepts a stream only when (size % 512) == 32, i.e. a database of
 * whole 512-byte sectors plus the digest (clientv3/snapshot hasChecksum). bbolt files always
 * are; concur's archive is not, so the archive is followed by zero bytes up to a multiple of
 * 512, covered by the digest. The archive header records its own length, so a reader finds
 * where the padding starts. The saved file is concur's archive, not a bbolt database:
 * "etcdctl snapshot restore" cannot read it. */
#include <stdlib.h>
#include <string.h>

#include "api/etcd/etcd_int.h"
#include "api/etcd/sha256.h"
#include "util/err.h"

#define CHUNK  (32u << 10) /* etcd's snapshotSendBufferSize */
#define SECTOR 512

struct snapstream {
    struct kv_snapshot *ks;
    uint64_t archive; /* bytes of the archive */
    uint64_t total;   /* archive + padding */
    uint64_t sent;
    bool digest_sent;
    struct sha256 sha;
    uint8_t buf[CHUNK];
};

static void snap_free(struct ecall *c)
{
    struct snapstream *s = c->data;
    if (!s) return;
    kv_snapshot_close(s->ks);
    free(s);
    c->data = NULL;
}

static void snap_end(struct ecall *c, int code, const char *msg)
{
    snap_free(c);
    ecall_finish(c, code, msg);
}

/* Fills n bytes of the stream at s->sent: archive bytes, then zero padding. */
static int fill(struct snapstream *s, size_t n)
{
    size_t got = 0;
    while (got < n && s->sent + got < s->archive) {
        size_t want = n - got;
        if (want > s->archive - (s->sent + got)) want = (size_t)(s->archive - (s->sent + got));
        size_t r = 0;
        int rc = kv_snapshot_read(s->ks, s->buf + got, want, &r);
        if (rc) return rc;
        if (r == 0) return CC_ECORRUPT; /* shorter than it said */
        got += r;
    }
    memset(s->buf + got, 0, n - got);
    return 0;
}

static void pump(struct ecall *c)
{
    struct snapstream *s = c->data;
    while (s && ecall_can_send(c)) {
        Etcdserverpb__SnapshotResponse resp = ETCDSERVERPB__SNAPSHOT_RESPONSE__INIT;
        uint8_t digest[SHA256_LEN];
        if (s->sent < s->total) {
            size_t n = s->total - s->sent < CHUNK ? (size_t)(s->total - s->sent) : CHUNK;
            int rc = fill(s, n);
            if (rc) {
                log_error(c->api->log, "snapshot: reading the archive: %s", cc_strerror(rc));
                snap_end(c, GRPC_INTERNAL, cc_strerror(rc));
                return;
            }
            sha256_update(&s->sha, s->buf, n);
            s->sent += n;
            resp.remaining_bytes = s->total - s->sent;
            resp.blob.data = s->buf;
            resp.blob.len = n;
        } else if (!s->digest_sent) {
            sha256_final(&s->sha, digest);
            s->digest_sent = true;
            resp.blob.data = digest;
            resp.blob.len = SHA256_LEN;
        } else {
            log_info(c->api->log, "sent database snapshot to client (%llu bytes)",
                     (unsigned long long)s->total);
            snap_end(c, GRPC_OK, NULL);
            return;
        }
        int rc = ecall_send(c, &resp.base);
        if (rc == CC_ECANCELED || rc == CC_ESTOPPED) return; /* on_cancel follows */
        if (rc) {
            struct etcd_status st = etcd_status_of(rc, 0, ECTX_DEFAULT);
            snap_end(c, st.code, st.msg);
            return;
        }
    }
}

void etcd__snapshot_request(struct ecall *c, const ProtobufCMessage *req)
{
    struct snapstream *s = calloc(1, sizeof(*s));
    if (!s) {
        ecall_finish(c, GRPC_RESOURCE_EXHAUSTED, "concur: out of memory");
        return;
    }
    int rc = srv_snapshot_open(c->api->m, &s->ks);
    if (rc) {
        free(s);
        ecall_fail_err(c, rc, 0, ECTX_DEFAULT);
        return;
    }
    s->archive = kv_snapshot_size(s->ks);
    s->total = (s->archive + SECTOR - 1) / SECTOR * SECTOR;
    sha256_init(&s->sha);
    c->data = s;
    log_info(c->api->log, "sending database snapshot to client (%llu bytes)",
             (unsigned long long)s->total);
    pump(c);
}

void etcd__snapshot_cancel(struct ecall *c)
{
    snap_end(c, GRPC_CANCELLED, "context canceled");
}

void etcd__snapshot_writable(struct ecall *c)
{
    pump(c);
}
