"""Alembic environment of the SDK's core tables.

The SDK's core revisions and every plugin's (``PluginMigrations``) run here. Driven from code
(``oms_sdk.store._migrate``), which passes an open connection in
``config.attributes["connection"]``; the migrations then run inside the caller's transaction.
Without one (``python -m oms_sdk.store.migrations revision --autogenerate``), it connects to the
``sqlalchemy.url`` option.
"""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import Connection, create_engine

from oms_sdk.store._migrate import CORE_TABLES, VERSION_TABLE, render_item
from oms_sdk.store._tables import metadata

config = context.config
#: A plugin's migrations run here too, with their own version table and tables.
version_table: str = config.attributes.get("version_table", VERSION_TABLE)
tables: frozenset[str] = config.attributes.get("tables", CORE_TABLES)


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Autogenerate sees only the tables of these migrations: not others', not the app's."""
    return name in tables if type_ == "table" else True


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=version_table,
        include_object=include_object,
        render_item=render_item,
        render_as_batch=True,  # SQLite cannot ALTER most things; batch mode copies the table
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=metadata,
        version_table=version_table,
        include_object=include_object,
        render_item=render_item,
        render_as_batch=True,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    shared: Any = config.attributes.get("connection")
    if isinstance(shared, Connection):
        _configure(shared)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no connection: set the sqlalchemy.url option or pass a connection")
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            _configure(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
