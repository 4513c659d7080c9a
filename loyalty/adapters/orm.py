"""The schema, as typed SQLAlchemy 2 models. Alembic migrations are checked against it.

Conventions: public ids are random strings (``mem_...``), internal ids are integers; points and
money are integers (money in minor units, beside its currency); instants are UTC and come back
timezone-aware on every database (``UTCDateTime``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on SQLite (naive text) and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("refusing to store a naive datetime")
        value = value.astimezone(UTC)
        # SQLite compares datetimes as text: store them all naive in UTC so the text sorts.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# Shared column types.
PublicId = Annotated[str, mapped_column(String(40))]
Points = Annotated[int, mapped_column(BigInteger)]
MinorUnits = Annotated[int, mapped_column(BigInteger)]
Instant = Annotated[datetime, mapped_column(UTCDateTime())]
SerialId = BigInteger().with_variant(Integer(), "sqlite")  # SQLite autoincrements INTEGER only
JSONDocument = JSON().with_variant(JSONB(), "postgresql")

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dict[str, Any]: JSONDocument, list[Any]: JSONDocument}


class ProgramRow(Base):
    __tablename__ = "programs"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    currency: Mapped[str] = mapped_column(String(3))
    time_zone: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[Instant]


class ProgramVersionRow(Base):
    """A published program definition: immutable. The version in force at an instant is the
    highest one whose ``effective_from`` is not after it (version 1 has none: always)."""

    __tablename__ = "program_versions"

    program_id: Mapped[str] = mapped_column(ForeignKey("programs.id"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    document: Mapped[dict[str, Any]]
    published_at: Mapped[Instant]
    effective_from: Mapped[datetime | None] = mapped_column(UTCDateTime())
    published_by: Mapped[str] = mapped_column(String(128))


class ProgramDraftRow(Base):
    """The one draft of a program's next version, edited until it is published."""

    __tablename__ = "program_drafts"

    program_id: Mapped[str] = mapped_column(ForeignKey("programs.id"), primary_key=True)
    document: Mapped[dict[str, Any]]
    updated_at: Mapped[Instant]
    updated_by: Mapped[str] = mapped_column(String(128))


