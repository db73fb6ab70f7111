"""Schema migrations of the SDK's own tables, with Alembic, driven from code.

The Alembic environment ships in the package (``oms_sdk/store/migrations``); there is no
``alembic.ini``. The SDK keeps its own version table, ``oms_alembic_version``, so it can share a
database with an application that uses Alembic for its own tables.

- A brand-new database (none of the SDK's core tables yet) is migrated to head by ``Store``, so
  ``OMS.open`` needs no set-up.
- A database behind head is refused by ``Store`` with :class:`DatabaseNotUpToDate`; run
  ``oms db upgrade --database URL`` (or :func:`upgrade`) when you deploy a new SDK version.
- A database created before migrations existed (core tables, no version table) is adopted by
  :func:`upgrade`: stamped at the initial revision, which is exactly that schema, then upgraded.

Plugins that add tables to the shared ``metadata`` ship their own revisions
(:class:`PluginMigrations`, returned by the ``oms_migrations`` hook), run through the same
environment with their own version table, ``oms_<plugin>_alembic_version``, after the SDK's.
A plugin table that no migrations own is created with ``create_all`` (:func:`plugin_tables`).
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import (
    Column,
    Connection,
    Engine,
    PrimaryKeyConstraint,
    String,
    Table,
    inspect,
    text,
)
from sqlalchemy.engine import URL

from ..errors import DatabaseNotUpToDate
from ._tables import Timestamp, metadata

__all__ = [
    "BASELINE_REVISION",
    "BASELINE_TABLES",
    "CORE_TABLES",
    "MIGRATIONS_DIR",
    "VERSION_TABLE",
    "DatabaseNotUpToDate",
    "PluginMigrations",
    "current_revision",
    "head_revision",
    "plugin_tables",
    "prepare_schema",
    "upgrade",
    "version_table",
]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "oms_alembic_version"
#: The first revision: the schema ``metadata.create_all`` made before migrations existed.
BASELINE_REVISION = "0001"
#: The tables the SDK's migrations own. A table added to ``_tables.py`` needs a revision and a
#: place here (a test checks both).
CORE_TABLES = frozenset(
    {
        "oms_orders",
        "oms_line_items",
        "oms_payment_transactions",
        "oms_shipments",
        "oms_shipment_lines",
        "oms_order_history",
        "oms_gift_cards",
        "oms_promotion_usage",
        "oms_order_numbers",
        "oms_idempotency_keys",
        "oms_outbox",
        "oms_outbox_deliveries",
    }
)
#: The core tables of :data:`BASELINE_REVISION`: what a database made before migrations holds.
BASELINE_TABLES = CORE_TABLES - {"oms_outbox", "oms_outbox_deliveries"}
#: Alembic's version table, declared on ``metadata`` too so that ``metadata.tables`` names every
#: table the SDK puts in a database (and ``metadata.drop_all`` removes them all). Alembic creates
#: and writes it; this declaration matches Alembic's own (``version_num``, ``<table>_pkc``).
version_table = Table(
    VERSION_TABLE,
    metadata,
    Column("version_num", String(32), nullable=False),
    PrimaryKeyConstraint("version_num", name=f"{VERSION_TABLE}_pkc"),
)
# Any constant: serializes schema changes of concurrent processes on PostgreSQL.
_PG_LOCK_KEY = 0x6F6D735F616C656D  # "oms_alem"


@dataclass(frozen=True)
class PluginMigrations:
    """A plugin's own Alembic revisions: a folder of revision files and the tables they own.

    They run after the SDK's, in the same transaction, and record their revision in
    ``oms_<name>_alembic_version``, so plugins and the SDK release schema changes apart.
    """

    name: str
    versions: Path
    tables: frozenset[str]

    def __post_init__(self) -> None:
        # Declared on ``metadata`` like the SDK's own, so ``metadata.tables`` names every table.
        if self.version_table not in metadata.tables:
            Table(
                self.version_table,
                metadata,
                Column("version_num", String(32), nullable=False),
                PrimaryKeyConstraint("version_num", name=f"{self.version_table}_pkc"),
            )

    @property
    def version_table(self) -> str:
        return f"oms_{self.name}_alembic_version"

    def config(self, connection: Connection | None = None, url: str | None = None) -> Config:
        config = _config(connection, url)
        config.set_main_option("path_separator", "os")
        config.set_main_option("version_locations", str(self.versions))
        config.attributes["version_table"] = self.version_table
        config.attributes["tables"] = self.tables
        return config

    def head(self) -> str:
        script = ScriptDirectory.from_config(self.config())
        head = script.get_current_head()
        assert head is not None, f"plugin {self.name} ships no revision"
        return head

    def base(self) -> str:
        base = ScriptDirectory.from_config(self.config()).get_base()
        assert base is not None
        return base

    def revision(self, connection: Connection) -> str | None:
        opts = {"version_table": self.version_table}
        return MigrationContext.configure(connection, opts=opts).get_current_revision()

    def present(self, connection: Connection) -> frozenset[str]:
        return self.tables & set(inspect(connection).get_table_names())

    def migrate(self, connection: Connection) -> str:
        """To head. Tables made by ``create_all`` before the plugin shipped migrations (all
        present, no version table) are adopted: stamped at its first revision, then upgraded."""
        if self.revision(connection) is None:
            present = self.present(connection)
            if present == self.tables:
                command.stamp(self.config(connection), self.base())
            elif present:
                missing = ", ".join(sorted(self.tables - present))
                raise DatabaseNotUpToDate(
                    f"{_display(connection.engine.url)} has some tables of plugin {self.name} "
                    f"but not all (missing: {missing}); refusing to guess their schema"
                )
        try:
            command.upgrade(self.config(connection), "head")
        except CommandError as exc:
            raise DatabaseNotUpToDate(
                f"cannot upgrade the tables of plugin {self.name} in "
                f"{_display(connection.engine.url)}: {exc} (migrated by a newer version?)"
            ) from exc
        reached = self.revision(connection)
        assert reached is not None
        return reached


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | Literal[False]:
    """Autogenerate writes ``Timestamp`` as the plain type it renders as (no live import)."""
    if type_ == "type" and isinstance(obj, Timestamp):
        return "sa.DateTime(timezone=True)"
    return False


def plugin_tables(migrations: Sequence[PluginMigrations] = ()) -> list[Table]:
    """Tables on ``metadata`` that no migrations own: added by plugins without revisions."""
    owned = set(CORE_TABLES).union(*(m.tables for m in migrations))
    return [
        table
        for table in metadata.sorted_tables
        if table.name not in owned and not table.name.endswith("alembic_version")
    ]


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Autogenerate sees only the SDK's core tables: not plugins', not the application's."""
    if type_ == "table":
        return name in CORE_TABLES
    return True


