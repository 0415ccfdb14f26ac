"""Hostile and malformed input at the edge (issue 22 items 5 and 6), and `munch predict` keeping what came in (issue 26.2)."""

import io
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from munchables.cli import main
from munchables.data.documents import Document, Passage, entity
from munchables.data.formats import OUTPUT_FORMATS, READERS
from munchables.errors import UserError


def read(fmt, data):
    return list(READERS[fmt](io.BytesIO(data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data), "in"))


# ------------------------------------------------------------------------ 22.5: what reads back as something else
def test_pubtator_refuses_an_entity_whose_text_holds_a_tab():
    doc = Document("1", [Passage("a\tb fever", 0)])
    with pytest.raises(UserError, match="TAB or line break"):
        OUTPUT_FORMATS["pubtator"].document(doc, [entity("a\tb", "Disease", 0, 3)], [])
    doc.relations.append({"id": None, "infons": {"type": "7", "arg1": "x"}, "nodes": []})
    with pytest.raises(UserError, match="reads back as an entity"):
        OUTPUT_FORMATS["pubtator"].document(doc, [], [])


@pytest.mark.parametrize("fmt, data", [
    ("jsonl", json.dumps({"id": "d", "passages": [{"offset": 0, "text": "abcdef"}, {"offset": 3, "text": "xyz"}]})),
    ("bioc-json", json.dumps({"source": "", "date": "", "key": "", "infons": {}, "documents": [
        {"id": "d", "infons": {}, "relations": [], "passages": [
            {"offset": 10, "infons": {}, "text": "later", "annotations": []},
            {"offset": 0, "infons": {}, "text": "first", "annotations": []}]}]})),
    ("bioc-xml", "<collection><document><id>d</id><passage><offset>0</offset><text>abcdef</text></passage>"
                 "<passage><offset>2</offset><text>x</text></passage></document></collection>"),
])
def test_overlapping_or_unordered_passages_are_refused(fmt, data):
    with pytest.raises(UserError, match="document 'd', passage 2 starts at"):
        read(fmt, data)


# ---------------------------------------------------------------------------- 22.6: malformed JSON and BioC JSON
def bioc(passage=None, annotation=None, document=None):
    ann = {"id": "1", "infons": {"type": "Disease"}, "text": "fever", "locations": [{"offset": 0, "length": 5}]}
    p = {"offset": 0, "infons": {}, "text": "fever", "annotations": [dict(ann, **(annotation or {}))]}
    d = {"id": "d1", "infons": {}, "passages": [dict(p, **(passage or {}))], "relations": []}
    return json.dumps({"source": "", "date": "", "key": "", "infons": {}, "documents": [dict(d, **(document or {}))]})


