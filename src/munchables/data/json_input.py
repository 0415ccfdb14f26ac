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
from decimal import Decimal
from typing import Any, BinaryIO, Iterator

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


# --- streamed JSON (ijson): a file of any size, one item in memory at a time ------------------------
# ijson, not json.loads: JSON has no line boundaries to read by. Its C parser would turn a lone
# surrogate escape into "?" and refuses 1e400 outright, so the bytes go through Checked and the
# numbers through floats: what json.loads and the checks above would give, document by document.


def floats(value):
    """ijson's Decimal numbers as the floats json.loads gives (nesting is bounded by MAX_DEPTH)."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dict):
        return {k: floats(v) for k, v in value.items()}
    if isinstance(value, list):
        return [floats(v) for v in value]
    return value


_ESCAPE = re.compile(rb"\\(?:u([0-9a-fA-F]{4})|.)", re.DOTALL)  # one JSON string escape, read left to right


class Checked:
    """The input as ijson reads it: past a leading UTF-8 byte-order mark, and refusing a lone UTF-16
    surrogate escape (ijson's C parser would make it "?", rewriting the text unasked; json_input
    refuses it in every other JSON input). Escapes are read left to right across blocks (bytes
    that may start an escape wait for the next block): a high surrogate must be followed at once
    by a low one, and a low one must follow a high one."""

    def __init__(self, stream: BinaryIO, name: str):
        self.stream, self.name = stream, name
        self.data = stream.read(3)
        if self.data == b"\xef\xbb\xbf":
            self.data = b""
        self.base = 0  # the input offset of self.data[0]
        self.scan = 0  # where in self.data the next escape may start
        self.high_end: int | None = None  # input offset just after an unpaired high-surrogate escape

    def _lone(self, at: int):
        return UserError(f"{self.name}: a lone UTF-16 surrogate escape at byte {at}, which is no character; "
                         "fix the text")

    def read(self, n: int = -1) -> bytes:
        if n == 0:  # ijson asks for nothing to learn whether the stream gives bytes
            return b""
        more = self.stream.read() if n is None or n < 0 else self.stream.read(n)
        self.data += more
        limit = len(self.data) - 6 if more else len(self.data)  # an escape starting past it may be cut off
        for m in _ESCAPE.finditer(self.data, self.scan):
            if m.start() >= limit:
                break
            at = self.base + m.start()
            unit = int(m.group(1), 16) if m.group(1) else -1
            if self.high_end is not None and (at != self.high_end or not 0xDC00 <= unit <= 0xDFFF):
                raise self._lone(self.high_end - 6)
            if 0xDC00 <= unit <= 0xDFFF and self.high_end is None:
                raise self._lone(at)
            self.high_end = self.base + m.end() if 0xD800 <= unit <= 0xDBFF else None
            self.scan = m.end()
        self.scan = max(self.scan, limit)  # every backslash before `limit` began an escape read above
        if self.high_end is not None and self.high_end < self.base + self.scan:
            raise self._lone(self.high_end - 6)  # text, not a low surrogate, after it
        out, self.data = self.data[: self.scan], self.data[self.scan:]
        self.base += self.scan
        self.scan = 0
        if not out and more:
            return self.read(n)
        return out



def events(stream: BinaryIO, name: str) -> Iterator[tuple[str, str, Any]]:
    """ijson's (path, event, value) events of a JSON stream: its bytes checked (Checked), nesting
    past MAX_DEPTH, malformed JSON and bad UTF-8 each a UserError naming the file."""
    import ijson  # the one streaming JSON parser of the field (C backend where built)

    depth = 0
    try:
        # numbers stay ijson's Decimals (floats(), per value): with use_float the C parser refuses
        # 1e400 outright, where the field checks name it ("offset must be an integer; got inf")
        for path, event, value in ijson.parse(Checked(stream, name)):
            if event in ("start_map", "start_array"):
                depth += 1
                if depth > MAX_DEPTH:
                    raise UserError(f"{name}: nested more than {MAX_DEPTH} levels deep; not a document this reader knows")
            elif event in ("end_map", "end_array"):
                depth -= 1
            yield path, event, value
    except ijson.JSONError as e:
        raise UserError(f"{name}: not JSON ({str(e).splitlines()[0][:200]})") from None
    except UnicodeDecodeError as e:
        raise UserError(f"{name}: not UTF-8 text (byte {e.start}); expected UTF-8") from None


def build(stream: Iterator[tuple[str, str, Any]], event: str, value: Any) -> Any:
    """The whole value that begins with (event, value), read on from the event stream `stream`
    (a scalar is itself), numbers as floats."""
    import ijson

    builder, depth = ijson.ObjectBuilder(), 0
    while True:
        builder.event(event, value)
        depth += event in ("start_map", "start_array")
        depth -= event in ("end_map", "end_array")
        if depth == 0:
            return floats(builder.value)
        _, event, value = next(stream)


def list_items(stream: BinaryIO, name: str) -> Iterator[Any]:
    """The items of a JSON file that is one list, each built whole and checked (depth, surrogates,
    numbers) while the rest is still unread; any other top-level value is a UserError naming it."""
    stream_events = events(stream, name)
    for path, event, value in stream_events:
        if path == "" and event not in ("start_array", "end_array"):
            raise UserError(f"{name}: expected a JSON list; got {'an object' if event == 'start_map' else _kind(value)}")
        if path == "item":
            yield build(stream_events, event, value)
