"""Iteration helpers (imaging_hub/iterate.py): chunking and an in-order, windowed pool map."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

from imaging_hub.iterate import chunked, in_order


def test_chunked_keeps_order_and_a_short_last_chunk() -> None:
    assert list(chunked(range(7), 3)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(chunked([], 3)) == []


def test_in_order_gives_results_in_the_items_order_with_a_bounded_window() -> None:
    taken = 0  # items the map has pulled from the input
    most_ahead = 0
    lock = threading.Lock()

    def items() -> Iterator[int]:
        nonlocal taken
        for i in range(40):
            with lock:
                taken += 1
            yield i

    def slow_first(i: int) -> int:
        if i % 5 == 0:
            threading.Event().wait(0.01)  # later items finish first
        return i * i

    out = []
    with ThreadPoolExecutor(max_workers=4) as pool:
        for n, result in enumerate(in_order(pool, slow_first, items(), window=6), start=1):
            out.append(result)
            with lock:
                most_ahead = max(most_ahead, taken - n)
    assert out == [i * i for i in range(40)]
    # submitted and not yet taken: never more than the window (Executor.map would have
    # pulled all 40 items before giving the first result)
    assert most_ahead <= 6
