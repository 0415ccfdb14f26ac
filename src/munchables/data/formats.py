"""Document formats of the field: readers into `Document`s, writers from documents and their entities.

Readers take a binary stream and decode it strictly as UTF-8 (an undecodable byte is a user
error naming the file and line), keeping every character as given, so offsets index the input
exactly (no newline translation: a CRLF file's ``\\r`` stays in the text). Every reader takes
``offsets`` ("code-points", the default, or "utf16": offsets.py) and keeps what came in: the
annotations (``Document.entities``, with their ids, types, concept ids and infons), relations,
infons and the BioC collection's source, date and key. Writers write those first, untouched,
then the tagger's own entities (documents.mark gives them fresh ids and the model's name).

    text       plain text; `unit` "file" (the whole input is one document, id = its name),
               "line" (a document per non-blank line, id NAME:LINE), "block" (a document per
               run of non-blank lines, id NAME:FIRST-LINE; a line's break is not part of it) or
               "paragraph" (the whole input is one document with a passage per run of non-blank
               lines, at its offset in the input; a single line break inside a paragraph is a
               space to the sentence splitter: hard-wrapped text)
    jsonl      one JSON object per line: ours ({"id", "text"} or {"id", "passages": [{"offset",
               "text"}]}, "entities", "relations": this module's output reads back) or an
               annotated record of doccano, Label Studio or spaCy (spans.py)
    label-studio  a JSON list of such records: Label Studio's JSON export (spans.py)
    pubtator   ``ID|t|title`` and ``ID|a|abstract`` lines, then entity lines ``ID<TAB>start<TAB>
               end<TAB>text<TAB>type[<TAB>concept id[<TAB>...]]`` and relation lines
               ``ID<TAB>TYPE<TAB>ARG1<TAB>ARG2...`` (BC5CDR's ``CID`` lines, PubTator3's), a blank
               line between documents; the abstract starts at len(title) + 1, as PubTator counts
    bioc-xml, bioc-json   BioC collections (Comeau et al. 2013): bioc_format.py; bioc-json also
               reads PubTator3's download and a list of collections (the PMC BioC API)
    medline    MEDLINE/PubMed XML as NLM distributes it (medline.py), read only

Which format a file is, with ``--input-format auto``: detect.py.

Writers are pure functions ``(document, entities, heads, offsets=...) -> str`` (one document's
text), plus a header (given the entity types, for the HTML legend, and the collection the first
document came from, for BioC) and a footer, so that a collection streams document by document
and a server can call them directly. Each document's text starts with a line that names its id
(`doc_id` reads it back), which is how `--resume` finds what is done. A writer never writes what
would read back differently: what a format cannot hold is a one-line error naming the document.
"""

from __future__ import annotations

import bisect
import html
import inspect
import json
import re
from dataclasses import dataclass, field
from typing import BinaryIO, Callable, Iterator, Sequence

from ..choices import TEXT_UNITS
from ..errors import UserError
from . import json_input as J
from .bioc_format import (
    bioc_json_document,
    bioc_json_header,
    bioc_xml_document,
    bioc_xml_header,
    read_bioc_json,
    read_bioc_xml,
)
from .brat import BratOutput, read_brat
from .colours import type_colour
from .documents import Document, Passage, check_passages, entity
from .medline import read_medline
from .offsets import CODE_POINTS, from_units, length, to_units
from .spans import read_label_studio, record
from .tokenize import tokenize

__all__ = ["READERS", "OUTPUT_FORMATS", "read_text", "read_jsonl", "read_pubtator", "read_bioc_xml", "read_bioc_json",
           "read_medline", "read_label_studio", "jsonl_document", "pubtator_document", "conll_document",
           "bioc_xml_document", "bioc_json_document", "html_document", "STDIN"]


# ------------------------------------------------------------------------------------------ reading
STDIN = "stdin"  # the name (and document id prefix) of standard input


def _label(name: str) -> str:
    """How a message names the input."""
    return "standard input" if name == STDIN else name


