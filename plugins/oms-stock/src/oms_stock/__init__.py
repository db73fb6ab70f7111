"""Stock for oms-sdk, kept in the SDK's own database, with Commerce Layer's inventory strategies.

Registered under the ``oms_sdk`` entry-point group as ``stock``: list it in a policy file's
``plugins:`` and give markets an ``extensions.stock`` section (see the README). To register it
by hand instead, pass ``oms_stock.plugin`` (registered under the name ``stock``, which the
``extensions.stock`` section needs) to ``OMS.open(..., plugins=[...])``.

Placing an order reserves its shippable lines, in the same transaction as the order and before
any money moves; approval decrements on hand; cancellation releases.
"""

from __future__ import annotations

from ._api import (
    Reservation,
    StockError,
    StockLevel,
    adjust_stock,
    decrement_stock,
    reservations_of,
    set_stock,
    stock_levels,
)
from ._config import SECTION, InventoryModelPolicy, StockLocationPolicy, StockPolicy
from ._hooks import (
    oms_check_market,
    oms_decrement_stock,
    oms_migrations,
    oms_opened,
    oms_plan_shipments,
    oms_release_stock,
    oms_stock_problems,
)
from ._planner import STRATEGIES, Strategy

__all__ = [
    "SECTION",
    "STRATEGIES",
    "InventoryModelPolicy",
    "Reservation",
    "StockError",
    "StockLevel",
    "StockLocationPolicy",
    "StockPolicy",
    "Strategy",
    "adjust_stock",
    "decrement_stock",
    "oms_check_market",
    "oms_decrement_stock",
    "oms_migrations",
    "oms_opened",
    "oms_plan_shipments",
    "oms_release_stock",
    "oms_stock_problems",
    "plugin",
    "reservations_of",
    "set_stock",
    "stock_levels",
]


class _Plugin:
    """The hooks of this module under the plugin name ``stock``.

    pluggy names an object registered without a name after its ``__name__``; the module's
    would be ``oms_stock``, but the SDK only accepts ``extensions.stock`` from a plugin named
    ``stock`` (the entry-point name). Registering this object also keeps a policy that lists
    ``plugins: [stock]`` from loading the module a second time.
    """

    __name__ = SECTION
    oms_check_market = staticmethod(oms_check_market)
    oms_migrations = staticmethod(oms_migrations)
    oms_opened = staticmethod(oms_opened)
    oms_stock_problems = staticmethod(oms_stock_problems)
    oms_plan_shipments = staticmethod(oms_plan_shipments)
    oms_release_stock = staticmethod(oms_release_stock)
    oms_decrement_stock = staticmethod(oms_decrement_stock)

    def __repr__(self) -> str:
        return "<oms_stock plugin 'stock'>"


#: Pass to ``OMS.open(..., plugins=[oms_stock.plugin])`` to enable the plugin without listing
#: it in the policy file.
plugin = _Plugin()
