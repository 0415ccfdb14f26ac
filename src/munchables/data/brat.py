"""brat standoff (Stenetorp et al. 2012): a folder of ``NAME.txt`` + ``NAME.ann`` pairs, read and written here.

The ``.txt`` file is the document's text, exactly as given (one passage at offset 0; read as
UTF-8 with its line breaks untouched, so brat's character offsets index it). The ``.ann`` file
holds one annotation per line (https://brat.nlplab.org/standoff.html):

    T  text-bound annotation: ``T1<TAB>Disease 0 5<TAB>tumour``; a discontinuous one lists its
       fragments separated by ``;``: ``T2<TAB>Disease 0 5;10 15<TAB>text text``. Read as an
       entity (documents.entity) with offsets from the first fragment's start to the last
       fragment's end, and, when there are several fragments, ``"fragments": [[0, 5], [10, 15]]``
       besides: the reader loses nothing, and what a discontinuous mention becomes in training
       is decided (and counted) where documents become sentences (data/annotated.py).
    A, N, R, E, *, #   attributes, normalisations, relations, events, equivalences and notes:
       skipped by the reader, counted in ``Document.infons["brat_skipped"]`` (e.g. "R: 3"), never
       an error. An event's trigger is itself a T line and is read as an entity of its type.

Any other line is an error naming the file and line. Overlapping T annotations are read as they
are; data/annotated.py resolves them for training by one documented rule.

The writer is a folder too (`BratOutput`): ``ID.txt`` with the document's text (passages joined at
their offsets, the gaps filled with spaces or, between passages, a newline) and ``ID.ann`` with a
T line per entity, the input's own first (fragments where the entity has them), each with an
``AnnotatorNotes`` line of what else is known: ``head=... score=... model=...`` for a tagger's
entity, the input's infons (a concept id) for its own; a BioC relation between two of them is an R
line (others, e.g. PubTator's concept-level relations, are counted in a warning). A folder output
cannot be one streamed file, so it is not an `OutputFormat` of formats.py; `--resume` skips the
documents whose ``.ann`` is already there (each pair is written ``.txt`` first, ``.ann`` last,
atomically), and `--overwrite` writes over the pairs of the documents it tags (other files in the
folder stay). A folder that holds ``.ann`` files already is refused without one of the two.
"""

from __future__ import annotations

import logging
import os
import re
from collections import Counter
from pathlib import Path
from typing import Iterator, Sequence

from ..errors import UserError
from .documents import Document, Passage, entity, mark

log = logging.getLogger("munchables")

_T_LINE = re.compile(r"T[^\t]*\t(\S+) (\d+ \d+(?:;\d+ \d+)*)\t?(.*)")
SKIPPED = ("A", "M", "N", "R", "E", "*", "#")  # annotation kinds the reader skips (M: old brat's attributes)
_SAFE_ID = re.compile(r"[^A-Za-z0-9._-]")


def _decode(data: bytes, path: Path) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise UserError(f"{path}: not UTF-8 text (line {line}, byte {e.start}); expected UTF-8") from None


def parse_ann(text: str, document: str, path: Path | str = "") -> tuple[list[dict], Counter]:
    """The entities of one ``.ann`` text over `document` (the ``.txt``), and the count of skipped lines per kind."""
    found, skipped = [], Counter()
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        if line[0] != "T":
            if line[0] in SKIPPED:
                skipped[line[0]] += 1
                continue
            raise UserError(f"{path}:{number}: not a brat annotation line ({line[:40]!r}); expected "
                            f"T1<TAB>TYPE START END<TAB>TEXT, or an A, N, R, E, * or # line")
        m = _T_LINE.fullmatch(line)
        if m is None:
            raise UserError(f"{path}:{number}: malformed T line ({line[:60]!r}); expected "
                            f"T1<TAB>TYPE START END[;START END...]<TAB>TEXT")
        fragments = [[int(a), int(b)] for a, b in (f.split() for f in m.group(2).split(";"))]
        if any(a > b or b > len(document) for a, b in fragments):
            raise UserError(f"{path}:{number}: offsets {m.group(2)} lie outside the text ({len(document)} characters) "
                            f"or end before they start; fix the offsets or the .txt beside it")
        start, end = fragments[0][0], fragments[-1][1]
        e = entity(" ".join(document[a:b] for a, b in fragments), m.group(1), start, end)
        if len(fragments) > 1:
            e["fragments"] = fragments
        found.append(e)
    return found, skipped


