"""A small HTTP/1.1 load generator: ``connections`` concurrent clients for ``seconds``, each
sending a request, waiting for the whole answer, and sending the next (closed loop). It
reconnects when the server closes the connection (the engine's gunicorn worker does, after
every answer). One thread drives every connection through the platform's selector (epoll on
Linux) on non-blocking sockets; run it in its own process so that it shares an interpreter
with nothing else. It shares the machine's two cores with the server it measures, so it is
kept lean: a request costs it about 95 µs of CPU, most of it the kernel's work on the TCP
connection, against about 107 µs for the asyncio-on-uvloop generator it replaced.

A request's latency runs from its first byte sent to its answer's last byte received (the
connection set up before it is not counted, as a client that keeps its connection would not
pay it).

    python -m bench.loadgen --port 8000 --connections 32 --seconds 5 --kind balance ...
"""

from __future__ import annotations

import argparse
import errno
import json
import random
import selectors
import socket
import sys
import time
from collections.abc import Callable

_READ, _WRITE = selectors.EVENT_READ, selectors.EVENT_WRITE


def _request(method: str, path: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if body:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class _Client:
    """One closed-loop client: its connection, the request being sent and the answer being
    read."""

    __slots__ = ("answer", "close", "connecting", "head", "length", "next", "sent_at", "sock",
                 "status", "unsent")

    def __init__(self, first: int) -> None:
        self.next = first  # the number of its next request
        self.sock: socket.socket | None = None
        self.connecting = False
        self.unsent = b""
        self.answer = bytearray()
        self.head = -1  # where the answer's body starts, once its head is in
        self.length = self.status = 0
        self.close = False
        self.sent_at = 0.0


def run(host: str, port: int, connections: int, seconds: float,
        make: Callable[[int], bytes]) -> dict[str, object]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    selector = selectors.DefaultSelector()
    clock = time.perf_counter

    def connect(client: _Client) -> None:
        sock = client.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        code = sock.connect_ex((host, port))
        if code == 0:  # on the loopback a connection is usually made at once
            selector.register(sock, _READ, client)
            send(client)
        elif code in (errno.EINPROGRESS, errno.EAGAIN):
            client.connecting = True
            selector.register(sock, _WRITE, client)
        else:
            raise OSError(code, f"connecting to {host}:{port}: {errno.errorcode.get(code)}")

    def send(client: _Client) -> None:
        client.unsent = make(client.next)
        client.next += connections
        client.answer.clear()
        client.head = -1
        client.sent_at = clock()
        flush(client)

    def flush(client: _Client) -> None:
        assert client.sock is not None
        client.unsent = client.unsent[client.sock.send(client.unsent):]
        selector.modify(client.sock, _WRITE if client.unsent else _READ, client)

    def hang_up(client: _Client) -> None:
        assert client.sock is not None
        selector.unregister(client.sock)
        client.sock.close()
        client.sock = None

    def receive(client: _Client) -> bool:
        """Read what arrived; whether the answer is whole."""
        assert client.sock is not None
        data = client.sock.recv(262_144)
        client.answer += data
        if client.head < 0:
            end = client.answer.find(b"\r\n\r\n")
            if end < 0:
                if not data:
                    raise ConnectionError("the server closed the connection before answering")
                return False
            client.head = end + 4
            head = bytes(client.answer[:end])
            client.status, client.length, client.close = int(head[9:12]), 0, not data
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    client.length = int(value)
                elif name == b"connection" and value.strip().lower() == b"close":
                    client.close = True
        if len(client.answer) < client.head + client.length:
            if not data:
                raise ConnectionError("the server closed the connection mid-answer")
            return False
        client.close = client.close or not data
        return True

    clients = [_Client(i) for i in range(connections)]
    start = clock()
    deadline = start + seconds
    for client in clients:
        connect(client)
    busy = connections
    while busy:
        for key, _ in selector.select():
            client = key.data
            if client.connecting:
                client.connecting = False
                error = key.fileobj.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if error:
                    raise OSError(error, f"connecting to {host}:{port}")
                send(client)
            elif client.unsent:
                flush(client)
            elif receive(client):
                now = clock()
                latencies.append(now - client.sent_at)
                statuses[client.status] = statuses.get(client.status, 0) + 1
                if client.close or now >= deadline:
                    hang_up(client)
                if now >= deadline:
                    busy -= 1
                elif client.sock is None:
                    connect(client)
                else:
                    send(client)
    elapsed = clock() - start
    selector.close()
    ordered = sorted(latencies)

    def pct(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else 0.0

    return {"requests": len(latencies), "rps": len(latencies) / elapsed, "p50_ms": pct(0.50),
            "p99_ms": pct(0.99), "statuses": {str(k): v for k, v in statuses.items()}}


# Requests a second, above what this machine does.
_EXPECTED_RATE = {"purchase": 2_000, "balance": 8_000, "health": 8_000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--kind", choices=["purchase", "balance", "health"], required=True)
    parser.add_argument("--program", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--members", required=True, help="a file of member ids, one a line")
    parser.add_argument("--tag", default="http")
    args = parser.parse_args()
    with open(args.members) as file:
        members = file.read().split()
    headers = {"Authorization": f"Bearer {args.key}"}
    rng = random.Random(args.tag)
    if args.kind == "health":  # no database, no authorization: what any request costs
        def make(n: int) -> bytes:
            return _request("GET", "/health", {})
    elif args.kind == "balance":
        def make(n: int) -> bytes:
            return _request("GET", f"/v1/programs/{args.program}/members/"
                                   f"{rng.choice(members)}/balance", headers)
    else:
        from bench.catalogue import CHANNELS, STORES, basket_lines, purchase_body

        def make(n: int) -> bytes:
            body = purchase_body(rng.choice(members), f"{args.tag}-{n}", _an_hour_ago,
                                 rng.choice(CHANNELS), rng.choice(STORES), basket_lines(rng),
                                 source="http")
            return _request("POST", f"/v1/programs/{args.program}/purchases", headers,
                            json.dumps(body).encode())
    from datetime import UTC, datetime, timedelta

    _an_hour_ago = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    # The requests are made before the clock starts (more than the run is expected to send;
    # any beyond are made as they are sent): at one connection the time spent making the next
    # body would count against the server's rate.
    made = [make(n) for n in range(int(args.seconds * _EXPECTED_RATE[args.kind]))]
    result = run(args.host, args.port, args.connections, args.seconds,
                 lambda n: made[n] if n < len(made) else make(n))
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
