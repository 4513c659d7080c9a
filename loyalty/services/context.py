"""What every use case needs: a way to open a unit of work, and the time."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # the concrete unit of work; use cases only see its repositories
    from loyalty.adapters.unit_of_work import SqlAlchemyUnitOfWork as UnitOfWork


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    """The wall clock, in UTC. Business timestamps come from here, so freezegun controls them."""

    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass(frozen=True)
class Context:
    new_uow: Callable[..., UnitOfWork]
    clock: Clock = field(default_factory=SystemClock)
    future_tolerance: timedelta = timedelta(minutes=5)
    secret_key: bytes | None = None
    cache: dict[str, Any] = field(default_factory=dict, compare=False)

    def uow(self, *, read_only: bool = False) -> UnitOfWork:
        return self.new_uow(read_only=read_only)
