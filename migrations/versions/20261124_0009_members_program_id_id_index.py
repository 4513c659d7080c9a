"""Members: an index on (program_id, id), for the jobs that page a program's members by id

The tier review (and the birthday job) read a program's members a page at a time, ``program_id
= ? AND id > ? ORDER BY id``. With only (program_id, enrolled_at) to go by, SQLite read and
sorted every member of the program for each page: the tier review over 100,000 members spent
about 60 s paging. On (program_id, id) each page is a range of the index, already in order.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-24 10:40:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.create_index("ix_members_program_id_id", ["program_id", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.drop_index("ix_members_program_id_id")