class MemberRow(Base):
    __tablename__ = "members"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'frozen', 'closed')", name="status"),
        Index("ix_members_program_id_enrolled_at", "program_id", "enrolled_at"),
        # the jobs page a program's members by id (keyset): a range of this index, in order
        Index("ix_members_program_id_id", "program_id", "id"),
    )

    id: Mapped[PublicId] = mapped_column(primary_key=True)
    program_id: Mapped[str] = mapped_column(ForeignKey("programs.id"))
    status: Mapped[str] = mapped_column(String(16))
    status_reason: Mapped[str | None] = mapped_column(Text)
    attributes: Mapped[dict[str, Any]]
    enrolled_at: Mapped[Instant]
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    merged_into: Mapped[str | None] = mapped_column(String(40))
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class MemberIdentityRow(Base):
    __tablename__ = "member_identities"
    __table_args__ = (UniqueConstraint("program_id", "kind", "value"),)

    id: Mapped[int] = mapped_column(SerialId, primary_key=True, autoincrement=True)
    program_id: Mapped[str] = mapped_column(ForeignKey("programs.id"))
    member_id: Mapped[PublicId] = mapped_column(ForeignKey("members.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(254))


class MemberBalanceRow(Base):
    """The summary row: a cache of the member's ledger, updated in the entry's transaction."""

    __tablename__ = "member_balances"

    member_id: Mapped[PublicId] = mapped_column(ForeignKey("members.id"), primary_key=True)
    program_id: Mapped[str] = mapped_column(ForeignKey("programs.id"), index=True)
    available: Mapped[Points] = mapped_column(default=0)
    pending: Mapped[Points] = mapped_column(default=0)
    lifetime_earned: Mapped[Points] = mapped_column(default=0)
    lifetime_redeemed: Mapped[Points] = mapped_column(default=0)
    lifetime_expired: Mapped[Points] = mapped_column(default=0)
    lifetime_reversed: Mapped[Points] = mapped_column(default=0)
    lifetime_adjusted: Mapped[Points] = mapped_column(default=0)
    # points reversed after they were spent, under the "allow a negative balance" policy:
    # available = what the lots hold - debt; later earnings pay it first
    debt: Mapped[Points] = mapped_column(default=0, server_default="0")
    updated_at: Mapped[Instant]
    # the latest earn or spend (business time): what the inactivity expiry policy counts from
    last_activity_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)


class PurchaseRow(Base):
    __tablename__ = "purchases"
    __table_args__ = (
        UniqueConstraint("program_id", "source", "external_id"),
        Index("ix_purchases_member_id_occurred_at", "member_id", "occurred_at"),
    )

    id: Mapped[PublicId] = mapped_column(primary_key=True)
    program_id: Mapped[str] = mapped_column(ForeignKey("programs.id"))
    member_id: Mapped[PublicId] = mapped_column(ForeignKey("members.id"))
    source: Mapped[str] = mapped_column(String(64))
    external_id: Mapped[str] = mapped_column(String(128))
    occurred_at: Mapped[Instant]
    recorded_at: Mapped[Instant]
    channel: Mapped[str] = mapped_column(String(32))
    store: Mapped[str | None] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(String(3))
    total: Mapped[MinorUnits]
    tax: Mapped[MinorUnits]
    discount: Mapped[MinorUnits]
    shipping: Mapped[MinorUnits]
    earn_base: Mapped[MinorUnits]
    points_earned: Mapped[Points]
    lines: Mapped[list[Any]]
    promo_codes: Mapped[list[Any] | None]
    paid_with_points: Mapped[MinorUnits] = mapped_column(default=0, server_default="0")
    paid_with_gift_cards: Mapped[MinorUnits] = mapped_column(default=0, server_default="0")
    points_burned: Mapped[Points] = mapped_column(default=0, server_default="0")


class EventRow(Base):
    """Something a member did that rules may reward (sign-up, review, birthday...)."""

    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("program_id", "external_id"),
        Index("ix_events_member_id_occurred_at", "member_id", "occurred_at"),
    )

    id: Mapped[PublicId] = mapped_column(primary_key=True)
    program_id: Mapped[str] = mapped_column(ForeignKey("programs.id"))
    member_id: Mapped[PublicId] = mapped_column(ForeignKey("members.id"))
    type: Mapped[str] = mapped_column(String(64))
    external_id: Mapped[str] = mapped_column(String(128))
    occurred_at: Mapped[Instant]
    recorded_at: Mapped[Instant]
    properties: Mapped[dict[str, Any]]
    points_earned: Mapped[Points]


class RuleAwardRow(Base):
    """Points a limited rule gave a member: what per-member caps and once-only rules count."""

    __tablename__ = "rule_awards"
    __table_args__ = (
        Index("ix_rule_awards_member_id_rule_id_occurred_at", "member_id", "rule_id",
              "occurred_at"),
    )

    id: Mapped[int] = mapped_column(SerialId, primary_key=True, autoincrement=True)
    program_id: Mapped[str] = mapped_column(ForeignKey("programs.id"))
    member_id: Mapped[PublicId] = mapped_column(ForeignKey("members.id"))
    rule_id: Mapped[str] = mapped_column(String(64))
    points: Mapped[Points]
    occurred_at: Mapped[Instant]
    entry_id: Mapped[int] = mapped_column(SerialId, ForeignKey("ledger_entries.id"))


class RuleBudgetRow(Base):
    """What a rule with a total budget has given so far, across all members."""

    __tablename__ = "rule_budgets"

    program_id: Mapped[str] = mapped_column(ForeignKey("programs.id"), primary_key=True)
    rule_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    spent: Mapped[Points] = mapped_column(default=0)


