"""The API's gunicorn worker (``api.server.Worker``), served by a real gunicorn on 127.0.0.1:
it answers as the sync worker does, closes at once when the request was read to its end, and
closes gracefully (no reset cutting the answer off) when it was not."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import pytest
import trustme
from freezegun import freeze_time
from sqlalchemy import select

from api.server import WORKER_CLASS, http_date
from loyalty.adapters.orm import PurchaseRow
from tests.api.support import a_purchase_body
from tests.api.worker_app import ANSWER
from tests.builders import a_member, a_program

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def gunicorn(app: str, *, workers: int, env: dict[str, str] | None = None,
             options: tuple[str, ...] = ()) -> Iterator[int]:
    """gunicorn serving ``app`` with ``api.server.Worker``: its port."""
    with gunicorn_process(app, workers=workers, env=env, options=options) as (port, _):
        yield port


@contextmanager
def gunicorn_process(app: str, *, workers: int, env: dict[str, str] | None = None,
                     options: tuple[str, ...] = ()) -> Iterator[tuple[int, subprocess.Popen]]:
    """gunicorn serving ``app`` with ``api.server.Worker``: its port and its arbiter."""
    port = _free_port()
    process = subprocess.Popen(
        [os.path.join(os.path.dirname(sys.executable), "gunicorn"), "--workers", str(workers),
         "--worker-class", WORKER_CLASS, "--bind", f"127.0.0.1:{port}",
         "--log-level", "warning", *options, app],
        cwd=ROOT, env=dict(os.environ, **(env or {})))
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                assert process.poll() is None, "gunicorn exited"
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.1)
        yield port, process
    finally:
        process.terminate()
        assert process.wait(timeout=30) == 0  # the workers woke to the signal and stopped


def exchange(port: int, request: bytes, *, pause: float = 0.0, timeout: float = 10.0,
             tls: ssl.SSLContext | None = None) -> bytes:
    """Send ``request``, wait ``pause`` seconds, read the answer to the end of the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as plain, (
            tls.wrap_socket(plain, server_hostname="localhost") if tls else plain) as client:
        client.sendall(request)
        time.sleep(pause)
        chunks = []
        while chunk := client.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def post(path: str, body: bytes) -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n\r\n"
            .encode() + body)


def test_each_worker_answers_its_requests_and_closes_the_connection_after_each():
    with gunicorn("tests.api.worker_app:app", workers=2) as port:
        answers = [exchange(port, post("/echo", b"y" * n)) for n in (0, 10, 70_000)]

    for answer, n in zip(answers, (0, 10, 70_000), strict=True):
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200")
        assert b"Connection: close" in head
        assert re.search(rb"\r\nDate: \w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT(\r\n|$)", head)
        assert body == str(n).encode()


def test_the_date_header_is_gunicorns_formatted_once_a_second():
    with freeze_time("2026-11-24 12:00:00.250") as clock:
        first = http_date()
        clock.tick(0.5)
        same_second = http_date()
        clock.tick(0.5)
        next_second = http_date()

    assert first == same_second == "Tue, 24 Nov 2026 12:00:00 GMT"
    assert next_second == "Tue, 24 Nov 2026 12:00:01 GMT"
    assert http_date(0) == "Thu, 01 Jan 1970 00:00:00 GMT"


def test_requests_are_parsed_by_gunicorns_c_parser():
    """``gunicorn_h1c`` is a dependency: gunicorn uses it when it is installed, and parses
    a request in a fraction of its pure-Python parser's time."""
    with gunicorn("tests.api.worker_app:app", workers=1) as port:
        answer = exchange(port, b"GET /parser HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")

    assert answer.partition(b"\r\n\r\n")[2] == b"c"


