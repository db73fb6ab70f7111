"""A checkout over HTTP against ``app.py``, as a shop's front end and back office would run it.

Each ``assert`` states the answer the API gives. The documentation's tests run ``checkout``
through FastAPI's ``TestClient``; against a running server (``uvicorn app:app`` in this
folder), run ``python session.py``.
"""

import os
import uuid

import httpx

ADDRESS = {
    "name": "Ada Lovelace",
    "line1": "Via Roma 1",
    "city": "Milano",
    "postal_code": "20121",
    "country": "IT",
}


def new_key() -> dict[str, str]:
    """A fresh Idempotency-Key: one per request, resent unchanged only to retry that request."""
    return {"Idempotency-Key": str(uuid.uuid4())}


def eur(minor: int) -> dict[str, object]:
    """How the API writes an amount: integer minor units and a currency, never a float."""
    return {"minor": minor, "currency": "EUR"}


def checkout(http: httpx.Client) -> str:
    """Fill a cart, place it, capture it, refund part of it; return the order's id."""
    # A cart in the EU market: 201 Created, with the new order's URL.
    created = http.post(
        "/orders", json={"market": "EU", "customer_email": "ada@example.com"}, headers=new_key()
    )
    assert created.status_code == 201
    order: str = created.json()["id"]
    assert created.headers["Location"] == f"/orders/{order}"

    # Lines are priced from the policy: the client sends SKUs and quantities, never prices.
    http.post(f"/orders/{order}/lines", json={"sku": "TEE-ORG-M", "quantity": 2}, headers=new_key())
    http.post(f"/orders/{order}/lines", json={"sku": "MUG-CER-350"}, headers=new_key())
    http.put(f"/orders/{order}/addresses", json={"billing": ADDRESS}, headers=new_key())
    http.put(f"/orders/{order}/shipping-method", json={"code": "standard"}, headers=new_key())
    cart = http.put(
        f"/orders/{order}/payment-method",
        json={"code": "card", "payment_source": "tok_visa"},  # the gateway's token
        headers=new_key(),
    ).json()
    assert cart["status"] == "pending"
    assert cart["totals"]["total"] == eur(7430)  # 2 x 29.90 + 14.50; shipping free over 50.00

    # Placing authorizes the card; EU cards are captured when the goods ship.
    placed = http.post(f"/orders/{order}/place", headers=new_key())
    assert placed.status_code == 200
    assert (placed.json()["status"], placed.json()["payment_status"]) == ("placed", "authorized")

    captured = http.post(f"/orders/{order}/capture", headers=new_key()).json()
    assert captured["payment_status"] == "paid"
    assert captured["captured"] == eur(7430)

    # A refund whose answer got lost is retried with the same key: same answer, no new refund.
    refund = new_key()
    first = http.post(f"/orders/{order}/refunds", json={"amount": "10.00"}, headers=refund)
    retry = http.post(f"/orders/{order}/refunds", json={"amount": "10.00"}, headers=refund)
    assert first.status_code == retry.status_code == 200
    assert retry.json() == first.json()
    assert first.json()["payment_status"] == "partially_refunded"
    assert first.json()["refunded"] == eur(1000)

    # The SDK refuses what the order does not allow, and says why; nothing changes.
    too_much = http.post(f"/orders/{order}/refunds", json={"amount": "80.00"}, headers=new_key())
    assert too_much.status_code == 409
    assert too_much.json()["error"] == "PaymentAmountError"
    assert "only €64.30 left to refund" in too_much.json()["detail"]

    # Amounts are strings: a JSON number is refused before it reaches the SDK.
    floating = http.post(f"/orders/{order}/refunds", json={"amount": 10.0}, headers=new_key())
    assert floating.status_code == 422

    assert http.get(f"/orders/{order}").json()["refunded"] == eur(1000)
    return order


if __name__ == "__main__":
    with httpx.Client(base_url=os.environ.get("ORDERS_API", "http://127.0.0.1:8000")) as http:
        print("checked out order", checkout(http))
