"""Document formats of the field: readers into `Document`s, writers from documents and their entities.

Readers take a binary stream and decode it strictly as UTF-8 (an undecodable byte is a user
error naming the file and line), keeping every character as given, so offsets index the input
exactly (no newline translation: a CRLF file's ``\\r`` stays in the text).

    text       plain text; `unit` "file" (the whole input is one document, id = its name),
               "line" (a document per non-blank line, id NAME:LINE) or "block" (a document per
               run of non-blank lines, id NAME:FIRST-LINE); a line's break is not part of it
    jsonl      one JSON object per line: {"id", "text"} or {"id", "passages": [{"offset",
               "text"}]}; "entities" are read too (this module's own output reads back)
    pubtator   ``ID|t|title`` and ``ID|a|abstract`` lines, then entity lines ``ID<TAB>start<TAB>
               end<TAB>text<TAB>type[<TAB>...]``, a blank line between documents; the abstract
               starts at len(title) + 1, as PubTator counts
    bioc-xml, bioc-json   BioC collections (Comeau et al. 2013), parsed by the `bioc` package;
               passages keep their offsets, annotations are read as entities

Writers are pure functions ``(document, entities, heads) -> str`` (one document's text), plus a
header (given the entity types, for the HTML legend) and a footer, so that a collection streams
document by document and a server can call them directly. Each document's text starts with a
line that names its id (`doc_id` reads it back), which is how `--resume` finds what is done.
"""

from __future__ import annotations

import bisect
import html
import json
import re
from dataclasses import dataclass, field
from typing import BinaryIO, Callable, Iterator, Sequence

import bioc
from bioc import biocjson, biocxml
from lxml import etree

from ..choices import TEXT_UNITS
from .documents import Document, Passage, entity
from ..errors import UserError
from ..data.tokenize import tokenize



# ------------------------------------------------------------------------------------------ reading
STDIN = "stdin"  # the name (and document id prefix) of standard input


def _label(name: str) -> str:
    """How a message names the input."""
    return "standard input" if name == STDIN else name


