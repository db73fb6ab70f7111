"""Market policy files: the rules of each market, as validated data."""

from ._loader import (
    MarketCheck,
    PolicySet,
    format_key_path,
    load_policies,
    load_policy_text,
    policy_json_schema,
)
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
from ._reference import policy_reference

__all__ = [
    "BUILTIN_STATUSES",
    "CatalogItem",
    "FixedAmountPromotion",
    "GiftCardPolicy",
    "LifecycleStep",
    "MarketCheck",
    "MarketPolicy",
    "OrderRules",
    "PaymentMethodPolicy",
    "PercentagePromotion",
    "PolicyFile",
    "PolicySet",
    "PriceList",
    "Promotion",
    "ShippingMethodPolicy",
    "format_key_path",
    "load_policies",
    "load_policy_text",
    "policy_json_schema",
    "policy_reference",
]
