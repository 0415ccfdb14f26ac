"""JSON input checked at the edge: every field's type, with one line naming the document and the field.

JSON from other tools can hold anything: a number where text belongs, infons as a string, an
offset of ``1e400`` (infinity), ``"5"`` or ``null``, a lone UTF-16 surrogate (``"\\ud800"``, which
Python decodes but no UTF-8 file can hold), ``NaN``, or 100,000 levels of nesting. Each is a
`UserError` here, before a document reaches the tagger or a writer, so a bad input never gives a
traceback or a half-written output. The readers (formats.py, bioc_format.py, spans.py) take their
fields through these functions.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from ..errors import UserError

_SURROGATE = re.compile("[\ud800-\udfff]")
MAX_DEPTH = 64  # deepest nesting a document may have; BioC needs 6, annotated records 5


def _constant(name: str):
    raise ValueError(f"{name} is not a number JSON allows")


def loads(text: str, where: str) -> Any:
    """JSON text to Python values; malformed JSON, NaN/Infinity and runaway nesting are UserErrors."""
    if _too_deep(text):
        raise UserError(f"{where}: nested more than {MAX_DEPTH} levels deep; not a document this reader knows")
    try:
        return json.loads(text, parse_constant=_constant)
    except ValueError as e:  # JSONDecodeError too
        raise UserError(f"{where}: not JSON ({getattr(e, 'msg', e)})") from None
    except RecursionError:  # _too_deep counts brackets outside strings; this is the backstop
        raise UserError(f"{where}: nested too deeply to read") from None


_BRACKETS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def _too_deep(text: str) -> bool:
    """Whether brackets outside strings nest deeper than MAX_DEPTH (a linear scan, no recursion)."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return False
    depth = 0
    for m in _BRACKETS.finditer(text):
        c = m.group()
        if c in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return True
        elif c in "]}":
            depth -= 1
    return False


def text(value: Any, where: str, field: str, optional: bool = False) -> str | None:
    """A string field: no number or list where text belongs, no lone surrogate."""
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise UserError(f"{where}: {field} must be a string; got {_kind(value)}")
    if _SURROGATE.search(value):
        raise UserError(f"{where}: {field} holds a lone UTF-16 surrogate (\\u{ord(_SURROGATE.search(value).group()):04x}), "
                        "which is no character; fix the text")
    return value


def integer(value: Any, where: str, field: str, minimum: int = 0) -> int:
    """An offset: a JSON integer (not 5.0, "5", null or 1e400), at least `minimum`."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise UserError(f"{where}: {field} must be an integer; got {_kind(value)}")
    if value < minimum:
        raise UserError(f"{where}: {field} must be at least {minimum}; got {value}")
    return value


def number(value: Any, where: str, field: str) -> float | None:
    """A score: a finite number or null."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise UserError(f"{where}: {field} must be a finite number or null; got {_kind(value)}")
    return value


def obj(value: Any, where: str, field: str, optional: bool = True) -> dict:
    """A JSON object field (infons), {} when absent; its keys and string values are checked."""
    if value is None and optional:
        return {}
    if not isinstance(value, dict):
        raise UserError(f"{where}: {field} must be an object; got {_kind(value)}")
    for k, v in value.items():
        text(k, where, f"{field} key")
        _values(v, where, f"{field}[{k!r}]")
    return value


def _values(value: Any, where: str, field: str) -> None:
    """Strings anywhere inside a value have no lone surrogates; numbers are finite."""
    stack = [(value, field)]
    while stack:
        v, f = stack.pop()
        if isinstance(v, str):
            text(v, where, f)
        elif isinstance(v, float):
            number(v, where, f)
        elif isinstance(v, dict):
            stack += [(x, f"{f}[{k!r}]") for k, x in v.items()] + [(k, f"{f} key") for k in v]
        elif isinstance(v, list):
            stack += [(x, f"{f}[{i}]") for i, x in enumerate(v)]


def array(value: Any, where: str, field: str, optional: bool = True) -> list:
    """A JSON array field, [] when absent."""
    if value is None and optional:
        return []
    if not isinstance(value, list):
        raise UserError(f"{where}: {field} must be a list; got {_kind(value)}")
    return value


def ident(value: Any, where: str, field: str = "id") -> str | None:
    """An id: a string or an integer (PubMed ids often come as numbers), as a string; None when absent."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return text(value, where, field)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, (int, float)):
        return f"{value!r} (a number)"
    if isinstance(value, str):
        return f"{value[:20]!r} (a string)"
    return "a list" if isinstance(value, list) else "an object"


def objects(value: Any, where: str, field: str):
    """(path, item) for each item of a JSON array whose items must be objects, e.g. ("nodes[2]", {...})."""
    for i, item in enumerate(array(value, where, field)):
        path = f"{field}[{i}]"
        if not isinstance(item, dict):
            raise UserError(f"{where}: {path} must be an object; got {_kind(item)}")
        yield path, item


def nodes(value: Any, where: str, field: str) -> list[dict]:
    """A BioC relation's nodes, [{"refid", "role"}], each field checked (BioC JSON, and our JSONL)."""
    return [{"refid": ident(n.get("refid"), where, f"{path}.refid") or "",
             "role": text(n.get("role", ""), where, f"{path}.role")} for path, n in objects(value, where, field)]
