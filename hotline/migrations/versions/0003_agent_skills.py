"""agent skills (which queues an agent answers, at which penalty); the agent's call outcome

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "agent_skills",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("queue", sa.String(length=40), nullable=False),
        sa.Column("penalty", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_agent_skills_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "queue", name=op.f("pk_agent_skills")),
    )
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.add_column(sa.Column("outcome", sa.String(length=32), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("outcome_note", sa.Text(), nullable=False, server_default=""))
    # Extensions were free text before seats were dialled by them; now one extension, one user.
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.create_index("ix_users_extension", ["extension"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.drop_column("outcome_note")
        batch_op.drop_column("outcome")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index("ix_users_extension")
    op.drop_table("agent_skills")
