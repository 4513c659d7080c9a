"""A WSGI app for the worker's tests (``tests/api/test_server_worker.py``): what the worker
does with a connection does not depend on the app behind it."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

from gunicorn.http import message

ANSWER = b"x" * 100_000  # larger than one segment: a reset would cut it off


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """``/echo`` reads the body and answers its length; ``/unread`` answers ``ANSWER``
    without reading the body; ``/pid`` answers the worker's process id; ``/parser``
    whether gunicorn parsed the request with its C parser (``gunicorn_h1c``); anything else
    answers ``ok``."""
    path = environ["PATH_INFO"]
    if path == "/pid":
        body = str(os.getpid()).encode()
    elif path == "/parser":
        body = b"c" if message._fast_parser_available else b"python"
    elif path == "/echo":
        body = str(len(environ["wsgi.input"].read())).encode()
    elif path == "/unread":
        body = ANSWER
    else:
        body = b"ok"
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]
