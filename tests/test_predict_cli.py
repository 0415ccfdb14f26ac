"""`munch predict` on collections: formats in and out, every head, exact offsets, resume, strict decoding."""

import io
import json
import os
import sys

import pytest

from munchables.cli import main
from munchables.data.corpus import load_corpus
from munchables.data.documents import Document, Passage
from munchables.data.formats import read_bioc_xml
from munchables.tagging import collection
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
    ours = [[{k: v for k, v in e.items() if k not in ("id", "model")} for e in d["entities"]] for d in docs]
    assert ours == expected  # the same as the Python API, each marked with the model and a fresh id
    assert all(e["model"] == "model" for d in docs for e in d["entities"])
    assert all(len({e["id"] for e in d["entities"]}) == len(d["entities"]) for d in docs)
    assert run("--model", model_dir, "--input", pubtator_dir, "--heads", "all", "--format", "bioc-xml",
               "--out", tmp_path / "out.xml") == 0
    with open(tmp_path / "out.xml", "rb") as f:
        back = list(read_bioc_xml(f, "out.xml"))
    assert [d.entities for d in back] == [d["entities"] for d in docs]


def interrupt(monkeypatch, after: int, checkpoint_every_document: bool = True, in_footer: bool = False):
    """Make the next run stop as a kill would: after `after` documents, or after writing its footer but
    before recording it (`in_footer`); the sidecar checkpointed after every document or only at the start."""
    monkeypatch.setattr(collection, "CHECKPOINT_SECONDS", -1.0 if checkpoint_every_document else 1e9)
    write, checkpoint = collection.Output.write, collection.Output._checkpoint
    count = [0]

    def stop_writing(self, tagged):
        if count[0] == after:
            raise KeyboardInterrupt
        count[0] += 1
        write(self, tagged)

    def stop_recording(self, complete):
        if complete and in_footer:
            raise KeyboardInterrupt
        checkpoint(self, complete)

    monkeypatch.setattr(collection.Output, "write", stop_writing)
    monkeypatch.setattr(collection.Output, "_checkpoint", stop_recording)


@pytest.mark.parametrize("fmt", ["jsonl", "pubtator", "conll", "bioc-xml", "bioc-json", "html"])
def test_resume_after_an_interruption_gives_the_whole_output(model_dir, pubtator_dir, tmp_path, fmt, monkeypatch):
    whole, part = tmp_path / "whole", tmp_path / "part"
    args = ["--model", model_dir, "--input", pubtator_dir, "--heads", "all", "--format", fmt]
    assert run(*args, "--out", whole) == 0
    data = whole.read_bytes()
    kills = [(2, True, False), (2, False, False), (0, True, False), (len(ABSTRACTS), True, True)]
    for after, every, in_footer in kills:
        for torn in (0, 5):  # killed between two writes, or in the middle of one
            with monkeypatch.context() as m:
                interrupt(m, after, every, in_footer)
                assert run(*args, "--out", part, "--overwrite") == 130
            stopped = part.read_bytes()
            assert data.startswith(stopped) and (in_footer or len(stopped) < len(data))
            if in_footer and collection.OUTPUT_FORMATS[fmt].footer:
                stopped = stopped[:-3]  # the footer written only in part
            part.write_bytes(stopped + data[len(stopped): len(stopped) + torn])
            if part.stat().st_size:  # (an empty file holds nothing to lose)
                assert run(*args, "--out", part) == 2  # exists: neither --resume nor --overwrite
            assert run(*args, "--out", part, "--resume") == 0
            assert part.read_bytes() == data
    assert run(*args, "--out", part, "--resume") == 0 and part.read_bytes() == data  # finished: nothing to add
    other = ["--model", model_dir, "--input", pubtator_dir, "--heads", "target", "--format", fmt]
    assert run(*other, "--out", part, "--overwrite") == 0 and part.read_bytes() != data


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


# ------------------------------------------------------------------ issue 22.1: an output is never an input
def jsonl_docs(path, ids):
    path.write_text("".join(json.dumps({"id": i, "text": f"Aspirin caused fever in patient {n} ."}) + "\n"
                            for n, i in enumerate(ids)), encoding="utf-8")
    return path.read_bytes()


