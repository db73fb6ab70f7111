from setup import placed_order

from oms_sdk import OMS

with OMS.open("config_examples", "sqlite://") as oms:
    order = placed_order(oms)
    oms.capture(order.id, "40.00")  # part of it now,
    oms.capture(order.id)  # the rest later
    order = oms.refund(order.id, "10.00")
    for row in order.transactions:  # append-only: what each gateway call answered
        print(f"{row.kind:<13} {row.amount.format():>8}  succeeded={row.succeeded}")
    print("payment_status:", order.payment_status)  # derived from the rows, never set
