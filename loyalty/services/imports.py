"""Bulk ingest: end-of-day purchase files from tills, in batched transactions.

Rows arrive already parsed (a command, or the reason the row could not be read) with their
line numbers, as a stream: memory does not grow with the file. Each row runs in a savepoint of
the batch's transaction, so a bad row is reported and skipped without losing the good ones;
each batch commits whole, so a crash loses at most the batch in flight, never part of one.
Every row is idempotent (its purchase's natural key): importing a file again imports nothing
and reports the duplicates, and re-running a file after a crash finishes it exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from loyalty.domain.errors import LoyaltyError
from loyalty.services.context import Context
from loyalty.services.idempotency import Outcome
from loyalty.services.purchases import PurchaseRecorded, RecordPurchase, record_purchase_in


@dataclass
class ImportReport:
    imported: int = 0
    duplicates: int = 0
    rejected: int = 0
    problems: list[tuple[int, str]] = field(default_factory=list)  # (line, reason)
    stopped_at: int | None = None  # the line of the error that stopped the import

    @property
    def rows(self) -> int:
        return self.imported + self.duplicates + self.rejected


Row = tuple[int, RecordPurchase | str]


RowResult = Callable[[int, Outcome[PurchaseRecorded] | None, LoyaltyError | str | None], None]


def import_purchases(ctx: Context, rows: Iterable[Row], *, batch_size: int = 1000,
                     stop_on_error: bool = False,
                     on_batch: Callable[[ImportReport], None] | None = None,
                     on_row: RowResult | None = None) -> ImportReport:
    """Record every purchase of ``rows`` (line number, command or reason it is unreadable);
    ``on_row`` hears each row's outcome, or its error."""
    report = ImportReport()
    iterator = iter(rows)
    done = False
    while not done:
        in_batch = 0
        with ctx.uow() as uow:
            now = ctx.clock.now()
            for line, row in iterator:
                if isinstance(row, str):
                    problem: str | None = row
                    if on_row is not None:
                        on_row(line, None, row)
                else:
                    problem = None
                    savepoint = uow.session.begin_nested()
                    try:
                        outcome = record_purchase_in(uow, row, now, ctx.future_tolerance)
                    except LoyaltyError as error:
                        savepoint.rollback()
                        where = f"{error.field}: " if error.field else ""
                        problem = f"{where}{error.detail}"
                        if on_row is not None:
                            on_row(line, None, error)
                    else:
                        savepoint.commit()
                        if outcome.replayed:
                            report.duplicates += 1
                        else:
                            report.imported += 1
                        if on_row is not None:
                            on_row(line, outcome, None)
                if problem is not None:
                    report.rejected += 1
                    report.problems.append((line, problem))
                    if stop_on_error:
                        report.stopped_at = line
                        done = True
                        break
                in_batch += 1
                if in_batch >= batch_size:
                    break
            else:
                done = True
            uow.commit()
        if on_batch is not None:
            on_batch(report)
    return report