@pytest.mark.parametrize("flags", [["--overwrite"], ["--resume"]])
@pytest.mark.parametrize("spelling", ["same", "hard link", "symbolic link", "dotted"])
def test_the_input_is_never_the_output(model_dir, tmp_path, capsys, flags, spelling):
    docs = tmp_path / "docs.jsonl"
    before = jsonl_docs(docs, "abcd")
    out = {"same": docs, "hard link": tmp_path / "link.jsonl", "symbolic link": tmp_path / "sym.jsonl",
           "dotted": tmp_path / "sub" / ".." / "docs.jsonl"}[spelling]
    if spelling == "hard link":
        os.link(docs, out)
    elif spelling == "symbolic link":
        out.symlink_to(docs)
    elif spelling == "dotted":
        (tmp_path / "sub").mkdir()
    assert run("--model", model_dir, "--input", docs, "--format", "jsonl", "--out", out, *flags) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is the input file --input" in err and "nothing was written" in err
    assert docs.read_bytes() == before and not (tmp_path / "docs.jsonl.munch.json").exists()


def test_standard_input_redirected_from_the_output_is_refused(model_dir, tmp_path, monkeypatch, capsys):
    docs = tmp_path / "docs.jsonl"
    before = jsonl_docs(docs, "ab")
    with open(docs, "rb") as f:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(f, encoding="utf-8"))
        assert run("--model", model_dir, "--input-format", "jsonl", "--format", "jsonl", "--out", docs,
                   "--overwrite") == 2
    assert "(standard input)" in capsys.readouterr().err and docs.read_bytes() == before


def test_an_output_inside_an_input_directory_is_refused(model_dir, pubtator_dir, tmp_path, capsys):
    for out in (pubtator_dir / "tagged.jsonl", pubtator_dir / "more" / "new" / "tagged.jsonl"):
        assert run("--model", model_dir, "--input", pubtator_dir, "--format", "jsonl", "--out", out) == 2
        assert "lies inside the input directory --input" in capsys.readouterr().err and not out.exists()
    assert run("--model", model_dir, "--input", pubtator_dir, "--format", "jsonl",
               "--out", model_dir / "model.pt", "--overwrite") == 2  # the model is an input too
    assert "is the input file --model" in capsys.readouterr().err and Tagger.load(model_dir)


def test_resume_touches_only_its_own_output_in_its_own_format_and_settings(model_dir, tmp_path, capsys):
    docs, out, notes = tmp_path / "docs.jsonl", tmp_path / "out.jsonl", tmp_path / "notes.txt"
    jsonl_docs(docs, "abcd")
    notes.write_text("my notes\n", encoding="utf-8")
    args = ["--model", model_dir, "--input", docs]
    assert run(*args, "--format", "jsonl", "--out", notes, "--resume") == 2  # not this tool's output
    assert "was not written by munch tag" in capsys.readouterr().err and notes.read_text() == "my notes\n"
    assert run(*args, "--format", "jsonl", "--out", out) == 0
    written = out.read_bytes()
    for other, fragment in ((["--format", "pubtator"], "holds jsonl, not pubtator"),
                            (["--format", "jsonl", "--heads", "all"], "written with other settings (heads:"),
                            (["--format", "jsonl", "--overlap", "score"], "written with other settings (overlap:")):
        assert run(*args, *other, "--out", out, "--resume") == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and fragment in err and out.read_bytes() == written
    jsonl_docs(docs, "abxd")  # other input: document 3 differs
    assert run(*args, "--format", "jsonl", "--out", out, "--resume") == 2
    assert "its document 3 is 'c' but the input's is 'x'" in capsys.readouterr().err and out.read_bytes() == written
    jsonl_docs(docs, "abcd")
    out.write_bytes(written.replace(b"fever", b"fewer", 1))  # edited by hand
    assert run(*args, "--format", "jsonl", "--out", out, "--resume") == 2
    assert "changed since munch tag wrote it" in capsys.readouterr().err


