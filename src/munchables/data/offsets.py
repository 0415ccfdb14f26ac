"""Offsets in Unicode code points (Python's, the default) or UTF-16 code units (Java's and JavaScript's).

munchables counts offsets in code points: ``text[start:end]`` in Python. Java and JavaScript count
UTF-16 code units, in which a character outside the Basic Multilingual Plane (U+10000 and above:
emoji, mathematical letters, some CJK) is two units; BioC tools written in Java (and Label Studio,
in JavaScript) write such offsets. ``--offsets utf16`` converts at the edges: a reader turns the
input's UTF-16 offsets into code points (documents.Document always holds code points) and a
writer turns them back, so a file read and written with the same setting keeps its numbers.

How a document maps. Within a passage an offset counts the units of the passage's text before it.
Between passages (BioC passages may leave gaps) the units of the text before are the only
difference: a passage's UTF-16 offset is its code-point offset plus the surrogate pairs of every
passage before it. A UTF-16 offset that falls between the two halves of a pair names no character
and is refused.
"""

from __future__ import annotations

import bisect
from dataclasses import replace

from ..errors import UserError
from .documents import Document

CODE_POINTS, UTF16 = "code-points", "utf16"


def pairs(text: str) -> int:
    """Characters of `text` that UTF-16 writes as a surrogate pair (two units)."""
    return sum(1 for c in text if ord(c) > 0xFFFF) if not text.isascii() else 0


def length(text: str, unit: str) -> int:
    """The length of `text` in `unit`."""
    return len(text) + pairs(text) if unit == UTF16 else len(text)


class _Map:
    """Code point <-> UTF-16 offsets of one document, from its passages (given in one of the two)."""

    def __init__(self, doc: Document, given: str):
        self.doc = doc
        self.cp, self.u16, self.units = [], [], []  # per passage: start in code points, start in units, unit starts
        before = 0  # surrogate pairs in the passages before
        for p in doc.passages:
            cp_start = p.offset - before if given == UTF16 else p.offset
            starts, at = [], 0
            for c in p.text:  # the UTF-16 offset of every character of the passage, and of its end
                starts.append(at)
                at += 2 if ord(c) > 0xFFFF else 1
            starts.append(at)
            self.cp.append(cp_start)
            self.u16.append(cp_start + before)
            self.units.append(starts)
            before += at - len(p.text)

    def _passage(self, x: int, starts: list[int]) -> int:
        return max(bisect.bisect_right(starts, x) - 1, 0)

    def to_cp(self, u: int, what: str) -> int:
        i = self._passage(u, self.u16)
        if not self.u16:
            return u
        local = u - self.u16[i]
        starts = self.units[i]
        if 0 <= local <= starts[-1]:
            k = bisect.bisect_left(starts, local)
            if starts[k] != local:
                raise UserError(f"document {self.doc.id!r}: {what} {u} falls inside a surrogate pair (between the two "
                                "UTF-16 units of one character); check --offsets")
            return self.cp[i] + k
        return u - (self.u16[i] - self.cp[i]) - (starts[-1] - (len(starts) - 1) if local > starts[-1] else 0)

    def to_u16(self, c: int) -> int:
        if not self.cp:
            return c
        i = self._passage(c, self.cp)
        local = c - self.cp[i]
        starts = self.units[i]
        if 0 <= local < len(starts):
            return self.u16[i] + starts[local]
        return c + (self.u16[i] - self.cp[i]) + (starts[-1] - (len(starts) - 1) if local >= len(starts) else 0)


def _convert_entity(e: dict, f) -> dict:
    e = dict(e, start=f(e["start"], "start"), end=f(e["end"], "end"))
    if "locations" in e:
        e["locations"] = [[f(a, "start"), f(b, "end")] for a, b in e["locations"]]
    return e


def from_units(doc: Document, unit: str) -> Document:
    """A document read with offsets in `unit`, with every offset in code points."""
    if unit != UTF16 or all(p.text.isascii() for p in doc.passages):
        return doc
    m = _Map(doc, UTF16)
    f = lambda x, what: m.to_cp(x, what)  # noqa: E731
    return replace(doc, passages=[replace(p, offset=c) for p, c in zip(doc.passages, m.cp)],
                   entities=[_convert_entity(e, f) for e in doc.entities])


def to_units(doc: Document, found: list[dict], unit: str) -> tuple[Document, list[dict]]:
    """The document and its entities (doc.entities and `found`) with every offset in `unit`, for writing."""
    if unit != UTF16 or all(p.text.isascii() for p in doc.passages):
        return doc, found
    m = _Map(doc, CODE_POINTS)
    f = lambda x, what: m.to_u16(x)  # noqa: E731
    return (replace(doc, passages=[replace(p, offset=u) for p, u in zip(doc.passages, m.u16)],
                    entities=[_convert_entity(e, f) for e in doc.entities]),
            [_convert_entity(e, f) for e in found])
