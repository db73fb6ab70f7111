"""The sandbox gateway passes the gateway conformance suite of ``oms_sdk.testing``, every rule."""

from __future__ import annotations

import pytest
from oms_sandbox_payments import SandboxGateway

from oms_sdk.testing import GatewayConformance


class TestSandboxConformance(GatewayConformance):
    currency = "EUR"
    success_source = "tok_visa"
    decline_source = "tok_chargeDeclined"
    supports_partial_capture = True

    @pytest.fixture
    def gateway(self) -> SandboxGateway:
        return SandboxGateway()


class TestSandboxConformanceInYen(TestSandboxConformance):
    """A currency without minor units: amounts are whole yen."""

    currency = "JPY"
    success_source = "tok_mastercard"
    decline_source = "tok_chargeDeclinedInsufficientFunds"