def test_resume_matches_documents_by_position_so_repeated_ids_are_kept(model_dir, tmp_path, monkeypatch):
    docs, whole, part = tmp_path / "docs.jsonl", tmp_path / "whole.jsonl", tmp_path / "part.jsonl"
    jsonl_docs(docs, ["a", "b", "a", "c"])
    args = ["--model", model_dir, "--input", docs, "--format", "jsonl"]
    assert run(*args, "--out", whole) == 0
    for after in (1, 2, 3):
        with monkeypatch.context() as m:
            interrupt(m, after)
            assert run(*args, "--out", part, "--overwrite") == 130
        assert run(*args, "--out", part, "--resume") == 0
        assert [json.loads(line)["id"] for line in part.read_text().splitlines()] == ["a", "b", "a", "c"]
        assert part.read_bytes() == whole.read_bytes()


# ------------------------------------------------------------------ issue 22.8: gzip, pipes and FIFOs as input
def test_gzip_pipes_and_fifos_read_as_the_plain_file(model_dir, tmp_path, capsys, monkeypatch):
    import gzip
    import threading

    docs = tmp_path / "docs.jsonl"
    data = jsonl_docs(docs, "abc")
    (tmp_path / "docs.jsonl.gz").write_bytes(gzip.compress(data))
    args = ["--model", model_dir, "--format", "jsonl", "--heads", "all"]
    assert run(*args, "--input", docs) == 0
    expected = capsys.readouterr().out
    assert run(*args, "--input", tmp_path / "docs.jsonl.gz") == 0  # the format from the name before .gz
    assert capsys.readouterr().out == expected

    def feed(path, payload):
        with open(path, "wb") as f:
            f.write(payload)

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for payload in (data, gzip.compress(data)):
        writer = threading.Thread(target=feed, args=(fifo, payload))
        writer.start()
        assert run(*args, "--input-format", "jsonl", "--input", fifo) == 0
        writer.join()
        assert capsys.readouterr().out == expected
    r, w = os.pipe()  # what bash's <(command) gives: /dev/fd/N
    writer = threading.Thread(target=lambda: (os.write(w, gzip.compress(data)), os.close(w)))
    writer.start()
    assert run(*args, "--input-format", "jsonl", "--input", f"/dev/fd/{r}") == 0
    writer.join()
    os.close(r)
    assert capsys.readouterr().out == expected

    (tmp_path / "cut.jsonl.gz").write_bytes(gzip.compress(data)[:-12])
    assert run(*args, "--input", tmp_path / "cut.jsonl.gz") == 2
    assert "cut.jsonl.gz: broken gzip data" in capsys.readouterr().err
    monkeypatch.setattr(collection, "MAX_DECOMPRESSED", 100)  # a bomb: stopped at the limit, in constant memory
    assert run(*args, "--input", tmp_path / "docs.jsonl.gz") == 2
    assert "inflates to more than 100 bytes" in capsys.readouterr().err


def test_tag_is_the_command_and_predict_its_alias(model_dir, pubtator_dir, capsys):
    args = ["--model", str(model_dir), "--input", str(pubtator_dir), "--format", "pubtator", "--heads", "all"]
    assert main(["-q", "tag", *args]) == 0
    tagged = capsys.readouterr().out
    assert run(*args) == 0 and capsys.readouterr().out == tagged and tagged.count("|t|") == len(ABSTRACTS)
    with pytest.raises(SystemExit):
        main(["predict", "--help"])
    assert "`munch predict` is an alias of `munch tag`" in " ".join(capsys.readouterr().out.split())


# ------------------------------------------------------------------ issue 26.7: several taggers in one pass
@pytest.fixture
def second_model(model_dir, tmp_path):
    """Another three-head model ("chemical"): the first one's weights, perturbed, so its entities differ."""
    import torch

    tagger = Tagger.load(model_dir)
    torch.manual_seed(7)
    with torch.no_grad():
        for p in tagger.model.parameters():
            p.add_(torch.randn_like(p))
    return tagger.save(tmp_path / "chemical").parent


def read_jsonl(text):
    return [json.loads(line) for line in text.splitlines()]


