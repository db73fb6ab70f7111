"""The SDK's own Alembic environment (see ``oms_sdk.store._migrate``).

Run it through ``oms db upgrade`` or ``oms_sdk.store.upgrade``: there is no ``alembic.ini``.
Revisions here create and change only the SDK's core tables (``_migrate.CORE_TABLES``); a plugin
that adds tables ships its own migrations. To write a new revision, from a checkout::

    python -m oms_sdk.store.migrations revision -m "add oms_foo" --autogenerate \\
        --database sqlite:///at-head.sqlite3

then review the generated file like any hand-written migration.
"""
