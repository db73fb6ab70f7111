"""Payment gateways: the protocol every gateway speaks, and the two built-in ones."""

from ._builtin import SANDBOX_TOKENS, ManualGateway, SandboxGateway, SandboxGatewayError
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
