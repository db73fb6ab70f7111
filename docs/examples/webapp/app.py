"""An HTTP API for orders: a FastAPI application that embeds oms-sdk.

One ``OMS`` per process, opened at startup and shared by every request. One endpoint per SDK
command, so a request is one unit of work with one idempotency key. One exception handler that
turns the SDK's errors into HTTP statuses. Serve it with any ASGI server, from this folder::

    OMS_DATABASE_URL=sqlite:///shop.sqlite3 uvicorn app:app

Configuration comes from the environment:

* ``OMS_POLICY_PATH``: a policy file, or a folder of them (default: this repository's
  ``config_examples``);
* ``OMS_DATABASE_URL``: where the orders live (default ``sqlite:///oms.sqlite3``; PostgreSQL
  when several processes serve the API).
"""

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from http import HTTPStatus
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from oms_sdk import (
    OMS,
    Address,
    ConcurrentModification,
    GiftCardError,
    IdempotencyConflict,
    InvalidOrderInput,
    MoneyError,
    OMSError,
    OrderError,
    OrderNotFound,
    OrderView,
    OutOfStock,
    PaymentActionRequired,
    PaymentAmountError,
    PaymentDeclined,
    PaymentOutcomeUnknown,
    TransitionNotAllowed,
)

log = logging.getLogger(__name__)

#: This repository's example policies. A deployment sets ``OMS_POLICY_PATH``.
EXAMPLE_POLICIES = Path(__file__).resolve().parents[3] / "config_examples"


# --8<-- [start:lifespan]
@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Open the process's one OMS before the first request; close its pool after the last.

    Opening loads and checks the policy files and plugins, and compiles every lifecycle: work
    for startup, not for a request. Each worker process runs this for itself.
    """
    policy_path = os.environ.get("OMS_POLICY_PATH", str(EXAMPLE_POLICIES))
    database_url = os.environ.get("OMS_DATABASE_URL", "sqlite:///oms.sqlite3")
    with OMS.open(policy_path, database_url) as oms:
        app.state.oms = oms
        yield
        # --8<-- [end:lifespan]


app = FastAPI(title="Orders", lifespan=lifespan)


def get_oms(request: Request) -> OMS:
    """The process's OMS. It is thread-safe: every request shares it."""
    oms: OMS = request.app.state.oms
    return oms


OMSDep = Annotated[OMS, Depends(get_oms)]
#: Sent by the client, unchanged on every retry of one request; 255 characters at most.
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=255)]


# -- requests ------------------------------------------------------------------------------------


class RequestModel(BaseModel):
    """Unknown fields are refused: a misspelt ``amount`` must not capture everything."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


#: Money in major units of the order's currency, as a string ("10.00"). A JSON number is
#: refused: 0.1 has no exact binary value, so no float is ever money.
Amount = Annotated[str, Field(strict=True, pattern=r"^\d+(\.\d+)?$", examples=["10.00"])]


class NewOrder(RequestModel):
    market: str = Field(examples=["EU"])
    customer_email: str | None = None


class NewLine(RequestModel):
    sku: str = Field(examples=["TEE-ORG-M"])
    quantity: Annotated[int, Field(strict=True, gt=0)] = 1


class Customer(RequestModel):
    email: str


class Addresses(RequestModel):
    billing: Address
    shipping: Address | None = None
    """None: ship to the billing address."""


class ShippingMethod(RequestModel):
    code: str = Field(examples=["standard"])


class PaymentMethod(RequestModel):
    code: str = Field(examples=["card"])
    payment_source: str | None = Field(default=None, examples=["tok_visa"])
    """The gateway's token for the card (never a card number: the SDK refuses those)."""


class Capture(RequestModel):
    amount: Amount | None = None
    """None: everything still authorized."""


class Refund(RequestModel):
    amount: Amount


# -- responses -----------------------------------------------------------------------------------


def order_json(order: OrderView, code: int = status.HTTP_200_OK) -> JSONResponse:
    """The order as JSON; amounts are ``{"minor": 7430, "currency": "EUR"}``, never floats.

    A ready response rather than ``response_model=OrderView``: ``Money`` has no JSON Schema for
    serialization, so FastAPI could not build the OpenAPI document from it.
    """
    return JSONResponse(order.model_dump(mode="json"), status_code=code)


# -- carts ---------------------------------------------------------------------------------------


@app.post("/orders", status_code=status.HTTP_201_CREATED)
def create_order(body: NewOrder, oms: OMSDep, key: IdempotencyKey = None) -> JSONResponse:
    order = oms.create_order(body.market, customer_email=body.customer_email, idempotency_key=key)
    response = order_json(order, status.HTTP_201_CREATED)
    response.headers["Location"] = f"/orders/{order.id}"
    return response


@app.get("/orders/{order_id}")
def get_order(order_id: str, oms: OMSDep) -> JSONResponse:
    """The order by id or by number (``EU-000042``)."""
    return order_json(oms.get_order(order_id))


@app.post("/orders/{order_id}/lines")
def add_line(order_id: str, body: NewLine, oms: OMSDep, key: IdempotencyKey = None) -> JSONResponse:
    """Add a quantity of a SKU; the price comes from the market's policy, never the client."""
    return order_json(oms.add_line_item(order_id, body.sku, body.quantity, idempotency_key=key))


