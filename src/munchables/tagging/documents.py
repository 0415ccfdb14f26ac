"""Documents as the tagger sees them: an id and passages of text, each at an offset in the document.

Every format (formats.py) reads into and writes from these. Offsets are character offsets (Python
string indices) into the document: a passage's text starts at ``passage.offset``, and an entity's
``start``/``end`` are ``passage.offset`` plus its place in ``passage.text``. A plain text or a
JSONL document has one passage at offset 0; a PubTator abstract has its title at 0 and its
abstract at ``len(title) + 1``; a BioC document keeps its passages' own offsets.

An entity is a plain dict, ready for JSON:
``{"text", "type", "head", "start", "end", "score"}``; ``head`` is the corpus whose CRF head found
it and ``score`` its marginal probability under that head (crf.CRF.segment_log_prob). Entities
read from an annotated input may lack ``head`` and ``score`` (None).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Passage:
    text: str  # the passage's text, exactly as given
    offset: int = 0  # where the text starts in the document's coordinates
    infons: dict = field(default_factory=dict)  # BioC passage infons, e.g. {"type": "title"}


@dataclass
class Document:
    id: str  # the document id: given by the input, else made from the file name and line
    passages: list[Passage]  # in order of offset
    infons: dict = field(default_factory=dict)  # BioC document infons
    entities: list[dict] = field(default_factory=list)  # annotations that came with the input (round trips)

    @classmethod
    def of_text(cls, text: str, id: str = "1") -> "Document":
        return cls(id, [Passage(text, 0)])

    def text_at(self, start: int, end: int) -> str:
        """The document's text between two document offsets (within one passage)."""
        for p in self.passages:
            if p.offset <= start and end <= p.offset + len(p.text):
                return p.text[start - p.offset : end - p.offset]
        raise ValueError(f"document {self.id!r}: offsets {start}-{end} lie in no single passage")


def entity(text: str, type: str, start: int, end: int, head: str | None = None, score: float | None = None) -> dict:
    """An entity dict with its keys in the documented order."""
    return {"text": text, "type": type, "head": head, "start": start, "end": end, "score": score}
