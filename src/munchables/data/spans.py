"""Annotated JSON records: text with character-offset spans, as annotation tools export them, into `Document`s.

One record is one document. Its text is ``"text"`` (or our ``"passages"``, or Label Studio's
``"data"``); its spans, read into ``Document.entities`` (the gold annotations), come in the shapes
the tools write:

    munchables   {"id", "text" | "passages": [{"offset", "text", "infons", "wrapped"}], "infons",
                  "entities": [{"text", "type", "head", "start", "end", "score", ...}], "relations"}
                 (what `munch predict --format jsonl` writes: its output reads back)
    doccano      {"id", "text", "label": [[start, end, "Type"], ...]} (sequence labelling export),
                 or {"text", "entities": [{"id", "label", "start_offset", "end_offset"}],
                 "relations": [{"id", "from_id", "to_id", "type"}]} (the newer export)
    spaCy style  {"text", "entities": [[start, end, "Type"]]} or {"text", "spans": [{"start", "end",
                 "label"}]}
    Label Studio {"id", "data": {"text"}, "annotations": [{"id", "result": [{"id", "type": "labels",
                 "value": {"start", "end", "text", "labels": ["Type"]}}, {"type": "relation",
                 "from_id", "to_id", "labels"}]}]}: the results of every annotation that was not
                 cancelled; a span with several labels is an entity per label; the JSON export is a
                 list of such tasks (read_label_studio), its JSONL a task per line

Offsets are character offsets into the text (code points; ``--offsets utf16`` for Label Studio,
whose offsets are JavaScript's). A span's text is taken from the document when the record gives
none. A span that does not fit the text (end before start, past the end) is an error naming the
record and the span: never dropped silently. Everything else a span carries is kept in its
``infons``.
"""

from __future__ import annotations

from typing import Any, BinaryIO, Iterator

from ..errors import UserError
from . import json_input as J
from .documents import Document, Passage, check_passages, entity
from .offsets import CODE_POINTS, from_units

_SPAN_KEYS = {"text", "type", "label", "head", "start", "end", "start_offset", "end_offset", "score", "id", "infons",
              "locations", "model"}


def record(obj: Any, where: str, fallback_id: str, offsets: str = CODE_POINTS) -> Document:
    """One annotated record (any shape above) as a Document; a UserError names the field that is wrong."""
    if not isinstance(obj, dict):
        raise UserError(f'{where}: expected an object such as {{"id": ..., "text": "..."}}; got {J._kind(obj)}')
    if "data" in obj and "text" not in obj and "passages" not in obj:
        return _label_studio(obj, where, fallback_id, offsets)
    doc_id = J.ident(obj.get("id"), where) or fallback_id
    where = f"{where} (document {doc_id!r})"
    if "passages" in obj:
        passages = []
        for i, p in enumerate(J.array(obj["passages"], where, "passages", optional=False)):
            if not isinstance(p, dict):
                raise UserError(f"{where}: passages[{i}] must be an object; got {J._kind(p)}")
            passage = Passage(J.text(p.get("text"), where, f"passages[{i}].text"),
                              J.integer(p.get("offset", 0), where, f"passages[{i}].offset"),
                              J.obj(p.get("infons"), where, f"passages[{i}].infons"))
            if p.get("sentence_of") is not None:
                passage.sentence_of = J.obj(p["sentence_of"], where, f"passages[{i}].sentence_of")
            if p.get("wrapped") is not None:  # --text-unit paragraph's hard-wrapped lines, kept for tagging again
                if not isinstance(p["wrapped"], bool):
                    raise UserError(f"{where}: passages[{i}].wrapped must be true or false; got {J._kind(p['wrapped'])}")
                passage.wrapped = p["wrapped"]
            passages.append(passage)
    elif "text" in obj:
        passages = [Passage(J.text(obj["text"], where, "text"), 0)]
    else:
        raise UserError(f'{where}: expected "text" or "passages" (or Label Studio\'s "data")')
    doc = Document(doc_id, passages, J.obj(obj.get("infons"), where, "infons"))
    check_passages(doc, where)
    for name in ("entities", "label", "spans"):
        for i, item in enumerate(J.array(obj.get(name), where, name)):
            doc.entities.append(_span(item, where, f"{name}[{i}]"))
    doc.relations = [_relation(r, where, f"relations[{i}]") for i, r in enumerate(J.array(obj.get("relations"), where,
                                                                                            "relations"))]
    return _fill_and_check(from_units(doc, offsets), where)


def _span(item: Any, where: str, field: str) -> dict:
    """[start, end, label] or a dict with start/start_offset, end/end_offset, type/label (and more, kept)."""
    if isinstance(item, list):
        if len(item) != 3:
            raise UserError(f"{where}: {field} must be [start, end, label]; got a list of {len(item)}")
        start, end, label = item
        return entity(None, J.text(label, where, f"{field}[2]"), J.integer(start, where, f"{field}[0]"),
                      J.integer(end, where, f"{field}[1]"))
    if not isinstance(item, dict):
        raise UserError(f"{where}: {field} must be [start, end, label] or an object; got {J._kind(item)}")
    pick = lambda *keys: next((k for k in keys if k in item), keys[0])  # noqa: E731
    start_key, end_key, type_key = pick("start", "start_offset"), pick("end", "end_offset"), pick("type", "label")
    e = entity(J.text(item.get("text"), where, f"{field}.text", optional=True),
               J.text(item.get(type_key), where, f"{field}.{type_key}"),
               J.integer(item.get(start_key), where, f"{field}.{start_key}"),
               J.integer(item.get(end_key), where, f"{field}.{end_key}"),
               J.text(item.get("head"), where, f"{field}.head", optional=True),
               J.number(item.get("score"), where, f"{field}.score"))
    if item.get("model") is not None:
        e["model"] = J.text(item["model"], where, f"{field}.model")
    if item.get("id") is not None:
        e["id"] = J.ident(item["id"], where, f"{field}.id")
    infons = dict(J.obj(item.get("infons"), where, f"{field}.infons"))
    infons.update({k: v for k, v in item.items() if k not in _SPAN_KEYS})
    J.obj(infons, where, f"{field}")
    if infons:
        e["infons"] = infons
    if item.get("locations") is not None:
        e["locations"] = []
        for i, loc in enumerate(J.array(item["locations"], where, f"{field}.locations")):
            if not (isinstance(loc, list) and len(loc) == 2):
                raise UserError(f"{where}: {field}.locations[{i}] must be [start, end]; got {J._kind(loc)}")
            e["locations"].append([J.integer(loc[0], where, f"{field}.locations[{i}][0]"),
                                   J.integer(loc[1], where, f"{field}.locations[{i}][1]")])
    return e


