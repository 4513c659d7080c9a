"""The unit of work: one database transaction, rolled back unless the use case commits."""

from __future__ import annotations

from types import TracebackType

from sqlalchemy.orm import Session, sessionmaker

from loyalty.adapters.access_repositories import (
    AuditRepository,
    KeyRepository,
    SecretRepository,
)
from loyalty.adapters.analytics_repositories import AnalyticsRepository
from loyalty.adapters.bulk_repositories import BulkRepository
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

    def __init__(self, session_factory: sessionmaker[Session], *, read_only: bool = False) -> None:
        self.session_factory = session_factory
        self.read_only = read_only

    def __enter__(self) -> SqlAlchemyUnitOfWork:
        self.session = session = self.session_factory()
        if self.read_only:
            # On SQLite a reader must not take the write lock; elsewhere this option is ignored.
            session.connection(execution_options={SQLITE_BEGIN: "DEFERRED"})
        self.programs = ProgramRepository(session)
        self.members = MemberRepository(session)
        self.purchases = PurchaseRepository(session)
        self.ledger = LedgerRepository(session)
        self.idempotency = IdempotencyRepository(session)
        self.usage = RuleUsageRepository(session)
        self.events = EventRepository(session)
        self.history = PurchaseHistoryRepository(session)
        self.tiers = TierRepository(session)
        self.rewards = RewardRepository(session)
        self.returns = ReturnRepository(session)
        self.desk = DeskRepository(session)
        self.demo_data = DemoDataRepository(session)
        self.keys = KeyRepository(session)
        self.secrets = SecretRepository(session)
        self.audit = AuditRepository(session)
        self.outbox = OutboxRepository(session)
        self.webhooks = WebhookRepository(session)
        self.analytics = AnalyticsRepository(session)
        self.notices = NoticeRepository(session)
        self.segments = SegmentRepository(session)
        self.feedback = FeedbackRepository(session)
        self.referrals = ReferralRepository(session)
        self.bulk = BulkRepository(session)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.session.rollback()
        self.session.close()

    def commit(self) -> None:
        self.session.commit()