class LotRow(Base):
    """Points earned together, with their own expiry; ``remaining`` falls as they are spent."""

    __tablename__ = "lots"
    __table_args__ = (
        CheckConstraint("remaining >= 0 AND remaining <= points", name="remaining_within_points"),
        CheckConstraint("points > 0", name="points_positive"),
        CheckConstraint("status IN ('pending', 'available')", name="status"),
        # Covers the reads of a member's open lots (the balance read, a debit): migration 0010.
        Index("ix_lots_member_open", "member_id", "status", "remaining", "available_at",
              "expires_at"),
        Index("ix_lots_status_expires_at", "status", "expires_at"),
        Index("ix_lots_status_available_at", "status", "available_at"),
    )

    id: Mapped[int] = mapped_column(SerialId, primary_key=True, autoincrement=True)
    program_id: Mapped[str] = mapped_column(ForeignKey("programs.id"))
    member_id: Mapped[PublicId] = mapped_column(ForeignKey("members.id"))
    purchase_id: Mapped[str | None] = mapped_column(ForeignKey("purchases.id"))
    status: Mapped[str] = mapped_column(String(16))
    points: Mapped[Points]
    remaining: Mapped[Points]
    earned_at: Mapped[Instant]
    available_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class LedgerEntryRow(Base):
    """One append-only ledger entry. Rows are inserted, never updated or deleted."""

    __tablename__ = "ledger_entries"
    __table_args__ = (
        CheckConstraint("reason <> ''", name="reason_given"),
        CheckConstraint(
            "kind IN ('earn', 'pending_earn', 'release', 'redeem', 'reverse', 'expire', "
            "'adjust', 'transfer')",
            name="kind",
        ),
        Index("ix_ledger_entries_member_id_id", "member_id", "id"),
    )

    id: Mapped[int] = mapped_column(SerialId, primary_key=True, autoincrement=True)
    program_id: Mapped[str] = mapped_column(ForeignKey("programs.id"))
    member_id: Mapped[PublicId] = mapped_column(ForeignKey("members.id"))
    kind: Mapped[str] = mapped_column(String(16))
    points: Mapped[Points]
    available_delta: Mapped[Points]
    pending_delta: Mapped[Points]
    occurred_at: Mapped[Instant]
    recorded_at: Mapped[Instant]
    reason: Mapped[str] = mapped_column(Text)
    purchase_id: Mapped[str | None] = mapped_column(ForeignKey("purchases.id"), index=True)
    lot_id: Mapped[int | None] = mapped_column(SerialId, ForeignKey("lots.id"))
    external_ref: Mapped[str | None] = mapped_column(String(128))
    rule_id: Mapped[str | None] = mapped_column(String(64))
    rule_version: Mapped[int | None] = mapped_column(Integer)  # the program version
    rules: Mapped[list[Any] | None]  # the ids of the rules that gave points
    approved_by: Mapped[str | None] = mapped_column(String(128))  # maker-checker
    event_id: Mapped[str | None] = mapped_column(ForeignKey("events.id"))
    actor: Mapped[str | None] = mapped_column(String(128))
    explanation: Mapped[list[Any] | None]


class LotMovementRow(Base):
    """Points an entry took out of a lot (spending, expiry, reversal), or put back into it
    (negative: a cancelled redemption, burned points given back): lots re-derive from these."""

    __tablename__ = "lot_movements"
    __table_args__ = (CheckConstraint("points <> 0", name="points_not_zero"),)

    entry_id: Mapped[int] = mapped_column(
        SerialId, ForeignKey("ledger_entries.id"), primary_key=True
    )
    lot_id: Mapped[int] = mapped_column(SerialId, ForeignKey("lots.id"), primary_key=True)
    points: Mapped[Points]


Index("ix_lot_movements_lot_id", LotMovementRow.lot_id)


class IdempotencyRecordRow(Base):
    """The answer given to an idempotent write, stored in the write's own transaction."""

    __tablename__ = "idempotency_records"

    program_id: Mapped[str] = mapped_column(ForeignKey("programs.id"), primary_key=True)
    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    result: Mapped[dict[str, Any]]
    created_at: Mapped[Instant]


