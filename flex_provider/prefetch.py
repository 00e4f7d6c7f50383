"""
Run a producer a few items ahead in a thread, so its Python work overlaps the consumer's waiting.

The extract reads the database's next rows while the checks run on these; a COPY builds its next chunk
while the server stores this one. Items, the producer's exception and its end cross one bounded queue,
so memory holds at most ``depth`` items ahead whatever the input's size.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")
_DONE = object()


def prefetched(items: Iterable[T], depth: int = 2, *, name: str = "flex-prefetch") -> Iterator[T]:
    """
    ``items``, produced in a thread ``depth`` ahead. The producer's exception is raised here as itself;
    stopping early (closing this generator) stops the producer and closes ``items`` if it can be closed.
    """
    source = iter(items)
    q: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def hand_over(item: Any) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def pump() -> None:
        try:
            for item in source:
                if not hand_over(item):
                    return
            hand_over(_DONE)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            hand_over(exc)
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()  # a driver's connection, also when the consumer stopped early

    thread = threading.Thread(target=pump, name=name, daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join(timeout=30)