def read_brat_pair(txt: Path, ann: Path | None = None) -> Document:
    """One document from ``NAME.txt`` and ``NAME.ann`` (no ``.ann``: a document without entities)."""
    ann = txt.with_suffix(".ann") if ann is None else ann
    try:
        text = _decode(txt.read_bytes(), txt)
        ann_text = _decode(ann.read_bytes(), ann) if ann.exists() else ""
    except OSError as e:
        raise UserError(f"{txt}: cannot read it ({e.strerror})") from None
    found, skipped = parse_ann(ann_text, text, ann)
    infons = {"brat_skipped": ", ".join(f"{k}: {n}" for k, n in sorted(skipped.items()))} if skipped else {}
    return Document(txt.stem, [Passage(text, 0)], infons, found)


def is_brat_folder(path: Path) -> bool:
    """A directory that holds at least one ``.ann`` file (at any depth)."""
    return path.is_dir() and any(True for _ in path.rglob("*.ann"))


def read_brat(folder: Path | str) -> Iterator[Document]:
    """Every ``.txt`` below `folder` (sorted, hidden ones left out) with its ``.ann``; an ``.ann``
    without its ``.txt`` is an error."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{folder}: brat input is a folder of NAME.txt + NAME.ann pairs; this is not a folder")
    visible = [p for p in sorted(folder.rglob("*")) if p.is_file()
               and not any(s.startswith(".") for s in p.relative_to(folder).parts)]
    texts = {p.with_suffix("") for p in visible if p.suffix == ".txt"}
    orphans = [p for p in visible if p.suffix == ".ann" and p.with_suffix("") not in texts]
    if orphans:
        raise UserError(f"{orphans[0]}: no {orphans[0].with_suffix('.txt').name} beside it; brat needs the text "
                        f"of every .ann file")
    if not texts:
        raise UserError(f"{folder}: no .txt files; expected brat NAME.txt + NAME.ann pairs")
    for stem in sorted(texts):
        doc = read_brat_pair(stem.with_suffix(".txt"))
        doc.id = str(stem.relative_to(folder))
        yield doc


# ------------------------------------------------------------------------------------------ writing


def document_text(doc: Document) -> str:
    """The document's text in its own coordinates: passages at their offsets, gaps filled (newline between passages)."""
    out = ""
    for p in doc.passages:
        if p.offset < len(out):
            raise UserError(f"document {doc.id!r}: passages overlap (offset {p.offset}); brat holds one text")
        gap = p.offset - len(out)
        out += ("\n" + " " * (gap - 1) if gap and out else " " * gap) + p.text
    return out


