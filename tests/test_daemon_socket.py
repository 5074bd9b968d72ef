"""The daemon's socket server in this process: bad input, slow clients, other users,
the remote control the console and the CLI use, the wire format and the lock."""

from __future__ import annotations

import asyncio
import json
import os
import pwd
import socket
import tempfile
from dataclasses import fields
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tapetui.engine import events as ev
from tapetui.engine.backup.restore import RestoreRequest
from tapetui.engine.core import Engine
from tapetui.engine.daemon import protocol
from tapetui.engine.control import (
    REMOTE_OPS, ControlStatus, LocalControl, RemoteControl, attach, open_session, take_over,
)
from tapetui.engine.daemon.client import DaemonClient, DaemonError
from tapetui.engine.daemon.lock import SchedulerLock
from tapetui.engine.daemon.server import DaemonServer, bind
from tapetui.engine.errors import UserError
from tapetui.engine.paths import Home
from tapetui.engine.scheduler import Scheduler
from tapetui.engine.store.models import RunRow
from tapetui.engine.tape.base import OpResult

WAIT = 10.0


@pytest.fixture
async def served(tmp_path: Path):
    """An engine with its daemon server on the home's socket; a second engine on the same home
    (as a console or the CLI would open)."""
    home = Home.single(tmp_path / "home")
    engine = await Engine.open(home)
    control = LocalControl(engine, Scheduler(engine))
    server = DaemonServer(control, home.socket_path, write_timeout_s=0.5, backlog=50)
    await server.start()
    other = await Engine.open(home)
    try:
        yield server, other
    finally:
        await other.close()
        await server.close()
        await control.close()
        await engine.close()


async def _raw(path: Path) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, dict]:
    reader, writer = await asyncio.open_unix_connection(str(path), limit=protocol.READ_LIMIT)
    hello = json.loads(await asyncio.wait_for(reader.readline(), WAIT))
    return reader, writer, hello


async def _ask(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, line: bytes) -> dict:
    writer.write(line)
    await writer.drain()
    return json.loads(await asyncio.wait_for(reader.readline(), WAIT))


async def test_garbage_and_oversized_messages_are_refused_and_the_daemon_keeps_serving(served) -> None:
    server, _ = served
    reader, writer, hello = await _raw(server.socket_path)
    assert hello == {"hello": "tapetui", "version": protocol.VERSION, "pid": os.getpid(),
                     "home": str(server.engine.home.data_dir)}
    cases = [
        (b"\x00\xffnot json at all\n", None, "protocol", "not a JSON line"),
        (b"[1, 2]\n", None, "protocol", "must be a JSON object"),
        (b'{"op": "status"}\n', None, "protocol", "needs an 'id'"),
        (b'{"id": 1}\n', 1, "protocol", "needs an 'op'"),
        (b'{"id": 2, "op": "drop_tables"}\n', 2, "protocol", "unknown operation 'drop_tables'"),
        (b'{"id": 3, "op": "set_enabled", "args": {"name": 5, "enabled": true}}\n', 3, "protocol", "expected str"),
        (b'{"id": 4, "op": "delete", "args": {"name": "x", "force": 1}}\n', 4, "protocol", "no argument 'force'"),
        (b'{"id": 5, "op": "delete", "args": {}}\n', 5, "protocol", "missing a required argument"),
        (b'{"id": 6, "op": "delete", "args": {"name": "ghost"}}\n', 6, "user", "ghost"),
    ]
    for line, rid, kind, text in cases:
        reply = await _ask(reader, writer, line)
        assert reply["id"] == rid and reply["ok"] is False and reply["error"]["kind"] == kind, (line, reply)
        assert text in reply["error"]["message"], (line, reply)
    assert (await _ask(reader, writer, b'{"id": "s", "op": "status"}\n'))["result"]["pid"] == os.getpid()

    writer.write(b'{"id": 7, "op": "status", "args": {"pad": "' + b"x" * protocol.MAX_MESSAGE + b'"}}\n')
    reply = json.loads(await asyncio.wait_for(reader.readline(), WAIT))
    assert reply["ok"] is False and "limit" in reply["error"]["message"]
    assert await asyncio.wait_for(reader.read(), WAIT) == b""  # and the connection is closed
    writer.close()

    client = await DaemonClient.connect(server.socket_path)  # the daemon still serves
    try:
        status = protocol.from_wire(ControlStatus, await client.call("status"))
        assert status.pid == os.getpid() and status.clients == 0  # only asking, not attached to follow
    finally:
        await client.close()