def _config(connection: Connection | None = None, url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("file_template", "v%%(rev)s_%%(slug)s")
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@lru_cache(maxsize=4)
def _script(directory: Path) -> ScriptDirectory:
    config = Config()
    config.set_main_option("script_location", str(directory))
    return ScriptDirectory.from_config(config)


def head_revision() -> str:
    """The revision this version of the SDK expects the database at."""
    head = _script(MIGRATIONS_DIR).get_current_head()
    assert head is not None, "the SDK ships at least one revision"
    return head


def _engine(engine_or_url: Engine | str | URL) -> tuple[Engine, bool]:
    if isinstance(engine_or_url, Engine):
        return engine_or_url, False
    from ._store import create_store_engine  # the store's engine, with its SQLite set-up

    return create_store_engine(engine_or_url), True


@contextmanager
def _connected(engine_or_url: Engine | str | URL) -> Iterator[Connection]:
    """A transaction, holding the schema lock on PostgreSQL."""
    engine, owned = _engine(engine_or_url)
    try:
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                lock = text("SELECT pg_advisory_xact_lock(:key)")
                connection.execute(lock, {"key": _PG_LOCK_KEY})
            yield connection
    finally:
        if owned:
            engine.dispose()


def _revision(connection: Connection) -> str | None:
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


def current_revision(engine_or_url: Engine | str | URL) -> str | None:
    """The database's SDK revision; ``None`` if it has none (new, or made before migrations)."""
    with _connected(engine_or_url) as connection:
        return _revision(connection)


def _core_tables_present(connection: Connection) -> frozenset[str]:
    return CORE_TABLES & set(inspect(connection).get_table_names())


def _display(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def upgrade(
    engine_or_url: Engine | str | URL,
    revision: str = "head",
    *,
    plugins: Sequence[PluginMigrations] = (),
) -> str:
    """Migrate the SDK's tables to ``revision`` (head), then the ``plugins``' tables to
    their heads; return the SDK revision reached.

    Idempotent. A database that has the core tables but no version table (made before the SDK
    shipped migrations) is first stamped at the initial revision.
    """
    with _connected(engine_or_url) as connection:
        config = _config(connection)
        if _revision(connection) is None:
            present = _core_tables_present(connection)
            if present == BASELINE_TABLES:
                command.stamp(config, BASELINE_REVISION)
            elif present:
                missing = ", ".join(sorted(BASELINE_TABLES - present))
                raise DatabaseNotUpToDate(
                    f"{_display(connection.engine.url)} has some oms-sdk tables but not all "
                    f"(missing: {missing}) and no {VERSION_TABLE} table; refusing to guess "
                    "its schema"
                )
        try:
            command.upgrade(config, revision)
        except CommandError as exc:
            raise DatabaseNotUpToDate(
                f"cannot upgrade {_display(connection.engine.url)}: {exc} "
                "(was it migrated by a newer oms-sdk?)"
            ) from exc
        reached = _revision(connection)
        for migrations in plugins:
            migrations.migrate(connection)
    assert reached is not None
    return reached


def prepare_schema(engine: Engine, plugins: Sequence[PluginMigrations] = ()) -> None:
    """What ``Store`` does on open, in one transaction holding the schema lock.

    Migrates a new database to head and refuses one that is not at head. Then the same for
    each plugin's migrations (a plugin's tables made before it shipped migrations are
    adopted), and creates the missing tables that no migrations own (:func:`plugin_tables`).
    """
    head = head_revision()
    with _connected(engine) as connection:
        current = _revision(connection)
        if current != head:
            url = _display(engine.url)
            fix = f"run `oms db upgrade --database {url}`"
            if current is not None:
                known = {script.revision for script in _script(MIGRATIONS_DIR).walk_revisions()}
                if current not in known:
                    raise DatabaseNotUpToDate(
                        f"{url} is at oms-sdk schema revision {current!r}, which this oms-sdk "
                        f"does not know (head {head!r}): it was migrated by a newer oms-sdk; "
                        "upgrade the package"
                    )
                raise DatabaseNotUpToDate(
                    f"{url} is at oms-sdk schema revision {current!r}, behind {head!r}: {fix}"
                )
            if _core_tables_present(connection):
                raise DatabaseNotUpToDate(
                    f"{url} has oms-sdk tables but no {VERSION_TABLE} table (made before the "
                    f"SDK shipped migrations): {fix} to adopt it"
                )
            command.upgrade(_config(connection), "head")
        for migrations in plugins:
            current = migrations.revision(connection)
            if current == migrations.head():
                continue
            if current is not None:
                raise DatabaseNotUpToDate(
                    f"{_display(engine.url)}: the tables of plugin {migrations.name} are at "
                    f"revision {current!r}, not {migrations.head()!r}: run `oms db upgrade "
                    f"POLICY_FILES --database {_display(engine.url)}`"
                )
            migrations.migrate(connection)  # new tables, or adopted ones
        added = plugin_tables(plugins)
        if added:
            metadata.create_all(connection, tables=added, checkfirst=True)


def _main(argv: Sequence[str] | None = None) -> None:
    """Developer tool: ``python -m oms_sdk.store.migrations revision -m MSG [--autogenerate]``."""
    parser = argparse.ArgumentParser(prog="python -m oms_sdk.store.migrations")
    sub = parser.add_subparsers(dest="command", required=True)
    revision = sub.add_parser("revision", help="write a new revision file")
    revision.add_argument("-m", "--message", required=True)
    revision.add_argument("--autogenerate", action="store_true")
    revision.add_argument("--rev-id")
    revision.add_argument(
        "--database", default="sqlite://", help="a database at head, to diff the metadata against"
    )
    args = parser.parse_args(argv)
    if args.autogenerate and args.database == "sqlite://":
        parser.error("--autogenerate needs --database pointing at a database upgraded to head")
    command.revision(
        _config(url=args.database),
        message=args.message,
        autogenerate=args.autogenerate,
        rev_id=args.rev_id,
    )