def brat_ann(found: Sequence[dict], ours: Sequence[dict] = (), relations: Sequence[dict] = ()) -> tuple[str, int]:
    """The ``.ann`` text of a document: T lines for the document's own entities (`found`: their
    infons, e.g. a concept id, in an AnnotatorNotes line), then ours (head, score, model in the
    note), then an R line per binary relation whose two nodes name entities written here (BioC
    relations); and how many relations could not be written (PubTator's relations join concept
    ids, not mentions, and brat has no line for those)."""
    lines, number = [], {}
    for n, e in enumerate([*found, *ours], 1):
        fragments = e.get("fragments") or e.get("locations") or [[e["start"], e["end"]]]
        spans = ";".join(f"{a} {b}" for a, b in fragments)
        lines.append(f"T{n}\t{_word(e['type'])} {spans}\t{_one_line(e['text'])}")
        if e.get("id") is not None:
            number[str(e["id"])] = n
        facts = {k: e.get(k) for k in ("head", "score", "model")} | dict(e.get("infons") or {})
        note = " ".join(f"{_word(k)}={_one_line(str(v))}" for k, v in facts.items() if v is not None)
        if note:
            lines.append(f"#{n}\tAnnotatorNotes T{n}\t{note}")
    unwritten, r = 0, 0
    for rel in relations:
        nodes = rel.get("nodes") or []
        if len(nodes) != 2 or any(str(node.get("refid")) not in number for node in nodes):
            unwritten += 1
            continue
        r += 1
        kind = (rel.get("infons") or {}).get("type") or "Relation"
        args = " ".join(f"{_word(node.get('role') or f'Arg{i}')}:T{number[str(node['refid'])]}"
                        for i, node in enumerate(nodes, 1))
        lines.append(f"R{r}\t{_word(kind)} {args}")
    return "\n".join(lines) + ("\n" if lines else ""), unwritten


def _word(text: str) -> str:
    return re.sub(r"\s", "_", text) or "_"


def _one_line(text: str) -> str:
    return re.sub(r"[\t\r\n]", " ", text)


def file_stem(doc_id: str) -> str:
    """A file name for a document id: characters other than letters, digits, ``. _ -`` become ``_``."""
    stem = _SAFE_ID.sub("_", doc_id.replace(os.sep, "__")).lstrip(".")
    return stem or "document"


def _atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8", newline="") as f:
        f.write(text)
    os.replace(tmp, path)


class _Written:
    """The document ids whose ``.ann`` a folder holds (`in` tests an id by its file stem)."""

    def __init__(self, stems: set[str]):
        self.stems = stems

    def __contains__(self, doc_id: str) -> bool:
        return file_stem(doc_id) in self.stems


class BratOutput:
    """`munch tag --format brat --out FOLDER`: an ``ID.txt`` and ``ID.ann`` per document (same interface as
    collection.Output: ``start(documents)``, ``write(tagged)``, ``close()``, ``skipped``)."""

    def __init__(self, path: str | None, resume: bool = False, overwrite: bool = False, model: str | None = None):
        self.model, self.unwritten = model, 0  # model: what our entities are marked with; relations not written
        if path is None:
            raise UserError("--format brat writes a folder of .txt + .ann pairs; give --out FOLDER")
        self.folder = Path(path)
        if self.folder.exists() and not self.folder.is_dir():
            raise UserError(f"--out {path}: is a file; --format brat writes a folder")
        existing = sorted(self.folder.glob("*.ann")) if self.folder.is_dir() else []
        if existing and not (resume or overwrite):
            raise UserError(f"--out {path}: the folder holds brat files already; --resume continues it, "
                            f"--overwrite replaces them")
        self.done = _Written({p.stem for p in existing} if resume else set())
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise UserError(f"--out {path}: cannot create the folder ({e.strerror})") from None

    def start(self, documents):
        """The documents still to write (collection.Output's interface): with --resume, those whose
        files the folder does not hold yet (a brat folder is keyed by document id: one file pair each)."""
        self.skipped = 0
        for doc in documents:
            if doc.id in self.done:
                self.skipped += 1
                continue
            yield doc

    def write(self, tagged) -> None:
        doc = tagged.document
        stem = file_stem(doc.id)
        _atomic(self.folder / f"{stem}.txt", document_text(doc))
        ann, unwritten = brat_ann(doc.entities, mark(doc, tagged.entities, self.model), doc.relations)
        self.unwritten += unwritten
        _atomic(self.folder / f"{stem}.ann", ann)

    def close(self) -> None:
        if self.unwritten:
            log.warning("--format brat: %d relations of the input were not written: brat's R lines join two "
                        "mentions, and these join concept ids or more than two nodes (write jsonl, "
                        "pubtator or bioc to keep them)", self.unwritten)
