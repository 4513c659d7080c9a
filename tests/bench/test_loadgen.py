"""The benchmark's load generator (``bench.loadgen``) against a small HTTP server of the
standard library: it counts every answer, reads answers larger than one read, sends bodies,
and reconnects when the server closes the connection, as the engine's gunicorn worker does."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from bench.loadgen import _request, run

BIG = b"b" * 300_000  # more than one read of the generator's


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keeps the connection unless told to close
    seen: list[str] = []  # the paths answered
    connections: set[int] = set()
    bodies: list[int] = []

    def do_GET(self) -> None:
        self._answer(BIG if self.path == "/big" else b"ok")

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Handler.bodies.append(len(body))
        self._answer(str(len(body)).encode())

    def _answer(self, body: bytes) -> None:
        _Handler.seen.append(self.path)
        _Handler.connections.add(self.client_address[1])
        self.send_response(201 if self.command == "POST" else 200)
        self.send_header("Content-Length", str(len(body)))
        if self.path == "/close":
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def server() -> Iterator[int]:
    _Handler.seen, _Handler.connections, _Handler.bodies = [], set(), []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd.server_address[1]
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_every_answer_is_counted_with_its_status_and_latency():
    with server() as port:
        result = run("127.0.0.1", port, 4, 0.3, lambda n: _request("GET", "/", {}))

    assert result["requests"] == len(_Handler.seen) > 0
    assert result["statuses"] == {"200": result["requests"]}
    assert 0 < result["p50_ms"] <= result["p99_ms"]
    assert result["rps"] > 0


def test_a_connection_the_server_keeps_carries_the_next_request():
    with server() as port:
        result = run("127.0.0.1", port, 2, 0.3, lambda n: _request("GET", "/", {}))

    assert result["requests"] > 2
    assert len(_Handler.connections) == 2  # one a client, for every request


def test_a_connection_the_server_closes_is_made_again_for_the_next_request():
    with server() as port:
        result = run("127.0.0.1", port, 2, 0.3, lambda n: _request("GET", "/close", {}))

    assert result["requests"] > 2
    assert len(_Handler.connections) == result["requests"]  # a connection a request


def test_large_answers_are_read_whole_and_bodies_are_sent_whole():
    body = b"{" + b"x" * 200_000 + b"}"
    with server() as port:
        big = run("127.0.0.1", port, 2, 0.2, lambda n: _request("GET", "/big", {}))
        posted = run("127.0.0.1", port, 2, 0.2,
                     lambda n: _request("POST", "/close", {}, body))

    assert big["statuses"] == {"200": big["requests"]}
    assert posted["statuses"] == {"201": posted["requests"]}
    assert _Handler.bodies and set(_Handler.bodies) == {len(body)}


def test_each_client_numbers_its_requests_apart_from_the_others():
    numbers: list[int] = []

    def make(n: int) -> bytes:
        numbers.append(n)
        return _request("GET", "/", {})

    with server() as port:
        run("127.0.0.1", port, 3, 0.2, make)

    assert len(numbers) == len(set(numbers))  # no number twice: idempotency keys stay unique
    assert {n % 3 for n in numbers} == {0, 1, 2}
