"""A placed order of 59.80 EUR, paid by card: the starting point of the other examples."""

from oms_sdk import OMS, OrderView


def placed_order(oms: OMS) -> OrderView:
    order = oms.create_order("EU", customer_email="ada@example.com")
    oms.add_line_item(order.id, "TEE-ORG-M", 2)
    oms.set_addresses(
        order.id,
        {"name": "Ada Lovelace", "line1": "Via Roma 1", "city": "Milano",
         "postal_code": "20121", "country": "IT"},
    )  # fmt: skip
    oms.select_shipping_method(order.id, "standard")
    oms.select_payment_method(order.id, "card", payment_source="tok_visa")
    return oms.place(order.id)
