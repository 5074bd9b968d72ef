"""Turning sqlite rows into the typed dataclasses of models.py, one way for all."""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from datetime import datetime
from typing import Any, TypeVar

from ..timeutil import from_db

T = TypeVar("T")
_hints_cache: dict[type, dict[str, Any]] = {}


def _kind(tp: Any) -> str:
    base = tp
    if typing.get_origin(tp) in (typing.Union, types.UnionType):  # X | None -> X
        base = next(a for a in typing.get_args(tp) if a is not type(None))
    origin = typing.get_origin(base) or base
    if origin is datetime:
        return "time"
    if origin is dict:
        return "json_dict"
    if origin is list:
        return "json_list"
    if origin is bool:
        return "bool"
    return "plain"


def load(cls: type[T], row: Any, **extra: Any) -> T:
    """Build `cls` from a row whose columns are named like its fields."""
    hints = _hints_cache.get(cls)
    if hints is None:
        types = typing.get_type_hints(cls)
        hints = _hints_cache[cls] = {f.name: _kind(types[f.name]) for f in dataclasses.fields(cls)}
    keys = row.keys()
    values: dict[str, Any] = {}
    for name, kind in hints.items():
        if name not in keys:
            continue
        v = row[name]
        if kind == "time":
            v = from_db(v)
        elif kind == "json_dict":
            v = json.loads(v) if v else {}
        elif kind == "json_list":
            v = json.loads(v) if v else []
        elif kind == "bool" and v is not None:
            v = bool(v)
        values[name] = v
    values.update(extra)
    return cls(**values)


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)
