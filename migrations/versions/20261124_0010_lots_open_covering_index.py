"""Lots: the member's index covers what reads of its open lots need

The balance read (the API's most frequent call) and a debit read a member's open lots: their
status, remaining points, release and expiry dates. On (member_id, status) each lot was then
looked up in the table, a page of its own, since a member's lots are scattered through it;
with those columns in the index, a member's lots are read from one leaf. On a database where
each member had about 1.4 open lots, the balance read took about 57 µs in process instead of
64. The index replaces (member_id, status), whose queries it serves as well.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-24 23:45:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = ["member_id", "status", "remaining", "available_at", "expires_at"]


def upgrade() -> None:
    with op.batch_alter_table("lots", schema=None) as batch_op:
        batch_op.create_index("ix_lots_member_open", _COLUMNS, unique=False)
        batch_op.drop_index("ix_lots_member_id_status")


def downgrade() -> None:
    with op.batch_alter_table("lots", schema=None) as batch_op:
        batch_op.create_index("ix_lots_member_id_status", ["member_id", "status"], unique=False)
        batch_op.drop_index("ix_lots_member_open")