async def test_a_client_that_stops_reading_is_dropped_and_others_are_served(served) -> None:
    server, _ = served
    bus = server.engine.bus
    slow = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)  # a plain socket nobody reads from
    slow.connect(str(server.socket_path))
    slow.sendall(b'{"id": 1, "op": "subscribe"}\n')
    fast = await DaemonClient.connect(server.socket_path)
    await fast.subscribe()
    got = []
    fast.add_listener(got.append)
    await asyncio.wait_for(_until(lambda: server.clients == 2), WAIT)
    text = "x" * 4000
    sent = 0

    async def flood() -> None:  # until the slow client's buffers are full and it is dropped
        nonlocal sent
        while server.clients == 2:
            for _ in range(20):
                bus.publish(ev.LogLine(run_id=None, level="info", text=f"{sent} {text}"))
                sent += 1
            await asyncio.sleep(0.001)

    await asyncio.wait_for(flood(), WAIT)
    assert (await fast.call("status"))["clients"] == 1
    await asyncio.wait_for(_until(lambda: len(got) + fast.dropped >= sent), WAIT)
    assert got and got[-1].text.startswith(f"{sent - 1} ")
    assert [int(e.text.split()[0]) for e in got] == sorted(int(e.text.split()[0]) for e in got)
    await fast.close()
    slow.close()


async def _until(condition) -> None:  # noqa: ANN001
    while not condition():
        await asyncio.sleep(0.01)


def _connect_as_nobody(path: str) -> str:
    """In a forked child running as `nobody`: what connecting to the socket gets."""
    nobody = pwd.getpwnam("nobody")
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: plain syscalls only, then leave
        result = "error"
        try:
            os.setgroups([])
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(5)
            try:
                s.connect(path)
                result = "hello" if s.recv(4096) else "closed"
            except PermissionError:
                result = "denied"
            except OSError as e:
                result = f"error {e}"
        finally:
            os.write(w, result.encode())
            os._exit(0)
    os.close(w)
    with os.fdopen(r) as fh:
        out = fh.read()
    os.waitpid(pid, 0)
    return out


@pytest.mark.skipif(os.getuid() != 0, reason="switching to another user (nobody) needs root")
async def test_another_user_cannot_connect(tmp_path: Path) -> None:
    shared = Path(tempfile.mkdtemp(prefix="tapetui-sock-"))
    shared.chmod(0o755)  # reachable by others, so only the socket's mode and the uid check protect it
    home = Home.single(tmp_path / "home")
    engine = await Engine.open(home)
    control = LocalControl(engine, Scheduler(engine))
    server = DaemonServer(control, shared / "daemon.sock")
    await server.start()
    try:
        sock = str(shared / "daemon.sock")
        assert (shared / "daemon.sock").stat().st_mode & 0o777 == 0o600
        assert await asyncio.to_thread(_connect_as_nobody, sock) == "denied"
        os.chmod(sock, 0o666)  # a mistake in the mode: SO_PEERCRED still refuses the other uid
        assert await asyncio.to_thread(_connect_as_nobody, sock) == "closed"
        client = await DaemonClient.connect(shared / "daemon.sock")  # the owner still gets in
        assert client.pid == os.getpid()
        await client.close()
    finally:
        await server.close()
        await control.close()
        await engine.close()
        shared.rmdir()
    assert "refused a connection from uid" in home.log_file.read_text()


async def test_remote_control_has_the_local_api_and_forwards_events(served, tmp_path: Path) -> None:
    server, other = served
    remote = await attach(other)
    assert isinstance(remote, RemoteControl) and remote.remote and remote.daemon_pid == os.getpid()
    changes = []
    sub = other.bus.subscribe(changes.append, ev.TapeChanged, ev.SchedulesChanged)
    try:
        src = tmp_path / "src"
        src.mkdir()
        saved = await remote.add("nightly", kind="daily", when="02:00", action="backup",
                                 action_config={"level": "full", "sources": [str(src)]})
        assert saved.schedule.name == "nightly" and isinstance(saved.schedule.next_run, datetime)
        assert (await remote.get("nightly")).id == saved.schedule.id  # reads: the local database
        assert not (await remote.set_enabled("nightly", False)).enabled
        with pytest.raises(DaemonError, match="ghost") as refused:
            await remote.delete("ghost")
        assert isinstance(refused.value, UserError) and refused.value.type_name == "NotFound"
        with pytest.raises(UserError, match="the drive is empty"):
            await remote.format(label="X1")
        cartridges = await other.driver.inventory()
        await remote.load(cartridges[0].barcode)
        assert await remote.unload() == cartridges[0].barcode
        assert await remote.stop("nightly") is None
        await remote.reload()
        status = await remote.status()
        assert isinstance(status, ControlStatus) and status.clients == 1 and status.on_sigterm == "cancel"
        await asyncio.wait_for(_until(lambda: sum(isinstance(e, ev.TapeChanged) for e in changes) >= 2), WAIT)
        assert any(isinstance(e, ev.SchedulesChanged) for e in changes)
    finally:
        sub.close()
        await remote.close()
    assert await attach(other) is not None  # attach again after a detach
    await server.close()
    assert await attach(other) is None  # no daemon: the caller schedules itself


async def test_the_console_sees_the_daemon_go_away(served) -> None:
    server, other = served
    remote = await attach(other)
    assert remote is not None
    gone = asyncio.Event()
    remote.client.on_close(gone.set)
    await server.close()
    await asyncio.wait_for(gone.wait(), WAIT)
    with pytest.raises(UserError, match="went away"):
        await remote.status()
    await remote.close()


