"""`munch predict` on collections: formats in and out, every head, exact offsets, resume, strict decoding."""

import io
import json
import sys

import pytest

from munchables.cli import main
from munchables.data.corpus import load_corpus
from munchables.tagging.documents import Document, Passage
from munchables.tagging.formats import read_bioc_xml
from munchables.tagging.tagger import Tagger

ABSTRACTS = [
    ("101", "Aspirin and heart failure", "We gave caffeine to 12 mice with asthma . No fever was seen after morphine ."),
    ("102", "Lung cancer in patients", "Treatment with ibuprofen and nitric oxide improved headache ."),
    ("103", "The control group", "Patients treated with aspirin reported fever ."),
    ("104", "Caffeine", "No asthma was seen after caffeine ."),
]


@pytest.fixture
def model_dir(three_head_tagger, tmp_path):
    """The conftest's three-head tagger, saved."""
    return three_head_tagger.save(tmp_path / "model").parent


@pytest.fixture
def pubtator_dir(tmp_path):
    """Two PubTator files in a directory (one in a sub-directory), four abstracts."""
    root = tmp_path / "abstracts"
    (root / "more").mkdir(parents=True)
    for path, part in ((root / "a.pubtator", ABSTRACTS[:3]), (root / "more" / "b.pubtator", ABSTRACTS[3:])):
        path.write_text("".join(f"{i}|t|{t}\n{i}|a|{a}\n\n" for i, t, a in part), encoding="utf-8")
    return root


def run(*args):
    return main(["-q", "predict", *map(str, args)])


def test_a_directory_of_pubtator_abstracts_into_jsonl_and_bioc_with_every_head(model_dir, pubtator_dir, tmp_path):
    assert run("--model", model_dir, "--input", pubtator_dir, "--heads", "all", "--format", "jsonl",
               "--out", tmp_path / "out.jsonl", "--threads", "1") == 0
    docs = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [d["id"] for d in docs] == [i for i, _, _ in ABSTRACTS]
    heads = set()
    for d, (_, title, abstract) in zip(docs, ABSTRACTS):
        joined = title + " " + abstract
        assert [p["offset"] for p in d["passages"]] == [0, len(title) + 1]
        for e in d["entities"]:
            assert joined[e["start"]:e["end"]] == e["text"] and 0 < e["score"] <= 1
            heads.add(e["head"])
    assert len(heads) >= 2 and heads <= {"tiny", "chem", "dis"}
    tagger = Tagger.load(model_dir)
    expected = tagger.predict([Document(i, [Passage(t, 0), Passage(a, len(t) + 1)]) for i, t, a in ABSTRACTS], heads="all")
    assert [d["entities"] for d in docs] == expected  # the same as the Python API
    assert run("--model", model_dir, "--input", pubtator_dir, "--heads", "all", "--format", "bioc-xml",
               "--out", tmp_path / "out.xml") == 0
    with open(tmp_path / "out.xml", "rb") as f:
        back = list(read_bioc_xml(f, "out.xml"))
    assert [d.entities for d in back] == [d["entities"] for d in docs]


@pytest.mark.parametrize("fmt", ["jsonl", "pubtator", "conll", "bioc-xml", "bioc-json", "html"])
def test_resume_after_an_interruption_gives_the_whole_output(model_dir, pubtator_dir, tmp_path, fmt):
    whole, part = tmp_path / "whole", tmp_path / "part"
    args = ["--model", model_dir, "--input", pubtator_dir, "--heads", "all", "--format", fmt]
    assert run(*args, "--out", whole) == 0
    data = whole.read_bytes()
    for cut in (len(data) // 2, len(data) - 3, len(data)):  # killed mid-document, inside the footer, finished
        part.write_bytes(data[:cut])
        assert run(*args, "--out", part) == 2  # exists: neither --resume nor --overwrite
        assert run(*args, "--out", part, "--resume") == 0
        assert part.read_bytes() == data
    assert run(*args, "--out", part, "--overwrite", "--heads", "target") == 0 and part.read_bytes() != data


def test_offsets_index_a_crlf_file_exactly(model_dir, tmp_path, capsys):
    """Issue 9.3: no newline translation; the offsets after every CRLF index the file's characters."""
    text = "Aspirin caused fever .\r\nNo asthma after caffeine .\r\nMorphine and headache ."
    path = tmp_path / "crlf.txt"
    path.write_bytes(text.encode("utf-8"))
    assert run("--model", model_dir, "--input", path, "--format", "json", "--heads", "all") == 0
    found = json.loads(capsys.readouterr().out)
    assert any(e["start"] > text.index("\r\n") for e in found)
    assert all(text[e["start"]:e["end"]] == e["text"] for e in found)


def test_offsets_index_crlf_standard_input_exactly(model_dir, monkeypatch, capsys):
    text = "Aspirin caused fever .\r\nNo asthma after caffeine .\r\n\r\nMorphine and headache ."
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(text.encode("utf-8")), encoding="utf-8"))
    assert run("--model", model_dir, "--format", "json", "--heads", "all") == 0
    found = json.loads(capsys.readouterr().out)
    assert any(e["start"] > text.rindex("\r\n") for e in found)
    assert all(text[e["start"]:e["end"]] == e["text"] for e in found)


