from setup import placed_order

from oms_sdk import OMS, IdempotencyConflict

with OMS.open("config_examples", "sqlite://") as oms:
    order = placed_order(oms)
    first = oms.capture(order.id, "20.00", idempotency_key="capture-7f3a")
    again = oms.capture(order.id, "20.00", idempotency_key="capture-7f3a")  # a retry
    assert again == first  # the first answer, and no second capture
    print(len([t for t in again.transactions if t.kind == "capture"]), "capture")
    try:
        oms.capture(order.id, "30.00", idempotency_key="capture-7f3a")  # another request
    except IdempotencyConflict as refused:
        print("refused:", refused)
