"""The client end of the daemon's socket: `DaemonClient` calls operations and receives
events; `tapetui.engine.control.RemoteControl` is the `Control` built on it."""

from __future__ import annotations

import asyncio
import errno
import logging
from pathlib import Path
from typing import Any, AsyncIterator, Callable

from ..errors import UserError
from ..events import Event
from . import protocol
from .protocol import ProtocolError

log = logging.getLogger("tapetui.daemon.client")

#: Connecting and the daemon's hello must take no longer than this.
CONNECT_TIMEOUT_S = 5.0
#: Events kept for an `events()` reader that falls behind (older ones are dropped).
EVENT_QUEUE = 10_000


class NoDaemon(UserError):
    """No daemon listens on this home's socket."""


class DaemonGone(UserError):
    """The daemon closed the connection (it stopped, or it dropped this client)."""


class DaemonError(UserError):
    """The daemon refused or failed an operation; the message is its own."""

    def __init__(self, message: str, kind: str = "user", type_name: str = "") -> None:
        super().__init__(message)
        self.kind = kind
        self.type_name = type_name


class DaemonClient:
    """One connection: `call` operations, receive events (after `subscribe`)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, hello: dict[str, Any]) -> None:
        self._reader = reader
        self._writer = writer
        self.hello = hello
        self.pid: int = hello.get("pid", 0)
        self.dropped = 0  # events the daemon dropped because this client fell behind
        self.closed = asyncio.Event()
        self._next_id = 0
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._listeners: list[Callable[[Event], object]] = []
        self._queues: list[asyncio.Queue[Event | None]] = []
        self._on_close: list[Callable[[], object]] = []
        self._reader_task = asyncio.get_running_loop().create_task(self._read_loop(), name="daemon-client")

    @classmethod
    async def connect(cls, socket_path: Path, *, timeout: float = CONNECT_TIMEOUT_S) -> DaemonClient:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_unix_connection(str(socket_path), limit=protocol.READ_LIMIT), timeout)
        except (FileNotFoundError, ConnectionRefusedError):
            raise NoDaemon(f"no tapetui daemon listens on {socket_path}") from None
        except (TimeoutError, asyncio.TimeoutError):
            raise UserError(f"the tapetui daemon on {socket_path} does not answer (waited {timeout:g}s)") from None
        except OSError as e:
            if e.errno in (errno.ECONNREFUSED, errno.ENOENT):
                raise NoDaemon(f"no tapetui daemon listens on {socket_path}") from None
            raise UserError(f"cannot connect to the tapetui daemon on {socket_path}: {e.strerror or e}") from None
        try:
            hello = await asyncio.wait_for(protocol.read_message(reader), timeout)
        except (TimeoutError, asyncio.TimeoutError, ProtocolError, ConnectionError):
            hello = None
        if not hello or hello.get("hello") != "tapetui":
            writer.close()
            raise UserError(f"the process on {socket_path} did not greet as a tapetui daemon "
                            "(a daemon refuses other users)")
        if hello.get("version") != protocol.VERSION:
            writer.close()
            raise UserError(f"the daemon (pid {hello.get('pid')}) speaks protocol version {hello.get('version')}, "
                            f"this tapetui speaks {protocol.VERSION}; restart the daemon after upgrading")
        return cls(reader, writer, hello)

    # -- requests ------------------------------------------------------------------
    async def call(self, op: str, **args: Any) -> Any:
        """Run an operation in the daemon; its result in wire form. A refusal raises
        `DaemonError` (a `UserError` with the daemon's message); a lost daemon `DaemonGone`."""
        if self.closed.is_set():
            raise DaemonGone(self._gone_message())
        self._next_id += 1
        rid = self._next_id
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[rid] = future
        try:
            self._writer.write(protocol.encode({"id": rid, "op": op, "args": protocol.to_wire(args)}))
            await self._writer.drain()
            return await future
        except ConnectionError:
            raise DaemonGone(self._gone_message()) from None
        finally:
            self._pending.pop(rid, None)

    async def subscribe(self) -> None:
        """From now on the daemon sends this client every engine event."""
        await self.call("subscribe")

    # -- events --------------------------------------------------------------------
    def add_listener(self, listener: Callable[[Event], object]) -> None:
        """Call `listener(event)` for every event received, in order (e.g. `bus.publish`)."""
        self._listeners.append(listener)

    def on_close(self, callback: Callable[[], object]) -> None:
        """Call `callback()` once when the connection ends (the daemon went away)."""
        self._on_close.append(callback)

    async def events(self) -> AsyncIterator[Event]:
        """Every event received from now on, until the connection ends."""
        queue: asyncio.Queue[Event | None] = asyncio.Queue(EVENT_QUEUE)
        self._queues.append(queue)
        try:
            while not (self.closed.is_set() and queue.empty()):
                event = await queue.get()
                if event is None:
                    return
                yield event
        finally:
            self._queues.remove(queue)

    def _deliver(self, event: Event | None) -> None:
        for queue in self._queues:
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(event)
        if event is None:
            return
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:  # noqa: BLE001 - one bad listener must not end the connection
                log.exception("daemon event listener %r failed", listener)

    async def _read_loop(self) -> None:
        try:
            while True:
                message = await protocol.read_message(self._reader)
                if message is None:
                    break
                self._dispatch(message)
        except (ProtocolError, ConnectionError) as e:
            log.warning("connection to the daemon lost: %s", e)
        finally:
            self._ended()

    def _dispatch(self, message: dict[str, Any]) -> None:
        if "event" in message:
            try:
                event = protocol.event_from_wire(message)
            except ProtocolError as e:
                log.warning("an event from the daemon did not parse: %s", e)
                return
            if event is not None:
                self._deliver(event)
        elif "dropped" in message:
            self.dropped += int(message.get("dropped") or 0)
        elif "ok" in message:
            rid = message.get("id")
            future = self._pending.get(rid) if isinstance(rid, int) else None
            if future is None or future.done():
                if not message["ok"]:
                    log.warning("the daemon reported: %s", message.get("error"))
                return
            if message["ok"]:
                future.set_result(message.get("result"))
            else:
                err = message.get("error") or {}
                text = str(err.get("message", "the daemon refused the operation"))
                if err.get("kind") == "internal":
                    text = f"the daemon failed: {err.get('type')}: {text} (see the daemon's log)"
                future.set_exception(DaemonError(text, str(err.get("kind", "")), str(err.get("type", ""))))

    def _gone_message(self) -> str:
        return f"the tapetui daemon (pid {self.pid}) went away"

    def _ended(self) -> None:
        if self.closed.is_set():
            return
        self.closed.set()
        for future in self._pending.values():
            if not future.done():
                future.set_exception(DaemonGone(self._gone_message()))
        self._deliver(None)
        for callback in self._on_close:
            try:
                callback()
            except Exception:  # noqa: BLE001
                log.exception("daemon on_close callback %r failed", callback)

    async def wait_closed(self) -> None:
        await self.closed.wait()

    async def close(self) -> None:
        self._writer.close()
        self._reader_task.cancel()
        await asyncio.gather(self._reader_task, return_exceptions=True)
        self._ended()