class ApiKeyRow(Base):
    """An API key: its public id, the hash of the whole key, its program and scopes."""

    __tablename__ = "api_keys"

    key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    program_id: Mapped[str | None] = mapped_column(ForeignKey("programs.id"), index=True)
    scopes: Mapped[list[Any]]
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[Instant]
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AuditRecordRow(Base):
    """One administrative or configuration action: append-only, like the ledger."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_program_id_id", "program_id", "id"),
        Index("ix_audit_log_member_id_id", "member_id", "id"),
        Index("ix_audit_log_actor_id", "actor", "id"),
    )

    id: Mapped[int] = mapped_column(SerialId, primary_key=True, autoincrement=True)
    at: Mapped[Instant]
    program_id: Mapped[str | None] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(128))  # key:<id>, member:<id>, cli:<name>
    acting_person: Mapped[str | None] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str] = mapped_column(String(32))
    target_id: Mapped[str] = mapped_column(String(128))
    member_id: Mapped[str | None] = mapped_column(String(40))
    before: Mapped[dict[str, Any] | None]
    after: Mapped[dict[str, Any] | None]


class InstanceSecretRow(Base):
    """Secrets this installation made for itself (the member-token signing key, unless
    ``LOYALTY_SECRET_KEY`` gives one), so that every worker process signs alike."""

    __tablename__ = "instance_secrets"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[Instant]


class QualifyingActivityRow(Base):
    """What counts toward tiers: spend, qualifying points and purchases, dated. Returns add
    negative rows. A tier window's measure is a sum over a range of ``occurred_at``."""

    __tablename__ = "qualifying_activity"
    __table_args__ = (
        Index("ix_qualifying_activity_member_id_occurred_at", "member_id", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(SerialId, primary_key=True, autoincrement=True)
    program_id: Mapped[str] = mapped_column(ForeignKey("programs.id"))
    member_id: Mapped[PublicId] = mapped_column(ForeignKey("members.id"))
    occurred_at: Mapped[Instant]
    spend: Mapped[MinorUnits]
    points: Mapped[Points]
    purchases: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(16))  # purchase, return, adjustment
    reference: Mapped[str | None] = mapped_column(String(64))


class MemberTierRow(Base):
    """A member's tier, the agent's floor, a scheduled drop, and the last period reviewed."""

    __tablename__ = "member_tiers"

    member_id: Mapped[PublicId] = mapped_column(ForeignKey("members.id"), primary_key=True)
    program_id: Mapped[str] = mapped_column(ForeignKey("programs.id"), index=True)
    tier: Mapped[str] = mapped_column(String(64))
    achieved_at: Mapped[Instant]
    manual_tier: Mapped[str | None] = mapped_column(String(64))
    manual_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    drop_to: Mapped[str | None] = mapped_column(String(64))
    drop_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reviewed_through: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[Instant]


class TierChangeRow(Base):
    """Every tier change: from, to, when, why. Append-only."""

    __tablename__ = "tier_changes"
    __table_args__ = (Index("ix_tier_changes_member_id_id", "member_id", "id"),)

    id: Mapped[int] = mapped_column(SerialId, primary_key=True, autoincrement=True)
    program_id: Mapped[str] = mapped_column(ForeignKey("programs.id"))
    member_id: Mapped[PublicId] = mapped_column(ForeignKey("members.id"))
    from_tier: Mapped[str | None] = mapped_column(String(64))
    to_tier: Mapped[str] = mapped_column(String(64))
    at: Mapped[Instant]
    reason: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str | None] = mapped_column(String(128))


class DomainEventRow(Base):
    """Business events (tier upgraded, tier will drop...), written in the transaction of the
    change: the outbox from which notifications are delivered."""

    __tablename__ = "domain_events"
    __table_args__ = (Index("ix_domain_events_delivered_at_id", "delivered_at", "id"),)

    id: Mapped[int] = mapped_column(SerialId, primary_key=True, autoincrement=True)
    program_id: Mapped[str] = mapped_column(ForeignKey("programs.id"))
    member_id: Mapped[str | None] = mapped_column(String(40), index=True)
    type: Mapped[str] = mapped_column(String(64))
    occurred_at: Mapped[Instant]
    recorded_at: Mapped[Instant]
    payload: Mapped[dict[str, Any]]
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class RewardStockRow(Base):
    """Units of a reward issued so far; the catalogue says how many there are."""

    __tablename__ = "reward_stock"

    program_id: Mapped[str] = mapped_column(ForeignKey("programs.id"), primary_key=True)
    reward_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    issued: Mapped[int] = mapped_column(Integer, default=0)


class RedemptionRow(Base):
    __tablename__ = "redemptions"
    __table_args__ = (
        UniqueConstraint("program_id", "external_id"),
        Index("ix_redemptions_member_id_reward_id_created_at", "member_id", "reward_id",
              "created_at"),
    )

    id: Mapped[PublicId] = mapped_column(primary_key=True)
    program_id: Mapped[str] = mapped_column(ForeignKey("programs.id"))
    member_id: Mapped[PublicId] = mapped_column(ForeignKey("members.id"))
    reward_id: Mapped[str] = mapped_column(String(64))
    reward_name: Mapped[str] = mapped_column(String(200))
    points: Mapped[Points]
    status: Mapped[str] = mapped_column(String(16))  # issued, cancelled
    external_id: Mapped[str] = mapped_column(String(128))
    entry_id: Mapped[int] = mapped_column(SerialId, ForeignKey("ledger_entries.id"))
    voucher_code: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[Instant]
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class VoucherRow(Base):
    __tablename__ = "vouchers"
    __table_args__ = (
        CheckConstraint("status IN ('valid', 'used', 'cancelled')", name="status"),
    )

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    program_id: Mapped[str] = mapped_column(ForeignKey("programs.id"))
    member_id: Mapped[PublicId] = mapped_column(ForeignKey("members.id"), index=True)
    redemption_id: Mapped[PublicId] = mapped_column(ForeignKey("redemptions.id"))
    reward_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    gives: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16))
    issued_at: Mapped[Instant]
    expires_at: Mapped[Instant]
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    used_reference: Mapped[str | None] = mapped_column(String(128))


