"""The daemon's wire format: versioned JSON lines over a Unix stream socket.

One JSON object per line, at most `MAX_MESSAGE` bytes:

- server, on connect:  {"hello": "tapetui", "version": 1, "pid": N, "home": "..."}
- client request:      {"id": 7, "op": "run_now", "args": {"name": "nightly"}}
- server reply:        {"id": 7, "ok": true, "result": ...}
                       {"id": 7, "ok": false, "error": {"kind": "user"|"protocol"|"internal",
                                                          "type": "NotFound", "message": "..."}}
- server event:        {"event": "LogLine", "fields": {"run_id": 3, "level": "info", ...}}
- server notice:       {"dropped": N}  (this client fell behind and lost N old events)

Values travel as plain JSON; datetimes as ISO 8601 text. Both ends rebuild
typed values (dataclasses, datetimes) from the type hints of the operation, so
a wrong type is a `ProtocolError`, never a surprise deep in the engine.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import types
import typing
from datetime import datetime
from pathlib import PurePath
from typing import Any

from .. import events as events_mod
from ..errors import UserError
from ..names import json_dumps

VERSION = 1
MAX_MESSAGE = 1 << 20  # 1 MiB, newline included
#: The reader's buffer limit: a longer line is refused before it is parsed.
READ_LIMIT = MAX_MESSAGE


class ProtocolError(UserError):
    """A message that is not valid for this protocol (garbage, wrong types, too big)."""


class Oversized(ProtocolError):
    """A line longer than MAX_MESSAGE: the stream cannot be trusted past it."""


# -- framing -----------------------------------------------------------------------
def encode(message: dict[str, Any]) -> bytes:
    data = json_dumps(message, separators=(",", ":")).encode() + b"\n"  # a non-UTF-8 name as \udcXX
    if len(data) > MAX_MESSAGE:
        raise Oversized(f"a message of {len(data)} bytes is over the {MAX_MESSAGE}-byte limit")
    return data


def decode(line: bytes) -> dict[str, Any]:
    try:
        message = json.loads(line)
    except (UnicodeDecodeError, ValueError):
        raise ProtocolError("not a JSON line") from None
    if not isinstance(message, dict):
        raise ProtocolError("a message must be a JSON object")
    return message


async def read_message(reader: asyncio.StreamReader) -> dict[str, Any] | None:
    """The next message; None at the end of the stream."""
    try:
        line = await reader.readline()
    except ValueError:  # asyncio's LimitOverrunError, re-raised by readline
        raise Oversized(f"a line over the {MAX_MESSAGE}-byte limit") from None
    if not line or not line.endswith(b"\n"):
        return None
    return decode(line)


def parse_request(message: dict[str, Any]) -> tuple[int | str, str, dict[str, Any]]:
    rid, op, args = message.get("id"), message.get("op"), message.get("args", {})
    if isinstance(rid, bool) or not isinstance(rid, (int, str)):
        raise ProtocolError("a request needs an 'id' (a number or a string)")
    if not isinstance(op, str):
        raise ProtocolError("a request needs an 'op' (a string)")
    if not isinstance(args, dict):
        raise ProtocolError("a request's 'args' must be an object")
    return rid, op, args


def error_reply(rid: Any, kind: str, exc: BaseException | str) -> dict[str, Any]:
    if isinstance(exc, BaseException):
        body = {"kind": kind, "type": type(exc).__name__, "message": str(exc)}
    else:
        body = {"kind": kind, "type": "", "message": exc}
    return {"id": rid, "ok": False, "error": body}


# -- values ------------------------------------------------------------------------
def to_wire(value: Any) -> Any:
    """Plain JSON values: dataclasses become objects, datetimes ISO text."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_wire(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, dict):
        return {str(k): to_wire(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_wire(v) for v in value]
    if isinstance(value, bytes):
        return value.hex()
    return value


@functools.cache
def hints(target: Any) -> dict[str, Any]:
    return typing.get_type_hints(target)


def from_wire(tp: Any, value: Any, where: str = "value") -> Any:
    """Rebuild a value of type `tp` from its wire form; ProtocolError if it does not fit."""
    if tp is Any or tp is object:
        return value
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        for arm in typing.get_args(tp):
            try:
                return from_wire(arm, value, where)
            except ProtocolError:
                continue
        raise ProtocolError(f"{where}: {value!r:.60} does not fit {tp}")
    if origin is typing.Literal:
        if value in typing.get_args(tp):
            return value
        raise ProtocolError(f"{where}: {value!r:.60} is not one of {typing.get_args(tp)}")
    if origin in (list, tuple):
        if not isinstance(value, list):
            raise ProtocolError(f"{where}: expected a list")
        (inner, *_) = typing.get_args(tp) or (Any,)
        return [from_wire(inner, v, where) for v in value]
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise ProtocolError(f"{where}: expected an object")
        args = typing.get_args(tp)
        inner = args[1] if len(args) == 2 else Any
        return {k: from_wire(inner, v, where) for k, v in value.items()}
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _dataclass(tp, value, where)
    if tp is datetime:
        if isinstance(value, str):
            try:
                return datetime.fromisoformat(value)
            except ValueError:
                pass
        raise ProtocolError(f"{where}: {value!r:.60} is not an ISO date and time")
    if tp is type(None) or tp is None:
        if value is None:
            return None
        raise ProtocolError(f"{where}: expected null")
    if tp is bool:
        ok = isinstance(value, bool)
    elif tp is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif tp is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif tp is str:
        ok = isinstance(value, str)
    else:
        raise ProtocolError(f"{where}: cannot carry a {tp}")
    if not ok:
        raise ProtocolError(f"{where}: expected {tp.__name__}, got {type(value).__name__}")
    return value


def _dataclass(cls: type, value: Any, where: str) -> Any:
    if not isinstance(value, dict):
        raise ProtocolError(f"{where}: expected an object for {cls.__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(value) - set(fields)
    if unknown:
        raise ProtocolError(f"{where}: {cls.__name__} has no field {sorted(unknown)[0]!r}")
    types_ = hints(cls)
    built = {k: from_wire(types_[k], v, f"{where}.{k}") for k, v in value.items() if fields[k].init}
    try:
        obj = cls(**built)
    except (TypeError, ValueError) as e:
        raise ProtocolError(f"{where}: {e}") from None
    for k, v in value.items():  # fields the constructor does not take
        if not fields[k].init:
            object.__setattr__(obj, k, from_wire(types_[k], v, f"{where}.{k}"))
    return obj


# -- events ------------------------------------------------------------------------
def _event_classes() -> dict[str, type[events_mod.Event]]:
    found = {}
    for name in dir(events_mod):
        obj = getattr(events_mod, name)
        if isinstance(obj, type) and issubclass(obj, events_mod.Event) and obj is not events_mod.Event:
            found[name] = obj
    return found


EVENT_TYPES = _event_classes()


def event_to_wire(event: events_mod.Event) -> dict[str, Any]:
    return {"event": type(event).__name__, "fields": to_wire(event)}


def event_from_wire(message: dict[str, Any]) -> events_mod.Event | None:
    """The event a message carries; None for a kind this side does not know (a newer daemon)."""
    cls = EVENT_TYPES.get(message.get("event", ""))
    if cls is None:
        return None
    return from_wire(cls, message.get("fields", {}), message["event"])
