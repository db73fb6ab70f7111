"""Persistence: SQLAlchemy tables, the domain mapping, the unit of work and migrations."""

from ._migrate import (
    DatabaseNotUpToDate,
    PluginMigrations,
    current_revision,
    head_revision,
    upgrade,
)
from ._store import DEFAULT_DATABASE_URL, Store, create_store_engine
from ._tables import Timestamp, metadata

__all__ = [
    "DEFAULT_DATABASE_URL",
    "DatabaseNotUpToDate",
    "PluginMigrations",
    "Store",
    "Timestamp",
    "create_store_engine",
    "current_revision",
    "head_revision",
    "metadata",
    "upgrade",
]