MALFORMED = [
    ("jsonl", '{"id": "d1", "text": 5}', "text must be a string; got 5"),
    ("jsonl", '{"id": "d1", "text": "x", "infons": "a string"}', "infons must be an object"),
    ("jsonl", '{"id": "d1", "text": "x\\ud800y"}', "lone UTF-16 surrogate"),
    ("jsonl", '{"id": "d1", "passages": [{"offset": 1e400, "text": "x"}]}', "offset must be an integer; got inf"),
    ("jsonl", '{"id": "d1", "passages": [{"offset": "5", "text": "x"}]}', "offset must be an integer; got '5'"),
    ("jsonl", '{"id": "d1", "passages": [{"offset": null, "text": "x"}]}', "offset must be an integer; got null"),
    ("jsonl", '{"id": "d1", "text": "fever", "entities": [{"text": "f", "type": "D", "start": 0, "end": NaN}]}',
     "not JSON"),
    ("jsonl", "[" * 100_000 + "]" * 100_000, "nested more than"),
    ("bioc-json", bioc(passage={"text": 5}), "passages[0].text must be a string"),
    ("bioc-json", bioc(document={"infons": "x"}), "document 'd1': infons must be an object"),
    ("bioc-json", bioc(annotation={"infons": "x"}), "annotations[0].infons must be an object"),
    ("bioc-json", bioc(passage={"offset": "BIG"}).replace('"BIG"', "1e400"), "offset must be an integer; got inf"),
    ("bioc-json", bioc(passage={"offset": "5"}), "offset must be an integer"),
    ("bioc-json", bioc(annotation={"locations": [{"offset": None, "length": 5}]}), "offset must be an integer"),
    ("bioc-json", bioc(annotation={"text": "\ud800"}), "lone UTF-16 surrogate"),
    ("bioc-json", '{"documents": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested more than"),
    ("bioc-json", "[1, 2]", "not a BioC JSON collection"),
    ("label-studio", '[{"data": {"text": "x"}, "annotations": [{"result": [{"value": {"start": 0, "end": 9, '
                     '"labels": ["D"]}}]}]}]', "lies outside the text"),
    ("label-studio", '{"data": {"text": "x"}}', "expected a JSON list; got an object"),
    ("label-studio", '[{"data": {"text": "x\\ud800"}}]', "lone UTF-16 surrogate"),
    ("label-studio", '[{"data": {"text": "x"}, "annotations": [{"result": [{"value": {"start": NaN}}]}]}]', "not JSON"),
    ("label-studio", "[" * 100_000 + "]" * 100_000, "nested more than"),
    ("label-studio", '[{"data": {"text": "x"}}', "not JSON"),
]


@pytest.mark.parametrize("fmt, data, fragment", MALFORMED, ids=[f"{f}: {frag}" for f, _, frag in MALFORMED])
def test_malformed_json_is_one_line_naming_the_document_and_field(fmt, data, fragment):
    with pytest.raises(UserError, match=fragment.replace("[", r"\[").replace("(", r"\(")) as e:
        read(fmt, data)
    assert "\n" not in str(e.value)


def test_a_lone_surrogate_is_exit_2_and_leaves_out_untouched(tiny_run, tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "d1", "text": "aspirin \\ud800 fever"}\n', encoding="utf-8")
    out = tmp_path / "out.jsonl"
    out.write_text("keep me\n", encoding="utf-8")
    code = main(["-q", "predict", "--model", str(tiny_run.out), "--input", str(bad), "--format", "jsonl",
                 "--out", str(out), "--overwrite"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "line 1" in err and "surrogate" in err
    assert out.read_text(encoding="utf-8") == "keep me\n"


# ------------------------------------------------------------- 26.2: munch predict keeps what came in, adds its own
CDR = (
    "8701013|t|Aspirin and caffeine caused fever.\n"
    "8701013|a|Patients treated with morphine reported headache . No asthma was seen after ibuprofen .\n"
    "8701013\t0\t7\tAspirin\tChemical\tD001241\n"
    "8701013\t28\t33\tfever\tDisease\tD005334\n"
    "8701013\t111\t120\tibuprofen\tChemical\tD007052\tibuprofen|x\n"
    "8701013\tCID\tD015738\tD003693\n"
    "8701013\tCID\tD001241\tD005334\n"
    "\n"
    "8701014|t|Heart failure after nitric oxide.\n"
    "8701014|a|We studied lung cancer in 45 patients .\n"
    "8701014\t0\t13\tHeart failure\tDisease\tD006333\n"
    "8701014\tCID\tD009569\tD006333\n"
    "\n"
)


@pytest.mark.parametrize("fmt", ["pubtator", "bioc-xml", "jsonl"])
def test_predict_on_a_bc5cdr_pubtator_file_keeps_every_annotation_and_relation(tiny_run, tmp_path, fmt):
    path = tmp_path / "CDR_TestSet.PubTator.txt"  # auto: PubTator by content, despite .txt
    path.write_text(CDR, encoding="utf-8")
    out = tmp_path / f"out.{fmt}"
    args = ["-q", "predict", "--model", str(tiny_run.out), "--input", str(path), "--format", fmt, "--threads", "1"]
    assert main([*args, "--out", str(out)]) == 0
    given = read("pubtator", CDR)
    back = read({"pubtator": "pubtator", "bioc-xml": "bioc-xml", "jsonl": "jsonl"}[fmt], out.read_bytes())
    for g, b in zip(given, back):
        strip = [{k: v for k, v in e.items() if k != "id"} for e in b.entities]
        theirs = [e for e in strip if e["head"] is None] if fmt != "pubtator" else strip[: len(g.entities)]
        assert theirs == g.entities  # every annotation that came in, untouched, in order
        assert b.relations == g.relations
        ours = [e for e in b.entities if e["head"] is not None] if fmt != "pubtator" else b.entities[len(g.entities):]
        assert ours, "the tagger added its own entities"
        text = " ".join(p.text for p in b.passages)
        assert all(text[e["start"]:e["end"]] == e["text"] for e in ours)
        if fmt != "pubtator":
            assert all(e["model"] == "run" and e["head"] == "tiny" for e in ours)
            ids = [e["id"] for e in b.entities if "id" in e]
            assert len(set(ids)) == len(ids)
    if fmt == "pubtator":  # every input line is in the output, as it was
        lines = out.read_text(encoding="utf-8").splitlines()
        assert all(line in lines for line in CDR.splitlines() if line)
    assert main([*args, "--out", str(out), "--overwrite", "--drop-existing"]) == 0
    clean = read(fmt, out.read_bytes())
    assert all(not d.relations for d in clean)
    assert all(e["text"] for d in clean for e in d.entities)
    if fmt != "pubtator":
        assert all(e["head"] is not None for d in clean for e in d.entities)


def test_the_command_line_tags_a_bc5cdr_file_keeping_its_lines(tiny_run, tmp_path):
    """`python3 -m munchables.cli predict`, as a user runs it: every input line comes out, ours after them."""
    import os
    import subprocess
    import sys

    path = tmp_path / "CDR_TestSet.PubTator.txt"
    path.write_text(CDR, encoding="utf-8")
    out = tmp_path / "tagged.pubtator"
    done = subprocess.run([sys.executable, "-m", "munchables.cli", "predict", "--model", str(tiny_run.out), "--input",
                           str(path), "--format", "pubtator", "--out", str(out), "--threads", "1"],
                          capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "reading CDR_TestSet.PubTator.txt as pubtator (by its content" in done.stderr
    lines = out.read_text(encoding="utf-8").splitlines()
    assert all(line in lines for line in CDR.splitlines() if line)
    assert len(lines) > len([line for line in CDR.splitlines() if line])  # and the tagger's own


def test_paragraph_unit_tags_a_wrapped_sentence_whole_with_offsets_into_the_file(tiny_run, tmp_path, capsys):
    text = "Patients treated with aspirin reported\nheart\nfailure .\n\nNo fever was seen after\ncaffeine .\n"
    path = tmp_path / "wrapped.txt"
    path.write_text(text, encoding="utf-8")
    found = {}
    for unit in ("file", "paragraph"):
        assert main(["-q", "predict", "--model", str(tiny_run.out), "--input", str(path), "--text-unit", unit,
                     "--format", "json"]) == 0
        found[unit] = json.loads(capsys.readouterr().out)
        assert all(text[e["start"]:e["end"]] == e["text"] for e in found[unit])
    spans = {unit: {(e["text"], e["type"]) for e in found[unit]} for unit in found}
    assert ("heart\nfailure", "Disease") in spans["paragraph"]  # one sentence: the wrapped entity whole
    assert ("heart\nfailure", "Disease") not in spans["file"]  # every line break ends a sentence


def test_a_line_longer_than_the_limit_is_refused_not_read_whole(monkeypatch):
    from munchables.data import formats

    monkeypatch.setattr(formats, "MAX_LINE_BYTES", 64)
    with pytest.raises(UserError, match="line 2: longer than"):
        read("jsonl", '{"text": "ok"}\n{"text": "' + "a" * 100 + '"}\n')
    assert len(read("jsonl", '{"text": "' + "a" * 40 + '"}\n')) == 1


def test_html_shows_what_came_in_beside_ours():
    doc = read("pubtator", CDR)[0]
    page = OUTPUT_FORMATS["html"].document(doc, [entity("caffeine", "Chemical", 12, 20, "tiny", 0.5)], ["tiny"],
                                           types=["Chemical", "Disease"])
    assert page.count('class="label"') == len(doc.entities) + 1 and "(in the input)" in page and "(tiny) 0.5" in page


# ------------------------------------------------------------ XML attacks: nothing expanded, fetched or included
LAUGHS = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;">'
          '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>')


@pytest.mark.parametrize("fmt, body", [
    ("bioc-xml", "<collection><document><id>1</id><passage><offset>0</offset><text>a &lol3; b</text></passage>"
                 "</document></collection>"),
    ("medline", "<PubmedArticleSet><PubmedArticle><MedlineCitation><PMID>1</PMID><Article><ArticleTitle>a &lol3;"
                "</ArticleTitle></Article></MedlineCitation></PubmedArticle></PubmedArticleSet>"),
])
def test_entity_expansion_is_refused_not_expanded(fmt, body):
    with pytest.raises(UserError, match="entity reference"):
        read(fmt, LAUGHS + body)


def test_external_entities_and_xinclude_are_never_fetched(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP SECRET", encoding="utf-8")
    xxe = (f'<?xml version="1.0"?><!DOCTYPE c [<!ENTITY xxe SYSTEM "{secret.as_uri()}">]><collection><document>'
           "<id>1</id><passage><offset>0</offset><text>a &xxe; b</text></passage></document></collection>")
    with pytest.raises(UserError, match="entity reference") as e:
        read("bioc-xml", xxe)
    assert "TOP SECRET" not in str(e.value)
    xinclude = ('<collection xmlns:xi="http://www.w3.org/2001/XInclude"><document><id>1</id><passage><offset>0'
                f'</offset><text><xi:include href="{secret.as_uri()}" parse="text"/></text></passage></document>'
                "</collection>")
    with pytest.raises(UserError, match="holds an element"):
        read("bioc-xml", xinclude)


def test_predict_with_utf16_offsets_reads_and_writes_java_style_numbers(tiny_run, tmp_path):
    text = "😀 Patients treated with aspirin reported 𝛂 fever ."
    units = text.encode("utf-16-le")
    u16 = lambda s: len(s.encode("utf-16-le")) // 2  # noqa: E731
    gold = {"start": u16(text[:text.index("fever")]), "end": u16(text[:text.index("fever") + 5])}
    record = {"id": "j", "text": text, "entities": [{"text": "fever", "type": "Disease", **gold}]}
    path = tmp_path / "in.jsonl"
    path.write_text(json.dumps(record, ensure_ascii=False) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert main(["-q", "predict", "--model", str(tiny_run.out), "--input", str(path), "--format", "jsonl",
                 "--offsets", "utf16", "--out", str(out)]) == 0
    [doc] = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert {k: doc["entities"][0][k] for k in ("start", "end")} == gold  # what came in keeps its numbers
    assert len(doc["entities"]) > 1
    for e in doc["entities"]:
        assert units[2 * e["start"]:2 * e["end"]].decode("utf-16-le") == e["text"]


@settings(max_examples=300, deadline=None)
@given(pieces=st.lists(st.sampled_from(["\\ud83d\\ude00", "\\ud800", "\\udc00", "\\\\ud800", "\\\\\\ud83d\\ude00",
                                        "\\\\", "\\n", "ab", "x" * 70, "\\u00e9"]), max_size=10),
       block=st.integers(1, 80))
def test_bioc_json_streaming_refuses_exactly_the_lone_surrogates_json_would_decode(pieces, block):
    """BioC JSON is streamed by ijson, whose C parser turns a lone surrogate escape into "?"; the
    stream is checked escape by escape across blocks of any size: refused exactly when Python's
    json would decode a lone surrogate, and otherwise passed on byte for byte."""
    from munchables.data.json_input import Checked as _Checked

    text = '{"a": "' + "".join(pieces) + '"}'
    lone = any(0xD800 <= ord(c) <= 0xDFFF for c in json.loads(text)["a"])
    checked, out = _Checked(io.BytesIO(text.encode()), "in"), b""
    try:
        while chunk := checked.read(block):
            out += chunk
    except UserError as e:
        assert lone and "lone UTF-16 surrogate" in str(e)
        return
    assert not lone and out == text.encode()


def test_label_studio_export_is_streamed_one_task_at_a_time():
    tasks = ",".join(json.dumps({"id": i, "data": {"text": "fever " * 50}}) for i in range(2000))
    stream = io.BytesIO(("[" + tasks + "]").encode())
    first = next(READERS["label-studio"](stream, "in"))
    assert first.passages[0].text.startswith("fever") and stream.tell() < len(stream.getvalue()) / 4


def test_bioc_json_is_streamed_one_document_at_a_time():
    """A collection is read as it comes: the first document is there before the file is read
    to its end (what makes memory flat for a PubTator3 download of any size)."""
    docs = ",".join(json.dumps({"id": f"d{i}", "passages": [{"offset": 0, "text": "fever " * 50}]})
                    for i in range(2000))
    data = ('{"source": "PubTator", "date": "2026", "key": "k", "infons": {"a": "b"}, "documents": [' + docs
            + "]}").encode()
    stream = io.BytesIO(data)
    first = next(READERS["bioc-json"](stream, "in"))
    assert first.id == "d0" and first.collection.source == "PubTator" and first.collection.infons == {"a": "b"}
    assert stream.tell() < len(data) / 4
