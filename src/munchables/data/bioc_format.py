"""BioC collections (Comeau et al. 2013), XML and JSON: read into `Document`s and written back, keeping what came in.

Reading keeps everything a tagger in a chain must pass on: the collection's source, date, key and
infons (written back in the output's header), document and passage infons, every annotation with
its id, all of its infons and all of its locations, and every relation with its nodes. A passage
whose text sits in ``<sentence>`` elements (no ``<text>`` of its own) becomes one `Passage` per
sentence, marked with the passage it belongs to, and is written back as that passage with its
sentences. Annotations are written in the passage (or sentence) that holds them, else at the
document level; relations at the document level.

Accepted JSON shapes: a BioC JSON collection (``{"source", ..., "documents": [...]}``),
PubTator3's download (``{"PubTator3": [document, ...]}``; its extra document fields such as
``pmid``, ``journal`` and ``authors`` become document infons) and a list of collections (what the
PMC BioC API returns). Every field's type is checked (json_input.py).

XML is read with lxml's iterparse, one ``<document>`` at a time, each cleared once read, so memory
stays bounded by the largest document. Written by hand rather than with the `bioc` package's
BioCXMLDocumentReader, which keeps every element in memory and drops nothing it does not know
but checks nothing either. The parser resolves no entities, loads no DTD and fetches nothing
(``resolve_entities=False, load_dtd=False, no_network=True``): a "billion laughs" or an external
entity in the input is refused, never expanded or fetched; XInclude is never processed.
"""

from __future__ import annotations

import bisect
import json
import logging
from typing import Any, BinaryIO, Iterator, Sequence

from lxml import etree

from ..errors import UserError
from . import json_input as J
from .documents import Collection, Document, Passage, check_passages, fresh_ids
from .offsets import CODE_POINTS, from_units, to_units

log = logging.getLogger("munchables")

OURS = ("head", "score", "model")  # infons our own annotations carry, read back into the entity's fields


# ------------------------------------------------------------------------------------ reading, common
def _entity(ann_id, infons: dict, text: str | None, locations: list[tuple[int, int]]) -> dict:
    infons = dict(infons)
    etype = infons.pop("type", "")
    e = {"text": text if text is not None else "", "type": etype if etype is not None else "", "head": None,
         "start": locations[0][0], "end": locations[0][0] + locations[0][1], "score": None}
    if "head" in infons:  # our own earlier output: its head, score and model back into their fields
        e["head"] = infons.pop("head")
        score = infons.pop("score", None)
        try:
            e["score"] = float(score) if score is not None else None
        except (TypeError, ValueError):
            infons["score"] = score
        if "model" in infons:
            e["model"] = infons.pop("model")
    if ann_id is not None:
        e["id"] = ann_id
    if infons:
        e["infons"] = infons
    if len(locations) > 1:
        e["locations"] = [[o, o + n] for o, n in locations]
    return e


class _Builder:
    """Collects one BioC document's passages, annotations and relations, whichever the syntax."""

    def __init__(self, doc_id: str, infons: dict, collection: Collection, name: str):
        self.doc = Document(doc_id, [], infons, collection=collection)
        self.name, self.unplaced = name, 0

    def annotation(self, ann_id, infons, text, locations):
        if not locations:
            self.unplaced += 1  # a document-level concept without a place in the text
            return
        self.doc.entities.append(_entity(ann_id, infons, text, locations))

    def finish(self, offsets: str) -> Document:
        if self.unplaced:
            log.warning("%s: document %r: %d annotation(s) without a location cannot be kept (entities need offsets)",
                        self.name, self.doc.id, self.unplaced)
        doc = from_units(self.doc, offsets)
        check_passages(doc, self.name)
        return doc


# ---------------------------------------------------------------------------------------- reading XML
def _text(elem, where: str) -> str:
    """An element's text; an entity reference in it (never resolved) is refused."""
    for child in elem:
        if isinstance(child, etree._Entity):
            raise UserError(f"{where}: the XML uses an entity reference ({child.text}) that this reader does not expand "
                            "(entities can be used to attack a reader); write the characters instead")
        raise UserError(f"{where}: <{elem.tag}> holds an element <{child.tag}>; expected text only")
    return elem.text or ""


def _infons(elem, where: str) -> dict:
    return {i.get("key", ""): _text(i, where) for i in elem.findall("infon")}


