#!/usr/bin/python3
"""A gRPC client of a second stack (Python grpcio, gRPC C-core; Debian's python3-grpcio) calling the Greeter of
protos/greet.proto: the counterpart of grpc-client.js, with the same scenarios.

Usage: /usr/bin/python3 grpc-client.py <host:port> <scenario> [<scenario> ...]
Prints one JSON line per scenario and exits 0 when every call ended with the expected status, 1 otherwise. One process
is one client (one channel, one user agent). The messages are encoded by hand (HelloRequest: 1 = name, 2 = count;
HelloReply: 1 = message), so no generated code is needed.
Options (environment): INTEROP_USER_AGENT: a primary user agent put before grpc-python's own ("grpc.primary_user_agent").
"duplex-cancel" prints "WAITING duplex-cancel" once it sent the request the service waits in, and cancels the call when
the test (which saw the service waiting) answers "go" on stdin: a cancel that reaches a service mid-call. "duplex-hold"
prints "WAITING duplex-hold" once its first request was answered and holds the call open until "go" (or its end).
Run by tests/Matomo.Rpc.RealMatomo.Tests/Interop/GrpcPythonInteropTests (with /usr/bin/python3, Debian's grpcio).
"""
import json
import os
import queue
import sys

import grpc


def varint(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def hello_request(name, count=0):
    data = name.encode("utf-8")
    out = b"\x0a" + varint(len(data)) + data
    if count:
        out += b"\x10" + varint(count)
    return out


def hello_reply(data):
    # field 1, length-delimited; a reply holds nothing else
    if not data:
        return ""
    length, i, shift = 0, 1, 0
    while True:
        byte = data[i]
        length |= (byte & 0x7F) << shift
        i += 1
        shift += 7
        if not byte & 0x80:
            break
    return data[i:i + length].decode("utf-8")


# Not a protobuf message: a field 31 varint whose value never ends.
UNDECODABLE = b"\xff\xff\xff"


def identity(b):
    return b


class Requests:
    """A request stream fed one message at a time (the C-core sends it from its own thread)."""

    def __init__(self):
        self._queue = queue.Queue()

    def send(self, name):
        self._queue.put(hello_request(name))

    def close(self):
        self._queue.put(None)

    def __iter__(self):
        while True:
            item = self._queue.get()
            if item is None:
                return
            yield item


def wait_for_go(name):
    print("WAITING " + name, flush=True)
    line = sys.stdin.readline()
    if line.strip() != "go":
        raise RuntimeError('expected "go" on stdin, got ' + json.dumps(line))


def main():
    if len(sys.argv) < 3:
        print("usage: /usr/bin/python3 grpc-client.py <host:port> <scenario>...", file=sys.stderr)
        sys.exit(2)
    address, scenarios = sys.argv[1], sys.argv[2:]
    options = [("grpc.enable_http_proxy", 0)]  # loopback: never through an http_proxy of the environment
    if os.environ.get("INTEROP_USER_AGENT"):
        options.append(("grpc.primary_user_agent", os.environ["INTEROP_USER_AGENT"]))
    channel = grpc.insecure_channel(address, options=options)
    unary = channel.unary_unary("/greet.Greeter/SayHello", request_serializer=identity, response_deserializer=hello_reply)
    server_stream = channel.unary_stream("/greet.Greeter/SayHelloStream", request_serializer=identity, response_deserializer=hello_reply)
    client_stream = channel.stream_unary("/greet.Greeter/SayHelloToMany", request_serializer=identity, response_deserializer=hello_reply)
    duplex = channel.stream_stream("/greet.Greeter/Chat", request_serializer=identity, response_deserializer=hello_reply)

    def run_unary(name, timeout=None, metadata=None):
        return {"message": unary(hello_request(name), timeout=timeout, metadata=metadata)}

    def run_server_stream(name, count, cancel_after=None):
        call = server_stream(hello_request(name, count))
        replies = 0
        for _ in call:
            replies += 1
            if replies == cancel_after:
                call.cancel()
        return {"replies": replies}

    def run_client_stream():
        return {"message": client_stream(iter([hello_request(n) for n in "xyz"]))}

    def run_duplex():
        requests = Requests()
        call = duplex(iter(requests))
        replies = 0
        for name in ["p", "q"]:
            requests.send(name)
            next(call)
            replies += 1
        requests.close()
        replies += len(list(call))
        return {"replies": replies}

    def run_duplex_cancel(waiting):
        # "p" is answered; then the call is cancelled while the service waits in "wait" (waiting), or as soon as the
        # reply comes, while the service reads the request stream.
        requests = Requests()
        call = duplex(iter(requests))
        try:
            requests.send("p")
            next(call)
            if waiting:
                requests.send("wait")
                wait_for_go("duplex-cancel")
            call.cancel()
            list(call)
        finally:
            requests.close()
        return {}

    def run_duplex_hold():
        # "p" is answered, then the client waits with its request stream open, the service reading it, until the test
        # kills the process: a client gone without a cancel (the connection drops).
        requests = Requests()
        call = duplex(iter(requests))
        requests.send("p")
        next(call)
        wait_for_go("duplex-hold")
        requests.close()
        list(call)
        return {}

    def run_undecodable():
        # A client stream whose second message is not a HelloRequest: the service's read of it fails.
        raw = channel.stream_unary("/greet.Greeter/SayHelloToMany", request_serializer=identity, response_deserializer=identity)
        raw(iter([hello_request("a"), UNDECODABLE]))
        return {}

    def run_unimplemented(path):
        channel.unary_unary(path, request_serializer=identity, response_deserializer=identity)(b"")
        return {}

    metadata = [("x-interop", "custom value"), ("x-trace-bin", bytes([0, 1, 2, 0xFF, 0xFE])), ("referer", "https://client.example/page?secret=1")]
    runs = {
        "ok": (lambda: run_unary("ok"), grpc.StatusCode.OK),
        "notfound": (lambda: run_unary("notfound"), grpc.StatusCode.NOT_FOUND),
        "crash": (lambda: run_unary("crash"), grpc.StatusCode.UNKNOWN),
        "deadline": (lambda: run_unary("wait", timeout=0.3), grpc.StatusCode.DEADLINE_EXCEEDED),
        "server-stream": (lambda: run_server_stream("s", 3), grpc.StatusCode.OK),
        "server-stream-cancel": (lambda: run_server_stream("wait", 2, cancel_after=2), grpc.StatusCode.CANCELLED),
        "client-stream": (run_client_stream, grpc.StatusCode.OK),
        "duplex": (run_duplex, grpc.StatusCode.OK),
        "duplex-cancel": (lambda: run_duplex_cancel(True), grpc.StatusCode.CANCELLED),
        "duplex-cancel-reading": (lambda: run_duplex_cancel(False), grpc.StatusCode.CANCELLED),
        "duplex-hold": (run_duplex_hold, grpc.StatusCode.OK),
        "undecodable": (run_undecodable, grpc.StatusCode.UNKNOWN),
        "metadata": (lambda: run_unary("ok", metadata=metadata), grpc.StatusCode.OK),
        "opt-out-gpc": (lambda: run_unary("ok", metadata=[("sec-gpc", "1")]), grpc.StatusCode.OK),
        "opt-out-dnt": (lambda: run_unary("ok", metadata=[("dnt", "1")]), grpc.StatusCode.OK),
        "unimplemented-method": (lambda: run_unimplemented("/greet.Greeter/NoSuchMethod"), grpc.StatusCode.UNIMPLEMENTED),
        "unimplemented-service": (lambda: run_unimplemented("/greet.Nowhere/Nothing"), grpc.StatusCode.UNIMPLEMENTED),
    }
    failed = False
    for scenario in scenarios:
        if scenario not in runs:
            print(json.dumps({"scenario": scenario, "error": "unknown scenario"}), flush=True)
            failed = True
            continue
        action, expected = runs[scenario]
        try:
            result = action()
            result["status"] = grpc.StatusCode.OK.name
        except grpc.RpcError as error:
            result = {"status": error.code().name, "details": error.details()}
        ok = result["status"] == expected.name
        failed = failed or not ok
        print(json.dumps({"scenario": scenario, "ok": ok, "expected": expected.name, **result}), flush=True)
    channel.close()
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
