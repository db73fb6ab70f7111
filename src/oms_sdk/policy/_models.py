"""Pydantic models of a market policy file: the rules of a market, as data.

Amounts are written in major units ("19.90", or 19.90 read exactly as a decimal) and become
``Money`` in the market's currency while the market validates, so an amount with more decimals
than the currency has is an error at load time, not a rounding at checkout.
"""

from __future__ import annotations

import hashlib
import json
import re
from contextvars import ContextVar
from datetime import UTC, datetime
from decimal import Decimal
from functools import cached_property
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    PlainSerializer,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from ..errors import MoneyError
from ..money import CURRENCY_EXPONENTS, Money

__all__ = [
    "BUILTIN_STATUSES",
    "CatalogItem",
    "GiftCardPolicy",
    "LifecycleStep",
    "MarketPolicy",
    "OrderRules",
    "PaymentMethodPolicy",
    "PolicyFile",
    "PriceList",
    "Promotion",
    "ShippingMethodPolicy",
]

#: Order statuses every lifecycle has; policy steps add to these.
BUILTIN_STATUSES: tuple[str, ...] = ("draft", "pending", "placed", "approved", "cancelled")

_market_currency: ContextVar[str | None] = ContextVar("_market_currency", default=None)


def _to_money(value: Any) -> Money:
    if isinstance(value, Money):
        return value
    if isinstance(value, float):
        raise ValueError('write amounts as text or decimals, e.g. "19.90"; floats are not exact')
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise ValueError(f'expected an amount such as "19.90", got {type(value).__name__}')
    currency = _market_currency.get()
    if currency is None:
        raise ValueError("amounts can only be read inside a market (its currency is unknown)")
    try:
        money = Money.parse(value, currency)
    except MoneyError as exc:
        raise ValueError(str(exc)) from None
    if money.minor < 0:
        raise ValueError(f"amount must not be negative, got {value}")
    return money


#: An amount in the market's currency, written in major units.
Amount = Annotated[
    Money,
    BeforeValidator(_to_money),
    PlainSerializer(lambda m: str(m.amount), return_type=str),
    WithJsonSchema(
        {
            "type": ["string", "integer", "number"],
            "pattern": r"^\d+(\.\d+)?$",
            "description": 'Amount in major units of the market currency, e.g. "19.90"',
        }
    ),
]

Code = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,39}$")]
Name = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
Percent = Annotated[Decimal, Field(ge=0, le=100, allow_inf_nan=False)]


def _tidy_descriptions(schema: dict[str, Any]) -> None:
    """Docstrings as editors show JSON Schema descriptions: no line breaks inside a paragraph,
    and single-backtick (Markdown) code spans instead of the docstrings' double backticks."""

    def tidy(text: str) -> str:
        paragraphs = (" ".join(p.split()) for p in re.split(r"\n\s*\n", text))
        return re.sub(r"``(.+?)``", r"`\1`", "\n\n".join(paragraphs))

    if isinstance(schema.get("description"), str):
        schema["description"] = tidy(schema["description"])
    for prop in schema.get("properties", {}).values():
        if isinstance(prop, dict) and isinstance(prop.get("description"), str):
            prop["description"] = tidy(prop["description"])


class _Strict(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        str_strip_whitespace=True,
        # The attribute docstrings below become the ``description``s of the JSON Schema
        # (``oms policy schema``); the policy reference reads the same text.
        use_attribute_docstrings=True,
        json_schema_extra=_tidy_descriptions,
    )


class CatalogItem(_Strict):
    """One SKU of the price list."""

    name: str = Field(min_length=1)
    """Product name, copied onto the order lines whenever a cart is priced."""
    price: Amount
    """Price of one unit in the market currency, e.g. "29.90" (whole yen in JPY: 3300); it
    includes tax when ``prices.tax_included`` is true."""
    requires_shipping: bool = True
    """False for digital goods and services: an order of only those needs no shipment."""
    weight_grams: int | None = Field(default=None, ge=0)
    """Shipping weight of one unit, for weight-based shipping rates."""


