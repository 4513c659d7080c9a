"""The data every figure runs on: one migrated database, the fashion-retailer program, members,
and 5-line baskets drawn from its catalogue."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from alembic import command

from api.cli import alembic_config
from bench.catalogue import CHANNELS, STORES, basket_lines, purchase_body
from bench.common import PROGRAM, fashion_document
from loyalty.config import Settings
from loyalty.services.bootstrap import bootstrap
from loyalty.services.context import Context
from loyalty.services.demo_data import enroll_members_bulk
from loyalty.services.generator import member_ids
from loyalty.services.members import MemberRef
from loyalty.services.programs import CreateProgram, create_program
from loyalty.services.purchases import RecordPurchase

SEED = 1


@dataclass(frozen=True)
class Dataset:
    ctx: Context
    settings: Settings
    members: list[str]


def prepare(url: str, members: int, *, synchronous: str = "NORMAL") -> Dataset:
    """Migrate ``url`` (an empty database), create the program and ``members`` members."""
    settings = Settings(database_url=url, sqlite_synchronous=synchronous,  # type: ignore[arg-type]
                        db_pool_size=16)
    command.upgrade(alembic_config(settings, configure_logging=False), "head")
    ctx = bootstrap(settings)
    document = fashion_document()
    create_program(ctx, CreateProgram(PROGRAM, "Fashion retailer", "EUR", "Europe/Paris",
                                      settings=document["settings"], rules=document["rules"]))
    ids = enroll(ctx, members)
    return Dataset(ctx, settings, ids)


def enroll(ctx: Context, count: int) -> list[str]:
    """``count`` members, bulk-enrolled with the rows ``enroll_member`` writes."""
    enroll_members_bulk(ctx, PROGRAM, count, SEED)
    return member_ids(PROGRAM, SEED, count)


def purchases(members: list[str], count: int, *, seed: int, tag: str,
              hours_ago: float = 1.0) -> Iterator[RecordPurchase]:
    """``count`` 5-line purchases by random members, an hour ago."""
    rng = random.Random(seed)
    at = datetime.now(UTC) - timedelta(hours=hours_ago)
    for n in range(count):
        yield RecordPurchase(
            program_id=PROGRAM, member=MemberRef(member_id=rng.choice(members)),
            external_id=f"{tag}-{n}", occurred_at=at, currency="EUR",
            lines=basket_lines(rng), channel=rng.choice(CHANNELS), store=rng.choice(STORES),
            source="bench",
        )


def write_jsonl(path: Path, members: list[str], count: int, *, seed: int, tag: str) -> None:
    """The purchases of ``purchases(...)`` as an import file (one API body a line)."""
    with path.open("w") as file:
        for command in purchases(members, count, seed=seed, tag=tag):
            file.write(json.dumps(purchase_body(
                command.member.member_id or "", command.external_id,
                command.occurred_at.isoformat(), command.channel, command.store, command.lines,
                source=command.source)) + "\n")
