"""Persistence: SQLAlchemy tables, the domain mapping and the unit of work."""

from ._store import DEFAULT_DATABASE_URL, Store
from ._tables import Timestamp, metadata

__all__ = ["DEFAULT_DATABASE_URL", "Store", "Timestamp", "metadata"]