def _int(value: str | None, where: str, what: str) -> int:
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise UserError(f"{where}: {what} must be an integer; got {value!r}") from None
    if n < 0:
        raise UserError(f"{where}: {what} must be at least 0; got {n}")
    return n


def _xml_annotations(b: _Builder, elem, where: str) -> None:
    for a in elem.findall("annotation"):
        locs = [(_int(loc.get("offset"), where, "a location's offset"), _int(loc.get("length"), where,
                                                                            "a location's length"))
                for loc in a.findall("location")]
        t = a.find("text")
        b.annotation(a.get("id"), _infons(a, where), _text(t, where) if t is not None else None, locs)
    for r in elem.findall("relation"):
        b.doc.relations.append({"id": r.get("id"), "infons": _infons(r, where),
                                "nodes": [{"refid": n.get("refid", ""), "role": n.get("role", "")}
                                          for n in r.findall("node")]})


def _xml_document(elem, collection: Collection, name: str, offsets: str) -> Document:
    id_elem = elem.find("id")
    doc_id = _text(id_elem, name) if id_elem is not None else ""
    where = f"{name}: document {doc_id!r}"
    b = _Builder(doc_id, _infons(elem, where), collection, name)
    for p in elem.findall("passage"):
        offset = _int(p.findtext("offset"), where, "a passage's offset")
        infons, text = _infons(p, where), p.find("text")
        sentences = p.findall("sentence")
        if text is not None or not sentences:
            b.doc.passages.append(Passage(_text(text, where) if text is not None else "", offset, infons))
        else:  # the text sits in sentences
            parent = {"offset": offset, "infons": infons}
            for s in sentences:
                st = s.find("text")
                b.doc.passages.append(Passage(_text(st, where) if st is not None else "",
                                              _int(s.findtext("offset"), where, "a sentence's offset"),
                                              _infons(s, where), sentence_of=parent))
        _xml_annotations(b, p, where)
        for s in sentences:
            _xml_annotations(b, s, where)
    _xml_annotations(b, elem, where)
    return b.finish(offsets)


def read_bioc_xml(stream: BinaryIO, name: str, offsets: str = CODE_POINTS) -> Iterator[Document]:
    collection = Collection()
    context = etree.iterparse(stream, events=("end",), resolve_entities=False, load_dtd=False, no_network=True,
                              huge_tree=False, remove_comments=True, remove_pis=True)
    seen_root = False
    try:
        for _, elem in context:
            parent = elem.getparent()
            if not seen_root and parent is not None and parent.getparent() is None:
                seen_root = True
                if parent.tag != "collection":
                    raise UserError(f"{name}: not a BioC XML collection (its root element is <{parent.tag}>)")
            if parent is not None and parent.tag == "collection":
                if elem.tag in ("source", "date", "key"):
                    setattr(collection, elem.tag, _text(elem, name))
                elif elem.tag == "infon":
                    collection.infons[elem.get("key", "")] = _text(elem, name)
                elif elem.tag == "document":
                    yield _xml_document(elem, collection, name, offsets)
                    elem.clear()
                    while elem.getprevious() is not None:  # what came before is done: bounded memory
                        del parent[0]
        if not seen_root and getattr(context, "root", None) is not None and context.root.tag != "collection":
            raise UserError(f"{name}: not a BioC XML collection (its root element is <{context.root.tag}>)")
    except etree.XMLSyntaxError as e:
        raise UserError(f"{name}: not a BioC XML collection (XML error: {e})") from None


# --------------------------------------------------------------------------------------- reading JSON
def _json_annotations(b: _Builder, obj: dict, where: str) -> None:
    for i, a in enumerate(J.array(obj.get("annotations"), where, "annotations")):
        w = f"annotations[{i}]"
        if not isinstance(a, dict):
            raise UserError(f"{where}: {w} must be an object; got {J._kind(a)}")
        locs = []
        for k, loc in enumerate(J.array(a.get("locations"), where, f"{w}.locations")):
            if not isinstance(loc, dict):
                raise UserError(f"{where}: {w}.locations[{k}] must be an object; got {J._kind(loc)}")
            locs.append((J.integer(loc.get("offset"), where, f"{w}.locations[{k}].offset"),
                         J.integer(loc.get("length"), where, f"{w}.locations[{k}].length")))
        b.annotation(J.ident(a.get("id"), where, f"{w}.id"), J.obj(a.get("infons"), where, f"{w}.infons"),
                     J.text(a.get("text"), where, f"{w}.text", optional=True), locs)
    for i, r in enumerate(J.array(obj.get("relations"), where, "relations")):
        w = f"relations[{i}]"
        if not isinstance(r, dict):
            raise UserError(f"{where}: {w} must be an object; got {J._kind(r)}")
        b.doc.relations.append({"id": J.ident(r.get("id"), where, f"{w}.id"),
                                "infons": J.obj(r.get("infons"), where, f"{w}.infons"),
                                "nodes": J.nodes(r.get("nodes"), where, f"{w}.nodes")})


