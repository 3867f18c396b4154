/* outq.h — a connection's outbound byte queue: appended bytes are copied into 64 KiB segments
 * and handed to the socket a batch at a time, so many small frames make few syscalls. */
#ifndef CONCUR_API_HTTP_OUTQ_H
#define CONCUR_API_HTTP_OUTQ_H

#include <stddef.h>
#include <stdint.h>

struct outq_seg;

struct outq {
    struct outq_seg *head, *tail;
    size_t bytes; /* queued and not yet confirmed written (in flight included) */
    size_t nsegs;
    size_t inflight;   /* segments at the head handed to the socket */
    size_t high_water; /* the largest bytes ever seen (for tests and metrics) */
};

/* A piece to write: base/len like uv_buf_t. */
struct outq_iov {
    const uint8_t *base;
    size_t len;
};

void outq_init(struct outq *q);
void outq_free(struct outq *q);

/* Appends n bytes (copied). In-flight segments are never modified. Returns 0 or CC_ENOMEM. */
int outq_append(struct outq *q, const void *p, size_t n);

/* Marks up to max segments after those in flight as in flight and describes them in iov.
 * Returns how many (0 when nothing waits or a batch is already in flight). */
size_t outq_take(struct outq *q, struct outq_iov *iov, size_t max);

/* The in-flight batch was written: frees it. */
void outq_done(struct outq *q);

#endif