def test_undecodable_standard_input_is_a_one_line_error(model_dir, monkeypatch, capsys):
    """Issue 9.7: stdin as a POSIX locale gives it (surrogateescape); the bytes must not reach the JSON."""
    stdin = io.TextIOWrapper(io.BytesIO(b"aspirin caf\xe9 fever"), encoding="utf-8", errors="surrogateescape")
    monkeypatch.setattr(sys, "stdin", stdin)
    assert run("--model", model_dir, "--format", "json") == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "standard input: not UTF-8" in err


@pytest.mark.parametrize("args, fragment", [
    (["--heads", "tiny,nosuch"], "no head for 'nosuch'"),
    (["--overlap", "first"], "--overlap first"),
    (["--threads", "0"], "--threads must be at least 1"),
    (["--input-format", "docx"], "--input-format docx"),
    (["--text-unit", "line", "--format", "json"], "--format json writes the entities of one document"),
    (["--resume"], "--resume needs --out"),
    (["--batch-size", "0"], "--batch-size must be at least 1"),
    (["--out", "."], "is a directory"),
])
def test_predict_mistakes_are_one_line_errors(model_dir, tmp_path, capsys, args, fragment):
    path = tmp_path / "in.txt"
    path.write_text("aspirin\nfever\n", encoding="utf-8")
    assert run("--model", model_dir, "--input", path, *args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and fragment in err


def test_text_lines_and_html(model_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"aspirin fever\n\ncaffeine < asthma\n")))
    assert run("--model", model_dir, "--text-unit", "line", "--format", "html", "--heads", "all") == 0
    page = capsys.readouterr().out
    assert page.count('<section class="document"') == 2 and "&lt;" in page
    assert 'data-id="stdin:3"' in page and "Disease</mark>" in page  # the legend names every type


def test_evaluate_takes_threads(tiny_run, capsys):
    argv = ["evaluate", "--model", str(tiny_run.out), "--corpus", str(tiny_run.corpus), "--json"]
    assert main([*argv, "--threads", "1"]) == 0
    assert json.loads(capsys.readouterr().out)["f1"] > 0.5
    assert main([*argv, "--threads", "0"]) == 2 and "--threads must be at least 1" in capsys.readouterr().err


def test_evaluate_shows_its_progress_and_tags_the_same(tiny_run, capsys, monkeypatch, caplog):
    """A bar on a terminal (with contextual features a big split takes minutes), a log line
    elsewhere, -q nothing; the scores are those of tagging without it."""
    from munchables.util import progress
    from munchables.util.progress import Progress

    argv = ["evaluate", "--model", str(tiny_run.out), "--corpus", str(tiny_run.corpus), "--split", "test", "--json"]
    assert main(argv) == 0
    quiet_run = capsys.readouterr()
    monkeypatch.setattr(progress, "on_terminal", lambda: True)
    assert main(argv) == 0
    shown = capsys.readouterr()
    assert shown.out == quiet_run.out
    n = len(load_corpus(str(tiny_run.corpus)).test)
    assert f"tagging {tiny_run.corpus.name} test" in shown.err and f"/{n} [" in shown.err  # the bar, with its total
    assert main(["-q", *argv]) == 0 and "tagging" not in capsys.readouterr().err

    monkeypatch.setattr(progress, "on_terminal", lambda: False)  # a log: one line every `every` seconds
    sentences = [list(s.tokens) for s in load_corpus(str(tiny_run.corpus)).test]
    tagger = Tagger.load(tiny_run.out)
    with caplog.at_level("INFO", logger="munchables"):
        tags = tagger.tag(sentences, batch_size=3, progress=Progress(None, every=0.0, unit=" sentence", label="tagging x"))
    assert tags == tagger.tag(sentences)
    assert f"tagging x: {n}/{n} sentences" in caplog.text