_BIOC_DOCUMENT_KEYS = {"id", "infons", "passages", "annotations", "relations"}


def _json_document(obj: Any, collection: Collection, name: str, index: int, offsets: str) -> Document:
    if not isinstance(obj, dict):
        raise UserError(f"{name}: document {index} must be an object; got {J._kind(obj)}")
    doc_id = J.ident(obj.get("id"), f"{name}: document {index}") or ""
    where = f"{name}: document {doc_id!r}"
    infons = dict(J.obj(obj.get("infons"), where, "infons"))
    for k, v in obj.items():  # PubTator3's pmid, journal, authors, ...: kept as infons
        if k not in _BIOC_DOCUMENT_KEYS and k not in infons:
            J.obj({k: v}, where, "a document field")
            infons[k] = v
    b = _Builder(doc_id, infons, collection, name)
    for i, p in enumerate(J.array(obj.get("passages"), where, "passages")):
        w = f"passages[{i}]"
        if not isinstance(p, dict):
            raise UserError(f"{where}: {w} must be an object; got {J._kind(p)}")
        offset = J.integer(p.get("offset"), where, f"{w}.offset")
        pinfons = J.obj(p.get("infons"), where, f"{w}.infons")
        text = J.text(p.get("text"), where, f"{w}.text", optional=True)
        sentences = J.array(p.get("sentences"), where, f"{w}.sentences")
        if text is not None or not sentences:
            b.doc.passages.append(Passage(text or "", offset, pinfons))
        parent = {"offset": offset, "infons": pinfons}
        for k, s in enumerate(sentences):
            ws = f"{w}.sentences[{k}]"
            if not isinstance(s, dict):
                raise UserError(f"{where}: {ws} must be an object; got {J._kind(s)}")
            if text is None:
                b.doc.passages.append(Passage(J.text(s.get("text"), where, f"{ws}.text", optional=True) or "",
                                              J.integer(s.get("offset"), where, f"{ws}.offset"),
                                              J.obj(s.get("infons"), where, f"{ws}.infons"), sentence_of=parent))
            _json_annotations(b, s, f"{where}, {ws}")
        _json_annotations(b, p, f"{where}, {w}")
    _json_annotations(b, obj, where)
    return b.finish(offsets)


def _collection(obj: dict, name: str) -> Collection:
    return Collection(*(J.text(obj.get(k, ""), name, k, optional=True) or "" for k in ("source", "date", "key")),
                      J.obj(obj.get("infons"), name, "infons"))


_DOCUMENTS = {"documents.item", "PubTator3.item", "item.documents.item"}  # where documents lie, by shape
_NOT_BIOC = ('not a BioC JSON collection; expected {"documents": [...]}, {"PubTator3": [...]} or a list of '
             "collections")


