"""The unit of work: one database transaction, rolled back unless the use case commits."""

from __future__ import annotations

from types import TracebackType
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from loyalty.adapters.access_repositories import (
    AuditRepository,
    KeyRepository,
    SecretRepository,
)
from loyalty.adapters.analytics_repositories import AnalyticsRepository
from loyalty.adapters.bulk_repositories import BulkRepository, PlainRepository
from loyalty.adapters.db import SQLITE_BEGIN
from loyalty.adapters.demo_repositories import DemoDataRepository
from loyalty.adapters.desk_repositories import DeskRepository
from loyalty.adapters.engagement_repositories import FeedbackRepository, ReferralRepository
from loyalty.adapters.notice_repositories import NoticeRepository
from loyalty.adapters.outbox_repositories import OutboxRepository
from loyalty.adapters.repositories import (
    EventRepository,
    IdempotencyRepository,
    LedgerRepository,
    MemberRepository,
    ProgramRepository,
    PurchaseHistoryRepository,
    PurchaseRepository,
    RuleUsageRepository,
)
from loyalty.adapters.reward_repositories import ReturnRepository, RewardRepository
from loyalty.adapters.segment_repositories import SegmentRepository
from loyalty.adapters.tier_repositories import TierRepository
from loyalty.adapters.webhook_repositories import WebhookRepository


class SqlAlchemyUnitOfWork:
    programs: ProgramRepository
    members: MemberRepository
    purchases: PurchaseRepository
    ledger: LedgerRepository
    idempotency: IdempotencyRepository
    usage: RuleUsageRepository
    events: EventRepository
    history: PurchaseHistoryRepository
    tiers: TierRepository
    rewards: RewardRepository
    returns: ReturnRepository
    desk: DeskRepository
    demo_data: DemoDataRepository
    keys: KeyRepository
    secrets: SecretRepository
    audit: AuditRepository
    outbox: OutboxRepository
    webhooks: WebhookRepository
    analytics: AnalyticsRepository
    notices: NoticeRepository
    segments: SegmentRepository
    feedback: FeedbackRepository
    referrals: ReferralRepository
    bulk: BulkRepository
    session: Session

    def __init__(self, session_factory: sessionmaker[Session], *, read_only: bool = False) -> None:
        self.session_factory = session_factory
        self.read_only = read_only

    def __enter__(self) -> SqlAlchemyUnitOfWork:
        self._plain: PlainRepository | None = None
        return self

    def __getattr__(self, name: str) -> Any:
        """The session and the repositories, made on first use: the plain posting lane
        needs neither (see ``plain``)."""
        if name not in _LAZY or "_plain" not in self.__dict__:
            raise AttributeError(name)
        self._open_session()
        return self.__dict__[name]

    def _open_session(self) -> None:
        if self._plain is not None:
            raise RuntimeError("the plain lane's transaction is open: commit or roll it back")
        self.session = session = self.session_factory()
        if self.read_only:
            # One snapshot for every statement of the reader, so that figures read one after
            # the other agree (a report's totals and its breakdown): on SQLite a read
            # transaction (which must not take the write lock) already is one; PostgreSQL's
            # READ COMMITTED takes a new snapshot a statement. A reader that only reads never
            # fails to serialise under REPEATABLE READ.
            options: dict[str, Any] = {SQLITE_BEGIN: "DEFERRED"}
            if session.get_bind().dialect.name == "postgresql":
                options["isolation_level"] = "REPEATABLE READ"
            session.connection(execution_options=options)
        for attribute, repository in _REPOSITORIES.items():
            setattr(self, attribute, repository(session))

    @property
    def plain(self) -> PlainRepository:
        """The plain posting lane's repository, on a pooled connection of the driver's own, in
        a transaction of its own (``BEGIN IMMEDIATE`` on SQLite, as the session's are)."""
        return self._driver_connection(write=True)

    @property
    def snapshot(self) -> PlainRepository:
        """The plain lane's repository for a read of one statement (its own snapshot), outside
        any transaction: on SQLite no lock is held; on PostgreSQL the statement runs in
        autocommit, without the round trips of a BEGIN and a ROLLBACK."""
        return self._driver_connection(write=False)

    def _driver_connection(self, *, write: bool) -> PlainRepository:
        if self._plain is None:
            if "session" in self.__dict__:
                raise RuntimeError("the session's transaction is open")
            engine = self.session_factory.kw["bind"]
            connection = engine.raw_connection()
            if write and engine.dialect.name == "sqlite":
                connection.cursor().execute("BEGIN IMMEDIATE")
            self._plain = PlainRepository(connection, engine.dialect, write=write)
        return self._plain

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None and self.read_only and "session" in self.__dict__:
            # A reader ends by COMMIT, the same to the database as a ROLLBACK: psycopg forgets
            # the connection's prepared statements at every ROLLBACK (DEALLOCATE ALL), and the
            # postings that take the pooled connection next would be planned afresh.
            self.commit()
        self.rollback()
        if "session" in self.__dict__:
            self.session.close()

    def commit(self) -> None:
        if self._plain is not None:  # its connection goes back to the pool
            plain, self._plain = self._plain, None
            plain.commit()
        if "session" in self.__dict__:
            self.session.commit()

    def rollback(self) -> None:
        """Give up the transaction's writes; the unit of work may go on in a new transaction
        (of its session: the plain lane's connection goes back to the pool)."""
        if self._plain is not None:
            plain, self._plain = self._plain, None
            plain.rollback()
        if "session" in self.__dict__:
            self.session.rollback()


_REPOSITORIES: dict[str, Any] = {
    "programs": ProgramRepository,
    "members": MemberRepository,
    "purchases": PurchaseRepository,
    "ledger": LedgerRepository,
    "idempotency": IdempotencyRepository,
    "usage": RuleUsageRepository,
    "events": EventRepository,
    "history": PurchaseHistoryRepository,
    "tiers": TierRepository,
    "rewards": RewardRepository,
    "returns": ReturnRepository,
    "desk": DeskRepository,
    "demo_data": DemoDataRepository,
    "keys": KeyRepository,
    "secrets": SecretRepository,
    "audit": AuditRepository,
    "outbox": OutboxRepository,
    "webhooks": WebhookRepository,
    "analytics": AnalyticsRepository,
    "notices": NoticeRepository,
    "segments": SegmentRepository,
    "feedback": FeedbackRepository,
    "referrals": ReferralRepository,
    "bulk": BulkRepository,
}
_LAZY = frozenset(_REPOSITORIES) | {"session"}
