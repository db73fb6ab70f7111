"""Market policy files: the rules of each market, as validated data."""

from ._models import (
    BUILTIN_STATUSES,
    CatalogItem,
    FixedAmountPromotion,
    GiftCardPolicy,
    LifecycleStep,
    MarketPolicy,
    OrderRules,
    PaymentMethodPolicy,
    PercentagePromotion,
    PolicyFile,
    PriceList,
    Promotion,
    ShippingMethodPolicy,
)

__all__ = [
    "BUILTIN_STATUSES",
    "CatalogItem",
    "FixedAmountPromotion",
    "GiftCardPolicy",
    "LifecycleStep",
    "MarketPolicy",
    "OrderRules",
    "PaymentMethodPolicy",
    "PercentagePromotion",
    "PolicyFile",
    "PriceList",
    "Promotion",
    "ShippingMethodPolicy",
]
