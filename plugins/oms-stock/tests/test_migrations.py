"""The plugin's own Alembic revisions: exactly its tables, adopted, refused when behind."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from oms_stock._tables import MIGRATIONS
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from oms_sdk import OMS, DatabaseNotUpToDate
from oms_sdk.cli import app
from oms_sdk.store import PluginMigrations, Store, metadata

from .conftest import policy_text

POSTGRES = os.environ.get(
    "OMS_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'stock.sqlite3'}"
        return
    if os.environ.get("OMS_SKIP_POSTGRES") == "1":
        pytest.skip("OMS_SKIP_POSTGRES=1")
    admin = create_engine(POSTGRES)
    schema = f"oms_stock_{uuid.uuid4().hex[:12]}"
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(POSTGRES).update_query_dict({"options": f"-csearch_path={schema}"})
    yield url.render_as_string(hide_password=False)
    with admin.begin() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def policy(tmp_path: Path) -> Path:
    path = tmp_path / "eu.yaml"
    path.write_text(policy_text())
    return path


def revision(url: str, migrations: PluginMigrations = MIGRATIONS) -> str | None:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return migrations.revision(connection)
    finally:
        engine.dispose()


def differences(url: str) -> list[object]:
    """What autogenerate would change in the plugin's tables to match its metadata."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection,
                opts={
                    "version_table": MIGRATIONS.version_table,
                    "include_object": lambda _obj, name, type_, *_: (
                        name in MIGRATIONS.tables if type_ == "table" else True
                    ),
                    "compare_type": True,
                },
            )
            return list(compare_metadata(context, metadata))
    finally:
        engine.dispose()


def test_a_new_database_gets_the_plugins_tables_from_its_migrations(
    database_url: str, policy: Path
) -> None:
    OMS.open(policy, database_url).close()

    assert revision(database_url) == MIGRATIONS.head() == "stock_0001"
    assert differences(database_url) == []
    engine = create_engine(database_url)
    try:
        names = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert MIGRATIONS.tables | {"oms_stock_alembic_version"} <= names


def test_tables_made_before_the_plugin_shipped_migrations_are_adopted(
    database_url: str, policy: Path
) -> None:
    Store(database_url).close()  # no migrations given: create_all made the stock tables
    assert revision(database_url) is None

    OMS.open(policy, database_url).close()

    assert revision(database_url) == MIGRATIONS.head()
    assert differences(database_url) == []


def test_a_plugin_schema_behind_its_head_is_refused_until_oms_db_upgrade(
    database_url: str, policy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    OMS.open(policy, database_url).close()
    newer = tmp_path / "versions"
    shutil.copytree(MIGRATIONS.versions, newer, ignore=shutil.ignore_patterns("__pycache__"))
    (newer / "v0002_probe.py").write_text(
        '"""A probe column."""\n'
        "import sqlalchemy as sa\n"
        "from alembic import op\n\n"
        'revision = "stock_0002"\n'
        'down_revision = "stock_0001"\n'
        "branch_labels = None\n"
        "depends_on = None\n\n\n"
        "def upgrade() -> None:\n"
        '    op.create_table("oms_stock_probe", sa.Column("id", sa.Integer, primary_key=True))\n'
        "\n\n"
        "def downgrade() -> None:\n"
        '    op.drop_table("oms_stock_probe")\n'
    )
    upgraded = PluginMigrations("stock", newer, MIGRATIONS.tables)
    monkeypatch.setattr("oms_stock._tables.MIGRATIONS", upgraded)
    monkeypatch.setattr("oms_stock._hooks.MIGRATIONS", upgraded)

    with pytest.raises(DatabaseNotUpToDate, match="oms db upgrade") as refused:
        OMS.open(policy, database_url)
    assert "'stock_0001', not 'stock_0002'" in str(refused.value)

    result = CliRunner().invoke(app, ["db", "upgrade", str(policy), "--database", database_url])
    assert result.exit_code == 0, result.output
    assert "plugin stock: at stock_0002" in result.output
    assert revision(database_url, upgraded) == "stock_0002"
    OMS.open(policy, database_url).close()
