"""The importer reads the next batch while the current one commits, and only then."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from loyalty.services.read_ahead import ReadAhead

WAIT = 10  # seconds: a bound for a thread that should be done long before


class Stream:
    """Numbers 0, 1, ... (up to ``end``, or an error at ``fail_at``), noting who read each."""

    def __init__(self, end: int | None = None, fail_at: int | None = None) -> None:
        self.end, self.fail_at = end, fail_at
        self.readers: list[str] = []
        self.read_enough = threading.Event()
        self.enough = 0
        self.caller_busy = False  # the test's thread is running Python outside ``meanwhile``
        self.read_while_busy = False

    def __iter__(self) -> Iterator[int]:
        n = 0
        while self.end is None or n < self.end:
            if n == self.fail_at:
                raise OSError("the disk went away")
            name = threading.current_thread().name
            if name == "read-ahead" and self.caller_busy:
                self.read_while_busy = True
            self.readers.append(name)
            if len(self.readers) >= self.enough:
                self.read_enough.set()
            yield n
            n += 1

    def wait_for(self, count: int) -> None:
        self.enough = count
        self.read_enough.clear()
        if len(self.readers) < count:
            assert self.read_enough.wait(WAIT)


def test_batches_come_whole_and_in_order_with_or_without_reading_ahead() -> None:
    stream = Stream(end=10)
    with ReadAhead(stream, 4) as ahead:
        first = ahead.batch()
        with ahead.meanwhile():
            stream.wait_for(8)
        second = ahead.batch()
        third = ahead.batch()
        assert ahead.batch() == []
    assert (first, second, third) == ([0, 1, 2, 3], [4, 5, 6, 7], [8, 9])
    assert stream.readers[4:8] == ["read-ahead"] * 4  # read during ``meanwhile``
    assert stream.readers[8:] == ["MainThread"] * 2


def test_it_reads_at_most_one_batch_ahead() -> None:
    stream = Stream()  # endless
    with ReadAhead(stream, 5) as ahead:
        ahead.batch()
        with ahead.meanwhile():
            stream.wait_for(10)
        assert len(stream.readers) == 10
        assert ahead.batch() == [5, 6, 7, 8, 9]


def test_it_never_reads_while_the_caller_runs_outside_meanwhile() -> None:
    stream = Stream(end=200)
    seen: list[int] = []
    with ReadAhead(stream, 7) as ahead:
        while batch := ahead.batch():
            stream.caller_busy = True
            seen += batch
            sum(i * i for i in range(20_000))  # the caller's own work, holding the lock
            stream.caller_busy = False
            with ahead.meanwhile():
                pass
    assert seen == list(range(200))
    assert not stream.read_while_busy


@pytest.mark.parametrize("ahead_of_the_error", [True, False])
def test_an_error_of_the_stream_comes_after_the_items_read_before_it(
    ahead_of_the_error: bool,
) -> None:
    stream = Stream(end=20, fail_at=6)
    with ReadAhead(stream, 4) as ahead:
        assert ahead.batch() == [0, 1, 2, 3]
        if ahead_of_the_error:
            with ahead.meanwhile():
                stream.wait_for(6)
        assert ahead.batch() == [4, 5]
        with pytest.raises(OSError, match="the disk went away"):
            ahead.batch()


def test_a_stream_that_fits_one_batch_starts_no_thread() -> None:
    with ReadAhead(range(3), 4) as ahead:
        assert ahead.batch() == [0, 1, 2]
        with ahead.meanwhile():
            assert "read-ahead" not in {thread.name for thread in threading.enumerate()}
        assert ahead.batch() == []
