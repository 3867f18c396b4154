#!/usr/bin/python3
# clients.py — real clients for test_httpsrv: Debian's grpcio (gRPC over HTTP/2) and python's
# http.client plus raw sockets (HTTP/1.1). Usage: clients.py grpc|http PORT. Prints OK.
import http.client
import socket
import struct
import sys
import threading

DEADLINE = 60


def expect_rpc_error(fn, code, details=None):
    import grpc
    try:
        fn()
    except grpc.RpcError as e:
        assert e.code() == code, (e.code(), e.details())
        if details is not None:
            assert e.details() == details, repr(e.details())
        return e
    raise AssertionError("no error, wanted %s" % code)


def grpc_tests(port):
    import grpc
    ch = grpc.insecure_channel("127.0.0.1:%d" % port, options=[("grpc.enable_http_proxy", 0)])
    grpc.channel_ready_future(ch).result(timeout=DEADLINE)
    echo = ch.unary_unary("/test.Svc/Echo")
    assert echo(b"hello", timeout=DEADLINE) == b"hello"
    assert echo(b"", timeout=DEADLINE) == b""
    big = bytes(range(256)) * 4096  # 1 MiB
    assert echo(big, timeout=DEADLINE) == big
    assert ch.unary_unary("/test.Svc/EchoAsync")(b"later", timeout=DEADLINE) == b"later"

    # Status with a message that needs percent-encoding; unknown methods.
    expect_rpc_error(lambda: ch.unary_unary("/test.Svc/Fail")(b"x", timeout=DEADLINE),
                     grpc.StatusCode.FAILED_PRECONDITION, 'bad: 100% "\u00fcn\u00efcode"\nline2')
    expect_rpc_error(lambda: ch.unary_unary("/test.Svc/Nope")(b"x", timeout=DEADLINE),
                     grpc.StatusCode.UNIMPLEMENTED, "unknown method Nope for service test.Svc")
    expect_rpc_error(lambda: ch.unary_unary("/nope.Svc/X")(b"x", timeout=DEADLINE),
                     grpc.StatusCode.UNIMPLEMENTED, "unknown service nope.Svc")

    # 3 MiB is over the 2 MiB limit; the connection keeps working.
    e = expect_rpc_error(lambda: echo(b"x" * (3 << 20), timeout=DEADLINE),
                         grpc.StatusCode.RESOURCE_EXHAUSTED)
    assert "larger than max" in e.details(), e.details()
    assert echo(b"after", timeout=DEADLINE) == b"after"

    # Metadata and grpc-timeout reach the handler.
    out = ch.unary_unary("/test.Svc/Meta")(b"", timeout=5, metadata=[("token", "abc")])
    fields = dict(kv.split("=") for kv in out.decode().split(";"))
    assert fields["token"] == "abc", out
    # grpc-core rounds the timeout it sends up (5 s travels as e.g. "5010m").
    assert 0 < int(fields["timeout"]) <= 6000, out
    assert fields["deadline"] == "1", out

    # Server streaming, bigger than every window and queue: back-pressure on the way.
    stream = ch.unary_stream("/test.Svc/Stream")
    n, size = 300, 65536
    got = 0
    for i, m in enumerate(stream(struct.pack(">II", n, size), timeout=DEADLINE)):
        assert len(m) == size
        assert m[0] == i & 0xFF and m[size - 1] == (i + size - 1) & 0xFF
        got += 1
    assert got == n, got

    # Bidirectional: every message echoed, OK at the end.
    bidi = ch.stream_stream("/test.Svc/Bidi")
    msgs = [b"m%d" % i for i in range(50)]
    assert list(bidi(iter(msgs), timeout=DEADLINE)) == msgs

    # 200 concurrent streams on this one connection: Hold answers only when all are pending.
    hold = ch.unary_unary("/test.Svc/Hold")
    futs = [hold.future(b"200:%d" % i, timeout=DEADLINE) for i in range(200)]
    for i, f in enumerate(futs):
        assert f.result() == b"%d" % i

    # Cancellations the server must notice: a bidi stream, a server stream, a deadline.
    release = threading.Event()

    def requests():
        for i in range(3):
            yield b"c%d" % i
        release.wait(DEADLINE)

    call = bidi(requests(), timeout=DEADLINE)
    for i in range(3):
        assert next(call) == b"c%d" % i
    call.cancel()
    release.set()
    it = stream(struct.pack(">II", 1000000, 1024), timeout=DEADLINE)
    for _ in range(10):
        next(it)
    it.cancel()
    expect_rpc_error(lambda: ch.unary_unary("/test.Svc/Slow")(b"x", timeout=0.5),
                     grpc.StatusCode.DEADLINE_EXCEEDED)
    # Frames on one connection are handled in order: once this answers, the server has seen
    # every RST_STREAM above.
    assert echo(b"last", timeout=DEADLINE) == b"last"
    ch.close()


def read_to_eof(s):
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            return data
        data += chunk


def raw(port, payload):
    s = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)
    s.sendall(payload)
    data = read_to_eof(s)
    s.close()
    return data


def http_tests(port):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=DEADLINE)
    for _ in range(3):
        c.request("GET", "/hello")
        r = c.getresponse()
        assert r.status == 200 and r.read() == b"hello world\n"
    sock = c.sock
    c.request("POST", "/echo", body=b"x" * 100000)
    r = c.getresponse()
    assert r.status == 200 and r.read() == b"x" * 100000
    assert c.sock is sock, "keep-alive: same connection"
    c.request("GET", "/nope")
    r = c.getresponse()
    assert r.status == 404, r.status
    r.read()
    c.request("PUT", "/hello")
    r = c.getresponse()
    assert r.status == 405 and r.getheader("Allow") == "GET", (r.status, r.getheader("Allow"))
    r.read()
    c.request("GET", "/stream?n=500&size=4000")
    r = c.getresponse()
    assert r.getheader("Transfer-Encoding") == "chunked"
    body = r.read()
    assert len(body) == 500 * 4000, len(body)
    for k in range(500):
        assert body[k * 4000] == ord("a") + k % 26
    c.request("GET", "/async")
    r = c.getresponse()
    assert r.read() == b"later\n"
    # A stream fed from a timer, not from the request's own processing.
    c.request("GET", "/tick")
    r = c.getresponse()
    assert r.getheader("Transfer-Encoding") == "chunked" and r.read() == b"tick\n"
    assert c.sock is sock
    c.close()

    # Pipelined requests answered in order, the last one closing the connection.
    out = raw(port, b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"
                    b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
                    b"GET /async HTTP/1.1\r\nHost: x\r\n\r\n"
                    b"GET /v3/foo?a=b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    marks = [out.find(m) for m in (b"hello world", b"\r\n\r\nabc", b"later", b"prefix:/v3/foo?a=b")]
    assert all(m >= 0 for m in marks) and marks == sorted(marks), (marks, out)
    assert out.count(b"HTTP/1.1 200 OK") == 4

    # Garbage and oversize requests: an error response, then the server closes.
    out = raw(port, b"\x00\x01\x02 garbage\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 400 "), out
    out = raw(port, b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 413 "), out
    out = raw(port, b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 411 "), out
    # HTTP/1.0 without keep-alive: answered, then closed.
    out = raw(port, b"GET /hello HTTP/1.0\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 200 ") and out.endswith(b"hello world\n"), out


def main():
    kind, port = sys.argv[1], int(sys.argv[2])
    {"grpc": grpc_tests, "http": http_tests}[kind](port)
    print("OK")


if __name__ == "__main__":
    main()
