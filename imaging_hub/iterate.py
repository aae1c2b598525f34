"""Iteration helpers shared along the data path (indexers, the cohort store): fixed-size
chunks, and a thread pool's results in their items' order with a bounded window."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def chunked(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """``items`` in lists of ``size`` (the last one shorter)."""
    chunk: list[T] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def in_order(pool: Executor, fn: Callable[[T], R], items: Iterable[T], window: int,
             ) -> Iterator[R]:
    """``fn`` of each item run on ``pool``, the results in the items' order, with at most
    ``window`` submitted and not yet taken (``Executor.map`` submits every item at once)."""
    pending: deque[Future[R]] = deque()
    for item in items:
        pending.append(pool.submit(fn, item))
        if len(pending) >= window:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()
