"""The importer tunes the garbage collector while it runs, and puts it back afterwards."""

from __future__ import annotations

import gc

from api.cli import batch_process_gc


def test_the_collector_runs_rarely_inside_and_as_before_after():
    before = gc.get_threshold()
    with batch_process_gc():
        assert gc.get_threshold() == (50_000, 20, 20)
        assert gc.get_freeze_count() > 0  # what was alive is set aside
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_the_collector_is_put_back_when_the_import_fails():
    before = gc.get_threshold()
    try:
        with batch_process_gc():
            raise RuntimeError("a failed import")
    except RuntimeError:
        pass
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0
