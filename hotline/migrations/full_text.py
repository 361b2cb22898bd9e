"""Full-text indexes over a table's ``search_text`` column, outside the ORM models.

The text is already cut into tokens (``hotline.text_tokens``: CJK characters spaced apart), so
neither database needs a segmenter: SQLite gets an FTS5 external-content table kept in step by
triggers, PostgreSQL a GIN index on ``to_tsvector('simple', search_text)``.
"""

from __future__ import annotations

from alembic import op


def create(table: str) -> None:
    fts = f"{table}_fts"
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            f"CREATE VIRTUAL TABLE {fts} USING fts5("
            f"search_text, content='{table}', content_rowid='id', tokenize='unicode61')"
        )
        op.execute(
            f"CREATE TRIGGER {fts}_insert AFTER INSERT ON {table} BEGIN "
            f"INSERT INTO {fts}(rowid, search_text) VALUES (new.id, new.search_text); END"
        )
        op.execute(
            f"CREATE TRIGGER {fts}_delete AFTER DELETE ON {table} BEGIN "
            f"INSERT INTO {fts}({fts}, rowid, search_text) VALUES ('delete', old.id, old.search_text); END"
        )
        # Only when the text changed: a case's status moves often, its words rarely.
        op.execute(
            f"CREATE TRIGGER {fts}_update AFTER UPDATE OF search_text ON {table} BEGIN "
            f"INSERT INTO {fts}({fts}, rowid, search_text) VALUES ('delete', old.id, old.search_text); "
            f"INSERT INTO {fts}(rowid, search_text) VALUES (new.id, new.search_text); END"
        )
    else:
        op.execute(
            f"CREATE INDEX ix_{table}_search ON {table} USING gin (to_tsvector('simple', search_text))"
        )


def drop(table: str) -> None:
    fts = f"{table}_fts"
    if op.get_bind().dialect.name == "sqlite":
        for trigger in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS {fts}_{trigger}")
        op.execute(f"DROP TABLE IF EXISTS {fts}")
    else:
        op.execute(f"DROP INDEX IF EXISTS ix_{table}_search")