def _relation(item: Any, where: str, field: str) -> dict:
    """Ours/BioC's {"id", "infons", "nodes"}, or doccano's and Label Studio's {"from_id", "to_id", "type"/"labels"}."""
    if not isinstance(item, dict):
        raise UserError(f"{where}: {field} must be an object; got {J._kind(item)}")
    if "from_id" in item:
        labels = item.get("labels") or []
        kind = item.get("type") if "type" in item and item.get("type") != "relation" else ",".join(
            J.text(x, where, f"{field}.labels") for x in J.array(labels, where, f"{field}.labels"))
        return {"id": J.ident(item.get("id"), where, f"{field}.id"),
                "infons": {"type": J.text(kind, where, f"{field}.type")},
                "nodes": [{"refid": J.ident(item["from_id"], where, f"{field}.from_id"), "role": "from"},
                          {"refid": J.ident(item.get("to_id"), where, f"{field}.to_id"), "role": "to"}]}
    return {"id": J.ident(item.get("id"), where, f"{field}.id"),
            "infons": J.obj(item.get("infons"), where, f"{field}.infons"),
            "nodes": J.nodes(item.get("nodes"), where, f"{field}.nodes")}


def _label_studio(task: dict, where: str, fallback_id: str, offsets: str) -> Document:
    doc_id = J.ident(task.get("id"), where) or fallback_id
    where = f"{where} (task {doc_id!r})"
    data = J.obj(task.get("data"), where, "data", optional=False)
    strings = [k for k, v in data.items() if isinstance(v, str)]
    key = "text" if "text" in data else strings[0] if len(strings) == 1 else None
    if key is None:
        raise UserError(f'{where}: data needs "text" (or exactly one string field); it has {", ".join(data) or "none"}')
    doc = Document(doc_id, [Passage(J.text(data[key], where, f"data.{key}"), 0)])
    for a, annotation in enumerate(J.array(task.get("annotations"), where, "annotations")):
        if not isinstance(annotation, dict):
            raise UserError(f"{where}: annotations[{a}] must be an object; got {J._kind(annotation)}")
        if annotation.get("was_cancelled"):
            continue
        for r, result in enumerate(J.array(annotation.get("result"), where, f"annotations[{a}].result")):
            field = f"annotations[{a}].result[{r}]"
            if not isinstance(result, dict):
                raise UserError(f"{where}: {field} must be an object; got {J._kind(result)}")
            if result.get("type") == "relation":
                doc.relations.append(_relation(result, where, field))
                continue
            value = J.obj(result.get("value"), where, f"{field}.value", optional=False)
            if "start" not in value:  # a choice or a rating about the whole text: not a span
                continue
            labels = [J.text(x, where, f"{field}.value.labels") for x in
                      J.array(value.get("labels") or value.get("hypertextlabels"), where, f"{field}.value.labels",
                              optional=False)]
            for label in labels:
                e = entity(J.text(value.get("text"), where, f"{field}.value.text", optional=True), label,
                           J.integer(value["start"], where, f"{field}.value.start"),
                           J.integer(value.get("end"), where, f"{field}.value.end"))
                if result.get("id") is not None:
                    e["id"] = J.ident(result["id"], where, f"{field}.id")
                if annotation.get("id") is not None:
                    e["infons"] = {"annotation": J.ident(annotation["id"], where, f"annotations[{a}].id")}
                doc.entities.append(e)
    return _fill_and_check(from_units(doc, offsets), where)


def _fill_and_check(doc: Document, where: str) -> Document:
    """Spans inside the text, end not before start; a span without text gets the document's text there."""
    for i, e in enumerate(doc.entities):
        if e["end"] < e["start"]:
            raise UserError(f"{where}: entity {i + 1} ends ({e['end']}) before it starts ({e['start']})")
        if e["text"] is None:
            try:
                e["text"] = doc.text_at(e["start"], e["end"])
            except ValueError:
                raise UserError(f"{where}: entity {i + 1} at {e['start']}-{e['end']} lies outside the text "
                                  f"({sum(len(p.text) for p in doc.passages)} characters)") from None
    return doc


def read_label_studio(stream: BinaryIO, name: str, offsets: str = CODE_POINTS) -> Iterator[Document]:
    """Label Studio's JSON export (a list of tasks), or any JSON list of records that `record` reads;
    streamed (json_input.list_items), one task in memory at a time."""
    for i, task in enumerate(J.list_items(stream, f"{name} (Label Studio's JSON export, a list of tasks)")):
        yield record(task, f"{name}, item {i + 1}", f"{name}:{i + 1}", offsets)
