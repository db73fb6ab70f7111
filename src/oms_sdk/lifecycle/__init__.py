"""Order lifecycles: status values, the transition table as data, and its compiler."""

from ._compiler import Lifecycle, LifecycleCompiler, LifecycleEffects, render_mermaid
from ._definition import (
    BUILTIN_TRIGGERS,
    DefinitionProblem,
    LifecycleDefinition,
    LifecycleDefinitionError,
    StateSpec,
    TransitionSpec,
    check_market,
    define_lifecycle,
)
from ._guards import Guard, OrderFacts
from ._shipments import SHIPMENT_TRANSITIONS, ShipmentLifecycle
from ._statuses import FulfillmentStatus, OrderStatus, PaymentStatus, ShipmentStatus
from ._svg import render_svg

__all__ = [
    "BUILTIN_TRIGGERS",
    "SHIPMENT_TRANSITIONS",
    "DefinitionProblem",
    "FulfillmentStatus",
    "Guard",
    "Lifecycle",
    "LifecycleCompiler",
    "LifecycleDefinition",
    "LifecycleDefinitionError",
    "LifecycleEffects",
    "OrderFacts",
    "OrderStatus",
    "PaymentStatus",
    "ShipmentLifecycle",
    "ShipmentStatus",
    "StateSpec",
    "TransitionSpec",
    "check_market",
    "define_lifecycle",
    "render_mermaid",
    "render_svg",
]
