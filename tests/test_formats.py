"""Every format read back after writing: documents, passages, offsets and entities survive the round trip."""

import io
import json
from html.parser import HTMLParser

import pytest
from bioc import biocjson, biocxml

from munchables.data.documents import Document, Passage, entity
from munchables.data.formats import OUTPUT_FORMATS, READERS, conll_document, read_text
from munchables.data.tokenize import tokenize
from munchables.errors import UserError


def annotate(doc, spans):
    """Entities at (start, end, type, head, score) of a document, their text cut from its passages."""
    return [entity(doc.text_at(s, e), t, s, e, h, sc) for s, e, t, h, sc in spans]


TITLE = "Aspirin-induced asthma in 12 patients."
ABSTRACT = "Nitric oxide (NO) & caffeine <b>were</b> given; heart failure followed."
PUBMED = Document("12345", [Passage(TITLE, 0, {"type": "title"}), Passage(ABSTRACT, len(TITLE) + 1, {"type": "abstract"})])
PUBMED_ENTITIES = annotate(PUBMED, [(0, 7, "Chemical", "chem", 0.98), (16, 22, "Disease", "dis", 0.9),
                                    (39, 51, "Chemical", "chem", 0.75), (39, 45, "Chemical", "chem2", 0.5),
                                    (59, 67, "Chemical", "chem", 0.66), (87, 100, "Disease", "dis", 0.42)])
# passages far apart, as BioC full texts have them, one of them with line breaks
BIOC = Document("PMC1", [Passage("Title: fever", 0, {"type": "title"}), Passage("Body with\r\nfever and aspirin.", 100),
                         Passage("Ünïcode → asthma", 250, {"section": "x"})], {"year": "2020"})
BIOC_ENTITIES = annotate(BIOC, [(7, 12, "Disease", "dis", 0.5), (111, 116, "Disease", "dis", 0.25),
                                (121, 128, "Chemical", "chem", 1.0), (260, 266, "Disease", "dis", 0.125)])
PLAIN = Document("doc 1", [Passage("One line\r\nand another with aspirin.\n", 0)])
PLAIN_ENTITIES = annotate(PLAIN, [(28, 35, "Chemical", "chem", 0.5)])


def write(fmt, docs, heads=("chem", "dis", "chem2")):
    spec = OUTPUT_FORMATS[fmt]
    types = ["Chemical", "Disease"]
    extra = {"types": types} if spec.needs_types else {}
    parts = [spec.head(types, heads)]
    for i, (doc, found) in enumerate(docs):
        parts.append(("" if i == 0 else spec.separator) + spec.document(doc, found, list(heads), **extra))
    return "".join(parts) + spec.footer


def read(fmt, text):
    return list(READERS[fmt](io.BytesIO(text.encode("utf-8")), "out"))


def key(found, with_scores=True):
    fields = ("start", "end", "text", "type") + (("head", "score") if with_scores else ())
    return sorted(tuple(e[f] for f in fields) for e in found)


@pytest.mark.parametrize("fmt", ["jsonl", "bioc-xml", "bioc-json"])
def test_round_trip_keeps_everything(fmt):
    docs = [(PUBMED, PUBMED_ENTITIES), (BIOC, BIOC_ENTITIES), (PLAIN, PLAIN_ENTITIES), (Document.of_text("", "e"), [])]
    text = write(fmt, docs)
    back = read(fmt, text)
    assert [d.id for d in back] == [d.id for d, _ in docs]
    for got, (doc, found) in zip(back, docs):
        assert [(p.offset, p.text) for p in got.passages] == [(p.offset, p.text) for p in doc.passages]
        assert [p.infons for p in got.passages] == [p.infons for p in doc.passages] or fmt == "jsonl" and len(doc.passages) == 1
        assert got.infons == doc.infons
        assert key(got.entities) == key(found)
        assert all(got.text_at(e["start"], e["end"]) == e["text"] for e in got.entities)


def test_bioc_output_is_read_by_the_bioc_package():
    docs = [(PUBMED, PUBMED_ENTITIES), (BIOC, BIOC_ENTITIES)]
    for collection in (biocxml.loads(write("bioc-xml", docs)), biocjson.loads(write("bioc-json", docs))):
        assert [d.id for d in collection.documents] == ["12345", "PMC1"]
        body = collection.documents[1].passages[1]
        assert body.offset == 100
        ann = body.annotations[0]
        start = ann.locations[0].offset - body.offset
        assert body.text[start:start + ann.locations[0].length] == ann.text == "fever"
        assert ann.infons == {"type": "Disease", "head": "dis", "score": "0.25"}


def test_pubtator_title_and_abstract():
    text = write("pubtator", [(PUBMED, PUBMED_ENTITIES), (PLAIN.__class__.of_text("single passage", "9"), [])])
    assert text.startswith(f"12345|t|{TITLE}\n12345|a|{ABSTRACT}\n12345\t0\t7\tAspirin\tChemical\n")
    back = read("pubtator", text)
    assert [(p.offset, p.text) for p in back[0].passages] == [(0, TITLE), (len(TITLE) + 1, ABSTRACT)]
    assert key(back[0].entities, False) == key(PUBMED_ENTITIES, False)
    joined = TITLE + " " + ABSTRACT  # PubTator offsets count the title, a space, the abstract
    assert all(joined[e["start"]:e["end"]] == e["text"] for e in back[0].entities)
    assert back[1].id == "9" and back[1].passages[0].text == "single passage"