def test_a_client_that_keeps_its_connection_open_does_not_hold_the_worker():
    """gunicorn's own sync worker would wait up to 2 s for the first client's FIN."""
    with (gunicorn("tests.api.worker_app:app", workers=1) as port,
          socket.create_connection(("127.0.0.1", port), timeout=10) as first):
        first.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        answer = b""
        while not answer.endswith(b"ok"):
            answer += first.recv(65536)

        second = exchange(port, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", timeout=1.5)

        assert first.recv(65536) == b""  # the worker closed the first connection
    assert second.startswith(b"HTTP/1.1 200") and second.endswith(b"ok")


def test_an_answer_given_without_reading_the_body_reaches_the_client_whole():
    """The body is left unread in the worker's receive buffer: closing at once would reset
    the connection and cut the answer off; the worker closes gracefully instead."""
    with gunicorn("tests.api.worker_app:app", workers=1) as port:
        # The client reads only once the worker has answered and closed.
        answer = exchange(port, post("/unread", b"z" * 50_000), pause=0.5)

    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert body == ANSWER


def test_over_tls_the_worker_closes_as_gunicorn_does_and_every_answer_arrives_whole(tmp_path):
    authority = trustme.CA()
    certificate = authority.issue_cert("localhost")
    certificate.cert_chain_pems[0].write_to_path(tmp_path / "cert.pem")
    certificate.private_key_pem.write_to_path(tmp_path / "key.pem")
    client = ssl.create_default_context()
    authority.configure_trust(client)
    tls = ("--certfile", str(tmp_path / "cert.pem"), "--keyfile", str(tmp_path / "key.pem"))

    with gunicorn("tests.api.worker_app:app", workers=1, options=tls) as port:
        answers = [exchange(port, post(path, body), pause=pause, tls=client)
                   for path, body, pause in [("/pid", b"", 0), ("/unread", b"z" * 50_000, 0.5),
                                             ("/echo", b"y" * 10, 0), ("/pid", b"", 0)]]

    pid, unread, echo, pid_after = (answer.partition(b"\r\n\r\n")[2] for answer in answers)
    assert (unread, echo) == (ANSWER, b"10")
    assert pid_after == pid  # the same worker served them all: none failed on closing


def test_the_api_is_served_through_the_worker(settings, ada, admin_key):
    env = {"LOYALTY_DATABASE_URL": settings.database_url, "LOYALTY_LOG_LEVEL": "warning"}
    with gunicorn("api.wsgi:app", workers=2, env=env) as port:
        base = f"http://127.0.0.1:{port}/v1/programs/shop"
        headers = {"Authorization": f"Bearer {admin_key}", "Content-Type": "application/json"}
        posted = urllib.request.urlopen(urllib.request.Request(
            f"{base}/purchases", json.dumps(a_purchase_body(amount="25.00")).encode(), headers))
        balance = urllib.request.urlopen(urllib.request.Request(
            f"{base}/members/{ada.id}/balance", headers=headers))

        assert posted.status == 201
        assert json.loads(posted.read())["points_earned"] == 25
        assert balance.status == 200
        assert json.loads(balance.read())["available"] == 25


def test_loyalty_serve_uses_the_worker(monkeypatch):
    """``loyalty serve`` (``make run``) configures gunicorn with the worker."""
    from gunicorn.app.base import BaseApplication

    from api import cli

    configured = {}
    monkeypatch.setattr(BaseApplication, "run",
                        lambda self: configured.update(worker_class=self.cfg.worker_class_str))
    result = cli.main.main(["serve", "--port", "0"], standalone_mode=False)

    assert result is None
    assert configured["worker_class"] == "api.server.Worker"


def test_postings_waiting_together_are_posted_together_and_every_request_is_answered(
        settings, ctx, admin_key):
    """One worker, stopped while requests queue: five postings (of five members), a balance
    read and a connection whose request comes late. Woken, the worker posts the five in one
    transaction (recorded at one instant), then answers the read and the late posting."""
    program = a_program(ctx)
    members = [a_member(ctx) for _ in range(7)]
    env = {"LOYALTY_DATABASE_URL": settings.database_url, "LOYALTY_LOG_LEVEL": "warning"}
    with gunicorn_process("api.wsgi:app", workers=1, env=env) as (port, arbiter):
        headers = f"Authorization: Bearer {admin_key}\r\nContent-Type: application/json\r\n"

        def posting(member, external_id: str) -> bytes:
            body = json.dumps(a_purchase_body(member, "20.00", external_id=external_id))
            return (f"POST /v1/programs/{program.id}/purchases HTTP/1.1\r\nHost: x\r\n"
                    f"{headers}Content-Length: {len(body)}\r\n\r\n{body}").encode()

        # The worker's first posting compiles the program: the next ones are plain.
        assert b" 201 " in exchange(port, posting(members[6], "T-first"))
        worker = int(Path(f"/proc/{arbiter.pid}/task/{arbiter.pid}/children").read_text())
        os.kill(worker, signal.SIGSTOP)
        try:
            waiting = [socket.create_connection(("127.0.0.1", port), timeout=20)
                       for _ in range(7)]
            for n, client in enumerate(waiting[:5]):
                client.sendall(posting(members[n], f"T-{n}"))
            waiting[5].sendall(
                f"GET /v1/programs/{program.id}/members/{members[0].id}/balance HTTP/1.1\r\n"
                f"Host: x\r\n{headers}\r\n".encode())
        finally:
            os.kill(worker, signal.SIGCONT)
        time.sleep(0.5)  # the worker takes the seven connections; the last request comes now
        waiting[6].sendall(posting(members[5], "T-late"))
        answers = []
        for client in waiting:
            with client:
                answers.append(b"".join(iter(partial(client.recv, 65536), b"")))

    assert [answer.split(b" ", 2)[1] for answer in answers] == [b"201"] * 5 + [b"200", b"201"]
    assert json.loads(answers[5].partition(b"\r\n\r\n")[2])["available"] == 20
    with ctx.uow(read_only=True) as uow:
        recorded = dict(uow.session.execute(select(PurchaseRow.external_id,
                                                   PurchaseRow.recorded_at)).all())
    assert len({recorded[f"T-{n}"] for n in range(5)}) == 1  # one transaction
    assert recorded["T-late"] != recorded["T-0"]


class Recorder:
    """A socket's ``sendall``, recorded."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []

    def sendall(self, data: bytes) -> None:
        self.writes.append(bytes(data))


def a_response(request: bytes, status: str, headers: list[tuple[str, str]]):
    """gunicorn's response to ``request`` (parsed by gunicorn), started, writing to a
    ``Recorder``."""
    from gunicorn.config import Config
    from gunicorn.http import get_parser, wsgi

    config = Config()
    server, client = socket.socketpair()
    with server, client:
        client.sendall(request)
        req = next(get_parser(config, server, ("127.0.0.1", 5000)))
        resp, _ = wsgi.create(req, server, ("127.0.0.1", 5000), ("127.0.0.1", 80), config)
    resp.sock = Recorder()
    resp.start_response(status, headers)
    return resp


@freeze_time("2026-03-07 15:00:00")
def test_an_answer_made_whole_is_sent_in_one_write_with_the_bytes_gunicorn_sends():
    from api.server import _whole

    request = b"GET /v1/x HTTP/1.1\r\nHost: x\r\n\r\n"
    headers = [("Content-Type", "application/json"), ("Content-Length", "12")]
    body = b'{"ok": true}'
    by_gunicorn = a_response(request, "200 OK", headers)
    by_gunicorn.write(body)
    by_gunicorn.close()
    whole = a_response(request, "200 OK", headers)

    assert _whole(whole, body)
    whole.close()

    assert len(by_gunicorn.sock.writes) == 2  # the headers, then the body
    assert whole.sock.writes == [b"".join(by_gunicorn.sock.writes)]


@pytest.mark.parametrize(("request_line", "length"), [
    ("HEAD /v1/x HTTP/1.1", "12"),  # an answer without its body
    ("GET /v1/x HTTP/1.1", "11"),  # a body that is not the length declared
])
def test_an_answer_that_is_not_exactly_its_body_is_left_to_gunicorn(request_line, length):
    from api.server import _whole

    resp = a_response(f"{request_line}\r\nHost: x\r\n\r\n".encode(), "200 OK",
                      [("Content-Type", "application/json"), ("Content-Length", length)])

    assert not _whole(resp, b'{"ok": true}')
    assert resp.sock.writes == [] and not resp.headers_sent
