"""indexes for the case search: status, department and category each walked newest first, and
the caller number's last four digits

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-21 18:00:00

``case_bridge.search`` reads a page through the narrowest filter given; these let it walk that
filter's cases in time order and stop at a page, instead of sorting every match (a status such
as "closed" holds half a year of cases). The caller's last digits (尾号) get an expression index
of the number's last four characters, which both databases can use for ``= '5678'``; it is
dialect-specific, so it is made here and kept out of the models (``hotline.migrate``).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (name, columns): each filter the list narrows by, then the list's order.
WALKS = (
    ("ix_cases_status_created", ["status", "created_at"]),
    ("ix_cases_department_created", ["department_id", "created_at"]),
    ("ix_cases_category_created", ["category_id", "created_at"]),
    # Counted, not walked: a department's cases of a category (ix_cases_department_status
    # already does this for a department's cases of a status).
    ("ix_cases_department_category", ["department_id", "category_id"]),
)


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        for name, columns in WALKS:
            batch_op.create_index(name, columns, unique=False)
    # The expression must be written as case_bridge.search._caller_tail writes it.
    if op.get_bind().dialect.name == "sqlite":
        op.execute("CREATE INDEX ix_cases_caller_tail ON cases (substr(caller_number, -4), created_at)")
    else:
        op.execute("CREATE INDEX ix_cases_caller_tail ON cases (right(caller_number, 4), created_at)")


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_cases_caller_tail")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        for name, _columns in reversed(WALKS):
            batch_op.drop_index(name)
