"""Pydantic models of a market policy file: the rules of a market, as data.

Amounts are written in major units ("19.90", or 19.90 read exactly as a decimal) and become
``Money`` in the market's currency while the market validates, so an amount with more decimals
than the currency has is an error at load time, not a rounding at checkout.
"""

from __future__ import annotations

import hashlib
import json
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


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class CatalogItem(_Strict):
    """One SKU of the price list."""

    name: str = Field(min_length=1)
    price: Amount
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

    @field_validator("tax_rate", mode="before")
    @classmethod
    def _no_float_rate(cls, value: Any) -> Any:
        if isinstance(value, float):
            raise ValueError('write the tax rate as text or a decimal, e.g. "8.875"')
        return value


class ShippingMethodPolicy(_Strict):
    code: Code
    name: str = Field(min_length=1)
    price: Amount
    free_over: Amount | None = None
    """Shipping is free when the discounted goods total reaches this amount."""


class LifecycleStep(_Strict):
    """An extra order status declared by policy, e.g. a manual ``review`` after placement.

    The trigger ``entered_by`` leaving ``after`` leads into the step instead of where it led
    before; ``exit_trigger`` leaves the step to ``exit_to``.
    """

    state: Name
    after: Name
    entered_by: Name
    exit_trigger: Name
    exit_to: Name
    cancellable: bool = True
    """Whether ``cancel`` is allowed while the order is in this step."""
    description: str = ""


class PaymentMethodPolicy(_Strict):
    code: Code
    name: str = Field(min_length=1)
    gateway: Name
    """Name of the gateway that moves the money (``manual``, ``sandbox`` or a plugin's)."""
    surcharge: Amount | None = None
    auto_capture: bool = False
    """Capture at once when the authorization succeeds."""
    auto_capture_max_amount: Amount | None = None
    """With auto_capture: only orders up to this total are captured at once, others stay manual."""
    require_capture: bool = True
    """False = delayed capture: approval and fulfillment may start before the capture."""
    auto_place: bool = False
    """Place the order as soon as an asynchronous authorization completes."""
    authorization_validity_days: int = Field(default=7, ge=1, le=365)
    steps: tuple[LifecycleStep, ...] = ()
    """Extra lifecycle steps for orders paid with this method (added to the market's)."""

    @model_validator(mode="after")
    def _max_needs_auto_capture(self) -> PaymentMethodPolicy:
        if self.auto_capture_max_amount is not None and not self.auto_capture:
            raise ValueError("auto_capture_max_amount is set but auto_capture is false")
        return self


class _PromotionBase(_Strict):
    code: Code
    name: str = Field(min_length=1)
    coupon: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{3,40}$")] | None = None
    """The code a customer types; without it the promotion applies automatically."""
    minimum_order_amount: Amount | None = None
    starts_at: datetime | None = None
    expires_at: datetime | None = None
    usage_limit: int | None = Field(default=None, ge=1)
    """How many placed orders may use it (released again when such an order is cancelled)."""

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
    type: Literal["percentage"]
    percentage: Annotated[Decimal, Field(gt=0, le=100, allow_inf_nan=False)]

    @field_validator("percentage", mode="before")
    @classmethod
    def _no_float(cls, value: Any) -> Any:
        if isinstance(value, float):
            raise ValueError('write the percentage as text or a decimal, e.g. "10"')
        return value


class FixedAmountPromotion(_PromotionBase):
    type: Literal["fixed_amount"]
    amount: Amount


Promotion = Annotated[PercentagePromotion | FixedAmountPromotion, Field(discriminator="type")]


class GiftCardPolicy(_Strict):
    accepted: bool = False


class OrderRules(_Strict):
    cancel_allowed_in: tuple[Name, ...] = ("pending", "placed", "approved")
    """Statuses in which ``cancel`` is allowed (policy steps add theirs with ``cancellable``)."""
    refund_window_days: int | None = Field(default=None, ge=0)
    """Days after the last capture during which refunds are allowed; none = no limit."""


class MarketPolicy(_Strict):
    """Everything that makes a market: currency, prices, methods, promotions and rules."""

    code: Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9_]{1,15}$")]
    name: str = Field(min_length=1)
    currency: str
    enabled: bool = True
    order_prefix: Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9]{0,7}$")] | None = None
    """Prefix of human order numbers (``EU-000042``); defaults to the market code."""
    inventory_model: Name = "default"
    prices: PriceList
    shipping_methods: tuple[ShippingMethodPolicy, ...] = ()
    payment_methods: tuple[PaymentMethodPolicy, ...] = Field(min_length=1)
    promotions: tuple[Promotion, ...] = ()
    gift_cards: GiftCardPolicy = GiftCardPolicy()
    rules: OrderRules = OrderRules()
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