@pytest.mark.parametrize("overlap", ["all", "score", "priority"])
def test_two_models_tag_in_one_pass_merged_under_the_overlap_policy(model_dir, second_model, pubtator_dir, capsys,
                                                                     overlap):
    from munchables.tagging.heads import resolve

    one = lambda *a: (run("--input", pubtator_dir, "--format", "jsonl", *a), read_jsonl(capsys.readouterr().out))[1]  # noqa: E731
    a = one("--model", model_dir, "--heads", "all")
    b = one("--model", second_model, "--heads", "target")
    both = one("--model", model_dir, "--model", second_model, "--heads", "all", "--heads", "target",
               "--overlap", overlap)
    heads = [f"model:{h}" for h in ("tiny", "chem", "dis")] + ["chemical:tiny"]
    for da, db, d in zip(a, b, both):
        no_id = lambda e: {k: v for k, v in e.items() if k != "id"}  # noqa: E731  (ids are fresh per output)
        found = [no_id(e) | {"head": f"model:{e['head']}"} for e in da["entities"]] + \
                [no_id(e) | {"head": f"chemical:{e['head']}"} for e in db["entities"]]
        # the oracle: each model alone, then merged
        assert [no_id(e) for e in d["entities"]] == resolve(found, overlap, heads)[0]
    assert overlap != "all" or any(e["head"].startswith("chemical:") for d in both for e in d["entities"])
    assert run("--model", model_dir, "--model", second_model, "--heads", "all", "--heads", "all", "--heads", "all",
               "--input", pubtator_dir) == 2
    assert "--heads given 3 times for 2 models" in capsys.readouterr().err


def test_pubtator_writes_each_entity_once_whatever_found_it(model_dir, second_model, pubtator_dir, capsys):
    args = ["--input", pubtator_dir, "--model", model_dir, "--model", second_model, "--heads", "all"]
    assert run(*args, "--format", "jsonl") == 0
    spans = {(d["id"], e["start"], e["end"], e["type"]) for d in read_jsonl(capsys.readouterr().out) for e in d["entities"]}
    assert run(*args, "--format", "pubtator") == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.count("\t") == 4]
    assert len(lines) == len(set(lines)) == len(spans)  # several heads found most spans: each written once
    assert {(i, int(s), int(e), t) for i, s, e, _, t in (line.split("\t") for line in lines)} == spans


def test_a_type_has_one_colour_in_every_output_and_overlaps_show_each_type(model_dir, second_model, pubtator_dir,
                                                                            capsys):
    import re

    from munchables.data.colours import type_colour
    from munchables.data.formats import html_document

    legends = []
    for heads in (["--heads", "dis"], ["--heads", "all"], ["--model", second_model, "--heads", "chem"]):
        assert run("--model", model_dir, "--input", pubtator_dir, "--format", "html", *heads) == 0
        page = capsys.readouterr().out
        legends.append(dict((t, c) for c, t in re.findall(r'<mark style="background: ([^"]+)">([^<]+)</mark>', page)))
    assert legends[0]["Disease"] == legends[1]["Disease"] == type_colour("Disease") != type_colour("Chemical")
    assert legends[1]["Chemical"] == legends[2]["Chemical"] == type_colour("Chemical")
    assert type_colour("cell_type") == type_colour("CellType") and type_colour("Enzyme") == type_colour("Enzyme")
    doc = Document("d", [Passage("aspirin fever", 0)])
    found = [{"text": "aspirin fever", "type": "Disease", "head": "a", "start": 0, "end": 13, "score": 0.5},
             {"text": "aspirin", "type": "Chemical", "head": "b", "start": 0, "end": 7, "score": 0.9},
             {"text": "aspirin", "type": "Chemical", "head": "c", "start": 0, "end": 7, "score": 0.8}]
    page = html_document(doc, found)
    first = re.search(r'<mark class="entity overlap"[^>]*style="([^"]+)"[^>]*>aspirin(.*?)</mark>', page)
    assert first and type_colour("Disease") in first.group(1) and type_colour("Chemical") in first.group(1)
    assert first.group(2).count(">Chemical<") == 1  # two heads, one type: its label once


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
    data = out.read_bytes()  # finished: resuming with other heads is refused, with the same ones changes nothing
    assert run("--model", model_dir, "--input", pubtator_dir, "--heads", "tiny,chem", "--format", "conll",
               "--out", out, "--resume") == 2
    assert out.read_bytes() == data
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
