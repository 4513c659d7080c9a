"""Inactivity expiry: the last activity (earn or spend) of each member.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 03:07:46.400197
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("member_balances", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("last_activity_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.create_index(
            batch_op.f("ix_member_balances_last_activity_at"), ["last_activity_at"], unique=False
        )
    # Members already have a history: their last activity is their latest earn or spend.
    op.execute(
        "UPDATE member_balances SET last_activity_at = (SELECT max(e.occurred_at) "
        "FROM ledger_entries e WHERE e.member_id = member_balances.member_id "
        "AND e.kind IN ('earn', 'pending_earn', 'redeem'))"
    )


def downgrade() -> None:
    with op.batch_alter_table("member_balances", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_member_balances_last_activity_at"))
        batch_op.drop_column("last_activity_at")