async def test_a_console_attaches_or_schedules_and_takes_over_when_the_daemon_goes(tmp_path: Path) -> None:
    home = Home.single(tmp_path / "home")
    one, two = await Engine.open(home), await Engine.open(home)
    try:
        first = await open_session(one)
        assert first.mode == "scheduling" and first.lock is not None and first.lock.held
        second = await open_session(two)
        assert second.mode == "unscheduled" and (second.holder.pid, second.holder.role) == (os.getpid(), "console")
        await second.close()
        await first.close()  # frees the lock

        daemon_lock = SchedulerLock(home.lock_path)
        assert daemon_lock.try_acquire("daemon")
        control = LocalControl(one, Scheduler(one))
        server = DaemonServer(control, home.socket_path)
        await server.start()
        attached = await open_session(two)
        assert attached.mode == "attached" and attached.control.remote
        gone = asyncio.Event()
        attached.control.client.on_close(gone.set)
        await server.close()
        await control.close()
        daemon_lock.release()
        await asyncio.wait_for(gone.wait(), WAIT)
        await attached.close()
        took = await take_over(two)
        assert took.mode == "scheduling" and took.control.scheduler.running == {}
        await took.close()
        assert SchedulerLock(home.lock_path).holder() is None
    finally:
        await two.close()
        await one.close()


# -- the wire format -------------------------------------------------------------------
T0 = datetime(2026, 3, 29, 1, 30, tzinfo=timezone.utc)


def _roundtrip(tp, value):  # noqa: ANN001, ANN202
    return protocol.from_wire(tp, json.loads(protocol.encode({"v": protocol.to_wire(value)}))["v"])


def test_values_survive_the_wire() -> None:
    run = RunRow(id=1, schedule_id=2, schedule_name="n", action="backup", trigger="manual", status="running",
                 started_at=T0, finished_at=None, message="", result={"files": 3, "nested": [1, {"a": None}]},
                 backup_run_id=None, set_id=4, pid=99)
    assert _roundtrip(RunRow, run) == run
    request = RestoreRequest(target="/tmp/x", at=T0, paths=["/etc"], conflict="rename")
    assert _roundtrip(RestoreRequest, request) == request
    assert _roundtrip(OpResult | None, OpResult(success=True, message="ok", lines=["a"])).lines == ["a"]
    assert _roundtrip(int | None, None) is None
    for cls in protocol.EVENT_TYPES.values():
        sample = {f.name: _sample(f.type) for f in fields(cls) if f.name != "at"}
        event = cls(**sample, at=T0)
        assert protocol.event_from_wire(json.loads(protocol.encode(protocol.event_to_wire(event)))) == event
    assert protocol.event_from_wire({"event": "FromTheFuture", "fields": {}}) is None


def _sample(type_text: str):  # noqa: ANN202
    return {"int": 7, "int | None": 7, "str": "s", "float": 1.5, "float | None": None}[type_text]


@pytest.mark.parametrize("tp,value", [
    (RunRow, {"id": 1}), (RunRow, {"nope": 1}), (datetime, "yesterday"), (int, True), (bool, 1), (str, None),
    (list[str], "a"), (dict[str, int], {"a": "b"}), (RestoreRequest, {"target": 5}),
])
def test_values_that_do_not_fit_are_protocol_errors(tp, value) -> None:  # noqa: ANN001
    with pytest.raises(protocol.ProtocolError):
        protocol.from_wire(tp, value)


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                  max_size=4), max_leaves=12)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(line=st.binary(max_size=200) | JSON.map(lambda v: json.dumps(v).encode()),
       op=st.sampled_from(REMOTE_OPS),
       args=st.dictionaries(st.sampled_from(["name", "kind", "when", "wait", "request", "label", "force", "settings",
                                             "level", "sources", "run_id", "barcode", "enabled", "x"]), JSON,
                           max_size=5))
def test_any_input_is_a_message_or_a_protocol_error(line: bytes, op: str, args: dict) -> None:
    """Whatever a client sends, parsing and binding end in typed values or a ProtocolError --
    never another exception that could reach the engine."""
    try:
        protocol.parse_request(protocol.decode(line))
    except protocol.ProtocolError:
        pass
    method = getattr(LocalControl, op).__get__(object.__new__(LocalControl))
    try:
        bound = bind(method, op, args)
    except protocol.ProtocolError:
        return
    hints = protocol.hints(getattr(LocalControl, op))
    for name, value in bound.items():
        if hints[name] is RestoreRequest:
            assert isinstance(value, RestoreRequest)
        elif hints[name] in (bool, int, str):
            assert type(value) is hints[name]


# -- the lock ----------------------------------------------------------------------------
def test_one_lock_holder_per_home(tmp_path: Path) -> None:
    path = tmp_path / "scheduler.lock"
    first, second = SchedulerLock(path), SchedulerLock(path)
    assert second.holder() is None
    assert first.try_acquire("console")
    assert not second.try_acquire("daemon")
    holder = second.holder()
    assert holder is not None and (holder.pid, holder.role) == (os.getpid(), "console")
    first.release()
    assert second.holder() is None
    assert second.try_acquire("daemon") and second.holder().role == "self"
    second.release()