class PriceList(_Strict):
    """The prices of the market. Callers never pass a price: lines are priced from here."""

    tax_included: bool = True
    """True: prices include tax (EU style); false: tax is added on top (US style)."""
    tax_rate: Percent = Decimal(0)
    """Percent, e.g. "22" or "8.875", applied to goods, shipping and surcharges."""
    items: dict[Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,63}$")], CatalogItem]
    """The catalogue by SKU (case-sensitive): only these SKUs can be ordered. Carts are
    re-priced from here on every change; placed orders keep the prices they were placed at."""

    @field_validator("tax_rate", mode="before")
    @classmethod
    def _no_float_rate(cls, value: Any) -> Any:
        if isinstance(value, float):
            raise ValueError('write the tax rate as text or a decimal, e.g. "8.875"')
        return value


class ShippingMethodPolicy(_Strict):
    """A delivery option customers choose for orders with goods to ship."""

    code: Code
    """Identifier passed to ``select_shipping_method`` and stored on orders; unique within the
    market (case-sensitive)."""
    name: str = Field(min_length=1)
    """Label for storefronts and back offices; the SDK does not interpret it."""
    price: Amount
    """Flat price per order in the market currency, taxed like goods. A shipping-price plugin
    (e.g. ``rate_table``) may price by destination and weight instead."""
    free_over: Amount | None = None
    """Shipping is free when the discounted goods total reaches this amount."""


class LifecycleStep(_Strict):
    """An extra order status declared by policy, e.g. a manual ``review`` after placement.

    The trigger ``entered_by`` leaving ``after`` leads into the step instead of where it led
    before; ``exit_trigger`` leaves the step to ``exit_to``. The market's steps are inserted
    first, then the payment method's, so a step may follow an earlier one. Loading fails when
    a step would leave a status unreachable or without a way out.
    """

    state: Name
    """Name of the new order status, e.g. ``fraud_review``; it must be new to the lifecycle
    (not a built-in status nor an earlier step's state)."""
    after: Name
    """The existing status the step follows: a built-in status or an earlier step's state."""
    entered_by: Name
    """An existing trigger leaving ``after`` (e.g. ``approve``): from ``after`` it now leads
    into the step, keeping its guards and effects; from other statuses it is unchanged."""
    exit_trigger: Name
    """A new trigger, e.g. ``clear_fraud_review``, that moves the order from the step to
    ``exit_to``; it must not already exist, and has no guards besides plugin vetoes."""
    exit_to: Name
    """The status ``exit_trigger`` leads to, usually where ``entered_by`` led before (e.g.
    ``approved``), whose on-enter effects then run."""
    cancellable: bool = True
    """Whether ``cancel`` is allowed while the order is in this step."""
    description: str = ""
    """What happens in this status, for people: its tooltip in ``oms diagram --format svg``."""


class PaymentMethodPolicy(_Strict):
    """A way to pay orders of the market: the gateway that moves the money, and when it is
    captured. Orders paid with each method follow their own lifecycle variant."""

    code: Code
    """Identifier passed to ``select_payment_method`` and stored on orders; unique within the
    market. Orders keep their method's code: do not rename or remove a method orders use."""
    name: str = Field(min_length=1)
    """Label for storefronts and back offices; the SDK does not interpret it."""
    gateway: Name
    """Name of the gateway that moves the money (``manual``, ``sandbox`` or a plugin's)."""
    surcharge: Amount | None = None
    """Fee added to the order when this method is chosen, in the market currency, taxed like
    goods and shipping; none = no fee."""
    auto_capture: bool = False
    """Capture the authorized amount as soon as the order is placed, without a ``capture``
    call."""
    auto_capture_max_amount: Amount | None = None
    """With ``auto_capture``: orders whose total (after gift cards) is above this amount are not
    captured automatically but wait for a manual ``capture``; none = no limit."""
    require_capture: bool = True
    """True: ``approve`` waits until the payment is captured in full. False (delayed capture):
    an authorized order may be approved and fulfilled before the capture."""
    auto_place: bool = False
    """``authorize`` places the order at once, for methods that confirm asynchronously (PayPal,
    konbini); otherwise the order stays ``pending`` until ``place``."""
    authorization_validity_days: int = Field(default=7, ge=1, le=365)
    """Days an authorization stays capturable: a ``capture`` later than this after the
    authorization is refused. Match the gateway, e.g. about 7 for cards."""
    steps: tuple[LifecycleStep, ...] = ()
    """Extra lifecycle steps for orders paid with this method (added to the market's)."""

    @model_validator(mode="after")
    def _max_needs_auto_capture(self) -> PaymentMethodPolicy:
        if self.auto_capture_max_amount is not None and not self.auto_capture:
            raise ValueError("auto_capture_max_amount is set but auto_capture is false")
        return self