MAX_LINE_BYTES = 256 * 1024 * 1024  # one line of a line-based format (a JSONL record, a PubTator abstract)


def _lines(stream: BinaryIO, name: str) -> Iterator[tuple[int, str]]:
    """(line number, line without its \\n or \\r\\n) for every line, decoded strictly; a line is at most MAX_LINE_BYTES."""
    for number, raw in enumerate(iter(lambda: stream.readline(MAX_LINE_BYTES + 1), b""), 1):
        if len(raw) > MAX_LINE_BYTES:
            raise UserError(f"{_label(name)}, line {number}: longer than {MAX_LINE_BYTES >> 20} MB; a line-based format "
                            "holds one record or abstract per line (split it, or read one long text with --input-format text "
                            "--text-unit file)")
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise UserError(f"{_label(name)}: not UTF-8 text (line {number}, byte {e.start}); expected UTF-8") from None
        yield number, line[:-2] if line.endswith("\r\n") else line.rstrip("\n")


_PARAGRAPH = re.compile(r"(?:[^\S\n]*\n){2,}")  # a blank line (spaces allowed) ends a paragraph


def read_text(stream: BinaryIO, name: str, unit: str = "file", offsets: str = CODE_POINTS) -> Iterator[Document]:
    if unit not in TEXT_UNITS:
        raise UserError(f"--text-unit {unit}: expected one of {', '.join(TEXT_UNITS)}")
    if unit in ("file", "paragraph"):
        data = stream.read()
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise UserError(f"{_label(name)}: not UTF-8 text (byte {e.start}); expected UTF-8") from None
        if unit == "file":
            yield Document.of_text(text, name)
            return
        passages, at = [], 0
        for m in [*_PARAGRAPH.finditer(text), None]:
            end = m.start() if m else len(text)
            chunk = text[at:end]
            lead = len(chunk) - len(chunk.lstrip())
            chunk = chunk.strip()
            if chunk:
                passages.append(Passage(chunk, at + lead, {"type": "paragraph"}, wrapped=True))
            at = m.end() if m else len(text)
        yield Document(name, passages)
        return
    block: list[str] = []
    first = 0
    for number, line in _lines(stream, name):
        if unit == "line":
            if line.strip():
                yield Document.of_text(line, f"{name}:{number}")
        elif line.strip():
            first = first or number
            block.append(line)
        elif block:
            yield Document.of_text("\n".join(block), f"{name}:{first}")
            block, first = [], 0
    if block:
        yield Document.of_text("\n".join(block), f"{name}:{first}")


def read_jsonl(stream: BinaryIO, name: str, offsets: str = CODE_POINTS) -> Iterator[Document]:
    """A record per line: ours, doccano's, Label Studio's or spaCy-style (spans.record checks every field)."""
    for number, line in _lines(stream, name):
        if not line.strip():
            continue
        where = f"{_label(name)}, line {number}"
        yield record(J.loads(line, where), where, f"{name}:{number}", offsets)


def _is_int(s: str) -> bool:
    return s.isascii() and s.isdigit()


