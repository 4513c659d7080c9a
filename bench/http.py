"""The API over HTTP: gunicorn (``api.server.Worker``, as ``make run`` serves it) on 127.0.0.1,
driven by ``bench.loadgen`` in its own process."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

from api.server import WORKER_CLASS
from bench.common import PROGRAM, ROOT
from bench.data import Dataset
from loyalty.services.access import Actor, CreateKey, create_key


def parser() -> str:
    """The HTTP parser gunicorn uses: its C parser when ``gunicorn_h1c`` is installed (a
    dependency), else its pure-Python one."""
    try:
        import gunicorn_h1c
    except ImportError:
        return "the pure-Python HTTP parser"
    return f"the C HTTP parser (gunicorn_h1c {gunicorn_h1c.__version__})"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def server(dataset: Dataset, *, workers: int = 4) -> Iterator[tuple[int, str, str]]:
    """gunicorn serving ``dataset``'s database: (port, a checkout key, the member ids file)."""
    key = create_key(dataset.ctx, CreateKey("bench", ("checkout",), PROGRAM),
                     Actor("cli:bench")).secret
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as members:
        members.write("\n".join(dataset.members[:20_000]))
    port = _free_port()
    env = dict(os.environ, LOYALTY_DATABASE_URL=dataset.settings.database_url,
               LOYALTY_RATE_LIMIT_PER_MINUTE="0",
               LOYALTY_SQLITE_SYNCHRONOUS=dataset.settings.sqlite_synchronous,
               LOYALTY_DB_POOL_SIZE="2", LOYALTY_LOG_LEVEL="warning")
    process = subprocess.Popen(
        [os.path.join(os.path.dirname(sys.executable), "gunicorn"), "--workers", str(workers),
         "--worker-class", WORKER_CLASS,
         "--bind", f"127.0.0.1:{port}", "--log-level", "warning", "api.wsgi:app"],
        cwd=ROOT, env=env)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1).read()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("gunicorn did not start") from None
                time.sleep(0.2)
        yield port, key, members.name
    finally:
        process.terminate()
        process.wait(timeout=30)
        os.unlink(members.name)


def load(port: int, key: str, members: str, *, kind: str, connections: int, seconds: float,
         tag: str) -> dict[str, object]:
    """One run of the load generator: requests per second, p50 and p99 in ms, statuses."""
    output = subprocess.run(
        [sys.executable, "-m", "bench.loadgen", "--port", str(port), "--kind", kind,
         "--connections", str(connections), "--seconds", str(seconds), "--program", PROGRAM,
         "--key", key, "--members", members, "--tag", tag],
        cwd=ROOT, check=True, capture_output=True, text=True).stdout
    result: dict[str, object] = json.loads(output)
    bad = {s: n for s, n in result["statuses"].items() if not s.startswith("2")}  # type: ignore[union-attr]
    if bad:
        raise RuntimeError(f"the {kind} load got answers {bad}")
    return result
