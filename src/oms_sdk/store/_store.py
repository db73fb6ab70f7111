"""Engine, unit of work and the queries the facade needs.

SQLite is the embedded default: a file in WAL mode, every write transaction opened with
``BEGIN IMMEDIATE`` so that two processes serialize at the start of a command instead of failing
at its commit. ``sqlite://`` (no path) is a private in-memory database for tests.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import (
    Engine,
    bindparam,
    create_engine,
    delete,
    event,
    exists,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, CursorResult, make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.attributes import flag_modified
from sqlalchemy.pool import StaticPool

from ..errors import OrderNotFound
from ..orders import GiftCard, HistoryEntry, Order, PaymentTransaction
from ._loaded import LoadedOrders
from ._migrate import PluginMigrations, prepare_schema
from ._tables import (
    history,
    idempotency_keys,
    map_domain,
    order_numbers,
    orders,
    outbox,
    outbox_deliveries,
    payment_transactions,
    promotion_usage,
)

__all__ = [
    "DEFAULT_DATABASE_URL",
    "UNANSWERED",
    "Claim",
    "OutboxRow",
    "Store",
    "create_store_engine",
]

#: ``error_code`` of a pending ledger row whose gateway never answered: reconcile's business.
UNANSWERED = "no_answer"

DEFAULT_DATABASE_URL = "sqlite:///oms.sqlite3"


def _switch_to_wal(cursor: Any) -> None:
    """Put a file in WAL mode. Switching a new file needs a moment alone with it, and SQLite
    answers "database is locked" at once (no busy handler) when several connections of a
    starting application try together: try again for up to ten seconds."""
    deadline = time.monotonic() + 10
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _sqlite_setup(engine: Engine, *, file_backed: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        if file_backed:
            _switch_to_wal(cursor)
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _count_writes(
    connection: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool
) -> None:
    """Count the statements that may write, on each connection (see ``Store.writes_since``). The
    SAVEPOINT that SQLAlchemy opens lazily, on first use, is not one."""
    if not statement.startswith(("SELECT", "SAVEPOINT")):
        connection.info["writes"] = connection.info.get("writes", 0) + 1


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
    else:
        engine = create_engine(url, echo=echo, pool_pre_ping=True)
    event.listen(engine, "before_cursor_execute", _count_writes)
    return engine


@dataclass(frozen=True)
class Claim:
    """What the idempotency table says about a key: ``claimed`` means run the command."""

    state: Literal["claimed", "running", "done"]
    command: str = ""
    fingerprint: str = ""
    response: dict[str, Any] | None = None


@dataclass(frozen=True)
class OutboxRow:
    id: int
    order_id: str
    payload: dict[str, Any]


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


# Statements built once: most commands run each of them, and building them is not free.
_INSERT_EVENT = insert(outbox)
_INSERT_HISTORY = insert(history)
_LOCK_ORDER = select(orders.c.id, orders.c.version).where(
    or_(orders.c.id == bindparam("ref"), orders.c.number == bindparam("ref"))
)


class Store:
    """One database: its engine, its sessions, and the order queries.

    Opening a store migrates a brand-new database to the SDK's current schema, and refuses one
    whose schema is behind (:class:`~oms_sdk.store.DatabaseNotUpToDate`, naming the
    ``oms db upgrade`` command to run). Tables that plugins added to ``metadata`` and that the
    SDK's migrations do not own are then created if missing.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        echo: bool = False,
        migrations: Sequence[PluginMigrations] = (),
        keep_loaded: int = 256,
    ) -> None:
        """``keep_loaded`` orders stay loaded between commands (0: reload every time)."""
        map_domain()
        self.loaded = LoadedOrders(keep_loaded)
        self.url = make_url(url or DEFAULT_DATABASE_URL)
        self.engine = create_store_engine(self.url, echo=echo)
        try:
            prepare_schema(self.engine, migrations)  # plugins' tables too
        except BaseException:
            self.engine.dispose()
            raise
        self._sessions = sessionmaker(self.engine, expire_on_commit=False, autoflush=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @staticmethod
    def writes_since(session: Session) -> Callable[[], int]:
        """A counter of the statements that may write on ``session``'s connection from now on,
        SQL that the ORM does not track included (``session.execute``, plugins' hooks). Call
        it before a savepoint: asking the session for its connection inside one opens it."""
        info = session.connection().info
        start: int = info.get("writes", 0)

        def count() -> int:
            now: int = info.get("writes", 0)
            return now - start

        return count

    @contextmanager
    def unit_of_work(self) -> Iterator[Session]:
        """One transaction: commit on success, roll back everything on any exception."""
        with self._sessions() as session, session.begin():
            yield session

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def exclusive(self, name: str) -> Iterator[None]:
        """Run one holder of ``name`` at a time across processes (a PostgreSQL advisory lock;
        SQLite's single writer already serializes what matters)."""
        if self.dialect != "postgresql":
            yield
            return
        key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
        with self.engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
            connection.commit()
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                connection.commit()

    # -- orders ---------------------------------------------------------------------------

    def load_order(self, session: Session, ref: str, *, for_update: bool = True) -> Order:
        """The order whose id or number is ``ref``, locked for this transaction on PostgreSQL.

        A locked load first reads only the order's version: when this process committed the
        order at that version, the objects it kept are used again without loading them.
        """
        if not for_update:
            return self._query_order(session, ref, or_(orders.c.id == ref, orders.c.number == ref))
        lock = _LOCK_ORDER if self.dialect == "sqlite" else _LOCK_ORDER.with_for_update()
        found = session.execute(lock, {"ref": ref}).first()
        if found is None:
            raise OrderNotFound(f"no order with id or number {ref!r}", order=ref)
        kept = self.loaded.take(found.id, found.version)
        if kept is not None:
            session.add(kept)
            return kept
        return self._query_order(session, ref, orders.c.id == found.id)

    def keep_loaded(self, order: Order) -> None:
        """Keep ``order`` for the next command; call it only once its transaction committed."""
        self.loaded.put(order)

    def _query_order(self, session: Session, ref: str, where: Any) -> Order:
        order = session.scalars(select(Order).where(where)).one_or_none()
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
        """The next human number of a market: ``EU-000042``. Gap-free per committed order.

        One upsert, so that two first orders of a market cannot both insert the counter.
        """
        dialect_insert = postgresql.insert if self.dialect == "postgresql" else sqlite.insert
        upsert = (
            dialect_insert(order_numbers)
            .values(prefix=prefix, last=1)
            .on_conflict_do_update(
                index_elements=[order_numbers.c.prefix], set_={"last": order_numbers.c.last + 1}
            )
            .returning(order_numbers.c.last)
        )
        number = session.execute(upsert).scalar_one()
        return f"{prefix}-{number:06d}"

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

    # -- payment intents ------------------------------------------------------------------

    def add_intent(self, session: Session, order: Order, row: PaymentTransaction) -> None:
        """Append a pending ledger row to a locked order; committed before its gateway call.

        The order's version moves, as with any change to its rows, so the objects stay
        current: the command's next attempt uses them again."""
        row.seq = max((t.seq for t in order.transactions), default=-1) + 1
        order.transactions.append(row)
        flag_modified(order, "updated_at")  # the same value: a versioned UPDATE of the order

    def orders_in_flight(
        self, session: Session, *, before: datetime, order: str | None = None
    ) -> list[str]:
        """Ids of orders with a movement sent before ``before`` whose answer is unknown."""
        query = (
            select(payment_transactions.c.order_id)
            .where(
                payment_transactions.c.pending.is_(True),
                payment_transactions.c.action_id.is_(None),
                or_(
                    payment_transactions.c.created_at <= before,
                    payment_transactions.c.error_code == UNANSWERED,
                ),
            )
            .distinct()
        )
        if order is not None:
            query = query.join(orders, orders.c.id == payment_transactions.c.order_id).where(
                or_(orders.c.id == order, orders.c.number == order)
            )
        return sorted(session.scalars(query))

    # -- idempotency ----------------------------------------------------------------------

    def _insert_ignoring_duplicates(self, table: Any, **values: Any) -> bool:
        """Insert unless the primary key exists; True when this call inserted.

        Asks for the inserted key back: the driver's row count is not reliable for an
        insert that did nothing."""
        dialect_insert = postgresql.insert if self.dialect == "postgresql" else sqlite.insert
        key = next(iter(table.primary_key.columns))
        with self.unit_of_work() as session:
            inserted = session.execute(
                dialect_insert(table).values(**values).on_conflict_do_nothing().returning(key)
            ).first()
            return inserted is not None

    def claim_idempotency_key(
        self,
        key: str,
        *,
        command: str,
        fingerprint: str,
        owner: str,
        now: datetime,
        stale_before: datetime,
    ) -> Claim:
        """Claim ``key`` for the run ``owner``, insert-first, so that concurrent requests cannot
        both run: the loser reads the winner's row (running, or done with its response).

        A claim its run has not refreshed since ``stale_before`` (the process died) is taken
        over; the run that lost it can no longer answer for the key.
        """
        if self._insert_ignoring_duplicates(
            idempotency_keys,
            key=key,
            command=command,
            fingerprint=fingerprint,
            response=None,
            owner=owner,
            created_at=now,
        ):
            return Claim("claimed")
        with self.unit_of_work() as session:
            row = session.execute(
                select(idempotency_keys).where(idempotency_keys.c.key == key)
            ).one_or_none()
            if row is None:  # released between our insert and this read: try again
                return Claim("running", command, fingerprint)
            if row.response is not None:
                return Claim("done", row.command, row.fingerprint, _json(row.response))
            if (row.command, row.fingerprint) == (command, fingerprint) and (
                row.created_at <= stale_before
            ):
                taken = session.execute(
                    update(idempotency_keys)
                    .where(
                        idempotency_keys.c.key == key,
                        idempotency_keys.c.response.is_(None),
                        idempotency_keys.c.owner == row.owner,
                    )
                    .values(owner=owner, created_at=now)
                    .returning(idempotency_keys.c.key)
                ).first()
                if taken is not None:
                    return Claim("claimed")
            return Claim("running", row.command, row.fingerprint)

    def refresh_claim(self, key: str, owner: str, now: datetime) -> bool:
        """The run ``owner`` still works on ``key``; False when another run took it over."""
        with self.unit_of_work() as session:
            kept = session.execute(
                update(idempotency_keys)
                .where(
                    idempotency_keys.c.key == key,
                    idempotency_keys.c.owner == owner,
                    idempotency_keys.c.response.is_(None),
                )
                .values(created_at=now)
                .returning(idempotency_keys.c.key)
            ).first()
            return kept is not None

    def release_idempotency_key(self, key: str) -> None:
        """The request failed: free its key so that a retry runs the command again."""
        with self.unit_of_work() as session:
            session.execute(
                delete(idempotency_keys).where(
                    idempotency_keys.c.key == key, idempotency_keys.c.response.is_(None)
                )
            )

    def release_stale_claims(self, session: Session, *, before: datetime) -> int:
        changed: CursorResult[Any] = session.execute(  # type: ignore[assignment]
            delete(idempotency_keys).where(
                idempotency_keys.c.response.is_(None), idempotency_keys.c.created_at <= before
            )
        )
        return int(changed.rowcount or 0)

    def remember_response(
        self,
        session: Session,
        *,
        key: str,
        owner: str,
        order_id: str | None,
        response: dict[str, Any],
    ) -> bool:
        """Store the answer of the run that holds ``key``; False if another run took it over
        (the caller then rolls back: only one answer per key)."""
        stored = session.execute(
            update(idempotency_keys)
            .where(idempotency_keys.c.key == key, idempotency_keys.c.owner == owner)
            .values(order_id=order_id, response=response)
            .returning(idempotency_keys.c.key)
        ).first()
        return stored is not None

    def mark_unanswered(self, key: str, message: str) -> None:
        """The gateway gave no answer, twice: the pending row waits for reconcile, not for its
        command, so other commands stop waiting for it."""
        with self.unit_of_work() as session:
            # The order row first, as every command and reconcile lock it: the same order of
            # locks everywhere, so no deadlock with a reconcile settling this order.
            owner = select(payment_transactions.c.order_id).where(
                payment_transactions.c.idempotency_key == key
            )
            self._bump_version(session, orders.c.id.in_(owner))
            session.execute(
                update(payment_transactions)
                .where(
                    payment_transactions.c.idempotency_key == key,
                    payment_transactions.c.pending.is_(True),
                )
                .values(error_code=UNANSWERED, error_message=message[:2000])
            )

    @staticmethod
    def _bump_version(session: Session, where: Any) -> None:
        """Move an order's version for a change written without the ORM, so that no process
        takes its kept objects for current (see ``LoadedOrders``)."""
        session.execute(update(orders).where(where).values(version=orders.c.version + 1))

    # -- promotions under their usage limit -------------------------------------------------

    def take_promotion_use(self, session: Session, market: str, promotion: str, limit: int) -> bool:
        """One use of a limited promotion, in one conditional statement: concurrent
        checkouts cannot both take the last use. False when none is left."""
        dialect_insert = postgresql.insert if self.dialect == "postgresql" else sqlite.insert
        session.execute(
            dialect_insert(promotion_usage)
            .values(market=market, promotion=promotion, used=0)
            .on_conflict_do_nothing()
        )
        taken = session.execute(
            update(promotion_usage)
            .where(
                promotion_usage.c.market == market,
                promotion_usage.c.promotion == promotion,
                promotion_usage.c.used < limit,
            )
            .values(used=promotion_usage.c.used + 1)
            .returning(promotion_usage.c.used)
        ).first()
        return taken is not None

    # -- outbox ---------------------------------------------------------------------------

    def add_event(
        self,
        session: Session,
        *,
        event_id: str,
        order_id: str,
        name: str,
        payload: dict[str, Any],
        now: datetime,
    ) -> None:
        """Write an event in the command's own transaction: it exists iff the change does."""
        session.execute(
            _INSERT_EVENT,
            {
                "event_id": event_id,
                "order_id": order_id,
                "name": name,
                "payload": payload,
                "created_at": now,
            },
        )

    def add_history(self, session: Session, **values: Any) -> None:
        """Append a line to an order's timeline (one row of ``oms_order_history``, by column:
        written, never read back by the command)."""
        session.execute(_INSERT_HISTORY, values)

    def undelivered(self, session: Session, publisher: str, *, limit: int) -> list[OutboxRow]:
        """The oldest events not yet delivered to ``publisher``, oldest first."""
        delivered = exists().where(
            outbox_deliveries.c.outbox_id == outbox.c.id,
            outbox_deliveries.c.publisher == publisher,
        )
        rows = session.execute(
            select(outbox.c.id, outbox.c.order_id, outbox.c.payload)
            .where(~delivered)
            .order_by(outbox.c.id)
            .limit(limit)
        )
        return [OutboxRow(r.id, r.order_id, _json(r.payload)) for r in rows]

    def mark_delivered(self, publisher: str, ids: Sequence[int], now: datetime) -> None:
        if not ids:
            return
        dialect_insert = postgresql.insert if self.dialect == "postgresql" else sqlite.insert
        with self.unit_of_work() as session:
            session.execute(
                dialect_insert(outbox_deliveries)
                .values(
                    [{"outbox_id": i, "publisher": publisher, "delivered_at": now} for i in ids]
                )
                .on_conflict_do_nothing()
            )

    def count_undelivered(self, session: Session, publisher: str) -> int:
        delivered = exists().where(
            outbox_deliveries.c.outbox_id == outbox.c.id,
            outbox_deliveries.c.publisher == publisher,
        )
        query = select(func.count()).select_from(outbox).where(~delivered)
        return int(session.execute(query).scalar_one())
