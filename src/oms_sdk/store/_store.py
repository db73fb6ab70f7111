"""Engine, unit of work and the queries the facade needs.

SQLite is the embedded default: a file in WAL mode, every write transaction opened with
``BEGIN IMMEDIATE`` so that two processes serialize at the start of a command instead of failing
at its commit. ``sqlite://`` (no path) is a private in-memory database for tests.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, create_engine, event, insert, or_, select, update
from sqlalchemy.engine import URL, CursorResult, make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from ..errors import OrderNotFound
from ..orders import GiftCard, HistoryEntry, Order
from ._migrate import prepare_schema
from ._tables import (
    history,
    idempotency_keys,
    map_domain,
    order_numbers,
    orders,
    promotion_usage,
)

__all__ = ["DEFAULT_DATABASE_URL", "Store", "create_store_engine"]

DEFAULT_DATABASE_URL = "sqlite:///oms.sqlite3"


def _sqlite_setup(engine: Engine, *, file_backed: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        if file_backed:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def create_store_engine(url: str | URL | None = None, *, echo: bool = False) -> Engine:
    """An engine for ``url`` (default ``sqlite:///oms.sqlite3``), SQLite set up as described."""
    url = make_url(url or DEFAULT_DATABASE_URL)
    if url.get_backend_name() == "sqlite":
        database = url.database
        in_memory = not database or database == ":memory:"
        engine = create_engine(
            url,
            echo=echo,
            poolclass=StaticPool if in_memory else None,
            connect_args={"check_same_thread": False},
        )
        _sqlite_setup(engine, file_backed=not in_memory)
        return engine
    return create_engine(url, echo=echo, pool_pre_ping=True)


class Store:
    """One database: its engine, its sessions, and the order queries.

    Opening a store migrates a brand-new database to the SDK's current schema, and refuses one
    whose schema is behind (:class:`~oms_sdk.store.DatabaseNotUpToDate`, naming the
    ``oms db upgrade`` command to run). Tables that plugins added to ``metadata`` and that the
    SDK's migrations do not own are then created if missing.
    """

    def __init__(self, url: str | None = None, *, echo: bool = False) -> None:
        map_domain()
        self.url = make_url(url or DEFAULT_DATABASE_URL)
        self.engine = create_store_engine(self.url, echo=echo)
        try:
            prepare_schema(self.engine)  # and creates plugins' missing tables
        except BaseException:
            self.engine.dispose()
            raise
        self._sessions = sessionmaker(self.engine, expire_on_commit=False, autoflush=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def unit_of_work(self) -> Iterator[Session]:
        """One transaction: commit on success, roll back everything on any exception."""
        with self._sessions() as session, session.begin():
            yield session

    def close(self) -> None:
        self.engine.dispose()

    # -- orders ---------------------------------------------------------------------------

    def load_order(self, session: Session, ref: str, *, for_update: bool = True) -> Order:
        """The order whose id or number is ``ref``, locked for this transaction on PostgreSQL."""
        query = select(Order).where(or_(orders.c.id == ref, orders.c.number == ref))
        if for_update and self.dialect != "sqlite":
            query = query.with_for_update(of=orders)
        order = session.scalars(query).one_or_none()
        if order is None:
            raise OrderNotFound(f"no order with id or number {ref!r}", order=ref)
        return order

    def list_orders(
        self,
        session: Session,
        *,
        market: str | None,
        statuses: Sequence[str] | None,
        payment_statuses: Sequence[str] | None,
        fulfillment_statuses: Sequence[str] | None,
        archived: bool | None,
        limit: int,
        offset: int,
    ) -> list[Order]:
        query = select(Order).order_by(orders.c.created_at, orders.c.number)
        if market is not None:
            query = query.where(orders.c.market == market)
        if statuses:
            query = query.where(orders.c.status.in_(statuses))
        if payment_statuses:
            query = query.where(orders.c.payment_status.in_(payment_statuses))
        if fulfillment_statuses:
            query = query.where(orders.c.fulfillment_status.in_(fulfillment_statuses))
        if archived is not None:
            column = orders.c.archived_at
            query = query.where(column.is_not(None) if archived else column.is_(None))
        return list(session.scalars(query.limit(limit).offset(offset)))

    def history(self, session: Session, order_id: str) -> list[HistoryEntry]:
        query = select(HistoryEntry).where(history.c.order_id == order_id).order_by(history.c.id)
        return list(session.scalars(query))

    def next_order_number(self, session: Session, prefix: str) -> str:
        """The next human number of a market: ``EU-000042``. Gap-free per committed order."""
        updated = session.execute(
            update(order_numbers)
            .where(order_numbers.c.prefix == prefix)
            .values(last=order_numbers.c.last + 1)
            .returning(order_numbers.c.last)
        ).scalar_one_or_none()
        if updated is None:
            session.execute(insert(order_numbers).values(prefix=prefix, last=1))
            updated = 1
        return f"{prefix}-{updated:06d}"

    # -- promotions, gift cards -----------------------------------------------------------

    def promotion_usage(self, session: Session, market: str) -> dict[str, int]:
        rows = session.execute(
            select(promotion_usage.c.promotion, promotion_usage.c.used).where(
                promotion_usage.c.market == market
            )
        )
        return {str(promotion): int(used) for promotion, used in rows}

    def add_promotion_use(self, session: Session, market: str, promotion: str, delta: int) -> None:
        changed: CursorResult[Any] = session.execute(  # type: ignore[assignment]
            update(promotion_usage)
            .where(promotion_usage.c.market == market, promotion_usage.c.promotion == promotion)
            .values(used=promotion_usage.c.used + delta)
        )
        if not changed.rowcount:
            session.execute(
                insert(promotion_usage).values(
                    market=market, promotion=promotion, used=max(delta, 0)
                )
            )

    def gift_card(self, session: Session, code: str) -> GiftCard | None:
        return session.get(GiftCard, code, with_for_update=self.dialect != "sqlite")

    # -- idempotency ----------------------------------------------------------------------

    def idempotent_response(
        self, session: Session, key: str
    ) -> tuple[str, str, dict[str, Any]] | None:
        row = session.execute(
            select(
                idempotency_keys.c.command,
                idempotency_keys.c.fingerprint,
                idempotency_keys.c.response,
            ).where(idempotency_keys.c.key == key)
        ).one_or_none()
        if row is None:
            return None
        response = row.response if isinstance(row.response, dict) else json.loads(row.response)
        return row.command, row.fingerprint, response

    def remember_response(
        self,
        session: Session,
        *,
        key: str,
        command: str,
        fingerprint: str,
        order_id: str | None,
        response: dict[str, Any],
        now: datetime,
    ) -> None:
        session.execute(
            insert(idempotency_keys).values(
                key=key,
                command=command,
                fingerprint=fingerprint,
                order_id=order_id,
                response=response,
                created_at=now,
            )
        )
