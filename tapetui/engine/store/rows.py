"""Turning sqlite rows into the typed dataclasses of models.py, one way for all."""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from ..timeutil import from_db

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T", bound="DataclassInstance")
_converters_cache: dict[type, dict[str, Callable[[Any], Any] | None]] = {}


def _json_dict(v: str | None) -> dict:
    return json.loads(v) if v else {}


def _json_list(v: str | None) -> list:
    return json.loads(v) if v else []


def _bool(v: int | None) -> bool | None:
    return None if v is None else bool(v)


_CONVERTERS: dict[Any, Callable[[Any], Any]] = {datetime: from_db, dict: _json_dict, list: _json_list, bool: _bool}


def _converter(tp: Any) -> Callable[[Any], Any] | None:
    """How a column's stored value becomes the field's type (None: as stored)."""
    base = tp
    if typing.get_origin(tp) in (typing.Union, types.UnionType):  # X | None -> X
        base = next(a for a in typing.get_args(tp) if a is not type(None))
    origin = typing.get_origin(base) or base
    return _CONVERTERS.get(origin)


def load(cls: type[T], row: Any, **extra: Any) -> T:
    """Build `cls` from a row whose columns are named like its fields (others are ignored)."""
    converters = _converters_cache.get(cls)
    if converters is None:
        hints = typing.get_type_hints(cls)
        converters = _converters_cache[cls] = {f.name: _converter(hints[f.name]) for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    for name, v in zip(row.keys(), row, strict=True):
        if name in converters:
            convert = converters[name]
            values[name] = v if convert is None else convert(v)
    values.update(extra)
    return cls(**values)


def dumps(value: Any) -> str:
    """JSON for a column: readable, or with `\\uXXXX` escapes where it holds a file
    name that is not UTF-8 (surrogateescape), which SQLite could not take."""
    text = json.dumps(value, sort_keys=True, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(value, sort_keys=True)
    return text
