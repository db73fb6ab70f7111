"""Immutable views of orders: what every ``OMS`` method returns.

A view is a snapshot taken when the command committed. It never talks to the database, so it
can be cached, serialized (``model_dump(mode="json")``) or handed to another thread.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..money import Money
from ._model import GiftCard, HistoryEntry, Order

__all__ = [
    "Address",
    "GiftCardView",
    "HistoryEntryView",
    "LineItemView",
    "OrderView",
    "ShipmentView",
    "Totals",
    "TransactionView",
]


class _View(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Address(_View):
    """A postal address. ``country`` is an ISO 3166-1 alpha-2 code."""

    name: str
    line1: str
    line2: str | None = None
    city: str
    postal_code: str
    region: str | None = None
    country: str = Field(pattern=r"^[A-Z]{2}$")
    phone: str | None = None


class LineItemView(_View):
    sku: str
    name: str
    quantity: int
    unit_price: Money
    amount: Money
    discount: Money
    requires_shipping: bool


class Totals(_View):
    subtotal: Money
    discount: Money
    shipping: Money
    payment_surcharge: Money
    tax: Money
    tax_included: bool
    gift_card: Money
    total: Money
    """What the payment method covers: everything, minus what the gift card pays."""


class TransactionView(_View):
    id: str
    kind: str
    amount: Money
    succeeded: bool
    pending: bool
    """Waiting for the customer (``action_id``); neither succeeded nor failed yet."""
    action_id: str | None
    gateway: str
    reference: str | None
    error_code: str | None
    error_message: str | None
    created_at: datetime


class ShipmentView(_View):
    number: str
    status: str
    stock_location: str | None
    lines: tuple[tuple[str, int], ...]
    """``(sku, quantity)`` in this parcel."""
    carrier: str | None
    tracking_number: str | None
    shipped_at: datetime | None
    delivered_at: datetime | None


class HistoryEntryView(_View):
    at: datetime
    trigger: str
    actor: str
    from_statuses: tuple[str, str, str]
    statuses: tuple[str, str, str]
    amount: Money | None
    detail: dict[str, Any]


class GiftCardView(_View):
    code: str
    balance: Money
    initial_balance: Money


class OrderView(_View):
    id: str
    number: str
    market: str
    currency: str
    status: str
    payment_status: str
    fulfillment_status: str
    customer_email: str | None
    billing_address: Address | None
    shipping_address: Address | None
    shipping_method: str | None
    payment_method: str | None
    coupon_code: str | None
    promotions: tuple[str, ...]
    gift_card_code: str | None
    lines: tuple[LineItemView, ...]
    totals: Totals
    authorized: Money
    captured: Money
    refunded: Money
    transactions: tuple[TransactionView, ...]
    shipments: tuple[ShipmentView, ...]
    placed_at: datetime | None
    approved_at: datetime | None
    cancelled_at: datetime | None
    archived_at: datetime | None
    created_at: datetime
    updated_at: datetime
    version: int

    @property
    def archived(self) -> bool:
        return self.archived_at is not None

    @classmethod
    def of(cls, order: Order) -> OrderView:
        """The view of ``order``, built without validation: every value comes from the
        domain objects, which only ever hold checked data (validating them again was a
        tenth of a command's time)."""
        money = order.money
        return cls.model_construct(
            id=order.id,
            number=order.number,
            market=order.market,
            currency=order.currency,
            status=order.status,
            payment_status=order.payment_status,
            fulfillment_status=order.fulfillment_status,
            customer_email=order.customer_email,
            billing_address=_address(order.billing_address),
            shipping_address=_address(order.shipping_address),
            shipping_method=order.shipping_method,
            payment_method=order.payment_method,
            coupon_code=order.coupon_code,
            promotions=tuple(order.promotions),
            gift_card_code=order.gift_card_code,
            lines=tuple(
                LineItemView.model_construct(
                    sku=line.sku,
                    name=line.name,
                    quantity=line.quantity,
                    unit_price=money(line.unit_price),
                    amount=money(line.amount),
                    discount=money(line.discount),
                    requires_shipping=line.requires_shipping,
                )
                for line in order.lines
            ),
            totals=Totals.model_construct(
                subtotal=money(order.subtotal),
                discount=money(order.discount),
                shipping=money(order.shipping),
                payment_surcharge=money(order.surcharge),
                tax=money(order.tax),
                tax_included=order.tax_included,
                gift_card=money(order.gift_card),
                total=money(order.total),
            ),
            authorized=order.authorized,
            captured=order.captured,
            refunded=order.refunded,
            transactions=tuple(
                TransactionView.model_construct(
                    id=t.id,
                    kind=t.kind,
                    amount=t.money,
                    succeeded=t.succeeded,
                    pending=t.pending,
                    action_id=t.action_id,
                    gateway=t.gateway,
                    reference=t.reference,
                    error_code=t.error_code,
                    error_message=t.error_message,
                    created_at=t.created_at,
                )
                for t in order.transactions
            ),
            shipments=tuple(
                ShipmentView.model_construct(
                    number=s.number,
                    status=s.status,
                    stock_location=s.stock_location,
                    lines=tuple((line.sku, line.quantity) for line in s.lines),
                    carrier=s.carrier,
                    tracking_number=s.tracking_number,
                    shipped_at=s.shipped_at,
                    delivered_at=s.delivered_at,
                )
                for s in order.shipments
            ),
            placed_at=order.placed_at,
            approved_at=order.approved_at,
            cancelled_at=order.cancelled_at,
            archived_at=order.archived_at,
            created_at=order.created_at,
            updated_at=order.updated_at,
            version=order.version,
        )


def _address(stored: dict[str, Any] | None) -> Address | None:
    return Address.model_construct(**stored) if stored else None


def history_view(entry: HistoryEntry) -> HistoryEntryView:
    return HistoryEntryView(
        at=entry.at,
        trigger=entry.trigger,
        actor=entry.actor,
        from_statuses=(entry.from_status, entry.from_payment_status, entry.from_fulfillment_status),
        statuses=(entry.status, entry.payment_status, entry.fulfillment_status),
        amount=Money(entry.amount, entry.currency) if entry.amount is not None else None,
        detail=entry.detail,
    )


def gift_card_view(card: GiftCard) -> GiftCardView:
    return GiftCardView(
        code=card.code,
        balance=Money(card.balance, card.currency),
        initial_balance=Money(card.initial_balance, card.currency),
    )
