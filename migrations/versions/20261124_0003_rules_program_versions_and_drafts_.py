"""Rules: program versions and drafts, events, rule awards and budgets.

Each program's settings become its published version 1.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 02:52:39.725060
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _sqlite_append_only_triggers() -> None:
    """Batch mode rebuilds a SQLite table to change its constraints, and triggers die with the
    old table: put the ledger's append-only triggers back."""
    if op.get_bind().dialect.name != "sqlite":
        return
    for action in ("UPDATE", "DELETE"):
        op.execute(f"DROP TRIGGER IF EXISTS ledger_entries_no_{action.lower()}")
        op.execute(
            f"CREATE TRIGGER ledger_entries_no_{action.lower()} BEFORE {action} "
            "ON ledger_entries BEGIN SELECT RAISE(ABORT, 'ledger_entries is append-only'); END"
        )


def _settings_become_version_1() -> None:
    bind = op.get_bind()
    programs = sa.table(
        "programs",
        sa.column("id", sa.String),
        sa.column("settings", sa.JSON),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    versions = sa.table(
        "program_versions",
        sa.column("program_id", sa.String),
        sa.column("version", sa.Integer),
        sa.column("document", sa.JSON),
        sa.column("published_at", sa.DateTime(timezone=True)),
        sa.column("effective_from", sa.DateTime(timezone=True)),
        sa.column("published_by", sa.String),
    )
    rows = bind.execute(sa.select(programs.c.id, programs.c.settings, programs.c.created_at))
    for program_id, settings, created_at in rows.all():
        bind.execute(
            versions.insert().values(
                program_id=program_id,
                version=1,
                document={"settings": settings, "rules": []},
                published_at=created_at,
                effective_from=None,
                published_by="migration 0003",
            )
        )


def upgrade() -> None:
    op.create_table(
        "program_drafts",
        sa.Column("program_id", sa.String(length=64), nullable=False),
        sa.Column(
            "document",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(
            ["program_id"], ["programs.id"], name=op.f("fk_program_drafts_program_id_programs")
        ),
        sa.PrimaryKeyConstraint("program_id", name=op.f("pk_program_drafts")),
    )
    op.create_table(
        "program_versions",
        sa.Column("program_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "document",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("effective_from", sa.DateTime(timezone=True), nullable=True),
        sa.Column("published_by", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(
            ["program_id"], ["programs.id"], name=op.f("fk_program_versions_program_id_programs")
        ),
        sa.PrimaryKeyConstraint("program_id", "version", name=op.f("pk_program_versions")),
    )
    op.create_table(
        "rule_budgets",
        sa.Column("program_id", sa.String(length=64), nullable=False),
        sa.Column("rule_id", sa.String(length=64), nullable=False),
        sa.Column("spent", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["program_id"], ["programs.id"], name=op.f("fk_rule_budgets_program_id_programs")
        ),
        sa.PrimaryKeyConstraint("program_id", "rule_id", name=op.f("pk_rule_budgets")),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("program_id", sa.String(length=64), nullable=False),
        sa.Column("member_id", sa.String(length=40), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("external_id", sa.String(length=128), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "properties",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("points_earned", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_events_member_id_members")
        ),
        sa.ForeignKeyConstraint(
            ["program_id"], ["programs.id"], name=op.f("fk_events_program_id_programs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
        sa.UniqueConstraint(
            "program_id", "external_id", name=op.f("uq_events_program_id_external_id")
        ),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_events_member_id_occurred_at", ["member_id", "occurred_at"], unique=False
        )

    op.create_table(
        "rule_awards",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("program_id", sa.String(length=64), nullable=False),
        sa.Column("member_id", sa.String(length=40), nullable=False),
        sa.Column("rule_id", sa.String(length=64), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("entry_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["ledger_entries.id"], name=op.f("fk_rule_awards_entry_id_ledger_entries")
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_rule_awards_member_id_members")
        ),
        sa.ForeignKeyConstraint(
            ["program_id"], ["programs.id"], name=op.f("fk_rule_awards_program_id_programs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rule_awards")),
    )
    with op.batch_alter_table("rule_awards", schema=None) as batch_op:
        batch_op.create_index(
            "ix_rule_awards_member_id_rule_id_occurred_at",
            ["member_id", "rule_id", "occurred_at"],
            unique=False,
        )

    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "rules",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=True,
            )
        )
        batch_op.add_column(sa.Column("event_id", sa.String(length=40), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_ledger_entries_event_id_events"), "events", ["event_id"], ["id"]
        )

    with op.batch_alter_table("purchases", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "promo_codes",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=True,
            )
        )
        batch_op.add_column(
            sa.Column("paid_with_points", sa.BigInteger(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("paid_with_gift_cards", sa.BigInteger(), server_default="0", nullable=False)
        )

    _sqlite_append_only_triggers()
    _settings_become_version_1()
    with op.batch_alter_table("programs", schema=None) as batch_op:
        batch_op.drop_column("settings")


def downgrade() -> None:
    with op.batch_alter_table("purchases", schema=None) as batch_op:
        batch_op.drop_column("paid_with_gift_cards")
        batch_op.drop_column("paid_with_points")
        batch_op.drop_column("promo_codes")
    with op.batch_alter_table("programs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("settings", sa.JSON(), nullable=True))
    bind = op.get_bind()
    latest = bind.execute(
        sa.text(
            "SELECT program_id, document FROM program_versions v WHERE version = "
            "(SELECT max(version) FROM program_versions w WHERE w.program_id = v.program_id)"
        )
    ).all()
    for program_id, document in latest:
        if isinstance(document, str):
            import json

            document = json.loads(document)
        bind.execute(
            sa.text("UPDATE programs SET settings = :settings WHERE id = :id").bindparams(
                sa.bindparam("settings", type_=sa.JSON)
            ),
            {"settings": document.get("settings", {}), "id": program_id},
        )

    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_ledger_entries_event_id_events"), type_="foreignkey"
        )
        batch_op.drop_column("event_id")
        batch_op.drop_column("rules")
    _sqlite_append_only_triggers()

    with op.batch_alter_table("rule_awards", schema=None) as batch_op:
        batch_op.drop_index("ix_rule_awards_member_id_rule_id_occurred_at")

    op.drop_table("rule_awards")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_member_id_occurred_at")

    op.drop_table("events")
    op.drop_table("rule_budgets")
    op.drop_table("program_versions")
    op.drop_table("program_drafts")