class PurchaseReturnRow(Base):
    """A return (or the cancellation) of a purchase, with what it reversed."""

    __tablename__ = "purchase_returns"
    __table_args__ = (UniqueConstraint("program_id", "external_id"),)

    id: Mapped[PublicId] = mapped_column(primary_key=True)
    program_id: Mapped[str] = mapped_column(ForeignKey("programs.id"))
    purchase_id: Mapped[PublicId] = mapped_column(ForeignKey("purchases.id"), index=True)
    member_id: Mapped[PublicId] = mapped_column(ForeignKey("members.id"))
    external_id: Mapped[str] = mapped_column(String(128))
    occurred_at: Mapped[Instant]
    recorded_at: Mapped[Instant]
    lines: Mapped[dict[str, Any] | None]  # sku -> units returned
    amount: Mapped[MinorUnits]  # value refunded
    points_reversed: Mapped[Points]
    points_not_reversed: Mapped[Points] = mapped_column(default=0)
    points_given_back: Mapped[Points] = mapped_column(default=0)  # burned points returned


class AdjustmentRow(Base):
    """A goodwill or correcting adjustment: applied, or pending a supervisor's decision."""

    __tablename__ = "adjustments"
    __table_args__ = (
        UniqueConstraint("program_id", "external_id"),
        CheckConstraint("status IN ('applied', 'pending', 'rejected')", name="status"),
        Index("ix_adjustments_program_id_status", "program_id", "status"),
        Index("ix_adjustments_requested_by_created_at", "requested_by", "created_at"),
    )

    id: Mapped[PublicId] = mapped_column(primary_key=True)
    program_id: Mapped[str] = mapped_column(ForeignKey("programs.id"))
    member_id: Mapped[PublicId] = mapped_column(ForeignKey("members.id"), index=True)
    external_id: Mapped[str] = mapped_column(String(128))
    points: Mapped[Points]
    reason: Mapped[str] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    requested_by: Mapped[str] = mapped_column(String(128))
    requested_person: Mapped[str | None] = mapped_column(String(200))
    decided_by: Mapped[str | None] = mapped_column(String(128))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    entry_id: Mapped[int | None] = mapped_column(SerialId, ForeignKey("ledger_entries.id"))
    created_at: Mapped[Instant]


class TransferRow(Base):
    __tablename__ = "transfers"
    __table_args__ = (
        UniqueConstraint("program_id", "external_id"),
        Index("ix_transfers_from_member_created_at", "from_member", "created_at"),
    )

    id: Mapped[PublicId] = mapped_column(primary_key=True)
    program_id: Mapped[str] = mapped_column(ForeignKey("programs.id"))
    from_member: Mapped[PublicId] = mapped_column(ForeignKey("members.id"))
    to_member: Mapped[PublicId] = mapped_column(ForeignKey("members.id"))
    points: Mapped[Points]
    external_id: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[Instant]


# Engagement: surveys, referrals, notices and webhooks.


class FeedbackRow(Base):
    """A survey answer: NPS (0-10), CSAT (1-5) or CES (1-7). The comment is personal data that
    erasure blanks, so this table is not append-only."""

    __tablename__ = "feedback"
    __table_args__ = (
        UniqueConstraint("program_id", "external_id"),
        CheckConstraint("kind IN ('nps', 'csat', 'ces')", name="kind"),
        Index("ix_feedback_program_id_answered_at", "program_id", "answered_at"),
    )

    id: Mapped[PublicId] = mapped_column(primary_key=True)
    program_id: Mapped[str] = mapped_column(ForeignKey("programs.id"))
    member_id: Mapped[PublicId] = mapped_column(ForeignKey("members.id"), index=True)
    external_id: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(8))
    score: Mapped[int] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(String(32))
    comment: Mapped[str | None] = mapped_column(Text)
    purchase_id: Mapped[str | None] = mapped_column(String(40))
    answered_at: Mapped[Instant]
    recorded_at: Mapped[Instant]


