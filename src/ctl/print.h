/* print.h — etcdctl's output formats (simple, json, fields, table, protobuf) as printer tables.
 *
 * Every printer method writes one response to ctl->out (endpoint health in the simple format
 * goes to ctl->err, as etcdctl does) and returns 0, or an exit code after printing the error.
 * A NULL method means the format does not support that response: ctl_print() then reports
 * "<format> not supported as output format" with exit code 4, exactly like etcdctl. */
#ifndef CONCUR_CTL_PRINT_H
#define CONCUR_CTL_PRINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ctl/ctl.h"

struct ep_health {
    const char *ep;
    bool health;
    char took[48]; /* Go time.Duration text */
    char error[600];
};

struct ep_status {
    const char *ep;
    Etcdserverpb__StatusResponse *resp;
};

struct ep_hashkv {
    const char *ep;
    Etcdserverpb__HashKVResponse *resp;
};

struct printer {
    const char *name;
    int (*put)(struct ctl *, const Etcdserverpb__PutResponse *);
    int (*get)(struct ctl *, const Etcdserverpb__RangeResponse *);
    int (*del)(struct ctl *, const Etcdserverpb__DeleteRangeResponse *);
    int (*txn)(struct ctl *, const Etcdserverpb__TxnResponse *);
    int (*watch)(struct ctl *, const Etcdserverpb__WatchResponse *);
    int (*grant)(struct ctl *, const Etcdserverpb__LeaseGrantResponse *);
    int (*revoke)(struct ctl *, int64_t id, const Etcdserverpb__LeaseRevokeResponse *);
    int (*keep_alive)(struct ctl *, const Etcdserverpb__LeaseKeepAliveResponse *);
    int (*time_to_live)(struct ctl *, const Etcdserverpb__LeaseTimeToLiveResponse *, bool keys);
    int (*leases)(struct ctl *, const Etcdserverpb__LeaseLeasesResponse *);
    int (*member_add)(struct ctl *, const Etcdserverpb__MemberAddResponse *);
    int (*member_remove)(struct ctl *, uint64_t id, const Etcdserverpb__MemberRemoveResponse *);
    int (*member_update)(struct ctl *, uint64_t id, const Etcdserverpb__MemberUpdateResponse *);
    int (*member_promote)(struct ctl *, uint64_t id, const Etcdserverpb__MemberPromoteResponse *);
    int (*member_list)(struct ctl *, const Etcdserverpb__MemberListResponse *);
    int (*ep_health)(struct ctl *, const struct ep_health *, size_t n);
    int (*ep_status)(struct ctl *, const struct ep_status *, size_t n);
    int (*ep_hashkv)(struct ctl *, const struct ep_hashkv *, size_t n);
    int (*move_leader)(struct ctl *, uint64_t leader, uint64_t target,
                       const Etcdserverpb__MoveLeaderResponse *);
    int (*alarm)(struct ctl *, const Etcdserverpb__AlarmResponse *);
};

extern const struct printer printer_simple;
extern const struct printer printer_json;
extern const struct printer printer_fields;
extern const struct printer printer_table;
extern const struct printer printer_protobuf;

/* Reports that the current format cannot print this response (exit code 4). */
int print_unsupported(struct ctl *ctl);

#define ctl_print(ctl, method, ...)                                                                \
    ((ctl)->pr->method ? (ctl)->pr->method((ctl), __VA_ARGS__) : print_unsupported(ctl))

/* ---- shared formatting helpers (print.c) ---- */

/* Go's %q (strconv.Quote) of a byte string. */
void print_go_quote(FILE *f, const uint8_t *s, size_t len);

/* etcdctl's --hex form: "\x66\x6f\x6f". */
void print_hex_escaped(FILE *f, const uint8_t *s, size_t len);

/* go-humanize's Bytes(): "20 kB", "1.2 MB". */
void print_humanize_bytes(uint64_t n, char *out, size_t outlen);

/* Go's time.Duration.String(): "1.663024ms", "2m3.5s", "0s". */
void print_go_duration(int64_t ns, char *out, size_t outlen);

/* The Go name of an event type / alarm type ("PUT", "NOSPACE"); numbers for unknown ones. */
const char *print_event_type(int t, char *buf, size_t len);
const char *print_alarm_type(int t, char *buf, size_t len);

/* A zero header for responses a server sent without one (etcd's AlarmResponse). */
const Etcdserverpb__ResponseHeader *print_header_or_zero(const Etcdserverpb__ResponseHeader *h);

/* Renders an olekukonko/tablewriter table (the 2017 version etcdctl 3.4 vendors): borders,
 * centered upper-case header, right-aligned cells, cells wrapped at 30 columns on spaces. */
void print_table(FILE *f, const char *const *hdr, size_t ncol, char *const *cells, size_t nrow);

/* Row builders shared by the simple and table formats (printer.go's make*Table). Each cell is
 * malloc'd into cells[row * ncol + col]; free with print_cells_free. */
size_t print_member_rows(const Etcdserverpb__MemberListResponse *r, char ***cells);
size_t print_status_rows(const struct ep_status *s, size_t n, char ***cells);
size_t print_hashkv_rows(const struct ep_hashkv *h, size_t n, char ***cells);
size_t print_health_rows(const struct ep_health *h, size_t n, char ***cells);
void print_cells_free(char **cells, size_t n);

#define PRINT_MEMBER_COLS 6
#define PRINT_STATUS_COLS 10
#define PRINT_HASHKV_COLS 2
#define PRINT_HEALTH_COLS 4

#endif