def read_bioc_json(stream: BinaryIO, name: str, offsets: str = CODE_POINTS) -> Iterator[Document]:
    """A BioC JSON collection, PubTator3's {"PubTator3": [...]} or a list of collections (PMC's BioC API).

    Streamed (ijson: JSON has no line boundaries to read by): one document is held at a time, so
    memory stays flat whatever the file's size. Each document is checked as json_input checks
    any JSON (types, surrogates, NaN, nesting deeper than MAX_DEPTH), naming it. A collection's
    source, date, key and infons are kept when they come before its documents, as BioC writers
    put them.
    """
    index, shape, documents_seen = 0, None, False
    collection: Collection | None = None
    stream_events = J.events(stream, name)
    for prefix, event, value in stream_events:
        if shape is None:  # the first event: what the file is
            shape = {"start_map": "map", "start_array": "list"}.get(event)
            if shape is None:
                raise UserError(f"{name}: {_NOT_BIOC}; got {J._kind(value)}")
            collection = Collection() if shape == "map" else None
            continue
        if event == "map_key":
            continue
        where = prefix.removeprefix("item.") if shape == "list" else prefix
        if prefix in _DOCUMENTS:
            index += 1
            yield _json_document(J.build(stream_events, event, value), collection, name, index, offsets)
        elif shape == "list" and prefix == "item":
            if event == "start_map":
                collection, documents_seen = Collection(), False
            elif event == "end_map":
                if not documents_seen:
                    raise UserError(f"{name}: {_NOT_BIOC}; got a list holding an object without documents")
            elif event != "end_array":
                raise UserError(f"{name}: {_NOT_BIOC}; got a list holding {J._kind(value)}")
        elif where in ("documents", "PubTator3"):
            if event not in ("start_array", "end_array"):
                raise UserError(f"{name}: {where} must be a list; got {J._kind(value)}")
            if event == "start_array":
                documents_seen = True
                if where == "PubTator3":
                    collection.source = collection.source or "PubTator3"
        elif where in ("source", "date", "key"):
            if event in ("start_map", "start_array"):
                raise UserError(f"{name}: {where} must be a string; got an {'object' if event == 'start_map' else 'array'}")
            setattr(collection, where, J.text(value, name, where, optional=True) or "")
        elif where == "infons" and event == "start_map":
            collection.infons = J.obj(J.build(stream_events, event, value), name, "infons")
        elif shape == "map" and prefix == "" and event == "end_map" and not documents_seen:
            raise UserError(f"{name}: {_NOT_BIOC}; got an object without documents")


# ------------------------------------------------------------------------------------------- writing
def _placed(doc: Document, entities: list[dict]) -> tuple[dict[int, list], list]:
    """Entities by the passage index that holds them (start and end inside), the rest for the document."""
    by, rest = {}, []
    starts = [p.offset for p in doc.passages]
    for e in entities:
        i = bisect.bisect_right(starts, e["start"]) - 1
        if i >= 0 and e["end"] <= doc.passages[i].offset + len(doc.passages[i].text):
            by.setdefault(i, []).append(e)
        else:
            rest.append(e)
    return by, rest


def _groups(doc: Document):
    """(enclosing passage or None, [(index, passage)]): sentences of one BioC passage go together."""
    groups: list = []
    for i, p in enumerate(doc.passages):
        if p.sentence_of is not None and groups and groups[-1][0] is not None and groups[-1][0] == p.sentence_of:
            groups[-1][1].append((i, p))
        else:
            groups.append((p.sentence_of, [(i, p)]))
    return groups


def _ann_infons(e: dict) -> dict:
    infons = {"type": e["type"], **e.get("infons", {})}
    if e.get("head") is not None:
        infons["head"] = e["head"]
        if e.get("score") is not None:
            infons["score"] = str(e["score"])
        if e.get("model") is not None:
            infons["model"] = e["model"]
    return infons


def _with_ids(doc: Document, entities: list[dict]) -> list[dict]:
    missing = sum(1 for e in entities if e.get("id") is None)
    if not missing:
        return entities
    ids = iter(fresh_ids([e.get("id") for e in entities] + [r.get("id") for r in doc.relations], missing))
    return [e if e.get("id") is not None else dict(e, id=next(ids)) for e in entities]


def _locations(e: dict) -> list[tuple[int, int]]:
    return [(a, b - a) for a, b in e.get("locations") or [[e["start"], e["end"]]]]


def _as_text(v: Any) -> str:
    """An infon value as XML text: strings as they are, other JSON values as JSON."""
    return v if isinstance(v, str) else "" if v is None else json.dumps(v, ensure_ascii=False)


def _xml_infons(parent, infons: dict) -> None:
    for k, v in infons.items():
        etree.SubElement(parent, "infon", key=str(k)).text = _as_text(v)


def _xml_annotations_out(parent, entities: list[dict]) -> None:
    for e in entities:
        a = etree.SubElement(parent, "annotation", id=str(e["id"]))
        _xml_infons(a, _ann_infons(e))
        for o, n in _locations(e):
            etree.SubElement(a, "location", offset=str(o), length=str(n))
        etree.SubElement(a, "text").text = e["text"]