def read_pubtator(stream: BinaryIO, name: str, offsets: str = CODE_POINTS) -> Iterator[Document]:
    doc: Document | None = None
    where = name

    def done(d: Document) -> Document:
        d = from_units(d, offsets)
        check_passages(d, where)
        return d

    for number, line in _lines(stream, name):
        where = f"{_label(name)}, line {number}"
        head = line.split("|", 2)
        if len(head) == 3 and head[0].endswith(" ") and head[2].startswith(" "):
            # "ID |t| text", as two documents of NCBI-disease's development set: read as "ID|t|text",
            # which is how that file's offsets count
            head = [head[0].rstrip(" "), head[1], head[2][1:]]
        if len(head) == 3 and head[1] in ("t", "a") and "\t" not in head[0]:
            if head[1] == "t" or doc is None or doc.id != head[0]:
                if doc is not None:
                    yield done(doc)
                doc = Document(head[0], [])
            if head[1] == "t":
                doc.passages.append(Passage(head[2], 0, {"type": "title"}))
            elif head[2]:  # offsets count the title, one character between, then the abstract (an empty one: none)
                offset = length(doc.passages[0].text, offsets) + 1 if doc.passages else 0
                doc.passages.append(Passage(head[2], offset, {"type": "abstract"}))
        elif line.strip():
            cols = line.split("\t")
            if doc is None or len(cols) < 2 or cols[0] != doc.id:
                raise UserError(f"{where}: expected ID|t|title, ID|a|abstract, ID<TAB>start<TAB>end<TAB>text<TAB>type "
                                f"or ID<TAB>TYPE<TAB>ARG1<TAB>ARG2 (a relation) for the document above")
            if not _is_int(cols[1]):  # a relation: BC5CDR's CID, PubTator3's
                doc.relations.append({"id": None, "infons": {"type": cols[1], **{f"arg{i}": a for i, a in
                                                                                   enumerate(cols[2:], 1)}},
                                      "nodes": []})
                continue
            if len(cols) < 5 or not _is_int(cols[2]):
                raise UserError(f"{where}: start and end must be integers, then text and type "
                                "(ID<TAB>start<TAB>end<TAB>text<TAB>type)")
            e = entity(cols[3], cols[4], int(cols[1]), int(cols[2]))
            if len(cols) > 5:  # the concept id (NCBI-disease's, BC5CDR's MeSH), then whatever follows
                e["infons"] = {"identifier": cols[5], **{f"column{i}": c for i, c in enumerate(cols[6:], 7)}}
            doc.entities.append(e)
        elif doc is not None:
            yield done(doc)
            doc = None
    if doc is not None:
        yield done(doc)


READERS: dict[str, Callable[..., Iterator[Document]]] = {
    "text": read_text, "jsonl": read_jsonl, "label-studio": read_label_studio, "pubtator": read_pubtator,
    "bioc-xml": read_bioc_xml, "bioc-json": read_bioc_json, "medline": read_medline,
}
# Formats that are a folder of files rather than one stream (brat standoff, brat.py): read from and written to a directory.
FOLDER_READERS: dict[str, Callable[..., Iterator[Document]]] = {"brat": read_brat}
FOLDER_OUTPUTS = {"brat": BratOutput}


# ------------------------------------------------------------------------------------------ writing
def jsonl_document(doc: Document, found: list[dict], heads: Sequence[str] = (), offsets: str = CODE_POINTS) -> str:
    """{"id", "text" | "passages", "infons", "entities": what came in then ours, "relations"}: read back by read_jsonl."""
    doc, found = to_units(doc, found, offsets)
    obj: dict = {"id": doc.id}
    if len(doc.passages) == 1 and doc.passages[0].offset == 0 and not doc.passages[0].infons and not doc.passages[0].sentence_of:
        obj["text"] = doc.passages[0].text
    else:
        obj["passages"] = [{"offset": p.offset, "text": p.text, "infons": p.infons,
                            **({"sentence_of": p.sentence_of} if p.sentence_of else {}),
                            **({"wrapped": True} if p.wrapped else {})} for p in doc.passages]
    if doc.infons:
        obj["infons"] = doc.infons
    obj["entities"] = doc.entities + found
    if doc.relations:
        obj["relations"] = doc.relations
    return json.dumps(obj, ensure_ascii=False) + "\n"


_PUBTATOR_BREAKS = re.compile("[\t\r\n]")
_CONCEPT_INFONS = ("identifier", "MESH")  # the infon a PubTator concept-id column comes from (BioC of PubTator3, BC5CDR)


def _pubtator_columns(e: dict) -> list[str]:
    """An entity line's columns after the id: start, end, text, type, then the concept id and further columns."""
    cols = [str(e["start"]), str(e["end"]), e["text"], e["type"]]
    infons = e.get("infons") or {}
    concept = next((k for k in _CONCEPT_INFONS if k in infons), None)
    if concept is not None:
        cols.append(infons[concept])
        k = 7
        while f"column{k}" in infons:
            cols.append(infons[f"column{k}"])
            k += 1
    return [c if isinstance(c, str) else "" if c is None else json.dumps(c, ensure_ascii=False) for c in cols]


