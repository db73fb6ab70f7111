"""Payment gateways: the protocol every gateway speaks, and the built-in ``manual`` one."""

from ._builtin import ManualGateway
from ._gateway import AsyncPaymentGateway, GatewayResult, PaymentGateway, PaymentRequest

__all__ = [
    "AsyncPaymentGateway",
    "GatewayResult",
    "ManualGateway",
    "PaymentGateway",
    "PaymentRequest",
]
