"""prefetched: a producer runs ahead in a thread, bounded, its errors and its end reach the consumer."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from flex_provider.prefetch import prefetched


def test_items_arrive_in_order_and_complete() -> None:
    assert list(prefetched(iter(range(1000)), 3)) == list(range(1000))


def test_the_producer_runs_in_another_thread_and_at_most_depth_ahead() -> None:
    made: list[int] = []
    threads: set[str] = set()

    def produce() -> Iterator[int]:
        for i in range(20):
            threads.add(threading.current_thread().name)
            made.append(i)
            yield i

    items = prefetched(produce(), 2, name="flex-test")
    assert next(items) == 0
    time.sleep(0.5)  # give the producer every chance to run ahead
    # one handed over, two waiting in the queue, one blocked in hand-over: never the whole input
    assert len(made) <= 4
    assert threads == {"flex-test"}
    assert list(items) == list(range(1, 20))


def test_a_producer_error_is_raised_as_itself_after_the_items_before_it() -> None:
    class Broken(Exception):
        pass

    def produce() -> Iterator[int]:
        yield 1
        yield 2
        raise Broken("row 3 is malformed")

    items = prefetched(produce())
    assert [next(items), next(items)] == [1, 2]
    with pytest.raises(Broken, match="row 3 is malformed"):
        next(items)


def test_stopping_early_stops_and_closes_the_producer() -> None:
    class Rows:
        """An endless source with a close (a driver's cursor), held here so nothing else closes it."""

        def __init__(self) -> None:
            self.closed = threading.Event()
            self.n = 0

        def __iter__(self) -> Rows:
            return self

        def __next__(self) -> int:
            self.n += 1
            return self.n

        def close(self) -> None:
            self.closed.set()

    rows = Rows()
    items = prefetched(rows, 2)
    assert [next(items) for _ in range(3)] == [1, 2, 3]
    items.close()
    assert rows.closed.wait(5)
    stopped_at = rows.n
    time.sleep(0.3)
    assert rows.n == stopped_at  # the producer stopped too