class ReferralCodeRow(Base):
    """The member's own referral code, made at enrolment (or on first asking, for members who
    enrolled before referrals existed)."""

    __tablename__ = "referral_codes"
    __table_args__ = (UniqueConstraint("program_id", "code"),)

    member_id: Mapped[PublicId] = mapped_column(ForeignKey("members.id"), primary_key=True)
    program_id: Mapped[str] = mapped_column(ForeignKey("programs.id"))
    code: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[Instant]


class ReferralRow(Base):
    """A referee enrolled with a referrer's code. ``pending`` until the referee's first
    qualifying purchase, ``qualified`` until that purchase clears its return window,
    ``completed`` once both were rewarded, or ``rejected`` with the reason."""

    __tablename__ = "referrals"
    __table_args__ = (
        CheckConstraint(
            "status IN ('pending', 'qualified', 'completed', 'rejected')", name="status"
        ),
        Index("ix_referrals_program_id_status_clears_at", "program_id", "status", "clears_at"),
    )

    id: Mapped[PublicId] = mapped_column(primary_key=True)
    program_id: Mapped[str] = mapped_column(ForeignKey("programs.id"))
    referrer_id: Mapped[PublicId] = mapped_column(ForeignKey("members.id"), index=True)
    referee_id: Mapped[PublicId] = mapped_column(ForeignKey("members.id"), unique=True)
    code: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    referred_at: Mapped[Instant]
    purchase_id: Mapped[str | None] = mapped_column(String(40))
    clears_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class NoticeRow(Base):
    """A proactive notice found for a member, once per occasion (the unique key): the job can
    run any number of times."""

    __tablename__ = "notices"
    __table_args__ = (
        UniqueConstraint("program_id", "member_id", "kind", "occasion"),
        Index("ix_notices_program_id_created_at", "program_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(SerialId, primary_key=True, autoincrement=True)
    program_id: Mapped[str] = mapped_column(ForeignKey("programs.id"))
    member_id: Mapped[PublicId] = mapped_column(ForeignKey("members.id"))
    kind: Mapped[str] = mapped_column(String(32))
    occasion: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[Instant]
    payload: Mapped[dict[str, Any]]


class RewardWaitRow(Base):
    """A member who was refused a reward because it was out of stock, to be told when it is
    back."""

    __tablename__ = "reward_waits"

    program_id: Mapped[str] = mapped_column(ForeignKey("programs.id"), primary_key=True)
    reward_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    member_id: Mapped[PublicId] = mapped_column(ForeignKey("members.id"), primary_key=True)
    since: Mapped[Instant]


class WebhookEndpointRow(Base):
    """Where a program's events are sent, signed with the endpoint's secret."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[PublicId] = mapped_column(primary_key=True)
    program_id: Mapped[str] = mapped_column(ForeignKey("programs.id"), index=True)
    url: Mapped[str] = mapped_column(String(2048))
    secret: Mapped[str] = mapped_column(String(128))
    event_types: Mapped[list[Any]]  # empty: every type
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[Instant]
    # the newest domain event when the endpoint was made: it receives only later ones (which
    # events were fanned out is marked on each event, ``domain_events.delivered_at``)
    cursor: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class WebhookDeliveryRow(Base):
    """One event for one endpoint: ``pending`` (with its next attempt), ``delivered`` or
    ``dead`` after the last allowed failure. Delivered in event order per member."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("endpoint_id", "event_id"),
        CheckConstraint("status IN ('pending', 'delivered', 'dead')", name="status"),
        Index("ix_webhook_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_endpoint_id_member_id_event_id",
              "endpoint_id", "member_id", "event_id"),
    )

    id: Mapped[int] = mapped_column(SerialId, primary_key=True, autoincrement=True)
    endpoint_id: Mapped[str] = mapped_column(ForeignKey("webhook_endpoints.id"))
    event_id: Mapped[int] = mapped_column(ForeignKey("domain_events.id"))
    member_id: Mapped[str | None] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[Instant]
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
