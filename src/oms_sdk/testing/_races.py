"""Release many threads at once, for tests of what concurrent requests do to one order."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

__all__ = ["all_at_once"]

T = TypeVar("T")


def all_at_once(count: int, work: Callable[[int], T]) -> list[T | Exception]:
    """Run ``work(0)`` … ``work(count - 1)`` in ``count`` threads released by one barrier.

    Returns each call's result or the exception it raised, in call order, so a test can count
    winners and check that every loser got a typed error. Each thread's OMS commands take
    their own database connection from the pool, as concurrent web requests would.
    """
    barrier = threading.Barrier(count)

    def run(index: int) -> T | Exception:
        barrier.wait()
        try:
            return work(index)
        except Exception as exc:
            return exc

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))