def _element(doc: Document, entities: list[dict]):
    d = etree.Element("document")
    etree.SubElement(d, "id").text = doc.id
    _xml_infons(d, doc.infons)
    by, rest = _placed(doc, entities)
    for parent, members in _groups(doc):
        if parent is None:
            i, p = members[0]
            bp = etree.SubElement(d, "passage")
            _xml_infons(bp, p.infons)
            etree.SubElement(bp, "offset").text = str(p.offset)
            etree.SubElement(bp, "text").text = p.text
            _xml_annotations_out(bp, by.get(i, []))
            continue
        bp = etree.SubElement(d, "passage")
        _xml_infons(bp, parent.get("infons", {}))
        etree.SubElement(bp, "offset").text = str(parent.get("offset", members[0][1].offset))
        for i, p in members:
            s = etree.SubElement(bp, "sentence")
            _xml_infons(s, p.infons)
            etree.SubElement(s, "offset").text = str(p.offset)
            etree.SubElement(s, "text").text = p.text
            _xml_annotations_out(s, by.get(i, []))
    _xml_annotations_out(d, rest)
    for r in doc.relations:
        rel = etree.SubElement(d, "relation", **({"id": str(r["id"])} if r.get("id") is not None else {}))
        _xml_infons(rel, r.get("infons", {}))
        for n in r.get("nodes", []):
            etree.SubElement(rel, "node", refid=str(n.get("refid", "")), role=str(n.get("role", "")))
    return d


def bioc_xml_document(doc: Document, found: list[dict], heads: Sequence[str] = (), offsets: str = CODE_POINTS) -> str:
    """One ``<document>`` element on its own line(s), starting with ``<document><id>``: what came in, then ours."""
    doc, found = to_units(doc, found, offsets)
    try:
        element = _element(doc, _with_ids(doc, doc.entities + found))
    except ValueError:  # lxml refuses control characters, which XML 1.0 cannot hold
        raise UserError(f"document {doc.id!r}: its text holds control characters that XML cannot hold; "
                        f"write bioc-json or jsonl instead") from None
    return etree.tostring(element, encoding="unicode") + "\n"


def _json_ann(e: dict) -> dict:
    return {"id": str(e["id"]), "infons": _ann_infons(e), "text": e["text"],
            "locations": [{"offset": o, "length": n} for o, n in _locations(e)]}


def bioc_json_document(doc: Document, found: list[dict], heads: Sequence[str] = (), offsets: str = CODE_POINTS) -> str:
    doc, found = to_units(doc, found, offsets)
    by, rest = _placed(doc, _with_ids(doc, doc.entities + found))
    passages = []
    for parent, members in _groups(doc):
        if parent is None:
            i, p = members[0]
            passages.append({"offset": p.offset, "infons": p.infons, "text": p.text, "sentences": [],
                             "annotations": [_json_ann(e) for e in by.get(i, [])], "relations": []})
        else:
            passages.append({"offset": parent.get("offset", members[0][1].offset), "infons": parent.get("infons", {}),
                             "sentences": [{"offset": p.offset, "infons": p.infons, "text": p.text,
                                            "annotations": [_json_ann(e) for e in by.get(i, [])], "relations": []}
                                           for i, p in members],
                             "annotations": [], "relations": []})
    obj = {"id": doc.id, "infons": doc.infons, "passages": passages, "annotations": [_json_ann(e) for e in rest],
           "relations": [{"id": r.get("id"), "infons": r.get("infons", {}), "nodes": r.get("nodes", [])}
                         for r in doc.relations]}
    return json.dumps(obj, ensure_ascii=False) + "\n"


def bioc_json_header(types: Sequence[str], collection: Collection | None = None) -> str:
    c = collection or Collection(source="munchables")
    head = json.dumps({"source": c.source, "date": c.date, "key": c.key, "infons": c.infons}, ensure_ascii=False)
    return head[:-1] + ', "documents": [\n'


def bioc_xml_header(types: Sequence[str], collection: Collection | None = None) -> str:
    c = collection or Collection(source="munchables")
    top = etree.Element("collection")
    for tag in ("source", "date", "key"):
        etree.SubElement(top, tag).text = getattr(c, tag)
    _xml_infons(top, c.infons)
    inner = etree.tostring(top, encoding="unicode")
    inner = inner[: -len("</collection>")] if inner.endswith("</collection>") else inner.replace("/>", ">", 1)
    return ("<?xml version='1.0' encoding='UTF-8' standalone='yes'?>\n<!DOCTYPE collection SYSTEM 'BioC.dtd'>\n"
            f"{inner}\n")