def test_pubtator_and_xml_refuse_what_they_cannot_hold():
    with pytest.raises(UserError, match="PubTator holds"):
        write("pubtator", [(BIOC, BIOC_ENTITIES)])
    with pytest.raises(UserError, match="control characters"):
        write("bioc-xml", [(Document.of_text("page\x0cbreak", "ff"), [])])
    assert read("bioc-json", write("bioc-json", [(Document.of_text("page\x0cbreak", "ff"), [])]))[0].passages[0].text == "page\x0cbreak"


def test_conll_tags_every_head_in_its_column():
    text = conll_document(PUBMED, PUBMED_ENTITIES, ["chem", "dis", "chem2"])
    lines = text.splitlines()
    assert lines[0] == "# document = 12345"
    sentences = [s for p in PUBMED.passages for s in tokenize(p.text)]
    blocks = "\n".join(lines[1:]).strip("\n").split("\n\n")
    assert len(blocks) == len(sentences)
    offsets = [(p.offset + a, p.offset + b) for p in PUBMED.passages for s in tokenize(p.text) for _, a, b in s]
    rows = [row.split("\t") for block in blocks for row in block.splitlines()]
    assert [r[0] for r in rows] == [t for s in sentences for t, _, _ in s]
    for column, head in enumerate(["chem", "dis", "chem2"], 1):  # entities read back from each column
        found, current = [], None
        for (start, end), row in zip(offsets, rows):
            tag = row[column]
            if tag.startswith("B-"):
                current = [start, end, tag[2:]]
                found.append(current)
            elif tag.startswith("I-"):
                current[1] = end
        assert sorted(tuple(f) for f in found) == sorted(
            (e["start"], e["end"], e["type"]) for e in PUBMED_ENTITIES if e["head"] == head)


class _Marks(HTMLParser):
    """Reads the HTML view back: each passage's text and, per entity index, the offsets it covers."""

    def __init__(self):
        super().__init__()
        self.passages, self.covered, self.stack = [], {}, []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.stack.append((tag, attrs))
        if tag == "p":
            self.passages.append([int(attrs["data-offset"]), ""])

    def handle_endtag(self, tag):
        self.stack.pop()

    def handle_data(self, data):
        if not self.stack or self.stack[-1][0] in ("h2", "style", "title", "div") or self.stack[-1][1].get("class") == "label":
            return
        if not self.passages or not any(t == "p" for t, _ in self.stack):
            return
        offset, text = self.passages[-1]
        start = offset + len(text)
        self.passages[-1][1] += data
        for tag, attrs in self.stack:
            if tag == "mark":
                for i in attrs["data-entities"].split():
                    lo, hi = self.covered.get(int(i), (start, start))
                    self.covered[int(i)] = (min(lo, start), max(hi, start + len(data)))


@pytest.mark.parametrize("doc, found", [(PUBMED, PUBMED_ENTITIES), (BIOC, BIOC_ENTITIES), (PLAIN, PLAIN_ENTITIES)])
def test_html_shows_the_text_and_every_entity(doc, found):
    page = write("html", [(doc, found)])
    assert page.startswith("<!DOCTYPE html>") and "Chemical</mark>" in page and page.endswith("</html>\n")
    parser = _Marks()
    parser.feed(page)
    assert [(o, t) for o, t in parser.passages] == [(p.offset, p.text) for p in doc.passages]
    assert parser.covered == {i: (e["start"], e["end"]) for i, e in enumerate(found)}
    assert page.count('class="label"') == len(found)


@pytest.mark.parametrize("unit, expected", [
    ("file", [("in", "a\r\nb c\r\n\r\n\r\nd\n")]),
    ("line", [("in:1", "a"), ("in:2", "b c"), ("in:5", "d")]),
    ("block", [("in:1", "a\nb c"), ("in:5", "d")]),
])
def test_plain_text_units(unit, expected):
    docs = list(read_text(io.BytesIO(b"a\r\nb c\r\n\r\n\r\nd\n"), "in", unit))
    assert [(d.id, d.passages[0].text) for d in docs] == expected


@pytest.mark.parametrize("fmt, data, fragment", [
    ("text", b"caf\xe9", "not UTF-8"),
    ("jsonl", b'{"id": 1, "text": "ok"}\n{"id": 2}\n', "line 2"),
    ("jsonl", b"not json\n", "not JSON"),
    ("pubtator", b"1|t|x\n1\t0\tone\tx\tT\n", "integers"),
    ("bioc-xml", b"<collection><document>", "not a BioC XML"),
    ("bioc-json", b"[1, 2]", "not a BioC JSON"),
])
def test_bad_inputs_are_user_errors(fmt, data, fragment):
    with pytest.raises(UserError, match=fragment):
        list(READERS[fmt](io.BytesIO(data), "in"))


def test_jsonl_documents_read_as_given():
    lines = [{"id": "a", "text": "x\r\ny"}, {"text": "no id"}, {"id": 3, "passages": [{"offset": 5, "text": "p"}]}]
    docs = read("jsonl", "\n".join(json.dumps(x) for x in lines) + "\n")
    assert [(d.id, [(p.offset, p.text) for p in d.passages]) for d in docs] == [
        ("a", [(0, "x\r\ny")]), ("out:2", [(0, "no id")]), ("3", [(5, "p")])]
