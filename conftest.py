"""Shared by every test of the repository (SDK and plugins)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from oms_sdk.testing import using_postgresql


@pytest.fixture(autouse=True)
def _close_forgotten_connections() -> Iterator[None]:
    """On PostgreSQL, collect the OMS objects a test dropped, so their pools close and a long
    run never exhausts the server's connection slots."""
    yield
    if using_postgresql():
        gc.collect()
