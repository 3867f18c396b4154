/* handlers.h — gRPC and HTTP test handlers shared by the engine and the real-client tests. */
#ifndef CONCUR_TESTS_API_HANDLERS_H
#define CONCUR_TESTS_API_HANDLERS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct grpc_server;
struct grpc_call;
struct http_router;
struct http_exchange;

#define TH_MAX_HELD 1024

/* What the handlers saw. Counters are atomic: the real-client test reads them from the test
 * thread while the loop thread runs. Everything else belongs to the loop thread. */
struct th_state {
    atomic_int echo_calls;
    atomic_int stream_ebusy, stream_writable, stream_done, stream_cancel;
    atomic_int bidi_msgs, bidi_half_close, bidi_cancel;
    atomic_int slow_started, slow_cancel, hold_cancel, async_cancel;
    atomic_int http_stream_ebusy, http_stream_writable, http_stream_done, http_stream_cancel;
    atomic_int http_requests;
    /* Replies that complete later: scheduled through schedule(), run by th_run_deferred. */
    struct grpc_call *deferred[TH_MAX_HELD];
    uint8_t *deferred_msg[TH_MAX_HELD];
    size_t deferred_len[TH_MAX_HELD];
    int ndeferred;
    struct http_exchange *http_deferred[64];
    int nhttp_deferred;
    struct http_exchange *tick; /* GET /tick: a stream fed from th_run_deferred */
    int tick_sent;
    void (*schedule)(struct th_state *st); /* may be NULL: the test calls th_run_deferred */
    void *sched_arg;
    /* /test.Svc/Hold: calls wait until hold_target of them are pending. */
    struct grpc_call *held[TH_MAX_HELD];
    int nheld;
};

/* Registers on srv (may be NULL):
 *   /test.Svc/Echo       unary, replies with the request
 *   /test.Svc/EchoAsync  unary, replies with the request from th_run_deferred
 *   /test.Svc/Fail       unary, fails FAILED_PRECONDITION with TH_FAIL_MSG
 *   /test.Svc/Meta       unary, replies "token=<md token>;timeout=<ms>;deadline=<0|1>"
 *   /test.Svc/Slow       unary, never replies (until cancelled)
 *   /test.Svc/Hold       unary, request "N:id": replies "id" once N calls are held
 *   /test.Svc/Stream     server-stream, request u32be count + u32be size: count messages of
 *                        size bytes (byte i = (index + i) & 0xff), honouring CC_EBUSY
 *   /test.Svc/Bidi       streaming, echoes each message, finishes OK on half-close
 * and on router (may be NULL):
 *   GET /hello, POST /echo, GET /async, GET /stream?n=N&size=S (chunked), prefix GET /v3/,
 *   exact POST /v3/kv/range, GET /tick (a stream whose "tick\n", then end, come
 *   from two th_run_deferred calls). */
void th_register(struct th_state *st, struct grpc_server *srv, struct http_router *router);

/* Completes the deferred replies (EchoAsync, /async). */
void th_run_deferred(struct th_state *st);

#define TH_FAIL_MSG                                                                                \
    "bad: 100% \"\xc3\xbc"                                                                         \
    "n\xc3\xaf"                                                                                    \
    "code\"\nline2"

#endif
