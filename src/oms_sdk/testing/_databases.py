"""Test databases: a private in-memory SQLite by default, or a fresh PostgreSQL schema.

Set ``OMS_TEST_DATABASE_URL`` (e.g. ``postgresql+psycopg://postgres@127.0.0.1:5432/test``) to
run the same tests against PostgreSQL: each call then creates its own schema, and every schema
made this way is dropped when the test process exits.
"""

from __future__ import annotations

import atexit
import os
import uuid

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

__all__ = ["fresh_database_url", "using_postgresql"]

_created: list[tuple[str, str]] = []


def using_postgresql() -> bool:
    """Whether ``OMS_TEST_DATABASE_URL`` points the tests at a server database."""
    return bool(os.environ.get("OMS_TEST_DATABASE_URL"))


def fresh_database_url() -> str:
    """An empty database for one test: ``sqlite://``, or a new schema on the test server."""
    base = os.environ.get("OMS_TEST_DATABASE_URL")
    if not base:
        return "sqlite://"
    schema = f"oms_test_{uuid.uuid4().hex[:16]}"
    engine = create_engine(base)
    try:
        with engine.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    finally:
        engine.dispose()
    _created.append((base, schema))
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


@atexit.register
def _drop_schemas() -> None:
    by_base: dict[str, list[str]] = {}
    for base, schema in _created:
        by_base.setdefault(base, []).append(schema)
    for base, schemas in by_base.items():
        engine = create_engine(base)
        try:
            for schema in schemas:  # one transaction each: dropping takes a lock per table
                with engine.begin() as connection:
                    connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        finally:
            engine.dispose()
