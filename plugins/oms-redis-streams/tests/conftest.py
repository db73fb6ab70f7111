"""A real Redis server (``$OMS_TEST_REDIS_URL``, default 127.0.0.1:6379) and one fresh stream
per test.

Tests that need the server fail when it is unreachable: a skipped test proves nothing. Set
``OMS_SKIP_REDIS=1`` to skip them instead, on a machine without Redis.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import redis

REDIS_URL = os.environ.get("OMS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def redis_url(redis_client: redis.Redis) -> str:
    """The test server's URL, once it answered."""
    return REDIS_URL


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=5)
    try:
        client.ping()
    except redis.ConnectionError as exc:
        client.close()
        if os.environ.get("OMS_SKIP_REDIS") == "1":
            pytest.skip(f"Redis unreachable at {REDIS_URL} and OMS_SKIP_REDIS=1")
        pytest.fail(
            f"Redis unreachable at {REDIS_URL} ({exc}); start it, point OMS_TEST_REDIS_URL "
            "at one, or set OMS_SKIP_REDIS=1 to skip these tests",
            pytrace=False,
        )
    yield client
    client.close()


@pytest.fixture
def stream(redis_client: redis.Redis) -> Iterator[str]:
    """A stream name no other test (or run) uses; the stream and its de-dup keys are deleted
    afterwards."""
    name = f"oms-test:{uuid.uuid4().hex}:order-events"
    yield name
    keys = [name, *redis_client.scan_iter(match=f"{name}:published:*", count=1000)]
    redis_client.delete(*keys)