def _lines(stream: BinaryIO, name: str) -> Iterator[tuple[int, str]]:
    """(line number, line without its \\n or \\r\\n) for every line, decoded strictly."""
    for number, raw in enumerate(stream, 1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise UserError(f"{_label(name)}: not UTF-8 text (line {number}, byte {e.start}); expected UTF-8") from None
        yield number, line[:-2] if line.endswith("\r\n") else line.rstrip("\n")


def read_text(stream: BinaryIO, name: str, unit: str = "file") -> Iterator[Document]:
    if unit == "file":
        data = stream.read()
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise UserError(f"{_label(name)}: not UTF-8 text (byte {e.start}); expected UTF-8") from None
        yield Document.of_text(text, name)
        return
    if unit not in TEXT_UNITS:
        raise UserError(f"--text-unit {unit}: expected one of {', '.join(TEXT_UNITS)}")
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


def _entities_from_json(items, where: str) -> list[dict]:
    try:
        return [entity(e["text"], e["type"], int(e["start"]), int(e["end"]), e.get("head"), e.get("score"))
                for e in items]
    except (KeyError, TypeError, ValueError) as e:
        raise UserError(f"{where}: an entity needs text, type, start and end ({e.__class__.__name__}: {e})") from None


def read_jsonl(stream: BinaryIO, name: str) -> Iterator[Document]:
    for number, line in _lines(stream, name):
        if not line.strip():
            continue
        where = f"{name}, line {number}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise UserError(f"{where}: not JSON ({e.msg}); expected one object per line") from None
        if not isinstance(obj, dict) or not (isinstance(obj.get("text"), str) or isinstance(obj.get("passages"), list)):
            raise UserError(f'{where}: expected {{"id": ..., "text": "..."}} or {{"id": ..., "passages": [...]}}')
        if "passages" in obj:
            try:
                passages = [Passage(p["text"], int(p.get("offset", 0)), dict(p.get("infons", {})))
                            for p in obj["passages"]]
            except (KeyError, TypeError, ValueError):
                raise UserError(f'{where}: every passage needs "text" (and an integer "offset")') from None
        else:
            passages = [Passage(obj["text"], 0)]
        doc_id = str(obj["id"]) if obj.get("id") is not None else f"{name}:{number}"
        yield Document(doc_id, passages, dict(obj.get("infons", {})), _entities_from_json(obj.get("entities", []), where))


def read_pubtator(stream: BinaryIO, name: str) -> Iterator[Document]:
    doc: Document | None = None
    for number, line in _lines(stream, name):
        where = f"{name}, line {number}"
        head = line.split("|", 2)
        if len(head) == 3 and head[1] in ("t", "a") and "\t" not in head[0]:
            if head[1] == "t" or doc is None or doc.id != head[0]:
                if doc is not None:
                    yield doc
                doc = Document(head[0], [])
            if head[1] == "t":
                doc.passages.append(Passage(head[2], 0, {"type": "title"}))
            else:
                offset = len(doc.passages[0].text) + 1 if doc.passages else 0
                doc.passages.append(Passage(head[2], offset, {"type": "abstract"}))
        elif line.strip():
            cols = line.split("\t")
            if doc is None or len(cols) < 5 or cols[0] != doc.id:
                raise UserError(f"{where}: expected ID|t|title, ID|a|abstract or ID<TAB>start<TAB>end<TAB>text<TAB>type "
                                f"for the document above")
            try:
                doc.entities.append(entity(cols[3], cols[4], int(cols[1]), int(cols[2])))
            except ValueError:
                raise UserError(f"{where}: start and end must be integers") from None
        elif doc is not None:
            yield doc
            doc = None
    if doc is not None:
        yield doc


def _from_bioc(d: bioc.BioCDocument) -> Document:
    passages = [Passage(p.text or "", p.offset, dict(p.infons)) for p in d.passages]
    found = []
    for ann in [a for p in d.passages for a in p.annotations] + list(d.annotations):
        if ann.locations:
            loc = ann.locations[0]
            score = ann.infons.get("score")
            found.append(entity(ann.text or "", ann.infons.get("type", ""), loc.offset, loc.offset + loc.length,
                                ann.infons.get("head"), float(score) if score is not None else None))
    return Document(str(d.id), passages, dict(d.infons), found)


def read_bioc_xml(stream: BinaryIO, name: str) -> Iterator[Document]:
    try:
        reader = biocxml.BioCXMLDocumentReader(stream)
        for d in reader:
            yield _from_bioc(d)
    except (etree.XMLSyntaxError, ValueError, TypeError) as e:
        raise UserError(f"{name}: not a BioC XML collection ({e.__class__.__name__}: {e})") from None


def read_bioc_json(stream: BinaryIO, name: str) -> Iterator[Document]:
    data = stream.read()
    try:
        collection = biocjson.loads(data.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise UserError(f"{name}: not UTF-8 text (byte {e.start}); expected UTF-8") from None
    except (ValueError, KeyError, TypeError) as e:
        raise UserError(f"{name}: not a BioC JSON collection ({e.__class__.__name__}: {e})") from None
    for d in collection.documents:
        yield _from_bioc(d)


READERS: dict[str, Callable[..., Iterator[Document]]] = {
    "text": read_text, "jsonl": read_jsonl, "pubtator": read_pubtator, "bioc-xml": read_bioc_xml,
    "bioc-json": read_bioc_json,
}


# ------------------------------------------------------------------------------------------ writing
def jsonl_document(doc: Document, found: list[dict], heads: Sequence[str] = ()) -> str:
    obj: dict = {"id": doc.id}
    if len(doc.passages) == 1 and doc.passages[0].offset == 0 and not doc.passages[0].infons:
        obj["text"] = doc.passages[0].text
    else:
        obj["passages"] = [{"offset": p.offset, "text": p.text, "infons": p.infons} for p in doc.passages]
    if doc.infons:
        obj["infons"] = doc.infons
    obj["entities"] = found
    return json.dumps(obj, ensure_ascii=False) + "\n"


def pubtator_document(doc: Document, found: list[dict], heads: Sequence[str] = ()) -> str:
    """Title and abstract lines, then one line per entity: ID, start, end, text, type."""
    texts = [p.text for p in doc.passages]
    fits = (len(texts) == 1 and doc.passages[0].offset == 0) or (
        len(texts) == 2 and doc.passages[0].offset == 0 and doc.passages[1].offset == len(texts[0]) + 1)
    if not fits or any(re.search(r"[\r\n]", t) for t in texts) or "|" in doc.id or "\t" in doc.id:
        raise UserError(f"document {doc.id!r}: PubTator holds a title and an abstract without line breaks, and ids "
                        f"without | or tabs; write jsonl or bioc-xml instead (or read text with --text-unit line)")
    title, abstract = texts[0], texts[1] if len(texts) == 2 else ""
    lines = [f"{doc.id}|t|{title}", f"{doc.id}|a|{abstract}"]
    lines += [f"{doc.id}\t{e['start']}\t{e['end']}\t{e['text']}\t{e['type']}" for e in found]
    return "\n".join(lines) + "\n\n"


CONLL_COLUMNS = "# columns = "  # the first line of a CoNLL output: what each column holds


def conll_header(types: Sequence[str], heads: Sequence[str]) -> str:
    """``# columns = token tag:HEAD ...``: the tag columns in order, one per head (`--heads`)."""
    return CONLL_COLUMNS + " ".join(["token", *(f"tag:{h}" for h in heads)]) + "\n"


def conll_document(doc: Document, found: list[dict], heads: Sequence[str]) -> str:
    """``# document = ID``, then a token per line with one IOB2 tag column per head, a blank line after each sentence.

    An entity tags the tokens that lie wholly inside it (all of them, for the tagger's own entities).
    """
    out = [f"# document = {doc.id}\n"]
    for p in doc.passages:
        lo, hi = p.offset, p.offset + len(p.text)
        mine = {h: sorted((e for e in found if e["head"] == h and lo <= e["start"] and e["end"] <= hi),
                          key=lambda e: e["start"]) for h in heads}
        keys = {h: [e["start"] - lo for e in mine[h]] for h in heads}  # local starts, sorted
        for sentence in tokenize(p.text):
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


def _bioc_document(doc: Document, found: list[dict]) -> bioc.BioCDocument:
    d = bioc.BioCDocument()
    d.id = doc.id
    d.infons.update({k: str(v) for k, v in doc.infons.items()})
    for p in doc.passages:
        bp = bioc.BioCPassage()
        bp.offset, bp.text = p.offset, p.text
        bp.infons.update({k: str(v) for k, v in p.infons.items()})
        d.add_passage(bp)
    for n, e in enumerate(found, 1):
        ann = bioc.BioCAnnotation()
        ann.id, ann.text = str(n), e["text"]
        ann.infons["type"] = e["type"]
        if e.get("head") is not None:
            ann.infons["head"] = e["head"]
        if e.get("score") is not None:
            ann.infons["score"] = str(e["score"])
        ann.add_location(bioc.BioCLocation(e["start"], e["end"] - e["start"]))
        home = next((bp for bp, p in zip(d.passages, doc.passages) if p.offset <= e["start"] <= p.offset + len(p.text)), None)
        (home or d).add_annotation(ann)
    return d


def bioc_xml_document(doc: Document, found: list[dict], heads: Sequence[str] = ()) -> str:
    """One ``<document>`` element on its own line(s), starting with ``<document><id>``."""
    try:
        element = biocxml.encoder.encode_document(_bioc_document(doc, found))
    except ValueError:  # lxml refuses control characters, which XML 1.0 cannot hold
        raise UserError(f"document {doc.id!r}: its text holds control characters that XML cannot hold; "
                        f"write bioc-json or jsonl instead") from None
    return etree.tostring(element, encoding="unicode") + "\n"


def bioc_json_document(doc: Document, found: list[dict], heads: Sequence[str] = ()) -> str:
    return json.dumps(biocjson.toJSON(_bioc_document(doc, found)), ensure_ascii=False) + "\n"


# displaCy's entity colours (spaCy, explosion/spaCy displacy/render.py), in order of appearance
COLOURS = ["#7aecec", "#feca74", "#bfeeb7", "#aa9cfc", "#ff9561", "#c887fb", "#9cc9cc", "#ffeb80", "#ff8197",
           "#e4e7d2", "#bfe1d9", "#f0d0ff"]
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
mark.overlap { box-shadow: inset 0 -0.3em 0 var(--second); }
"""


def colour(etype: str, types: Sequence[str]) -> str:
    return COLOURS[list(types).index(etype) % len(COLOURS)] if etype in types else "#ddd"


def html_header(types: Sequence[str], heads: Sequence[str] = ()) -> str:
    legend = " ".join(f'<mark style="background: {colour(t, types)}">{html.escape(t)}</mark>' for t in types)
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>munchables: entities</title>\n'
            f"<style>{_CSS}</style>\n</head>\n<body>\n<div class=\"legend\">{legend}</div>\n")


HTML_FOOTER = "</body>\n</html>\n"


def html_document(doc: Document, found: list[dict], heads: Sequence[str] = (), types: Sequence[str] = ()) -> str:
    """A section per document; entities highlighted by type, overlaps as segments under several entities.

    The text is cut at every entity boundary; a segment inside entities is a ``<mark>`` coloured
    by the first of them (underlined in the second's colour where two overlap), listing them in
    ``data-entities``; an entity's label follows its last segment; the title shows type, head and
    score. Written by hand: displaCy renders spaCy Docs and cannot show overlapping spans this way.
    """
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
            style = f"background: {colour(over[0][1]['type'], types)}"
            cls = "entity"
            if len(over) > 1:
                style += f"; --second: {colour(over[1][1]['type'], types)}"
                cls += " overlap"
            title = "; ".join(f"{e['type']} ({e.get('head')}) {e.get('score')}" for _, e in over)
            labels = "".join(f'<span class="label">{html.escape(e["type"])}</span>' for _, e in over if e["end"] == b)
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


def _bioc_json_header(types: Sequence[str], heads: Sequence[str] = ()) -> str:
    return '{"source": "munchables", "date": "", "key": "", "infons": {}, "documents": [\n'


def _bioc_xml_header(types: Sequence[str], heads: Sequence[str] = ()) -> str:
    return ("<?xml version='1.0' encoding='UTF-8' standalone='yes'?>\n<!DOCTYPE collection SYSTEM 'BioC.dtd'>\n"
            "<collection><source>munchables</source><date></date><key></key>\n")


@dataclass(frozen=True)
class OutputFormat:
    document: Callable[..., str]  # (document, entities, heads) -> that document's text
    doc_id: Callable[[str], str | None]  # the id of the document a line begins, else None
    header: Callable[[Sequence[str], Sequence[str]], str] = lambda types, heads: ""  # given the entity types and heads
    footer: str = ""
    separator: str = ""  # written before every document but the first (BioC JSON's comma)
    needs_types: bool = field(default=False)  # the document function takes types= (HTML colours)


OUTPUT_FORMATS: dict[str, OutputFormat] = {
    "jsonl": OutputFormat(jsonl_document, _json_id),
    "pubtator": OutputFormat(pubtator_document, _pubtator_id),
    "conll": OutputFormat(conll_document, _match_id(r"# document = (.*)$", unescape=False), conll_header),
    "bioc-xml": OutputFormat(bioc_xml_document, _match_id(r"<document><id>(.*?)</id>"), _bioc_xml_header,
                             "</collection>\n"),
    "bioc-json": OutputFormat(bioc_json_document, _json_id, _bioc_json_header, "]}\n", ","),
    "html": OutputFormat(html_document, _match_id(r'<section class="document" data-id="(.*?)">'), html_header,
                         HTML_FOOTER, needs_types=True),
}
