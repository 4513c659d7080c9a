"""A real webhook receiver for the tests: an HTTP server on 127.0.0.1 (a free port) in a
thread, which checks each message's signature the way the Standard Webhooks spec tells a
receiver to (written here from the spec, not with the engine's own code), refuses a bad one
with 401, and otherwise answers what the test asks (200 by default)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    id: str
    timestamp: int
    signature: str
    body: bytes
    verified: bool
    answered: int

    @property
    def message(self) -> dict[str, Any]:
        return json.loads(self.body)

    @property
    def type(self) -> str:
        return self.message["type"]

    @property
    def data(self) -> dict[str, Any]:
        return self.message["data"]


def signature_is_valid(
    secret: str,
    message_id: str,
    timestamp: str,
    body: bytes,
    signatures: str,
    *,
    now: float | None = None,
) -> bool:
    """The spec's check: HMAC-SHA256 with the base64-decoded secret over
    ``id.timestamp.body``, one of the space-separated ``v1,`` signatures matching, and a
    timestamp within five minutes."""
    if not timestamp.isdigit():
        return False
    if abs((time.time() if now is None else now) - int(timestamp)) > 300:
        return False
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256)
    expected = "v1," + base64.b64encode(digest.digest()).decode()
    return any(hmac.compare_digest(expected, given) for given in signatures.split())


class Receiver:
    """``answer(message)`` decides the status of each verified message (default 200)."""

    def __init__(self) -> None:
        self.secret = ""
        self.received: list[Received] = []
        self.answer: Callable[[Received], int] = lambda message: 200
        self.delay = 0.0  # seconds to wait before answering (a slow receiver)
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                message = Received(
                    self.headers.get("webhook-id", ""),
                    int(self.headers.get("webhook-timestamp") or 0),
                    self.headers.get("webhook-signature", ""),
                    body,
                    signature_is_valid(
                        receiver.secret,
                        self.headers.get("webhook-id", ""),
                        self.headers.get("webhook-timestamp", ""),
                        body,
                        self.headers.get("webhook-signature", ""),
                    ),
                    0,
                )
                status = receiver.answer(message) if message.verified else 401
                if receiver.delay:
                    time.sleep(receiver.delay)
                with receiver.lock:
                    receiver.received.append(replace(message, answered=status))
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def messages(self, status: int | None = 200) -> list[Received]:
        """What arrived (and was answered ``status``, unless ``None``), in arrival order."""
        with self.lock:
            return [m for m in self.received if status is None or m.answered == status]

    def types(self) -> list[str]:
        return [m.type for m in self.messages()]


@contextmanager
def a_receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    thread = threading.Thread(target=receiver.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()
        thread.join()
