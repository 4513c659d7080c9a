"""The API's gunicorn worker: ``gunicorn -k api.server.Worker api.wsgi:app`` (``loyalty serve``
and ``make bench`` use it). It is written against gunicorn 27's sync worker.

It is gunicorn's sync worker (one request at a time, one connection a request, closed after
the answer), with six changes, most of them for a machine whose workers outnumber its
cores:

- **Purchase postings that wait together are posted together (group commit).** When the
  request a worker took is a purchase posting (``api.posting_lane``), the worker takes the
  connections waiting in the listening socket's queue behind it, up to ``posting_group``
  requests in all, without waiting for any: those whose request has arrived are read, and
  their postings go with the first to ``PostingLane.post_together``, which posts the plain
  ones in one transaction (one commit, one round trip). Each request is then answered
  through the app, as every request is; the others (another route, a request not sent yet)
  are served one by one after it. One posting at a time costs what it did: the worker
  gathers only what is already queued.

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
- **An answer made whole (a lane's) is sent in one write**, headers and body together, where
  gunicorn writes the headers, then the body: one system call and one segment fewer.
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
import sys
import time
from collections.abc import Callable
from contextlib import suppress
from datetime import datetime
from functools import lru_cache, partial
from typing import Any

from gunicorn import http, util
from gunicorn.http import wsgi
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


def _whole(resp: Any, body: Any) -> bool:
    """Send an answer whose body is ``body``, all of it, headers and body in one write (one
    system call, one segment, where gunicorn makes two), or say False to let gunicorn send it:
    when headers went already, or the body is not exactly the declared length (or must not be
    sent: a HEAD request). The headers are the ones gunicorn's ``send_headers`` writes."""
    if resp.headers_sent or resp.chunked or not isinstance(body, bytes) \
            or resp.response_length != len(body) or resp.req.method == "HEAD" \
            or getattr(resp, "_omits_body", False):
        return False
    head = resp.default_headers()
    head.extend(f"{name}: {value}\r\n" for name, value in resp.headers)
    resp.headers_sent = True
    resp.sent = len(body)
    util.write(resp.sock, "".join(head).encode("latin-1") + b"\r\n" + body)
    return True