def _relation_columns(r: dict) -> list[str]:
    """A relation line's columns after the id: its type, its other infons' values, its nodes' refids."""
    infons = r.get("infons") or {}
    kind = next((k for k in ("type", "relation") if k in infons), None)
    cols = [infons[kind] if kind else ""] + [v for k, v in infons.items() if k != kind]
    cols += [n.get("refid", "") for n in r.get("nodes", [])]
    return [c if isinstance(c, str) else "" if c is None else json.dumps(c, ensure_ascii=False) for c in cols]


def pubtator_document(doc: Document, found: list[dict], heads: Sequence[str] = (), offsets: str = CODE_POINTS) -> str:
    """Title and abstract lines, a line per entity (what came in, then ours), a line per relation.

    What PubTator cannot hold is refused, never written to read back as something else: line breaks
    in the title or abstract, ``|`` or a break in the id, a TAB or line break in any column of an
    entity or relation line (an entity's text with a TAB would read back as a sixth column), a
    relation type that is a number (it would read back as an entity).
    """
    texts = [p.text for p in doc.passages]
    fits = (len(texts) == 1 and doc.passages[0].offset == 0) or (
        len(texts) == 2 and doc.passages[0].offset == 0 and doc.passages[1].offset == len(texts[0]) + 1)
    if not fits or any(re.search(r"[\r\n]", t) for t in texts) or "|" in doc.id or _PUBTATOR_BREAKS.search(doc.id):
        raise UserError(f"document {doc.id!r}: PubTator holds a title and an abstract without line breaks, and ids "
                        f"without | or tabs; write jsonl or bioc-xml instead (or read text with --text-unit line)")
    doc, found = to_units(doc, found, offsets)
    title, abstract = texts[0], texts[1] if len(texts) == 2 else ""
    lines = [f"{doc.id}|t|{title}", f"{doc.id}|a|{abstract}"]
    # our entities once per span and type: several heads (or models) finding the same give it once
    ours: dict[tuple, dict] = {}
    for e in found:
        ours.setdefault(tuple(_pubtator_columns(e)), e)
    rows = [("entity", e.get("text"), _pubtator_columns(e)) for e in doc.entities + list(ours.values())]
    rows += [("relation", (r.get("infons") or {}).get("type"), _relation_columns(r)) for r in doc.relations]
    for what, name, cols in rows:
        bad = next((c for c in cols if _PUBTATOR_BREAKS.search(c)), None)
        if bad is not None or (what == "relation" and _is_int(cols[0])):
            problem = (f"holds a TAB or line break ({bad!r})" if bad is not None
                       else f"has a number as its type ({cols[0]!r}), which reads back as an entity")
            raise UserError(f"document {doc.id!r}: the {what} {name!r} {problem}, which a PubTator line cannot hold; "
                            "write jsonl, bioc-xml or bioc-json instead")
        lines.append("\t".join([doc.id, *cols]))
    return "\n".join(lines) + "\n\n"


CONLL_COLUMNS = "# columns = "  # the first line of a CoNLL output: what each column holds


def conll_header(types: Sequence[str], heads: Sequence[str] = ()) -> str:
    """``# columns = token tag:HEAD ...``: the tag columns in order, one per head (`--heads`)."""
    return CONLL_COLUMNS + " ".join(["token", *(f"tag:{h}" for h in heads)]) + "\n"


