/* outq.c — segmented outbound byte queue with one batch in flight at a time. */
#include "api/http/outq.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"

#define SEG_BYTES (64u << 10)

struct outq_seg {
    struct outq_seg *next;
    size_t len;
    size_t cap;
    uint8_t data[];
};

void outq_init(struct outq *q)
{
    memset(q, 0, sizeof(*q));
}

void outq_free(struct outq *q)
{
    while (q->head) {
        struct outq_seg *s = q->head;
        q->head = s->next;
        free(s);
    }
    outq_init(q);
}

int outq_append(struct outq *q, const void *p, size_t n)
{
    if (n == 0) return 0;
    struct outq_seg *t = q->tail;
    /* The tail takes more bytes only while it is not being written. */
    if (t && q->inflight < q->nsegs && t->cap - t->len >= n) {
        memcpy(t->data + t->len, p, n);
        t->len += n;
    } else {
        size_t cap = n > SEG_BYTES ? n : SEG_BYTES;
        struct outq_seg *s = malloc(sizeof(*s) + cap);
        if (!s) return CC_ENOMEM;
        s->next = NULL;
        s->len = n;
        s->cap = cap;
        memcpy(s->data, p, n);
        if (t)
            t->next = s;
        else
            q->head = s;
        q->tail = s;
        q->nsegs++;
    }
    q->bytes += n;
    if (q->bytes > q->high_water) q->high_water = q->bytes;
    return 0;
}

size_t outq_take(struct outq *q, struct outq_iov *iov, size_t max)
{
    if (q->inflight) return 0;
    size_t k = 0;
    for (struct outq_seg *s = q->head; s && k < max; s = s->next, k++) {
        iov[k].base = s->data;
        iov[k].len = s->len;
    }
    q->inflight = k;
    return k;
}

void outq_done(struct outq *q)
{
    assert(q->inflight <= q->nsegs);
    for (; q->inflight > 0; q->inflight--) {
        struct outq_seg *s = q->head;
        q->head = s->next;
        q->bytes -= s->len;
        q->nsegs--;
        free(s);
    }
    if (!q->head) q->tail = NULL;
}
