"""``python -m oms_sdk.store.migrations revision …``: write a new revision (developers only)."""

from oms_sdk.store._migrate import _main

_main()
