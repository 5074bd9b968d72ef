"""The daemon's socket: commands in, the engine's events out, to every attached client.

The socket is created mode 0600 in the home and every connection's peer
credentials are checked (SO_PEERCRED): only the daemon's own user may talk to
it. Each client has its own outbox and writer task; replies are never dropped,
events are (oldest first) when a client falls behind, and a client that stops
reading for `write_timeout_s` is disconnected -- a slow console cannot stall the
daemon or the other consoles. Bad input (garbage, oversized lines, wrong
argument types) gets an error reply; it never reaches the engine.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import socket
import struct
from collections import deque
from pathlib import Path
from typing import Any

from ..bus import Subscription
from ..control.api import REMOTE_OPS
from ..control.local import LocalControl
from ..errors import UserError
from ..events import Event
from . import protocol
from .protocol import Oversized, ProtocolError

log = logging.getLogger("tapetui.daemon")

#: Events kept per client while it is not reading; older ones are dropped.
EVENT_BACKLOG = 5000
#: A client that has not taken what it was sent within this long is disconnected.
WRITE_TIMEOUT_S = 30.0
#: Requests one client may have running at once.
MAX_IN_FLIGHT = 16
#: How long a reply waits for the events its operation published to be queued first.
EVENT_FLUSH_S = 2.0
#: How long closing waits for connections to end (each flushes for at most 1 s).
CLOSE_WAIT_S = 5.0


class _Outbox:
    """Replies and events in the order they were produced; only events may be dropped."""

    def __init__(self, backlog: int) -> None:
        self.events: deque[tuple[int, bytes]] = deque(maxlen=backlog)
        self.replies: deque[tuple[int, bytes]] = deque()
        self.seq = 0
        self.dropped = 0
        self.wake = asyncio.Event()

    def _put(self, queue: deque[tuple[int, bytes]], data: bytes) -> None:
        self.seq += 1
        queue.append((self.seq, data))
        self.wake.set()

    def event(self, data: bytes) -> None:
        if len(self.events) == self.events.maxlen:
            self.dropped += 1
        self._put(self.events, data)

    def reply(self, data: bytes) -> None:
        self._put(self.replies, data)

    def pop(self) -> bytes | None:
        if self.events and (not self.replies or self.events[0][0] < self.replies[0][0]):
            return self.events.popleft()[1]
        if self.replies:
            return self.replies.popleft()[1]
        return None


class _Client:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, pid: int, backlog: int) -> None:
        self.reader = reader
        self.writer = writer
        self.pid = pid
        self.outbox = _Outbox(backlog)
        self.subscribed = False
        self.requests: set[asyncio.Task[None]] = set()
        self.writer_task: asyncio.Task[None] | None = None

    def send(self, message: dict[str, Any]) -> None:
        self.outbox.reply(protocol.encode(message))

    def close(self) -> None:
        if not self.writer.is_closing():
            self.writer.close()


def peer_uid(writer: asyncio.StreamWriter) -> tuple[int, int]:
    """(pid, uid) of the process at the other end of a Unix socket."""
    sock: socket.socket = writer.get_extra_info("socket")
    fmt = "3i"
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize(fmt))
    pid, uid, _gid = struct.unpack(fmt, creds)
    return pid, uid


class DaemonServer:
    def __init__(
        self, control: LocalControl, socket_path: Path, *, backlog: int = EVENT_BACKLOG,
        write_timeout_s: float = WRITE_TIMEOUT_S, max_in_flight: int = MAX_IN_FLIGHT,
    ) -> None:
        self.control = control
        self.engine = control.engine
        self.socket_path = socket_path
        self.backlog = backlog
        self.write_timeout_s = write_timeout_s
        self.max_in_flight = max_in_flight
        self._server: asyncio.AbstractServer | None = None
        self._clients: set[_Client] = set()
        self._requests: set[asyncio.Task[None]] = set()  # of every client, gone ones too
        self._connections: set[asyncio.Task[Any]] = set()  # one `_accept` per connection, until it ends
        self._sub: Subscription | None = None

    @property
    def clients(self) -> int:
        """Clients attached to follow its events (consoles, waiting commands); a
        one-off question (`daemon status`) is not one."""
        return sum(1 for c in self._clients if c.subscribed)

    async def start(self) -> None:
        """Listen on the socket (mode 0600; any file left there is stale: we hold the lock)."""
        path = self.socket_path
        path.unlink(missing_ok=True)
        old = os.umask(0o177)
        try:
            self._server = await asyncio.start_unix_server(self._accept, path=str(path),
                                                           limit=protocol.READ_LIMIT)
        except OSError as e:
            raise UserError(f"cannot listen on {path}: {e.strerror or e}") from None
        finally:
            os.umask(old)
        os.chmod(path, 0o600)
        self._sub = self.engine.bus.subscribe(self._broadcast)
        log.info("listening on %s", path)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        if self._sub is not None:
            self._sub.close()
            self._sub = None
        await asyncio.gather(*(self._flush_and_close(c) for c in list(self._clients)))
        await self._connections_ended()
        self.socket_path.unlink(missing_ok=True)

    async def _connections_ended(self) -> None:
        """Wait for every connection's handler to end (closing the server does not), so
        none is left for the event loop to cancel on its way out."""
        if self._connections:
            _, late = await asyncio.wait(list(self._connections), timeout=CLOSE_WAIT_S)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)

    # -- events ------------------------------------------------------------------
    def _broadcast(self, event: Event) -> None:
        try:
            data = protocol.encode(protocol.event_to_wire(event))
        except Oversized:
            log.warning("an event %s too large to send was left out", type(event).__name__)
            return
        for client in self._clients:
            if client.subscribed:
                client.outbox.event(data)

    async def _events_flushed(self) -> None:
        """Let the events an operation published reach the outboxes before its reply."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + EVENT_FLUSH_S
        while self._sub is not None and self._sub.queue and loop.time() < deadline:
            await asyncio.sleep(0.005)
        for _ in range(2):  # the subscriber may hold one event between queue and handler
            await asyncio.sleep(0)

    # -- connections ---------------------------------------------------------------
    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One connection, from hello to close. It never ends cancelled: asyncio's stream
        protocol (Python < 3.12) asks the finished handler for its exception, which for
        a cancelled one prints 'Exception in callback ... CancelledError'."""
        task = asyncio.current_task()
        assert task is not None  # a stream handler always runs as a task
        self._connections.add(task)
        try:
            await self._serve_connection(reader, writer)
        except asyncio.CancelledError:  # the daemon is stopping: the connection is closed below
            pass
        finally:
            self._connections.discard(task)
            writer.close()

    async def _serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            pid, uid = peer_uid(writer)
        except OSError as e:
            log.warning("refused a connection whose credentials cannot be read: %s", e)
            writer.close()
            return
        if uid != os.getuid():
            log.warning("refused a connection from uid %s (pid %s): only uid %s may attach", uid, pid,
                        os.getuid())
            writer.close()
            return
        client = _Client(reader, writer, pid, self.backlog)
        self._clients.add(client)
        client.writer_task = asyncio.get_running_loop().create_task(self._write_loop(client),
                                                                    name=f"daemon-client-{pid}")
        log.info("client attached (pid %s); %d attached", pid, len(self._clients))
        client.send({"hello": "tapetui", "version": protocol.VERSION, "pid": os.getpid(),
                     "home": str(self.engine.home.data_dir)})
        try:
            await self._read_loop(client)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            # Requests already running (a restore, a wait) go on; their replies go nowhere.
            self._forget(client)
            await self._flush_and_close(client)

    async def _read_loop(self, client: _Client) -> None:
        while True:
            try:
                message = await protocol.read_message(client.reader)
            except Oversized as e:
                client.send(protocol.error_reply(None, "protocol", f"{e}; closing the connection"))
                return
            except ProtocolError as e:
                client.send(protocol.error_reply(None, "protocol", e))
                continue
            if message is None:
                return
            try:
                rid, op, args = protocol.parse_request(message)
            except ProtocolError as e:
                sent_id = message.get("id")
                client.send(protocol.error_reply(sent_id if isinstance(sent_id, (int, str)) else None, "protocol", e))
                continue
            if op == "subscribe":
                client.subscribed = True
                self.control.clients = self.clients
                client.send({"id": rid, "ok": True, "result": None})
            elif op not in REMOTE_OPS:
                client.send(protocol.error_reply(rid, "protocol", f"unknown operation {op!r}"))
            elif len(client.requests) >= self.max_in_flight:
                client.send(protocol.error_reply(rid, "protocol", f"more than {self.max_in_flight} requests "
                                                                  "at once; wait for some replies"))
            else:
                task = asyncio.get_running_loop().create_task(self._handle(client, rid, op, args),
                                                              name=f"daemon-op-{op}")
                client.requests.add(task)
                task.add_done_callback(client.requests.discard)
                self._requests.add(task)
                task.add_done_callback(self._requests.discard)

    async def _handle(self, client: _Client, rid: int | str, op: str, args: dict[str, Any]) -> None:
        method = getattr(self.control, op)
        try:
            kwargs = bind(method, op, args)
            log.info("client %s: %s %s", client.pid, op, _brief(args))
            result = await method(**kwargs)
            await self._events_flushed()
            try:
                reply = protocol.encode({"id": rid, "ok": True, "result": protocol.to_wire(result)})
            except Oversized as e:
                reply = protocol.encode(protocol.error_reply(rid, "internal", e))
        except ProtocolError as e:
            reply = protocol.encode(protocol.error_reply(rid, "protocol", e))
        except UserError as e:
            await self._events_flushed()
            reply = protocol.encode(protocol.error_reply(rid, "user", e))
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 - a failed operation must not take the daemon down
            log.exception("operation %s failed", op)
            reply = protocol.encode(protocol.error_reply(rid, "internal", e))
        client.outbox.reply(reply)

    async def _write_loop(self, client: _Client) -> None:
        """Until the connection closes. `asyncio.timeout`, not `wait_for`: the latter
        (Python 3.11) can swallow a cancel that lands as the drain completes."""
        box, writer = client.outbox, client.writer
        try:
            while not writer.is_closing():
                await box.wake.wait()
                box.wake.clear()
                while not writer.is_closing() and (data := box.pop()) is not None:
                    if box.dropped:
                        writer.write(protocol.encode({"dropped": box.dropped}))
                        box.dropped = 0
                    writer.write(data)
                    async with asyncio.timeout(self.write_timeout_s):
                        await writer.drain()
        except (TimeoutError, asyncio.TimeoutError):
            log.warning("client %s stopped reading for %ss; disconnected", client.pid, self.write_timeout_s)
        except (ConnectionError, RuntimeError):
            pass
        self._forget(client)
        client.close()

    def _forget(self, client: _Client) -> None:
        if client in self._clients:
            self._clients.discard(client)
            self.control.clients = self.clients
            log.info("client detached (pid %s); %d attached", client.pid, len(self._clients))

    async def _flush_and_close(self, client: _Client) -> None:
        """Let the last replies (an error for an oversized line) go out, briefly, then close."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 1.0
        while (client.outbox.replies or client.outbox.events) and loop.time() < deadline \
                and client.writer_task is not None and not client.writer_task.done():
            await asyncio.sleep(0.01)
        await self._drop(client)

    async def _drop(self, client: _Client) -> None:
        self._forget(client)
        client.close()
        client.outbox.wake.set()  # its writer sees the connection closing, cancelled or not
        if client.writer_task is not None:
            client.writer_task.cancel()
            await asyncio.gather(client.writer_task, return_exceptions=True)

    async def cancel_requests(self) -> None:
        """At shutdown: stop the operations clients asked for (restores, waits), attached or not."""
        tasks = list(self._requests)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def bind(method: Any, op: str, args: dict[str, Any]) -> dict[str, Any]:
    """The request's arguments, typed from the method's hints; ProtocolError if they do not fit."""
    sig = inspect.signature(method)
    types_ = protocol.hints(method.__func__)
    kwargs = {}
    for name, value in args.items():
        p = sig.parameters.get(name)
        if p is None or p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
            raise ProtocolError(f"{op} takes no argument {name!r}")
        kwargs[name] = protocol.from_wire(types_.get(name, Any), value, f"{op}.{name}")
    try:
        sig.bind(**kwargs)
    except TypeError as e:
        raise ProtocolError(f"{op}: {e}") from None
    return kwargs


def _brief(args: dict[str, Any]) -> str:
    text = ", ".join(f"{k}={v!r}" for k, v in args.items())
    return text if len(text) <= 200 else text[:197] + "..."
