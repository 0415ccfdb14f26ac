"""Documents as the tagger sees them: an id, passages of text at offsets, and whatever came with them.

Every format (formats.py) reads into and writes from these. Offsets are character offsets: Unicode
code points, Python string indices (``--offsets utf16`` converts at the edges, offsets.py). A
passage's text starts at ``passage.offset``, and an entity's ``start``/``end`` are
``passage.offset`` plus its place in ``passage.text``. A plain text or a JSONL document has one
passage at offset 0; a PubTator or MEDLINE abstract has its title at 0 and its abstract at
``len(title) + 1``; a BioC document keeps its passages' own offsets. Passages are in order and do
not overlap (`check_passages`), so every offset names one place.

An entity is a plain dict, ready for JSON, with these keys in this order:
``{"text", "type", "head", "start", "end", "score"}``; ``head`` is the corpus whose CRF head found
it and ``score`` its marginal probability under that head (crf.CRF.segment_log_prob). Entities
read from an annotated input (gold or earlier annotations) have ``head`` and ``score`` None unless
the input says otherwise, and may carry more keys, kept untouched and written back:

    id         the annotation's id in the input (BioC, brat, JSONL); ours get fresh ones (`mark`)
    infons     every other attribute the input gave: BioC infons, a PubTator concept-id column
               ("identifier"; further columns "column7", ...), a span's extra fields
    locations  [[start, end], ...] when an annotation has several (BioC); start/end are the first
    model      the model (its directory's name) whose head found it: set on our own entities

A relation is ``{"id", "infons", "nodes": [{"refid", "role"}]}``: BioC's relation; a PubTator
relation line ``PMID<TAB>CID<TAB>D015738<TAB>D003693`` is ``{"id": None, "infons": {"type": "CID",
"arg1": "D015738", "arg2": "D003693"}, "nodes": []}``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Iterable

from ..errors import UserError

LINE_BREAKS = "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"  # what str.splitlines (and the sentence splitter) break at


@dataclass
class Passage:
    text: str  # the passage's text, exactly as given
    offset: int = 0  # where the text starts in the document's coordinates
    infons: dict = field(default_factory=dict)  # BioC passage infons, e.g. {"type": "title"}
    # a BioC <sentence> (the passage held no text of its own): the enclosing passage's
    # {"offset", "infons"}, shared by its sentences, so that BioC writers put them back in it
    sentence_of: dict | None = None
    wrapped: bool = False  # hard-wrapped lines (--text-unit paragraph): a single line break is a space to the splitter

    def splitting_text(self) -> str:
        """The text the sentence splitter sees: as given, or with line breaks as spaces (same length, same offsets)."""
        return self.text.translate(_AS_SPACES) if self.wrapped else self.text


_AS_SPACES = str.maketrans({c: " " for c in LINE_BREAKS})


@dataclass
class Collection:
    """What a BioC collection says about itself (kept and written back); None for formats without it."""
    source: str = ""
    date: str = ""
    key: str = ""
    infons: dict = field(default_factory=dict)


@dataclass
class Document:
    id: str  # the document id: given by the input, else made from the file name and line
    passages: list[Passage]  # in order of offset, not overlapping
    infons: dict = field(default_factory=dict)  # BioC document infons
    entities: list[dict] = field(default_factory=list)  # annotations that came with the input, kept untouched
    relations: list[dict] = field(default_factory=list)  # relations that came with the input, kept untouched
    collection: Collection | None = None  # the BioC collection it came from

    @classmethod
    def of_text(cls, text: str, id: str = "1") -> "Document":
        return cls(id, [Passage(text, 0)])

    def text_at(self, start: int, end: int) -> str:
        """The document's text between two document offsets (within one passage)."""
        for p in self.passages:
            if p.offset <= start and end <= p.offset + len(p.text):
                return p.text[start - p.offset : end - p.offset]
        raise ValueError(f"document {self.id!r}: offsets {start}-{end} lie in no single passage")

    def without_annotations(self) -> "Document":
        """`munch predict --drop-existing`: the same document with no entities or relations."""
        return replace(self, entities=[], relations=[])


def entity(text: str, type: str, start: int, end: int, head: str | None = None, score: float | None = None) -> dict:
    """An entity dict with its keys in the documented order."""
    return {"text": text, "type": type, "head": head, "start": start, "end": end, "score": score}


def check_passages(doc: Document, where: str) -> None:
    """Passages in order of offset, none before 0 and none overlapping the one before: else one offset names two places."""
    end = 0
    for i, p in enumerate(doc.passages):
        if p.offset < end:
            raise UserError(f"{where}: document {doc.id!r}, passage {i + 1} starts at {p.offset}, inside "
                            f"{'the document start' if i == 0 else 'the passage before it'} (which ends at {end}); "
                            "passages must be in order and must not overlap")
        end = p.offset + len(p.text)


def fresh_ids(taken: Iterable[str | None], n: int, prefix: str = "m") -> list[str]:
    """`n` ids m1, m2, ... that are not in `taken` (ids already in the document)."""
    used = {str(t) for t in taken if t is not None}
    out, k = [], 0
    while len(out) < n:
        k += 1
        if f"{prefix}{k}" not in used:
            out.append(f"{prefix}{k}")
    return out


def mark(doc: Document, found: list[dict], model: str | None) -> list[dict]:
    """Our entities for writing beside the document's own: copies with fresh ids and the model that found them."""
    ids = fresh_ids([e.get("id") for e in doc.entities] + [r.get("id") for r in doc.relations]
                    + [e.get("id") for e in found], sum("id" not in e for e in found))
    out, k = [], 0
    for e in found:
        e = dict(e)
        if model is not None:
            e["model"] = model
        if "id" not in e:
            e["id"], k = ids[k], k + 1
        out.append(e)
    return out
