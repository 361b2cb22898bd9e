"""Apply Alembic migrations from code (the CLI and the test session both use this)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
# Made by migrations outside the ORM (``migrations/full_text.py``): SQLite's full-text tables (and
# their shadow tables), and PostgreSQL's GIN indexes on an expression, which the models cannot state.
UNMODELLED_TABLE_PREFIXES = ("transcripts_fts", "cases_fts")
# The case search's caller-tail index is an expression index written per dialect (0007).
UNMODELLED_INDEXES = frozenset({"ix_transcripts_search", "ix_cases_search", "ix_cases_caller_tail"})


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Autogenerate's filter: leave the unmodelled full-text objects alone."""
    if name is None:
        return True
    if type_ == "table":
        return not name.startswith(UNMODELLED_TABLE_PREFIXES)
    return not (type_ == "index" and name in UNMODELLED_INDEXES)


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(url), revision)


def revision(url: str, message: str) -> None:
    command.revision(alembic_config(url), message=message, autogenerate=True)
