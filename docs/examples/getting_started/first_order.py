from oms_sdk import OMS

with OMS.open("config_examples", "sqlite:///shop.sqlite3") as oms:
    order = oms.create_order("EU", customer_email="ada@example.com")
    oms.add_line_item(order.id, "TEE-ORG-M", 2)
    oms.set_addresses(
        order.id,
        {"name": "Ada Lovelace", "line1": "Via Roma 1", "city": "Milano",
         "postal_code": "20121", "country": "IT"},
    )  # fmt: skip
    oms.select_shipping_method(order.id, "standard")
    oms.select_payment_method(order.id, "card", payment_source="tok_visa")
    order = oms.place(order.id)  # authorizes the card: status placed
    order = oms.capture(order.id)  # debits it: payment_status paid
    order = oms.approve(order.id)  # fulfillment may start
    for shipment in order.shipments:
        order = oms.ship(order.id, shipment.number, tracking_number="1Z999")
    order = oms.refund(order.id, "5.00")  # a partial refund, in euros
    print(order.number, order.status, order.payment_status, order.fulfillment_status)
    print(order.totals.total.format(), "paid,", order.refunded.format(), "refunded")
