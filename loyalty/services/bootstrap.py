"""Wiring: build the engine, the session factory and the use-case context from ``Settings``."""

from __future__ import annotations

from datetime import timedelta
from functools import partial

from sqlalchemy import Engine

from loyalty.adapters.db import make_engine, make_session_factory
from loyalty.adapters.unit_of_work import SqlAlchemyUnitOfWork
from loyalty.config import Settings
from loyalty.services.context import Clock, Context, SystemClock


def bootstrap(
    settings: Settings, *, clock: Clock | None = None, engine: Engine | None = None
) -> Context:
    engine = engine or make_engine(settings)
    sessions = make_session_factory(engine)
    return Context(
        new_uow=partial(SqlAlchemyUnitOfWork, sessions),
        clock=clock or SystemClock(),
        future_tolerance=timedelta(seconds=settings.future_tolerance_seconds),
        secret_key=(settings.secret_key.get_secret_value().encode()
                    if settings.secret_key else None),
    )