def test_quantized_tagger_mostly_agrees(tiny_run):
    sentences = [list(s.tokens) for s in load_corpus(str(tiny_run.corpus)).dev]
    plain = Tagger.load(tiny_run.out).tag(sentences)
    quantized_tagger = Tagger.load(tiny_run.out).quantize()
    assert any("quantized" in type(m).__module__ for m in quantized_tagger.model.modules())
    quantized = quantized_tagger.tag(sentences)
    pairs = [(a, b) for x, y in zip(plain, quantized) for a, b in zip(x, y)]
    assert sum(a == b for a, b in pairs) >= 0.9 * len(pairs)


def test_bench_collection_tags_the_text_of_every_corpus(tiny_corpora, capsys):
    argv = ["bench", "--collection", "--data-dir", str(tiny_corpora.data_dir), "--hidden", "8", "--limit", "30",
            "--threads", "1", "--device", "cpu", "--no-flair", "--quantize", "--json"]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["heads"] == 4 and result["sentences_in"] == 30 and result["flair"] is None
    runs = [result[k] for k in ("one_head", "all_heads", "one_head_int8", "all_heads_int8")]
    assert {r["lines"] for r in runs} == {30} and len({r["sentences"] for r in runs}) == 1
    assert result["all_heads"]["entities"] >= result["one_head"]["entities"]


def test_bench_collection_of_one_line_prints_its_rates(tiny_corpora, capsys):
    # one line may take under 10 ms of CPU time, which rounds to 0.00 s: the summary divides by none
    argv = ["bench", "--collection", "--data-dir", str(tiny_corpora.data_dir), "--hidden", "8", "--limit", "1",
            "--threads", "1", "--device", "cpu", "--no-flair"]
    assert main(argv) == 0
    assert "x the CPU time" in capsys.readouterr().out


def test_conll_names_its_columns_reads_back_and_resumes_only_with_the_same_heads(model_dir, pubtator_dir, tmp_path):
    """Issue 27.5: several heads give several tag columns; the first line names them, the corpus
    reader takes the output back (its last column), and --resume refuses other heads."""
    from munchables.data.corpus import read_column_file

    out = tmp_path / "tagged.conll"
    assert run("--model", model_dir, "--input", pubtator_dir, "--heads", "all", "--format", "conll", "--out", out) == 0
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "# columns = token tag:tiny tag:chem tag:dis"  # the target first, then the others
    rows = [line.split("\t") for line in lines if line and not line.startswith("# ")]
    assert rows and all(len(r) == 4 for r in rows)
    back = read_column_file(out)  # the tags of the last head, dis, in IOB2 as written
    assert [t for s in back for t in s.tokens] == [r[0] for r in rows]
    assert [t for s in back for t in s.tags] == [r[3] for r in rows]
    jsonl = tmp_path / "tagged.jsonl"
    assert run("--model", model_dir, "--input", pubtator_dir, "--heads", "all", "--format", "jsonl", "--out", jsonl) == 0
    dis = [e["text"] for line in jsonl.read_text(encoding="utf-8").splitlines() for e in json.loads(line)["entities"]
           if e["head"] == "dis"]
    spans = [" ".join(s.tokens[a:b]) for s in back for a, b in _spans(s.tags)]
    assert [d.replace(" ", "") for d in dis] == [s.replace(" ", "") for s in spans]
    data = out.read_bytes()
    out.write_bytes(data[: len(data) // 2])
    assert run("--model", model_dir, "--input", pubtator_dir, "--heads", "tiny,chem", "--format", "conll",
               "--out", out, "--resume") == 2
    assert run("--model", model_dir, "--input", pubtator_dir, "--heads", "all", "--format", "conll",
               "--out", out, "--resume") == 0
    assert out.read_bytes() == data


def _spans(tags):
    """(start, end) token spans of the IOB2 entities."""
    spans, start = [], None
    for i, t in enumerate([*tags, "O"]):
        if start is not None and not t.startswith("I-"):
            spans.append((start, i))
            start = None
        if t.startswith("B-"):
            start = i
    return spans
