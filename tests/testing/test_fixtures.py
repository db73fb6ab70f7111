"""The fixtures of ``oms_sdk.testing``: an order goes from cart to placed with them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from oms_sandbox_payments import SandboxGateway

from oms_sdk import (
    OMS,
    Address,
    Money,
    OrderEvent,
    PaymentDeclined,
    PaymentGateway,
    TransitionNotAllowed,
    hookimpl,
)
from oms_sdk.testing import (
    START,
    Checkout,
    FakeClock,
    checkout,
    default_address,
    example_policies,
    using_postgresql,
)

pytest_plugins = ["oms_sdk.testing", "pytester"]


def test_an_order_goes_from_cart_to_placed(oms: OMS, make_order: Checkout) -> None:
    cart = make_order("EU")

    assert (cart.status, cart.payment_status) == ("pending", "unpaid")
    assert [(line.sku, line.quantity) for line in cart.lines] == [("TEE-ORG-M", 1)]
    assert cart.shipping_address == default_address("EU")
    assert (cart.shipping_method, cart.payment_method) == ("standard", "card")
    assert cart.totals.total == Money.parse("34.80", "EUR")  # 29.90 + 4.90 shipping

    placed = oms.place(cart.id)

    assert (placed.status, placed.payment_status) == ("placed", "authorized")
    assert [(t.kind, t.gateway, t.amount, t.succeeded) for t in placed.transactions] == [
        ("authorization", "sandbox", Money.parse("34.80", "EUR"), True)
    ]
    captured = oms.capture(placed.id)
    approved = oms.approve(captured.id)
    assert (approved.status, approved.payment_status, approved.fulfillment_status) == (
        "approved",
        "paid",
        "in_progress",
    )


@pytest.mark.parametrize(
    ("market", "status", "payment_status"),
    [
        ("US", "placed", "paid"),  # auto-capture
        ("JP", "placed", "authorized"),
        ("NO", "placed", "paid"),
    ],
)
def test_every_example_market_checks_out(
    oms: OMS, make_order: Checkout, market: str, status: str, payment_status: str
) -> None:
    cart = make_order(market)
    assert cart.shipping_address == default_address(market)
    assert cart.shipping_address.country == market
    placed = oms.place(cart.id)
    assert (placed.status, placed.payment_status) == (status, payment_status)
    assert placed.currency == oms.policies.market(market).currency


def test_a_declining_token_and_a_manual_method(oms: OMS, make_order: Checkout) -> None:
    declined = make_order("EU", payment_source="tok_chargeDeclined")
    with pytest.raises(PaymentDeclined) as caught:
        oms.place(declined.id)
    assert caught.value.error_code == "card_declined"
    assert oms.get_order(declined.id).status == "pending"

    transfer = make_order(
        "EU", [("MUG-CER-350", 2)], payment_method="bank_transfer", payment_source=None
    )
    assert transfer.totals.payment_surcharge == Money.parse("1.50", "EUR")
    placed = oms.place(transfer.id)
    assert placed.transactions[0].gateway == "manual"


def test_a_digital_order_needs_no_shipping_method(oms: OMS, make_order: Checkout) -> None:
    cart = make_order("EU", [("EBOOK-CARE", 1)])
    assert cart.shipping_method is None
    placed = oms.place(cart.id)
    assert placed.fulfillment_status == "not_required"


def test_checkout_takes_explicit_choices(oms: OMS) -> None:
    address = Address(name="A", line1="B 1", city="C", postal_code="1", country="AT")
    cart = checkout(
        oms,
        "EU",
        [("HOODIE-MER-L", 1), ("SOCKS-3PK", 2)],
        shipping_method="express",
        address=address,
        email="someone@example.org",
        payment_method=None,
    )
    assert cart.shipping_method == "express"
    assert cart.billing_address == address
    assert cart.customer_email == "someone@example.org"
    assert cart.payment_method is None
    with pytest.raises(TransitionNotAllowed):
        oms.place(cart.id)


def test_the_oms_runs_on_the_fake_clock_in_memory(
    oms: OMS, clock: FakeClock, make_order: Checkout
) -> None:
    expected = "postgresql" if using_postgresql() else "sqlite"
    assert oms.store.dialect == expected
    if not using_postgresql():
        assert oms.store.url.render_as_string() == "sqlite://"
    placed = oms.place(make_order("EU").id)
    assert placed.placed_at == START
    clock.advance(days=8)  # EU card authorizations are valid 7 days
    with pytest.raises(TransitionNotAllowed, match="authorization expired"):
        oms.capture(placed.id)


def test_fake_clock() -> None:
    clock = FakeClock()
    assert clock() == START
    assert clock.advance(hours=1, minutes=30) == START + timedelta(hours=1, minutes=30)
    assert clock.advance(timedelta(days=1)) == START + timedelta(days=1, hours=1, minutes=30)
    with pytest.raises(ValueError, match="only moves forward"):
        clock.advance(seconds=-1)
    assert clock.set(START) == START
    with pytest.raises(ValueError, match="aware"):
        clock.set(datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="aware"):
        FakeClock(datetime(2026, 1, 1))
    assert FakeClock(datetime(2030, 1, 1, tzinfo=UTC))().year == 2030


def test_example_policies_are_the_sdks_own() -> None:
    found = example_policies()
    assert (found / "eu.yaml").is_file()


def test_default_address_of_an_unknown_market_is_still_valid() -> None:
    assert default_address("XX").country == "US"


class TestOverridingTheOMSFixtures:
    """A plugin's tests override ``oms_gateways`` / ``oms_plugins`` to bring their own."""

    @pytest.fixture
    def sandbox(self) -> SandboxGateway:
        return SandboxGateway()

    @pytest.fixture
    def oms_gateways(self, sandbox: SandboxGateway) -> list[PaymentGateway]:
        return [sandbox]

    @pytest.fixture
    def events(self) -> list[str]:
        return []

    @pytest.fixture
    def oms_plugins(self, events: list[str]) -> list[object]:
        class Recorder:
            @hookimpl
            def oms_order_committed(self, event: OrderEvent) -> None:
                events.append(event.name)

        return [Recorder()]

    def test_the_handed_gateway_moves_the_money(
        self, oms: OMS, make_order: Checkout, sandbox: SandboxGateway, events: list[str]
    ) -> None:
        placed = oms.place(make_order("EU").id)
        reference = placed.transactions[0].reference
        assert reference in sandbox.authorizations
        assert oms.gateways["sandbox"] is sandbox
        assert events[-1] == "orders.place"


def test_the_fixtures_work_when_imported_directly(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from oms_sdk.testing import clock, make_order, oms  # noqa: F401
        from oms_sdk.testing import oms_gateways, oms_plugins, oms_policy_paths  # noqa: F401

        def test_place(oms, make_order):
            assert oms.place(make_order("JP").id).status == "placed"
        """
    )
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)
