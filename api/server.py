"""The API's gunicorn worker: ``gunicorn -k api.server.Worker api.wsgi:app`` (``loyalty serve``
and ``make bench`` use it). It is written against gunicorn 27's sync worker.

It is gunicorn's sync worker (one request at a time, one connection a request, closed after
the answer), with four changes, most of them for a machine whose workers outnumber its
cores:

- **One worker woken a connection.** The sync worker waits in ``select`` on the shared
  listening socket, so each new connection wakes every idle worker and all but one find
  nothing to accept. This worker waits in ``epoll`` with ``EPOLLEXCLUSIVE`` (Linux), and the
  kernel wakes one. Elsewhere it waits as the sync worker does.
- **No lingering after the answer when nothing is left unread.** gunicorn closes every
  connection gracefully (RFC 9112, section 9.6): it half-closes, then waits up to 2 s for the
  client's FIN while draining what the client sent beyond the request. That drain is there
  because closing a socket with unread bytes in its receive buffer sends RST, which can cut
  the answer off at the client. When the receive buffer is empty (the request was read to
  its end, as it is for every answer the API gives), a close sends FIN and the answer is
  safe; the worker then closes at once instead of waiting on the client. When bytes are
  left unread, or over TLS (whose buffer cannot be peeked at), it closes gracefully, as
  gunicorn does.
- **The Date header is formatted once a second**, not once a request (it names the second).
- **The CPU is given up between requests.** A busy worker goes from one request straight to
  the next, so the scheduler preempts it in the middle of a request, and that request waits
  for the worker's next turn. The worker calls ``sched_yield`` after each connection, where it
  holds no request: with nothing else runnable it returns at once.
"""

from __future__ import annotations

import errno
import os
import select
import socket
import ssl
import time
from contextlib import suppress
from functools import lru_cache
from typing import Any

from gunicorn import util
from gunicorn.workers.sync import StopWaiting, SyncWorker

_close_gracefully = util.close_graceful
_format_date = util.http_date
_format_second = lru_cache(maxsize=1)(_format_date)  # the current second's, formatted once
_yield_cpu = getattr(os, "sched_yield", lambda: None)


def close_promptly(sock: socket.socket, *args: Any, **kwargs: Any) -> None:
    """Close ``sock`` at once if its receive buffer is empty, else gracefully (gunicorn's
    ``close_graceful``, with its arguments)."""
    if _unread(sock):
        _close_gracefully(sock, *args, **kwargs)
        return
    with suppress(OSError):
        sock.close()


def http_date(timestamp: float | None = None) -> str:
    """gunicorn's ``http_date``; the current second's is formatted once."""
    if timestamp is not None:
        return _format_date(timestamp)  # type: ignore[no-any-return]
    return _format_second(int(time.time()))  # type: ignore[no-any-return]


def _unread(sock: socket.socket) -> bool:
    """Whether the client sent bytes the worker did not read. Over TLS the buffer holds
    records, not the request's bytes, and cannot be peeked at: counted as unread."""
    if isinstance(sock, ssl.SSLSocket):
        return True
    try:
        return bool(sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT))
    except BlockingIOError:
        return False  # nothing sent beyond the request
    except OSError:
        return False  # the connection is gone already: nothing to protect


class Worker(SyncWorker):  # type: ignore[misc]
    """gunicorn's sync worker, woken alone, closing promptly, yielding between requests."""

    def init_process(self) -> None:
        # This process is the worker's own (forked by the arbiter): the sync worker calls
        # ``util.close_graceful`` by name after each connection, and its answers
        # ``util.http_date`` for their Date header.
        util.close_graceful = close_promptly
        util.http_date = http_date
        self._poller: Any = None
        super().init_process()

    def run(self) -> None:
        exclusive = getattr(select, "EPOLLEXCLUSIVE", None)
        if exclusive is not None:
            self._poller = select.epoll()
            self._listeners = {s.fileno(): s for s in self.sockets}
            for fd in self._listeners:
                self._poller.register(fd, select.EPOLLIN | exclusive)
            self._poller.register(self.PIPE[0], select.EPOLLIN)  # signals: every worker
        super().run()

    def wait(self, timeout: float) -> list[Any] | None:
        if self._poller is None:
            return super().wait(timeout)  # type: ignore[no-any-return]
        try:
            self.notify()
            ready: list[Any] = []
            for fd, _ in self._poller.poll(timeout):
                if fd == self.PIPE[0]:
                    os.read(fd, 1)
                    ready.append(fd)
                else:
                    ready.append(self._listeners[fd])
            return ready
        except OSError as error:  # as the sync worker's ``wait``
            if error.errno == errno.EINTR:
                return list(self.sockets)
            if error.errno == errno.EBADF:
                if self.nr < 0:
                    return list(self.sockets)
                raise StopWaiting from error
            raise

    def handle(self, listener: Any, client: Any, addr: Any) -> None:
        super().handle(listener, client, addr)
        _yield_cpu()


WORKER_CLASS = f"{Worker.__module__}.{Worker.__qualname__}"  # gunicorn's ``--worker-class``
