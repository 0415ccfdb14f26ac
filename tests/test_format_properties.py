"""Property (issue 22): generated documents through every input format and every writer read back the same.

Documents hold arbitrary Unicode (astral characters included), tabs, and line breaks where the
format allows them; entities sit at random spans. Each document is put into every input format
(our writers for the formats we write, by hand for text, MEDLINE XML and Label Studio), read with
that format's reader, and then: every entity's text is ``text[start:end]``, and writing it in
every output format that can hold it and reading that back gives the same passages and entities,
in code points and in UTF-16 offsets alike.
"""

import io
import json
from xml.sax.saxutils import escape

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from munchables.data.documents import Document, Passage, entity
from munchables.data.formats import OUTPUT_FORMATS, READERS
from munchables.errors import UserError

# XML 1.0 holds no control characters but tab and newline, and no surrogates; \r would become \n in XML
XML_SAFE = st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufffe\uffff") | st.sampled_from(
    ["\t", " ", "😀", "𝛂", "é", "中"])
LINE = st.text(XML_SAFE.filter(lambda c: c not in "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"), max_size=30)


@st.composite
def documents(draw, breaks: bool):
    """A document of one or two passages (title, abstract as PubTator lays them out) with entities on them."""
    title = draw(LINE) if not breaks else draw(st.text(XML_SAFE | st.just("\n"), max_size=30))
    passages = [Passage(title, 0, {"type": "title"})]
    if draw(st.booleans()):
        passages.append(Passage(draw(LINE.filter(bool)), len(title) + 1, {"type": "abstract"}))
    doc = Document(draw(st.from_regex(r"[0-9A-Za-z]{1,8}", fullmatch=True)), passages)
    for p in passages:
        for _ in range(draw(st.integers(0, 3))):
            if not p.text:
                break
            a = draw(st.integers(0, len(p.text) - 1))
            b = draw(st.integers(a + 1, len(p.text)))
            doc.entities.append(entity(p.text[a:b], draw(st.sampled_from(["Disease", "Chemical"])), p.offset + a,
                                       p.offset + b))
    return doc


def has_tab(doc):
    return any("\t" in e["text"] for e in doc.entities)


def spans(doc):
    return sorted((e["start"], e["end"], e["text"], e["type"]) for e in doc.entities)


def write(fmt, doc, offsets):
    spec = OUTPUT_FORMATS[fmt]
    return (spec.header([], None) + spec.document(doc, [], [], offsets=offsets) + spec.footer).encode("utf-8")


def read(fmt, data, offsets):
    options = {"offsets": offsets} if fmt != "text" else {}
    return list(READERS[fmt](io.BytesIO(data), "in", **options))


def as_input(fmt, doc, offsets):
    """The document in input format `fmt` (None when that format cannot hold it)."""
    if fmt in ("jsonl", "pubtator", "bioc-xml", "bioc-json"):
        try:
            return write(fmt, doc, offsets)
        except UserError:  # PubTator refuses an entity with a TAB: checked below
            assert fmt == "pubtator" and has_tab(doc)
            return None
    if fmt == "text":  # one passage, no annotations: text carries none
        return doc.passages[0].text.encode("utf-8") if len(doc.passages) == 1 else None
    if fmt == "label-studio":
        if len(doc.passages) != 1 or offsets != "code-points":
            return None
        results = [{"id": f"r{i}", "type": "labels", "value": {"start": e["start"], "end": e["end"], "text": e["text"],
                                                                "labels": [e["type"]]}}
                   for i, e in enumerate(doc.entities)]
        return json.dumps([{"id": doc.id, "data": {"text": doc.passages[0].text},
                            "annotations": [{"id": 1, "result": results}]}]).encode("utf-8")
    if fmt == "medline":
        if "\t" in "".join(p.text for p in doc.passages) or any(p.text != p.text.strip() for p in doc.passages):
            return None  # MEDLINE text is trimmed; whitespace at the ends would not come back
        abstract = (f"<Abstract><AbstractText>{escape(doc.passages[1].text)}</AbstractText></Abstract>"
                    if len(doc.passages) == 2 else "")
        return (f"<PubmedArticleSet><PubmedArticle><MedlineCitation><PMID>{doc.id}</PMID><Article><ArticleTitle>"
                f"{escape(doc.passages[0].text)}</ArticleTitle>{abstract}</Article></MedlineCitation></PubmedArticle>"
                f"</PubmedArticleSet>").encode("utf-8")
    raise AssertionError(fmt)


EXPECTS_ENTITIES = {"jsonl", "pubtator", "bioc-xml", "bioc-json", "label-studio"}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
@given(doc=documents(breaks=False), offsets=st.sampled_from(["code-points", "utf16"]))
def test_every_input_format_and_every_writer_give_back_the_same_documents(doc, offsets):
    for fmt in READERS:
        data = as_input(fmt, doc, offsets)
        if data is None:
            continue
        [got] = read(fmt, data, offsets)
        assert [(p.offset, p.text) for p in got.passages if p.text or fmt != "pubtator"] == [
            (p.offset, p.text) for p in doc.passages if p.text or fmt != "pubtator"], fmt
        if fmt in EXPECTS_ENTITIES:
            assert spans(got) == spans(doc), fmt
        for e in got.entities:
            assert got.text_at(e["start"], e["end"]) == e["text"], fmt
        for out in ("jsonl", "pubtator", "bioc-xml", "bioc-json"):
            try:
                written = write(out, got, offsets)
            except UserError:  # a format that cannot hold this document refuses it: never writes it wrong
                assert out == "pubtator" and has_tab(got), (fmt, out)
                continue
            [back] = read(out, written, offsets)
            assert [(p.offset, p.text) for p in back.passages if p.text or out != "pubtator"] == [
                (p.offset, p.text) for p in got.passages if p.text or out != "pubtator"], (fmt, out)
            assert spans(back) == spans(got), (fmt, out)


@settings(max_examples=40, deadline=None, database=None)
@given(doc=documents(breaks=True), offsets=st.sampled_from(["code-points", "utf16"]))
def test_line_breaks_go_where_the_format_allows_them_and_are_refused_where_not(doc, offsets):
    if len(doc.passages) == 1:  # plain text holds any line break, as given
        assert [p.text for d in read("text", doc.passages[0].text.encode("utf-8"), offsets) for p in d.passages] == [
            doc.passages[0].text]
    for out in ("jsonl", "bioc-xml", "bioc-json", "pubtator"):
        try:
            written = write(out, doc, offsets)
        except UserError:
            assert out == "pubtator" and (any("\n" in p.text for p in doc.passages) or has_tab(doc))
            continue
        [back] = read(out, written, offsets)
        assert [(p.offset, p.text) for p in back.passages if p.text or out != "pubtator"] == [
            (p.offset, p.text) for p in doc.passages if p.text or out != "pubtator"], out
        assert spans(back) == spans(doc), out