class _PromotionBase(_Strict):
    """The keys every type of promotion has."""

    code: Code
    """Identifier stored on the orders the promotion applies to, and under which its uses are
    counted (renaming it restarts ``usage_limit``); unique within the market."""
    name: str = Field(min_length=1)
    """Label for storefronts and back offices; the SDK does not interpret it."""
    coupon: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{3,40}$")] | None = None
    """The code a customer types; without it the promotion applies automatically."""
    minimum_order_amount: Amount | None = None
    """Applies only when the goods total (price-list prices × quantities, before discounts)
    reaches this amount in the market currency; shipping and surcharges do not count."""
    starts_at: datetime | None = None
    """First moment the promotion applies (inclusive); none = already active."""
    expires_at: datetime | None = None
    """Moment the promotion stops applying (exclusive), after ``starts_at``; a cart priced
    before it must be re-priced before it can be placed."""
    usage_limit: int | None = Field(default=None, ge=1)
    """How many placed orders may use it (given back when such an order is cancelled or fully
    refunded)."""

    @field_validator("starts_at", "expires_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        """A time without a zone is UTC: comparing it with the clock must never fail."""
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value

    @model_validator(mode="after")
    def _window(self) -> _PromotionBase:
        if self.starts_at and self.expires_at and self.expires_at <= self.starts_at:
            raise ValueError("expires_at must be after starts_at")
        return self


class PercentagePromotion(_PromotionBase):
    """A discount of a percentage of the goods total. Without a ``coupon`` it applies to every
    qualifying order; automatic promotions apply in the order listed, a coupon last."""

    type: Literal["percentage"]
    """Selects this kind of promotion."""
    percentage: Annotated[Decimal, Field(gt=0, le=100, allow_inf_nan=False)]
    """Percent off the goods left after earlier promotions, e.g. "10" or "12.5"; rounded
    half-even to the currency's minor unit."""

    @field_validator("percentage", mode="before")
    @classmethod
    def _no_float(cls, value: Any) -> Any:
        if isinstance(value, float):
            raise ValueError('write the percentage as text or a decimal, e.g. "10"')
        return value


class FixedAmountPromotion(_PromotionBase):
    """A fixed amount off the goods total. Without a ``coupon`` it applies to every qualifying
    order; automatic promotions apply in the order listed, a coupon last."""

    type: Literal["fixed_amount"]
    """Selects this kind of promotion."""
    amount: Amount
    """Amount off in the market currency, e.g. "5.00"; at most the goods left after earlier
    promotions, as only goods are discounted, never shipping or surcharges."""


Promotion = Annotated[PercentagePromotion | FixedAmountPromotion, Field(discriminator="type")]


class GiftCardPolicy(_Strict):
    """Whether gift cards may pay for orders of the market."""

    accepted: bool = False
    """True: ``apply_gift_card`` accepts cards in the market currency; their balance pays part
    or all of the total, taken at checkout and given back on cancel or full refund."""


class OrderRules(_Strict):
    """When orders of the market may be cancelled and refunded."""

    cancel_allowed_in: tuple[Name, ...] = ("pending", "placed", "approved")
    """Built-in statuses in which ``cancel`` is allowed, until something has shipped. A step's
    ``cancellable`` decides for its own state: naming it here changes nothing."""
    refund_window_days: int | None = Field(default=None, ge=0)
    """Days after the last capture during which refunds are allowed; none = no limit."""


class MarketPolicy(_Strict):
    """Everything that makes a market: currency, prices, methods, promotions and rules."""

    code: Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9_]{1,15}$")]
    """Identifier passed to ``create_order`` and stored on every order; unique across all
    loaded policy files. Keep it stable once orders exist."""
    name: str = Field(min_length=1)
    """Human-readable name, shown by ``oms policy check``."""
    currency: str
    """ISO 4217 code of every order and amount of the market, e.g. ``EUR``; it sets the
    decimals amounts may have (2 in EUR, 0 in JPY, 3 in KWD)."""
    enabled: bool = True
    """False: ``create_order`` refuses new carts (a market being prepared); existing orders
    carry on."""
    order_prefix: Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9]{0,7}$")] | None = None
    """Prefix of human order numbers (``EU-000042``); defaults to the market code."""
    inventory_model: Name = "default"
    """Which model of an inventory plugin (e.g. ``extensions.stock.models``) holds stock and
    plans shipments for the market; unused without such a plugin."""
    prices: PriceList
    """The price list: what can be sold, at what price, with which tax."""
    shipping_methods: tuple[ShippingMethodPolicy, ...] = ()
    """Delivery options, codes unique in the market. With none, only orders that need no
    shipping (digital goods, services) can be placed."""
    payment_methods: tuple[PaymentMethodPolicy, ...] = Field(min_length=1)
    """Ways to pay, codes unique in the market; each gives its orders their own lifecycle."""
    promotions: tuple[Promotion, ...] = ()
    """Discounts on the goods, automatic or by coupon; codes and coupons (case-insensitively)
    unique in the market."""
    gift_cards: GiftCardPolicy = GiftCardPolicy()
    """Whether gift cards are accepted."""
    rules: OrderRules = OrderRules()
    """When orders may be cancelled and refunded."""
    steps: tuple[LifecycleStep, ...] = ()
    """Extra lifecycle steps for every order of this market."""
    extensions: dict[Name, dict[str, Any]] = Field(default_factory=dict)
    """Settings of plugins, one section per plugin name; each plugin validates its own."""

    @model_validator(mode="wrap")
    @classmethod
    def _in_currency(
        cls, data: Any, handler: ModelWrapValidatorHandler[MarketPolicy], _info: ValidationInfo
    ) -> MarketPolicy:
        """Validate the amounts inside this market in its own currency."""
        currency = data.get("currency") if isinstance(data, dict) else None
        if isinstance(currency, str):
            currency = currency.strip()  # as the field itself reads it (str_strip_whitespace)
        token = _market_currency.set(currency if currency in CURRENCY_EXPONENTS else None)
        try:
            return handler(data)
        finally:
            _market_currency.reset(token)

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, value: str) -> str:
        if value not in CURRENCY_EXPONENTS:
            raise ValueError(f"unknown currency {value!r} (expected an ISO 4217 code such as EUR)")
        return value

    @model_validator(mode="after")
    def _unique_codes(self) -> MarketPolicy:
        for label, codes in (
            ("shipping method", [m.code for m in self.shipping_methods]),
            ("payment method", [m.code for m in self.payment_methods]),
            ("promotion", [p.code for p in self.promotions]),
            # coupon() matches case-insensitively, so SAVE10 and save10 are the same coupon
            ("coupon", [p.coupon.upper() for p in self.promotions if p.coupon]),
        ):
            seen: set[str] = set()
            for code in codes:
                if code in seen:
                    raise ValueError(f"duplicate {label} code {code!r}")
                seen.add(code)
        return self

    # -- lookups --------------------------------------------------------------------------

    @property
    def number_prefix(self) -> str:
        return self.order_prefix or self.code

    def payment_method(self, code: str) -> PaymentMethodPolicy | None:
        return next((m for m in self.payment_methods if m.code == code), None)

    def shipping_method(self, code: str) -> ShippingMethodPolicy | None:
        return next((m for m in self.shipping_methods if m.code == code), None)

    def coupon(self, code: str) -> PercentagePromotion | FixedAmountPromotion | None:
        wanted = code.upper()
        return next((p for p in self.promotions if p.coupon and p.coupon.upper() == wanted), None)

    def money(self, minor: int) -> Money:
        return Money(minor, self.currency)

    @cached_property
    def fingerprint(self) -> str:
        """A digest of the whole market policy: a compiled lifecycle is valid for one value."""
        dumped = json.dumps(self.model_dump(mode="json"), sort_keys=True, default=str)
        return hashlib.sha256(dumped.encode()).hexdigest()[:16]


class PolicyFile(_Strict):
    """The top level of one policy file: one or several markets."""

    plugins: tuple[Name, ...] = ()
    """Entry-point plugins to activate (an allow-list: installed but unlisted ones never load)."""
    markets: tuple[MarketPolicy, ...] = Field(min_length=1)
    """The markets of this file; a market code may appear only once across all loaded files."""