def conll_document(doc: Document, found: list[dict], heads: Sequence[str], offsets: str = CODE_POINTS) -> str:
    """``# document = ID``, then a token per line with one IOB2 tag column per head, a blank line after each sentence.

    An entity tags the tokens that lie wholly inside it (all of them, for the tagger's own entities).
    """
    out = [f"# document = {doc.id}\n"]
    for p in doc.passages:
        lo, hi = p.offset, p.offset + len(p.text)
        mine = {h: sorted((e for e in found if e["head"] == h and lo <= e["start"] and e["end"] <= hi),
                          key=lambda e: e["start"]) for h in heads}
        keys = {h: [e["start"] - lo for e in mine[h]] for h in heads}  # local starts, sorted
        for sentence in tokenize(p.splitting_text()):
            starts, ends = [s for _, s, _ in sentence], [t for _, _, t in sentence]
            columns = []
            for head in heads:
                tags = ["O"] * len(sentence)
                first, last = bisect.bisect_left(keys[head], starts[0]), bisect.bisect_left(keys[head], ends[-1])
                for e in mine[head][first:last]:  # the entities that start inside this sentence
                    a = bisect.bisect_left(starts, e["start"] - lo)  # first token inside
                    b = bisect.bisect_right(ends, e["end"] - lo)  # one past the last token inside
                    for k in range(a, b):
                        tags[k] = ("B-" if k == a else "I-") + e["type"]
                columns.append(tags)
            for i, (token, _, _) in enumerate(sentence):
                out.append("\t".join([token, *(c[i] for c in columns)]) + "\n")
            out.append("\n")
    return "".join(out)


_CSS = """
body { font-family: -apple-system, BlinkMacSystemFont, "Segoe UI", Helvetica, Arial, sans-serif; color: #222;
       max-width: 60em; margin: 2em auto; padding: 0 1em; }
.legend mark, mark.entity { padding: 0.25em 0.35em; margin: 0 0.1em; border-radius: 0.35em; line-height: 1; }
.legend { margin-bottom: 1.5em; }
.legend mark { font-size: 0.8em; font-weight: bold; }
section { border-top: 1px solid #ddd; padding: 0.5em 0; }
section h2 { font-size: 0.9em; color: #888; font-weight: normal; }
p.passage { white-space: pre-wrap; line-height: 2.5; }
mark.entity .label { font-size: 0.6em; font-weight: bold; text-transform: uppercase; margin-left: 0.5em;
                     vertical-align: middle; }
mark.overlap { padding-bottom: 0.6em; }
"""


def colour(etype: str, types: Sequence[str] = ()) -> str:
    """The type's one colour (colours.py), the same in every output; `types` is not needed any more."""
    return type_colour(etype)


def html_header(types: Sequence[str], collection=None) -> str:
    legend = " ".join(f'<mark style="background: {colour(t, types)}">{html.escape(t)}</mark>' for t in types)
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>munchables: entities</title>\n'
            f"<style>{_CSS}</style>\n</head>\n<body>\n<div class=\"legend\">{legend}</div>\n")


HTML_FOOTER = "</body>\n</html>\n"


