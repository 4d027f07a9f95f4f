#!/usr/bin/python3
"""A second gRPC stack (Python grpcio, gRPC C-core; Debian's python3-grpcio) calling the Greeter of protos/greet.proto.

Usage: /usr/bin/python3 grpc-client.py <host:port> <scenario> [<scenario> ...]
Prints one JSON line per scenario and exits 0 when every call ended with the expected status. The messages are
encoded by hand (HelloRequest: 1 = name, 2 = count; HelloReply: 1 = message), so no generated code is needed.
Not run by the test suite (CI has no python3-grpcio); tests/Matomo.Rpc.RealMatomo.Tests/Interop runs the Node.js clients.
"""
import json
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


def identity(b):
    return b


def main():
    address, scenarios = sys.argv[1], sys.argv[2:]
    channel = grpc.insecure_channel(address)
    unary = channel.unary_unary("/greet.Greeter/SayHello", request_serializer=identity, response_deserializer=hello_reply)
    server_stream = channel.unary_stream("/greet.Greeter/SayHelloStream", request_serializer=identity, response_deserializer=hello_reply)
    client_stream = channel.stream_unary("/greet.Greeter/SayHelloToMany", request_serializer=identity, response_deserializer=hello_reply)
    duplex = channel.stream_stream("/greet.Greeter/Chat", request_serializer=identity, response_deserializer=hello_reply)
    missing = channel.unary_unary("/greet.Greeter/NoSuchMethod", request_serializer=identity, response_deserializer=identity)

    def run_unary(name, timeout=None, metadata=None):
        unary(hello_request(name), timeout=timeout, metadata=metadata)

    def run_server_stream():
        assert len(list(server_stream(hello_request("s", 3)))) == 3

    def run_client_stream():
        assert client_stream(iter([hello_request(n) for n in "xyz"])) == "Hello x, y, z"

    def run_duplex():
        assert len(list(duplex(iter([hello_request("p"), hello_request("q")])))) == 2

    def run_duplex_cancel_reading():
        import threading
        go = threading.Event()

        def requests():
            yield hello_request("p")
            go.wait(10)  # keeps the request stream open until the call is cancelled

        call = duplex(requests())
        next(call)
        call.cancel()
        go.set()
        list(call)

    runs = {
        "ok": (lambda: run_unary("ok"), grpc.StatusCode.OK),
        "notfound": (lambda: run_unary("notfound"), grpc.StatusCode.NOT_FOUND),
        "crash": (lambda: run_unary("crash"), grpc.StatusCode.UNKNOWN),
        "deadline": (lambda: run_unary("wait", timeout=0.3), grpc.StatusCode.DEADLINE_EXCEEDED),
        "server-stream": (run_server_stream, grpc.StatusCode.OK),
        "client-stream": (run_client_stream, grpc.StatusCode.OK),
        "duplex": (run_duplex, grpc.StatusCode.OK),
        "duplex-cancel-reading": (run_duplex_cancel_reading, grpc.StatusCode.CANCELLED),
        "opt-out-gpc": (lambda: run_unary("ok", metadata=[("sec-gpc", "1")]), grpc.StatusCode.OK),
        "unimplemented-method": (lambda: missing(b""), grpc.StatusCode.UNIMPLEMENTED),
    }
    failed = False
    for scenario in scenarios:
        action, expected = runs[scenario]
        try:
            action()
            status = grpc.StatusCode.OK
        except grpc.RpcError as error:
            status = error.code()
        ok = status == expected
        failed = failed or not ok
        print(json.dumps({"scenario": scenario, "ok": ok, "status": status.name, "expected": expected.name}), flush=True)
    channel.close()
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
