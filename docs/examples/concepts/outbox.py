from setup import placed_order

from oms_sdk import OMS, OrderEvent


class PrintingPublisher:
    """Any object with a name and publish(): a broker, webhooks, an audit log."""

    name = "printer"

    def publish(self, event: OrderEvent) -> None:  # raise to have it offered again
        print(f"{event.name:<30} {' / '.join(event.statuses)}")


with OMS.open("config_examples", "sqlite://") as oms:
    order = placed_order(oms)
    oms.capture(order.id)
    report = oms.relay_outbox(publishers=[PrintingPublisher()])
    print(report.delivered, "waiting:", report.waiting)