@app.put("/orders/{order_id}/customer")
def set_customer(
    order_id: str, body: Customer, oms: OMSDep, key: IdempotencyKey = None
) -> JSONResponse:
    return order_json(oms.set_customer(order_id, body.email, idempotency_key=key))


@app.put("/orders/{order_id}/addresses")
def set_addresses(
    order_id: str, body: Addresses, oms: OMSDep, key: IdempotencyKey = None
) -> JSONResponse:
    order = oms.set_addresses(order_id, body.billing, body.shipping, idempotency_key=key)
    return order_json(order)


@app.put("/orders/{order_id}/shipping-method")
def select_shipping_method(
    order_id: str, body: ShippingMethod, oms: OMSDep, key: IdempotencyKey = None
) -> JSONResponse:
    return order_json(oms.select_shipping_method(order_id, body.code, idempotency_key=key))


@app.put("/orders/{order_id}/payment-method")
def select_payment_method(
    order_id: str, body: PaymentMethod, oms: OMSDep, key: IdempotencyKey = None
) -> JSONResponse:
    order = oms.select_payment_method(
        order_id, body.code, payment_source=body.payment_source, idempotency_key=key
    )
    return order_json(order)


# -- payments and the lifecycle ------------------------------------------------------------------


@app.post("/orders/{order_id}/place")
def place(order_id: str, oms: OMSDep, key: IdempotencyKey = None) -> JSONResponse:
    """Authorize the payment and place the order (402 declined, 202 the customer must act)."""
    return order_json(oms.place(order_id, idempotency_key=key))


@app.post("/orders/{order_id}/payment-actions/{action_id}/complete")
def complete_payment_action(
    order_id: str, action_id: str, oms: OMSDep, key: IdempotencyKey = None
) -> JSONResponse:
    """Record how the customer's 3-D Secure challenge ended; 202 while the gateway waits."""
    order = oms.complete_payment_action(order_id, action_id, idempotency_key=key)
    waiting = any(t.action_id == action_id and t.pending for t in order.transactions)
    return order_json(order, status.HTTP_202_ACCEPTED if waiting else status.HTTP_200_OK)


@app.post("/orders/{order_id}/capture")
def capture(
    order_id: str, oms: OMSDep, body: Capture | None = None, key: IdempotencyKey = None
) -> JSONResponse:
    """Capture an amount, or without a body everything still authorized."""
    amount = body.amount if body is not None else None
    return order_json(oms.capture(order_id, amount, idempotency_key=key))


# --8<-- [start:refund]
@app.post("/orders/{order_id}/refunds")
def refund(order_id: str, body: Refund, oms: OMSDep, key: IdempotencyKey = None) -> JSONResponse:
    """Refund an amount; refunding everything that is left cancels the order."""
    return order_json(oms.refund(order_id, body.amount, idempotency_key=key))
    # --8<-- [end:refund]


@app.post("/orders/{order_id}/cancel")
def cancel(order_id: str, oms: OMSDep, key: IdempotencyKey = None) -> JSONResponse:
    """Cancel: the authorization is voided, or what was captured is refunded."""
    return order_json(oms.cancel(order_id, idempotency_key=key))


# -- errors --------------------------------------------------------------------------------------

#: The HTTP status of each SDK error; for an error the most specific class listed wins.
STATUS_OF: dict[type[OMSError], int] = {
    OrderNotFound: 404,
    InvalidOrderInput: 422,
    MoneyError: 422,
    GiftCardError: 422,
    TransitionNotAllowed: 409,
    PaymentAmountError: 409,
    OutOfStock: 409,
    ConcurrentModification: 409,
    IdempotencyConflict: 409,
    PaymentDeclined: 402,
    PaymentActionRequired: 202,
    PaymentOutcomeUnknown: 502,
}


def error_response(error: OMSError) -> JSONResponse:
    """The HTTP answer to an SDK error: its status, and a body that tells the client what to do.

    The status says whether to retry the same request (``Retry-After``), fix the request (4xx)
    or involve the customer (402, 202); the body says why, in the SDK's words.
    """
    code = next((STATUS_OF[cls] for cls in type(error).__mro__ if cls in STATUS_OF), 500)
    body: dict[str, Any] = {"error": type(error).__name__, "detail": str(error)}
    headers: dict[str, str] = {}
    if isinstance(error, OrderError) and error.order:
        body["order"] = error.order
    if isinstance(error, PaymentDeclined):
        body["code"] = error.error_code
    if isinstance(error, PaymentActionRequired):
        body["action_id"] = error.action_id
    if isinstance(error, ConcurrentModification):
        headers["Retry-After"] = "1"  # the order was busy: retry the same request
    if isinstance(error, PaymentOutcomeUnknown):
        headers["Retry-After"] = "10"  # the same key asks the gateway again, never twice
    if code >= 500:  # the message names internals: log it, do not send it
        log.error("%s: %s", type(error).__name__, error)
        body["detail"] = HTTPStatus(code).phrase
    return JSONResponse(body, status_code=code, headers=headers)


@app.exception_handler(OMSError)
async def sdk_error(request: Request, error: OMSError) -> JSONResponse:
    return error_response(error)


@app.exception_handler(RequestValidationError)
async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
    """A malformed request (a float amount, an unknown field) answers in the same shape."""
    problems = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()]
    body = {
        "error": "RequestValidationError",
        "detail": "; ".join(problems),
        "errors": jsonable_encoder(error.errors()),
    }
    return JSONResponse(body, status_code=422)
