"""Rewards: stock, redemptions, vouchers; purchase returns; points burned; debt.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24 03:27:11.222447
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _movements_check(new: str, old: str, condition: str) -> None:
    """Lot movements may now be negative (points put back into a lot)."""
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint(op.f(f"ck_lot_movements_{old}"), "lot_movements", type_="check")
        op.create_check_constraint(op.f(f"ck_lot_movements_{new}"), "lot_movements", condition)
        return
    # SQLite cannot alter a constraint: batch mode rebuilds the table, then its triggers.
    with op.batch_alter_table("lot_movements", recreate="always") as batch_op:
        batch_op.drop_constraint(op.f(f"ck_lot_movements_{old}"), type_="check")
        batch_op.create_check_constraint(op.f(f"ck_lot_movements_{new}"), condition)
    for action in ("UPDATE", "DELETE"):
        op.execute(f"DROP TRIGGER IF EXISTS lot_movements_no_{action.lower()}")
        op.execute(
            f"CREATE TRIGGER lot_movements_no_{action.lower()} BEFORE {action} ON "
            "lot_movements BEGIN SELECT RAISE(ABORT, 'lot_movements is append-only'); END"
        )


def upgrade() -> None:
    op.create_table(
        "reward_stock",
        sa.Column("program_id", sa.String(length=64), nullable=False),
        sa.Column("reward_id", sa.String(length=64), nullable=False),
        sa.Column("issued", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["program_id"], ["programs.id"], name=op.f("fk_reward_stock_program_id_programs")
        ),
        sa.PrimaryKeyConstraint("program_id", "reward_id", name=op.f("pk_reward_stock")),
    )
    op.create_table(
        "purchase_returns",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("program_id", sa.String(length=64), nullable=False),
        sa.Column("purchase_id", sa.String(length=40), nullable=False),
        sa.Column("member_id", sa.String(length=40), nullable=False),
        sa.Column("external_id", sa.String(length=128), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "lines",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("points_reversed", sa.BigInteger(), nullable=False),
        sa.Column("points_not_reversed", sa.BigInteger(), nullable=False),
        sa.Column("points_given_back", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_purchase_returns_member_id_members")
        ),
        sa.ForeignKeyConstraint(
            ["program_id"], ["programs.id"], name=op.f("fk_purchase_returns_program_id_programs")
        ),
        sa.ForeignKeyConstraint(
            ["purchase_id"],
            ["purchases.id"],
            name=op.f("fk_purchase_returns_purchase_id_purchases"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_purchase_returns")),
        sa.UniqueConstraint(
            "program_id", "external_id", name=op.f("uq_purchase_returns_program_id_external_id")
        ),
    )
    with op.batch_alter_table("purchase_returns", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_purchase_returns_purchase_id"), ["purchase_id"], unique=False
        )

    op.create_table(
        "redemptions",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("program_id", sa.String(length=64), nullable=False),
        sa.Column("member_id", sa.String(length=40), nullable=False),
        sa.Column("reward_id", sa.String(length=64), nullable=False),
        sa.Column("reward_name", sa.String(length=200), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("external_id", sa.String(length=128), nullable=False),
        sa.Column("entry_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("voucher_code", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["ledger_entries.id"], name=op.f("fk_redemptions_entry_id_ledger_entries")
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_redemptions_member_id_members")
        ),
        sa.ForeignKeyConstraint(
            ["program_id"], ["programs.id"], name=op.f("fk_redemptions_program_id_programs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_redemptions")),
        sa.UniqueConstraint(
            "program_id", "external_id", name=op.f("uq_redemptions_program_id_external_id")
        ),
    )
    with op.batch_alter_table("redemptions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_redemptions_member_id_reward_id_created_at",
            ["member_id", "reward_id", "created_at"],
            unique=False,
        )

    op.create_table(
        "vouchers",
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("program_id", sa.String(length=64), nullable=False),
        sa.Column("member_id", sa.String(length=40), nullable=False),
        sa.Column("redemption_id", sa.String(length=40), nullable=False),
        sa.Column("reward_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column(
            "gives",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("used_reference", sa.String(length=128), nullable=True),
        sa.CheckConstraint(
            "status IN ('valid', 'used', 'cancelled')", name=op.f("ck_vouchers_status")
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_vouchers_member_id_members")
        ),
        sa.ForeignKeyConstraint(
            ["program_id"], ["programs.id"], name=op.f("fk_vouchers_program_id_programs")
        ),
        sa.ForeignKeyConstraint(
            ["redemption_id"],
            ["redemptions.id"],
            name=op.f("fk_vouchers_redemption_id_redemptions"),
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_vouchers")),
    )
    with op.batch_alter_table("vouchers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_vouchers_member_id"), ["member_id"], unique=False)

    with op.batch_alter_table("member_balances", schema=None) as batch_op:
        batch_op.add_column(sa.Column("debt", sa.BigInteger(), server_default="0", nullable=False))

    with op.batch_alter_table("purchases", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("points_burned", sa.BigInteger(), server_default="0", nullable=False)
        )
    _movements_check("points_not_zero", "points_positive", "points <> 0")


def downgrade() -> None:
    _movements_check("points_positive", "points_not_zero", "points > 0")
    with op.batch_alter_table("purchases", schema=None) as batch_op:
        batch_op.drop_column("points_burned")

    with op.batch_alter_table("member_balances", schema=None) as batch_op:
        batch_op.drop_column("debt")

    with op.batch_alter_table("vouchers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_vouchers_member_id"))

    op.drop_table("vouchers")
    with op.batch_alter_table("redemptions", schema=None) as batch_op:
        batch_op.drop_index("ix_redemptions_member_id_reward_id_created_at")

    op.drop_table("redemptions")
    with op.batch_alter_table("purchase_returns", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_purchase_returns_purchase_id"))

    op.drop_table("purchase_returns")
    op.drop_table("reward_stock")
