"""File names are bytes; the catalog holds text. The three forms of a name:

- **host form**: what `os` functions take and give on POSIX, a str in which each
  byte that is not UTF-8 is a lone surrogate (U+DC80..U+DCFF, Python's
  `surrogateescape`). Scan, writer and restore work in it, so every name
  round-trips to the same bytes.
- **catalog form**: host form with each such surrogate written as ESC + the
  Latin-1 character of its byte, and ESC itself doubled. It is valid UTF-8, so
  SQLite, JSON and an LTFS volume (which takes UTF-8 names only) all hold it; a
  name that is valid UTF-8 and has no ESC (all real names but a handful) is the
  same in both forms. The set's folder on tape and its catalog copy use it too.
- **shown form**: for people (logs, the console): each byte that is not UTF-8 as
  `\\xff`. One way only.
"""

from __future__ import annotations

import json
import re
from typing import Any

#: U+10FFFF is a Unicode noncharacter: no real name holds it, and if one does it is doubled.
ESC = "\U0010ffff"


def to_catalog(name: str) -> str:
    """Host form -> catalog form (the same object for a plain name: this runs per row)."""
    if name.isascii():
        return name
    if ESC not in name:
        try:
            name.encode("utf-8")
            return name
        except UnicodeEncodeError:
            pass
    out = []
    for ch in name:
        if ch == ESC:
            out.append(ESC + ESC)
        elif "\udc80" <= ch <= "\udcff":
            out.append(ESC + chr(ord(ch) - 0xDC00))
        else:
            out.append(ch)
    return "".join(out)


def from_catalog(text: str) -> str:
    """Catalog form -> host form. Raises ValueError on an escape no `to_catalog` makes."""
    if ESC not in text:
        return text
    out = []
    it = iter(text)
    for ch in it:
        if ch != ESC:
            out.append(ch)
            continue
        nxt = next(it, "")
        if nxt == ESC:
            out.append(ESC)
        elif "\x80" <= nxt <= "\xff":
            out.append(chr(0xDC00 + ord(nxt)))
        else:
            raise ValueError(f"bad name escape in catalog text {shown(text)!r}")
    return "".join(out)


def shown(name: str) -> str:
    """Host form -> text for people: bytes that are not UTF-8 as `\\xNN`."""
    if name.isascii():
        return name
    try:
        raw = name.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a surrogate no file name holds (U+D800..U+DC7F)
        raw = name.encode("utf-8", "surrogatepass")
    return raw.decode("utf-8", "backslashreplace")


def shown_catalog(text: str) -> str:
    """Catalog form -> text for people."""
    try:
        return shown(from_catalog(text))
    except ValueError:
        return text.replace(ESC, "\\U0010ffff")


_SURROGATE = re.compile("[\ud800-\udfff]")


def json_dumps(data: object, **options: Any) -> str:
    """`json.dumps` keeping non-ASCII text as it is, but each lone surrogate (a byte of
    a host-form name that is not UTF-8) as its `\\udcXX` escape: the text encodes as
    UTF-8, and `json.loads` gives back exactly the same name."""
    text = json.dumps(data, ensure_ascii=False, **options)
    return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
