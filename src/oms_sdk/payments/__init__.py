"""Payment gateways: the protocol every gateway speaks, and the two built-in ones."""

from ._builtin import ManualGateway, SandboxGateway, SandboxGatewayError, SANDBOX_TOKENS
from ._gateway import GatewayResult, PaymentGateway, PaymentRequest

__all__ = [
    "SANDBOX_TOKENS",
    "GatewayResult",
    "ManualGateway",
    "PaymentGateway",
    "PaymentRequest",
    "SandboxGateway",
    "SandboxGatewayError",
]