def _arrived(sock: socket.socket) -> bool:
    """Whether bytes wait to be read on ``sock`` (without waiting for any)."""
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))


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
    """gunicorn's sync worker, woken alone, closing promptly, yielding between requests,
    posting the purchase postings that wait together in one transaction."""

    def init_process(self) -> None:
        # This process is the worker's own (forked by the arbiter): the sync worker calls
        # ``util.close_graceful`` by name after each connection, and its answers
        # ``util.http_date`` for their Date header.
        util.close_graceful = close_promptly
        util.http_date = http_date
        self._poller: Any = None
        self._deferred: list[tuple[Any, Any]] = []
        super().init_process()

    def run(self) -> None:
        # The app is loaded now: its posting lane, if it is the API (``api.app``).
        extensions = getattr(self.wsgi, "extensions", None) or {}
        self._lane = extensions.get("loyalty_posting_lane")
        settings = extensions.get("loyalty_settings")
        self._group = settings.posting_group if settings is not None else 1
        if self._lane is None or self._group < 2 or self.cfg.is_ssl:
            self._lane = None
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
        while self._deferred:  # connections a group took whose request had not arrived
            client, addr = self._deferred.pop(0)
            super().handle(listener, client, addr)
            _yield_cpu()

    def handle_request(self, listener: Any, req: Any, client: Any, addr: Any) -> None:
        """gunicorn's ``handle_request``; a purchase posting takes the postings queued behind
        it along (``post_together``)."""
        self.cfg.pre_request(self, req)
        started = datetime.now()  # noqa: DTZ005 -- gunicorn's request time
        environ: dict[str, Any] = {}
        resp = None
        try:
            resp, environ = wsgi.create(req, client, addr, listener.getsockname(), self.cfg)
            if self._lane is not None and self._lane.takes(environ):
                self._post_together(listener, environ)
        except BaseException:
            try:
                self.cfg.post_request(self, req, environ, resp)
            except Exception:
                self.log.exception("Exception in post_request hook")
            raise
        self.respond(req, client, resp, environ, started)

    def respond(self, req: Any, client: Any, resp: Any, environ: dict[str, Any],
                started: datetime) -> None:
        """The rest of gunicorn's ``handle_request``, for a request whose ``resp`` and
        ``environ`` are made."""
        try:
            # As gunicorn: no keep-alive until a buffering proxy in front supports it.
            resp.force_close()
            self.nr += 1
            if self.nr >= self.max_requests:
                self.log.info("Autorestarting worker after current request.")
                self.alive = False
            respiter = self.wsgi(environ, resp.start_response)
            try:
                if type(respiter) is list and len(respiter) == 1 and _whole(resp, respiter[0]):
                    pass  # a lane's answer: its status line, headers and body in one write
                elif isinstance(respiter, environ["wsgi.file_wrapper"]):
                    resp.write_file(respiter)
                else:
                    for item in respiter:
                        resp.write(item)
                resp.close()
            finally:
                self.log.access(resp, req, environ, datetime.now() - started)  # noqa: DTZ005
                if hasattr(respiter, "close"):
                    respiter.close()
        except OSError:
            util.reraise(*sys.exc_info())
        except (Exception, SystemExit):
            if resp and resp.headers_sent:
                # A timeout abort is SystemExit; once the answer began, a 500 would corrupt it.
                self.log.exception("Error handling request")
                util.close_graceful(client)
                raise StopIteration() from None
            raise
        finally:
            try:
                self.cfg.post_request(self, req, environ, resp)
            except Exception:
                self.log.exception("Exception in post_request hook")

    def _post_together(self, listener: Any, first: dict[str, Any]) -> None:
        """Take the connections queued behind the posting ``first``, post their postings with
        it, then serve every one of them but ``first`` (which the caller answers)."""
        ready: list[tuple[Any, Any, Any, Any, dict[str, Any], datetime]] = []
        unread: list[tuple[Any, Any]] = []
        while len(ready) + len(unread) + 1 < self._group:
            try:
                client, addr = listener.accept()
            except OSError:
                break  # none waiting (or it went away)
            client.setblocking(1)
            util.close_on_exec(client)
            if not _arrived(client):
                unread.append((client, addr))  # its request is not here yet: served after
                continue
            request = self._guarded(client, addr, partial(self._created, listener, client, addr))
            if request is not None:
                ready.append(request)
        postings = [request[4] for request in ready if self._lane.takes(request[4])]
        self._deferred.extend(unread)
        if not ready:
            return  # alone: the lane posts it, as any posting
        try:
            self._lane.post_together([first, *postings])
        finally:  # each is answered: by the lane's answer, or by the app as ever
            for req, client, addr, resp, environ, started in ready:
                self._guarded(client, addr, partial(
                    self.respond, req, client, resp, environ, started),
                    req=req, close=True)

    def _created(self, listener: Any, client: Any, addr: Any
                 ) -> tuple[Any, Any, Any, Any, dict[str, Any], datetime]:
        req = next(http.get_parser(self.cfg, client, addr))
        self.cfg.pre_request(self, req)
        started = datetime.now()  # noqa: DTZ005 -- gunicorn's request time
        resp, environ = wsgi.create(req, client, addr, listener.getsockname(), self.cfg)
        return req, client, addr, resp, environ, started

    def _guarded(self, client: Any, addr: Any, work: Callable[[], Any], *, req: Any = None,
                 close: bool = False) -> Any:
        """``work()`` with the sync worker's ``handle``'s answers to errors; the connection
        is closed after an error, or after ``work`` when ``close``."""
        failed = True
        try:
            result = work()
            failed = False
            return result
        except (http.errors.NoMoreData, StopIteration):
            pass  # the client went away, or the answer was cut off and closed
        except OSError as error:
            if error.errno not in (errno.EPIPE, errno.ECONNRESET, errno.ENOTCONN):
                self.log.exception("Socket error processing request.")
        except BaseException as error:
            self.handle_error(req, client, addr, error)
        finally:
            if failed or close:
                util.close_graceful(client)
                _yield_cpu()
        return None


WORKER_CLASS = f"{Worker.__module__}.{Worker.__qualname__}"  # gunicorn's ``--worker-class``
