"""Totals of an order, recomputed from the market's price list and nothing else.

Order of operations: goods (price list × quantity) → promotions, spread over the lines with
``Money.allocate`` so the line discounts sum exactly to the order discount → shipping (free over
a threshold of discounted goods) → payment surcharge → tax (contained in tax-included prices, or
added on top) → gift card, which pays part or all of the rest. ``total`` is what the payment
method must still cover.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from ..money import Money
from ..policy import MarketPolicy, Promotion, ShippingMethodPolicy
from ._model import Order

__all__ = ["policy_shipping_price", "promotion_problem", "reprice"]


def promotion_problem(promotion: Promotion, goods: Money, now: datetime, used: int) -> str | None:
    """Why ``promotion`` does not apply now, or None when it does."""
    if promotion.starts_at is not None and now < promotion.starts_at:
        return f"promotion {promotion.code} starts on {promotion.starts_at:%Y-%m-%d}"
    if promotion.expires_at is not None and now >= promotion.expires_at:
        return f"promotion {promotion.code} expired on {promotion.expires_at:%Y-%m-%d}"
    if promotion.usage_limit is not None and used >= promotion.usage_limit:
        return f"promotion {promotion.code} has reached its usage limit"
    minimum = promotion.minimum_order_amount
    if minimum is not None and goods < minimum:
        return f"promotion {promotion.code} needs an order of at least {minimum.format()}"
    return None


def policy_shipping_price(method: ShippingMethodPolicy, goods: Money) -> Money:
    """The policy's flat price, free once the discounted goods reach ``free_over``."""
    if method.free_over is not None and goods >= method.free_over:
        return goods - goods
    return method.price


def _discount(promotion: Promotion, goods: Money) -> Money:
    if promotion.type == "percentage":
        return goods.percent(promotion.percentage)
    return promotion.amount.min(goods)


def _update(target: object, **values: object) -> None:
    """Assign only the values that differ. Assigning a mapped object's attribute its own value
    still marks the object dirty, and the next flush then works through it for nothing: a
    cart's lines are repriced by every cart command, and rarely change."""
    for name, value in values.items():
        if getattr(target, name) != value:
            setattr(target, name, value)


def reprice(
    order: Order,
    market: MarketPolicy,
    *,
    now: datetime,
    promotion_usage: Mapping[str, int],
    gift_card_balance: Money | None,
    shipping_price: Callable[[ShippingMethodPolicy], Money] | None = None,
) -> None:
    """Recompute every line price and total of a cart (draft or pending order)."""
    money = market.money
    for line in order.lines:
        item = market.prices.items[line.sku]
        _update(
            line,
            name=item.name,
            unit_price=item.price.minor,
            requires_shipping=item.requires_shipping,
        )
    subtotal = money(sum(line.amount for line in order.lines))

    candidates = [p for p in market.promotions if p.coupon is None]
    coupon = market.coupon(order.coupon_code) if order.coupon_code else None
    if coupon is not None:
        candidates.append(coupon)
    applied: list[str] = []
    discount = money(0)
    for promotion in candidates:
        used = promotion_usage.get(promotion.code, 0)
        if promotion_problem(promotion, subtotal, now, used) is None:
            discount += _discount(promotion, subtotal - discount)
            applied.append(promotion.code)
    discount = discount.min(subtotal)
    weights = [line.amount for line in order.lines]
    shares = discount.allocate(weights) if sum(weights) else [money(0) for _ in order.lines]
    for line, share in zip(order.lines, shares, strict=True):
        _update(line, discount=share.minor)
    goods = subtotal - discount

    order.promotions = applied
    order.subtotal = subtotal.minor
    order.discount = discount.minor
    order.requires_shipping = any(line.requires_shipping for line in order.lines)
    shipping = money(0)
    method = market.shipping_method(order.shipping_method) if order.shipping_method else None
    if order.requires_shipping and method is not None:
        shipping = (
            shipping_price(method) if shipping_price else policy_shipping_price(method, goods)
        )
        if shipping.currency != market.currency or shipping.minor < 0:
            raise ValueError(f"shipping price {shipping!r} is not a {market.currency} amount")
    payment = market.payment_method(order.payment_method) if order.payment_method else None
    surcharge = payment.surcharge if payment and payment.surcharge else money(0)

    taxable = goods + shipping + surcharge
    rate = market.prices.tax_rate
    if market.prices.tax_included:
        tax = taxable.included_tax(rate)
        gross = taxable
    else:
        tax = taxable.percent(rate)
        gross = taxable + tax
    gift = gift_card_balance.min(gross).max(money(0)) if gift_card_balance else money(0)

    order.shipping = shipping.minor
    order.surcharge = surcharge.minor
    order.tax = tax.minor
    order.tax_included = market.prices.tax_included
    order.gift_card = gift.minor
    order.total = (gross - gift).minor
    order.refresh_payment_status()