def html_document(doc: Document, found: list[dict], heads: Sequence[str] = (), types: Sequence[str] = (),
                  offsets: str = CODE_POINTS) -> str:
    """A section per document; entities highlighted by type, overlaps as segments under several entities.

    The text is cut at every entity boundary; a segment inside entities is a ``<mark>`` coloured
    by the first one's type, with a band underneath in the colour of each further type where
    entities of several types overlap, listing them in ``data-entities``; each type's label follows
    the last segment of its entities, once; the title shows type, head and score of each. Colours
    belong to the type (colours.py), the same in every output. Written by hand: displaCy renders
    spaCy Docs and cannot show overlapping spans this way.
    """
    found = doc.entities + found  # what came with the document, then ours
    parts = [f'<section class="document" data-id="{html.escape(doc.id)}">\n<h2>{html.escape(doc.id)}</h2>\n']
    for p in doc.passages:
        lo, hi = p.offset, p.offset + len(p.text)
        inside = [(i, e) for i, e in enumerate(found) if lo <= e["start"] and e["end"] <= hi]
        cuts = sorted({lo, hi, *(x for _, e in inside for x in (e["start"], e["end"]))})
        opening: dict[int, list] = {}
        for i, e in inside:
            opening.setdefault(e["start"], []).append((i, e))
        active: dict[int, dict] = {}  # the entities covering the current segment (a sweep: linear in the text)
        parts.append(f'<p class="passage" data-offset="{p.offset}">')
        for a, b in zip(cuts, cuts[1:]):
            active = {i: e for i, e in active.items() if e["end"] > a}
            active.update(opening.get(a, []))
            text = html.escape(p.text[a - lo : b - lo])
            if not active:
                parts.append(text)
                continue
            over = sorted(active.items(), key=lambda ie: ie[0])
            kinds = list(dict.fromkeys(e["type"] for _, e in over))  # several heads finding one type: one colour
            style = f"background: {colour(kinds[0])}"
            cls = "entity"
            if len(kinds) > 1:  # one band underneath per further type, stacked, each in its type's colour
                style += "; box-shadow: " + ", ".join(f"inset 0 -{0.3 * k:.1f}em 0 {colour(t)}"
                                                      for k, t in enumerate(kinds[1:], 1))
                cls += " overlap"
            title = "; ".join(f"{e['type']} ({e.get('head')}) {e.get('score')}" if e.get("head") is not None
                              else f"{e['type']} (in the input)" for _, e in over)
            ending = dict.fromkeys(e["type"] for _, e in over if e["end"] == b)  # a type's label once
            labels = "".join(f'<span class="label">{html.escape(t)}</span>' for t in ending)
            ids = " ".join(str(i) for i, _ in over)
            parts.append(f'<mark class="{cls}" data-entities="{ids}" style="{style}" title="{html.escape(title)}">'
                         f"{text}{labels}</mark>")
        parts.append("</p>\n")
    parts.append("</section>\n")
    return "".join(parts)


def _json_id(line: str) -> str | None:
    try:
        obj = json.loads(line.lstrip(","))
    except json.JSONDecodeError:
        return None
    return str(obj["id"]) if isinstance(obj, dict) and "id" in obj else None


def _match_id(pattern: str, unescape: bool = True) -> Callable[[str], str | None]:
    compiled = re.compile(pattern)

    def doc_id(line: str) -> str | None:
        m = compiled.match(line)
        return None if m is None else html.unescape(m.group(1)) if unescape else m.group(1)

    return doc_id


def _pubtator_id(line: str) -> str | None:
    head = line.split("|", 2)
    return head[0] if len(head) == 3 and head[1] == "t" and "\t" not in head[0] else None


@dataclass(frozen=True)
class OutputFormat:
    document: Callable[..., str]  # (document, entities, heads) -> that document's text
    doc_id: Callable[[str], str | None]  # the id of the document a line begins, else None
    header: Callable[..., str] = lambda types, collection=None: ""  # given the entity types and the first document's collection
    footer: str = ""
    separator: str = ""  # written before every document but the first (BioC JSON's comma)
    needs_types: bool = field(default=False)  # the document function takes types= (HTML colours)

    def head(self, types: Sequence[str], heads: Sequence[str] = (), collection=None) -> str:
        """The header, given what this format's header says: the input's collection (BioC), the
        heads (CoNLL's column line); each header function takes only what it uses."""
        takes = inspect.signature(self.header).parameters
        given = {"collection": collection, "heads": heads}
        return self.header(types, **{k: v for k, v in given.items() if k in takes})


OUTPUT_FORMATS: dict[str, OutputFormat] = {
    "jsonl": OutputFormat(jsonl_document, _json_id),
    "pubtator": OutputFormat(pubtator_document, _pubtator_id),
    "conll": OutputFormat(conll_document, _match_id(r"# document = (.*)$", unescape=False), conll_header),
    "bioc-xml": OutputFormat(bioc_xml_document, _match_id(r"<document><id>(.*?)</id>"), bioc_xml_header,
                             "</collection>\n"),
    "bioc-json": OutputFormat(bioc_json_document, _json_id, bioc_json_header, "]}\n", ","),
    "html": OutputFormat(html_document, _match_id(r'<section class="document" data-id="(.*?)">'), html_header,
                         HTML_FOOTER, needs_types=True),
}
