"""``oms demo``: realistic orders through every example market, on an embedded SQLite file.

Each scenario is ordinary facade code, the same an application would write; the demo then
prints each order's timeline from ``OMS.history``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table

from ._service import OMS
from .errors import PaymentDeclined
from .lifecycle import BUILTIN_TRIGGERS
from .money import Money
from .orders import OrderView

__all__ = ["run_demo"]

ADDRESSES = {
    "EU": {
        "name": "Giulia Rossi",
        "line1": "Via Torino 12",
        "city": "Milano",
        "postal_code": "20123",
        "country": "IT",
    },
    "US": {
        "name": "Sam Carter",
        "line1": "350 5th Ave",
        "city": "New York",
        "postal_code": "10118",
        "region": "NY",
        "country": "US",
    },
    "JP": {
        "name": "Sato Hana",
        "line1": "1-1 Marunouchi",
        "city": "Chiyoda-ku, Tokyo",
        "postal_code": "100-0005",
        "country": "JP",
    },
}


def _checkout(
    oms: OMS,
    market: str,
    lines: Sequence[tuple[str, int]],
    *,
    payment_method: str,
    token: str | None = "tok_visa",
    shipping: str | None = None,
    email: str = "customer@example.com",
) -> OrderView:
    order = oms.create_order(market, customer_email=email)
    for sku, quantity in lines:
        oms.add_line_item(order.id, sku, quantity)
    oms.set_addresses(order.id, ADDRESSES[market])
    if shipping:
        oms.select_shipping_method(order.id, shipping)
    return oms.select_payment_method(order.id, payment_method, payment_source=token)


def _pass_steps(oms: OMS, order: OrderView) -> OrderView:
    """Fire the triggers of policy steps (review, fraud check) until the order leaves them."""
    while True:
        custom = [t for t in oms.available_triggers(order.id) if t not in BUILTIN_TRIGGERS]
        if not custom:
            return order
        order = oms.with_actor("risk-analyst").advance(order.id, custom[0])


def _ship_all(oms: OMS, order: OrderView, **tracking: str) -> OrderView:
    """Ship every parcel: a split order has one per stock location."""
    warehouse = oms.with_actor("warehouse")
    for parcel in oms.get_order(order.id).shipments:
        order = warehouse.ship(order.id, parcel.number, **tracking)
    return order


def _approve(oms: OMS, order: OrderView) -> OrderView:
    return _pass_steps(oms, oms.with_actor("back-office").approve(order.id))


def eu_paypal_auto_capture(oms: OMS) -> tuple[str, OrderView]:
    order = _checkout(
        oms,
        "EU",
        [("TEE-ORG-M", 2), ("MUG-CER-350", 1)],
        payment_method="paypal",
        shipping="standard",
    )
    oms.apply_coupon(order.id, "WELCOME10")
    order = oms.authorize(order.id)  # PayPal: auto_place places it, auto_capture captures
    order = _approve(oms, order)
    oms.with_actor("warehouse").update_shipment(order.id, "start_picking")
    _ship_all(oms, order, tracking_number="1Z999AA10123456784")
    order = oms.with_actor("carrier").deliver(order.id)
    return "EU · PayPal, auto-place + auto-capture, 10% coupon, shipped and delivered", order


def eu_card_manual_capture_partial_refunds(oms: OMS) -> tuple[str, OrderView]:
    order = _checkout(
        oms,
        "EU",
        [("HOODIE-MER-L", 1), ("SOCKS-3PK", 2)],
        payment_method="card",
        shipping="express",
    )
    oms.place(order.id)
    oms.with_actor("back-office").capture(order.id)
    order = _approve(oms, order)
    _ship_all(oms, order, tracking_number="EU-TRK-22")
    oms.with_actor("support").refund(order.id, "12.00")
    order = oms.with_actor("support").refund(order.id, "5.50")
    return "EU · card, manual capture, two partial refunds", order


def eu_split_shipments(oms: OMS) -> tuple[str, OrderView]:
    order = _checkout(
        oms,
        "EU",
        [("HOODIE-MER-L", 1), ("MUG-CER-350", 2)],
        payment_method="card",
        shipping="standard",
    )
    oms.place(order.id)  # hoodies are in Amsterdam, mugs in Milan: two parcels
    oms.with_actor("back-office").capture(order.id)
    order = _approve(oms, order)
    order = _ship_all(oms, order)
    return "EU · split_shipments: one parcel from Milan, one from Amsterdam", order


def us_split_by_line_items(oms: OMS) -> tuple[str, OrderView]:
    order = _checkout(
        oms,
        "US",
        [("TEE-ORG-L", 2), ("SOCKS-3PK", 1), ("MUG-CER-12OZ", 1)],
        payment_method="card",
        shipping="ground",
    )
    oms.place(order.id)
    order = _approve(oms, order)
    order = _ship_all(oms, order)
    return "US · split_by_line_items: one parcel per line, from its warehouse", order


def eu_bank_transfer_gift_card_cancel(oms: OMS) -> tuple[str, OrderView]:
    oms.issue_gift_card("GC-EU-0001", Money.parse("25.00", "EUR"))
    order = _checkout(
        oms,
        "EU",
        [("TOTE-CNV", 2), ("MUG-CER-350", 1)],
        payment_method="bank_transfer",
        token=None,
        shipping="standard",
    )
    oms.apply_gift_card(order.id, "GC-EU-0001")
    oms.place(order.id)
    order = oms.with_actor("customer").cancel(order.id)  # void; gift card balance restored
    return "EU · bank transfer + gift card, cancelled before capture (void)", order


def eu_decline_then_retry(oms: OMS) -> tuple[str, OrderView]:
    order = _checkout(
        oms,
        "EU",
        [("TEE-ORG-L", 1)],
        payment_method="card",
        token="tok_chargeDeclined",
        shipping="standard",
    )
    try:
        oms.place(order.id)
    except PaymentDeclined:
        oms.select_payment_method(order.id, "card", payment_source="tok_mastercard")
    order = oms.place(order.id)
    return "EU · card declined, retried with another card", order


def eu_digital_only(oms: OMS) -> tuple[str, OrderView]:
    order = _checkout(oms, "EU", [("EBOOK-CARE", 1)], payment_method="card")
    oms.place(order.id)
    oms.capture(order.id)
    order = _approve(oms, order)
    return "EU · e-book only: no shipment, fulfillment not required", order


def us_capped_auto_capture(oms: OMS) -> tuple[str, OrderView]:
    order = _checkout(oms, "US", [("TEE-ORG-M", 2)], payment_method="card", shipping="ground")
    order = oms.place(order.id)  # 48.00 + tax, under the 500.00 cap: captured at once
    order = _approve(oms, order)
    order = _ship_all(oms, order)
    return "US · card, auto-capture under the 500.00 cap", order


def us_over_cap_manual_capture(oms: OMS) -> tuple[str, OrderView]:
    order = _checkout(oms, "US", [("HOODIE-MER-L", 7)], payment_method="card", shipping="two_day")
    oms.place(order.id)  # above the cap: stays authorized
    oms.with_actor("back-office").capture(order.id)
    order = _approve(oms, order)
    order = _ship_all(oms, order)
    return "US · card above the auto-capture cap: captured by hand", order


def us_cancel_after_capture(oms: OMS) -> tuple[str, OrderView]:
    order = _checkout(oms, "US", [("MUG-CER-12OZ", 2)], payment_method="card", shipping="ground")
    oms.place(order.id)  # auto-captured
    order = oms.with_actor("support").cancel(order.id)  # refunds in full
    return "US · cancelled after auto-capture: refunded in full", order


def jp_delayed_capture_review(oms: OMS) -> tuple[str, OrderView]:
    order = _checkout(
        oms,
        "JP",
        [("TENUGUI-IND", 2), ("MUG-CER-350", 1)],
        payment_method="card",
        shipping="standard",
    )
    oms.place(order.id)
    order = _approve(oms, order)  # → review → pass_review → approved, fulfillment starts
    _ship_all(oms, order)
    order = oms.with_actor("back-office").capture(order.id)  # delayed: after shipping
    return "JP · card, delayed capture, review step, captured after shipping", order


SCENARIOS: tuple[Callable[[OMS], tuple[str, OrderView]], ...] = (
    eu_paypal_auto_capture,
    eu_card_manual_capture_partial_refunds,
    eu_split_shipments,
    eu_bank_transfer_gift_card_cancel,
    eu_decline_then_retry,
    eu_digital_only,
    us_capped_auto_capture,
    us_over_cap_manual_capture,
    us_cancel_after_capture,
    us_split_by_line_items,
    jp_delayed_capture_review,
)


def _timeline(oms: OMS, title: str, order: OrderView) -> Table:
    table = Table(
        title=f"{order.number} — {title}",
        title_justify="left",
        caption=(
            f"total {order.totals.total.format()} · captured {order.captured.format()} · "
            f"refunded {order.refunded.format()} · final "
            f"{order.status}/{order.payment_status}/{order.fulfillment_status}"
            + "".join(
                f"\n  parcel {p.number} from {p.stock_location or '-'}: "
                + ", ".join(f"{q}× {sku}" for sku, q in p.lines)
                + f" [{p.status}]"
                for p in order.shipments
            )
        ),
        caption_justify="left",
    )
    for column in ("time", "actor", "trigger", "status", "payment", "fulfillment", "amount"):
        table.add_column(column, justify="right" if column == "amount" else "left")
    for entry in oms.history(order.id):
        status, payment, fulfillment = entry.statuses
        changed = entry.statuses != entry.from_statuses
        style = "bold" if changed else ""
        trigger = entry.trigger if "failed" not in entry.trigger else f"[red]{entry.trigger}[/]"
        table.add_row(
            entry.at.strftime("%H:%M:%S.%f")[:-3],
            entry.actor,
            trigger,
            f"[{style}]{status}[/]" if style else status,
            payment,
            fulfillment,
            entry.amount.format() if entry.amount is not None else "",
        )
    return table


def run_demo(policy_paths: Sequence[Path], database_url: str, console: Console) -> str:
    """Run every scenario; return a one-line summary."""
    with OMS.open(policy_paths, database_url) as oms:
        for scenario in SCENARIOS:
            title, order = scenario(oms)
            console.print(_timeline(oms, title, order))
            console.print()
        orders = oms.list_orders(archived=None, limit=1000)
        entries = sum(len(oms.history(o.id)) for o in orders)
        return f"{len(orders)} orders, {entries} history entries"
