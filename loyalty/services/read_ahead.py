"""Reading the next batch of a stream while the current one commits.

A bulk import spends much of each batch waiting on its commit, with Python's interpreter lock
released (the database driver writes and syncs), and much of the rest parsing rows, which
needs the lock. ``ReadAhead`` parses the next rows in a thread only while the caller is in
such a wait (``meanwhile``), and never while the caller runs Python: two threads wanting the
lock at once take turns in slices of the interpreter's switch interval, which would slow the
writes a row at a time. Memory stays bounded: at most one batch is read ahead. The thread is
started only when there is more to read (a stream that fits one batch, such as an HTTP
batch's, starts none).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from itertools import islice
from types import TracebackType
from typing import Generic, TypeVar

T = TypeVar("T")


class ReadAhead(Generic[T]):
    """Batches of ``size`` items of ``items``, the next one read while ``meanwhile`` runs.

    The items come in their order; an exception the stream raises reaches the caller of
    ``batch`` after the items read before it. Use it as a context manager (the reader thread
    ends with it)."""

    def __init__(self, items: Iterable[T], size: int) -> None:
        self._items: Iterator[T] = iter(items)
        self._size = size
        self._ahead: list[T] = []
        self._error: BaseException | None = None
        self._done = False  # the stream is exhausted (or raised ``_error``)
        self._reading = False  # the thread may read (set and cleared by the caller only)
        self._closed = False
        self._go = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._thread: threading.Thread | None = None  # started by the first ``meanwhile``

    def __enter__(self) -> ReadAhead[T]:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._closed = True
        if self._thread is not None:
            self._go.set()
            self._thread.join()

    def batch(self) -> list[T]:
        """The next batch (empty at the end of the stream)."""
        items, self._ahead = self._ahead, []
        if not self._done and len(items) < self._size:
            try:
                items.extend(islice(self._items, self._size - len(items)))
            except BaseException as error:
                self._done, self._error = True, error
            else:
                self._done = len(items) < self._size  # the stream ended short of a batch
        if self._error is not None and len(items) < self._size:
            error, self._error = self._error, None
            if items:  # the items read before the error first; the error on the next call
                self._error = error
                return items
            raise error
        return items

    @contextmanager
    def meanwhile(self) -> Iterator[None]:
        """The next batch is read while the block runs (and no longer once it ends)."""
        if self._done:  # nothing more to read
            yield
            return
        if self._thread is None:
            self._thread = threading.Thread(target=self._read, name="read-ahead", daemon=True)
            self._thread.start()
        self._idle.clear()
        self._reading = True
        self._go.set()
        try:
            yield
        finally:
            self._reading = False
            self._idle.wait()  # the thread has finished the item it was reading

    def _read(self) -> None:
        while True:
            self._go.wait()
            if self._closed:
                return
            while self._reading and not self._done and len(self._ahead) < self._size:
                try:
                    self._ahead.append(next(self._items))
                except StopIteration:
                    self._done = True
                except BaseException as error:  # handed to the caller by ``batch``
                    self._done, self._error = True, error
            self._go.clear()
            self._idle.set()
