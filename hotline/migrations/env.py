"""Alembic environment: the URL comes from the platform settings (or the caller's config)."""

from alembic import context
from sqlalchemy import engine_from_config, pool

from hotline.migrate import include_name
from hotline.models import Base

config = context.config


def run() -> None:
    connectable = config.attributes.get("connection")
    if connectable is not None:
        context.configure(
            connection=connectable,
            target_metadata=Base.metadata,
            render_as_batch=True,
            include_name=include_name,
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = engine_from_config(
        config.get_section(config.config_ini_section) or {}, prefix="sqlalchemy.", poolclass=pool.NullPool
    )
    with engine.connect() as connection:
        # render_as_batch lets ALTER TABLE migrations work on SQLite too.
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=True,
            include_name=include_name,
        )
        with context.begin_transaction():
            context.run_migrations()


run()
