"""The engine's in-process event bus.

`publish` never waits: each subscriber has its own bounded queue drained by its
own task, so a slow subscriber (a busy screen, a stalled socket client) can only
lose its own oldest events -- it cannot block the engine or other subscribers.
Lost events are counted; run logs are stored in the database, so a subscriber
that fell behind can replay them.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections import deque
from typing import Any, Awaitable, Callable, TypeVar, Union, overload

from .events import Event

Handler = Callable[[Event], Union[None, Awaitable[None]]]
E = TypeVar("E", bound=Event)
log = logging.getLogger("tapetui.bus")


class Subscription:
    """One subscriber's queue and the task that hands it on. `handler` is given only
    events of `kinds` (any event when none): `Bus.subscribe` checks that it takes them."""

    def __init__(self, bus: Bus, handler: Callable[[Any], Awaitable[None] | None], kinds: tuple[type[Event], ...],
                 maxlen: int) -> None:
        self.bus = bus
        self.handler = handler
        self.kinds = kinds
        self.queue: deque[Event] = deque(maxlen=maxlen)
        self.dropped = 0
        self._wake = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._drain(), name="bus-subscriber")

    def offer(self, event: Event) -> None:
        if self.kinds and not isinstance(event, self.kinds):
            return
        if len(self.queue) == self.queue.maxlen:
            self.dropped += 1
        self.queue.append(event)
        self._wake.set()

    async def _drain(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            handled = 0
            while self.queue:
                event = self.queue.popleft()
                handled += 1
                if handled % 200 == 0:
                    await asyncio.sleep(0)  # let the engine run between long bursts
                try:
                    result = self.handler(event)
                    if inspect.isawaitable(result):
                        await result
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("event subscriber %r failed on %s", self.handler, type(event).__name__)

    def close(self) -> None:
        self.bus._subs.discard(self)
        self._task.cancel()


class Bus:
    def __init__(self) -> None:
        self._subs: set[Subscription] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    @overload
    def subscribe(self, handler: Handler, *, maxlen: int = 10_000) -> Subscription: ...
    @overload
    def subscribe(self, handler: Callable[[E], Awaitable[None] | None], kind: type[E], /, *kinds: type[E],
                  maxlen: int = 10_000) -> Subscription: ...
    def subscribe(self, handler: Callable[[Any], Awaitable[None] | None], *kinds: type[Event],
                  maxlen: int = 10_000) -> Subscription:
        """Call `handler` for every event (or only those of `kinds`), in order."""
        self._loop = asyncio.get_running_loop()
        sub = Subscription(self, handler, kinds, maxlen)
        self._subs.add(sub)
        return sub

    def publish(self, event: Event) -> None:
        """Hand the event to every subscriber; never blocks. Event-loop thread only."""
        for sub in list(self._subs):
            sub.offer(event)

    def publish_threadsafe(self, event: Event) -> None:
        """`publish` from a worker thread (the copy and hash threads)."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self.publish, event)

    async def drain(self, timeout: float = 5.0) -> None:
        """Wait (bounded) until every subscriber has handled what it was given."""
        async def _idle() -> None:
            while any(s.queue for s in self._subs):
                await asyncio.sleep(0.005)
        await asyncio.wait_for(_idle(), timeout)

    def close(self) -> None:
        for sub in list(self._subs):
            sub.close()
