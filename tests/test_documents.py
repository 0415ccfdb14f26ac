"""Annotated documents as a training corpus (data/annotated.py), brat standoff (data/brat.py), `--aux auto`
(data/auxiliary.py) and `munch train --compare` (comparison.py).

Every document here is written by the test: sentences of the conftest templates, one per line,
their entities at character offsets, so the tokenizer gives back the template's tokens.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import _write_tiny_corpus, tiny_sentences, train_args
from munchables.cli import main
from munchables.data.annotated import (
    DISCONTINUOUS,
    DROPPED,
    KEPT,
    SNAPPED,
    TEXT_DIFFERS,
    TYPES_LEFT_OUT,
    DocumentOptions,
    document_format,
    document_sentences,
    parse_types,
    split_corpus_list,
    split_documents,
)
from munchables.data.brat import brat_ann, parse_ann, read_brat
from munchables.data.corpus import load_corpus
from munchables.data.documents import Document, Passage, entity
from munchables.errors import UserError


def doc_of(sentences, doc_id="d1") -> Document:
    """A document of (token, tag) sentences, one per line, with its entities at character offsets."""
    text, found = "", []
    for sentence in sentences:
        open_entity = None
        for i, (token, tag) in enumerate(sentence):
            if i:
                text += " "
            if tag.startswith("B-"):
                open_entity = [len(text), None, tag[2:]]
                found.append(open_entity)
            elif tag == "O":
                open_entity = None
            text += token
            if open_entity is not None:
                open_entity[1] = len(text)
        text += "\n"
    return Document(doc_id, [Passage(text, 0)], {}, [entity(text[a:b], t, a, b) for a, b, t in found])


def write_brat(folder: Path, docs: list[Document]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for d in docs:
        (folder / f"{d.id}.txt").write_text(d.passages[0].text, encoding="utf-8")
        (folder / f"{d.id}.ann").write_text(brat_ann(d.entities)[0], encoding="utf-8")
    return folder


def tiny_docs(n: int, per_doc: int = 3, seed: int = 0) -> list[Document]:
    sentences = tiny_sentences(n * per_doc, seed=seed)
    return [doc_of(sentences[k * per_doc:(k + 1) * per_doc], f"doc{k:03d}") for k in range(n)]


# ------------------------------------------------------------------------------------------ brat


def test_brat_ann_round_trip_with_fragments_and_skipped_lines(tmp_path):
    text = "breast and ovarian cancer in BRCA1 carriers\n"
    found = [entity("breast cancer", "Disease", 0, 25) | {"fragments": [[0, 6], [19, 25]]},
             entity("ovarian cancer", "Disease", 11, 25), entity("BRCA1", "Gene", 29, 34)]
    ann, _ = brat_ann(found)
    assert "T1\tDisease 0 6;19 25\tbreast cancer" in ann.splitlines()
    extra = "A1\tNegated T2\nR1\tAssoc Arg1:T1 Arg2:T3\n#1\tAnnotatorNotes T1\tnote\nN1\tReference T3 HGNC:1100\n"
    back, skipped = parse_ann(ann + extra, text)
    assert back == found
    assert skipped == Counter({"A": 1, "R": 1, "#": 1, "N": 1})
    (tmp_path / "a.txt").write_text(text)
    (tmp_path / "a.ann").write_text(ann + extra)
    [doc] = read_brat(tmp_path)
    assert doc.entities == found and doc.infons["brat_skipped"] == "#: 1, A: 1, N: 1, R: 1"


@pytest.mark.parametrize("line, what", [("T1\tDisease 0 x\tbreast", "malformed T line"),
                                        ("X1\tsomething", "not a brat annotation line"),
                                        ("T1\tDisease 0 99\tbreast", "outside the text")])
def test_brat_bad_lines_name_file_and_line(tmp_path, line, what):
    (tmp_path / "a.txt").write_text("breast cancer\n")
    (tmp_path / "a.ann").write_text("T9\tDisease 0 6\tbreast\n" + line + "\n")
    with pytest.raises(UserError, match=rf"a\.ann:2: .*{what}"):
        list(read_brat(tmp_path))


def test_brat_ann_without_text_is_an_error(tmp_path):
    (tmp_path / "a.ann").write_text("")
    with pytest.raises(UserError, match="no a.txt beside it"):
        list(read_brat(tmp_path))


# ------------------------------------------------------------------------------------------ conversion


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 6))
def test_documents_to_sentences_gives_back_the_column_sentences(seed, n):
    """Token-aligned entities without overlap become exactly the IOB2 tags they came from (an oracle)."""
    sentences = tiny_sentences(n, seed=seed)
    counts = Counter()
    out = document_sentences([doc_of(sentences)], None, counts)
    assert [list(zip(s.tokens, s.tags)) for s in out] == sentences
    assert counts[KEPT] == counts["entities"] == sum(t.startswith("B-") for s in sentences for _, t in s)


def test_conversion_rules_are_counted():
    text = "The anticancer drug failed. Lung cancer and breast cancer rose.\nAsthma grew"
    #       0123456789012345678901234567890123456789012345678901234567890123 4
    found = [
        entity("cancer", "Disease", 8, 14),  # inside "anticancer": snapped to the token
        entity("failed. Lung", "Disease", 20, 32),  # crosses the sentence boundary: dropped
        entity("Lung cancer", "Disease", 28, 39),  # kept
        entity("cancer", "Disease", 33, 39),  # nested in Lung cancer: dropped (the longer wins)
        entity("Lung cancer", "Disease", 28, 39),  # duplicate: dropped
        entity("breast cancer", "Disease", 44, 57),
        entity("drug", "Chemical", 15, 19),  # left out by --types
        entity("rose", "Finding", 58, 62),  # renamed by --types
        entity("grew", "Finding", 64, 76),  # beyond the text: dropped
        entity("Asthma", "Disease", 64, 70) | {"fragments": [[64, 66], [67, 70]]},  # discontinuous
        entity("Astma", "Disease", 64, 70),  # text differs: kept by offsets, but the same span as the one above
    ]
    counts = Counter()
    out = document_sentences([Document("d", [Passage(text, 0)], {}, found)],
                             parse_types("Disease,Finding=Event"), counts)
    assert [" ".join(s.tokens) for s in out] == ["The anticancer drug failed .",
                                                 "Lung cancer and breast cancer rose .", "Asthma grew"]
    assert out[0].tags == ("O", "B-Disease", "O", "O", "O")
    assert out[1].tags == ("B-Disease", "I-Disease", "O", "B-Disease", "I-Disease", "B-Event", "O")
    assert out[2].tags == ("B-Disease", "O")
    assert counts == Counter({"documents": 1, "entities": 11, KEPT: 5, SNAPPED: 1, DROPPED["sentence"]: 1,
                              DROPPED["overlap"]: 1, DROPPED["duplicate"]: 2, TYPES_LEFT_OUT: 1,
                              DROPPED["passage"]: 1, DISCONTINUOUS: 1, TEXT_DIFFERS: 1})


def test_pubtator_title_and_abstract_are_separate_passages(tmp_path):
    path = tmp_path / "corpus.txt"  # PubTator without its suffix: told by its first line
    path.write_text("1|t|Fever in mice\n1|a|Aspirin cured fever.\n1\t0\t5\tFever\tDisease\n1\t14\t21\tAspirin\tChemical\n"
                    "1\t28\t33\tfever\tDisease\n1\tCID\tD1\tD2\n\n")
    assert document_format(path) == "pubtator"
    corpus = load_corpus(f"train={path},dev={path},test={path}", documents=DocumentOptions("Disease"))
    assert [(s.tokens, s.tags) for s in corpus.train] == [
        (("Fever", "in", "mice"), ("B-Disease", "O", "O")),
        (("Aspirin", "cured", "fever", "."), ("O", "O", "B-Disease", "O"))]
    assert corpus.documents["train"][TYPES_LEFT_OUT] == 1


def test_split_by_document_is_seeded_and_disjoint():
    docs = tiny_docs(20)
    a = split_documents(docs, (0.8, 0.1, 0.1), 7, "x")
    assert [len(a[k]) for k in ("train", "dev", "test")] == [16, 2, 2]
    assert sorted(d.id for part in a.values() for d in part) == sorted(d.id for d in docs)
    assert a == split_documents(docs, (0.8, 0.1, 0.1), 7, "x")
    assert a != split_documents(docs, (0.8, 0.1, 0.1), 8, "x")
    with pytest.raises(UserError, match="cannot be split"):
        split_documents(docs[:2], (0.8, 0.1, 0.1), 7, "x")


def test_aux_list_keeps_named_splits_together():
    assert split_corpus_list("bc2gm,train=a,dev=b,test=c,s800") == ["bc2gm", "train=a,dev=b,test=c", "s800"]


@pytest.mark.parametrize("spec, message", [("train=a,dev=b", "no test=PATH"), ("train=a,val=b,test=c", "val=b"),
                                           ("Disease=", None)])
def test_bad_specs_are_user_errors(tmp_path, spec, message):
    if message is None:
        with pytest.raises(UserError, match="TYPE=NEW_NAME"):
            parse_types(spec)
    else:
        with pytest.raises(UserError, match=message):
            load_corpus(spec)


# ------------------------------------------------------------------------------------------ --aux auto


def test_aux_auto_picks_one_per_family_plus_the_targets_and_never_the_target_in_disguise(tmp_path, caplog):
    data = tmp_path / "data"
    for seed, (name, types) in enumerate({"bc5cdr-disease": ("Disease",), "bc2gm": ("Chemical",), "jnlpba": ("Chemical",),
                                          "s800": ("Chemical",), "bc5cdr-chem": ("Chemical",),
                                          "ncbi-disease": ("Disease",)}.items()):
        _write_tiny_corpus(data / name, 6, 4, 4, seed=seed, types=types)
    from munchables.data.auxiliary import choose_auxiliary

    def load(name):
        return load_corpus(name, data)

    # the target: ncbi-disease's own test sentences, as documents (leaks), typed Disease
    test = [list(zip(s.tokens, s.tags)) for s in load("ncbi-disease").test]
    docs = write_brat(tmp_path / "mine", [doc_of(test[k:k + 1], f"d{k}") for k in range(len(test))] + tiny_docs(8, seed=5))
    target = load_corpus(str(docs), documents=DocumentOptions(types="Disease", split="50,25,25"))
    target.test = target.test + [s for s in load("ncbi-disease").test]  # make sure the leak is in its test split
    chosen = dict(choose_auxiliary(target, data, load))
    # one per family: disease (bc5cdr-disease), gene/protein (bc2gm, not jnlpba), species (s800: linnaeus absent);
    # ncbi-disease shares the family but holds the target's test sentences
    assert list(chosen) == ["bc5cdr-disease", "bc2gm", "s800"]
    assert "one per entity family (species)" in chosen["s800"]
    assert "left out ncbi-disease" in caplog.text
    # a chemical target adds the chemical corpus present
    chem_dir = _write_tiny_corpus(tmp_path / "chem", 6, types=("Chemical",))
    (chem_dir / "test.tsv").write_text("Zinc\tB-Chemical\nsulfate\tI-Chemical\nhelped\tO\n")  # in no other corpus
    chem = load_corpus(str(chem_dir))
    assert list(dict(choose_auxiliary(chem, data, load))) == ["bc5cdr-disease", "bc2gm", "s800", "bc5cdr-chem"]


# ------------------------------------------------------------------------------------------ end to end


def test_brat_round_trip_train_tag_brat_out(tmp_path, capsys):
    """Documents in brat -> munch corpora -> munch train -> munch predict --format brat -> the entities back."""
    folder = write_brat(tmp_path / "brat", tiny_docs(16))
    assert main(["corpora", "--corpus", str(folder), "--split", "60,20,20", "--data-dir", str(tmp_path / "none")]) == 0
    shown = capsys.readouterr().out
    assert "brat: from documents" in shown and "train: 10 documents" in shown and "test: 3 documents" in shown
    out = tmp_path / "run"
    assert main([*train_args(folder, 12), "--split", "60,20,20", "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["target"] == "brat" and metrics["method"] == "single-task"
    assert metrics["test"]["f1"] > 0.9, metrics["test"]  # the tiny model fits the templates
    capsys.readouterr()
    assert main(["evaluate", "--model", str(out), "--corpus", str(folder), "--doc-split", "60,20,20", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["f1"] == metrics["test"]["f1"]  # the same split, the same sentences
    tagged = tmp_path / "tagged"
    assert main(["predict", "--model", str(out), "--input", str(folder), "--format", "brat", "--out", str(tagged),
                 "--drop-existing"]) == 0
    gold = {d.id: {(e["start"], e["end"], e["type"]) for e in d.entities} for d in read_brat(folder)}
    found = {d.id: {(e["start"], e["end"], e["type"]) for e in d.entities} for d in read_brat(tagged)}
    assert found.keys() == gold.keys()
    assert all(d.passages[0].text == (folder / f"{d.id}.txt").read_text() for d in read_brat(tagged))
    hits = sum(len(gold[k] & found[k]) for k in gold)
    assert hits >= 0.9 * sum(len(v) for v in gold.values())
    notes = (tagged / "doc000.ann").read_text()
    assert "AnnotatorNotes T1\thead=brat score=" in notes
    again = ["predict", "--model", str(out), "--input", str(folder), "--format", "brat", "--out", str(tagged),
             "--drop-existing"]
    capsys.readouterr()
    assert main(again) == 2 and "--resume continues it" in capsys.readouterr().err
    (tagged / "doc005.ann").unlink()
    marker = "#1\tAnnotatorNotes T1\tkept\n"
    (tagged / "doc000.ann").write_text(marker)  # done already: --resume leaves it alone
    assert main([*again, "--resume"]) == 0
    again_found = {d.id: {(e["start"], e["end"], e["type"]) for e in d.entities} for d in read_brat(tagged)}
    assert again_found["doc005"] == found["doc005"] and again_found["doc000"] == set()
    assert (tagged / "doc000.ann").read_text() == marker
    both = tmp_path / "both"  # without --drop-existing: the input's annotations first, untouched, then ours
    assert main(["predict", "--model", str(out), "--input", str(folder), "--format", "brat", "--out", str(both)]) == 0
    for doc, tagged_doc in zip(read_brat(folder), read_brat(both)):
        own = [(e["start"], e["end"], e["type"], e["text"]) for e in doc.entities]
        assert [(e["start"], e["end"], e["type"], e["text"]) for e in tagged_doc.entities[:len(own)]] == own
        assert {(e["start"], e["end"], e["type"]) for e in tagged_doc.entities[len(own):]} == found[doc.id]


def test_compare_single_task_ends_with_the_answer(tiny_corpora, capsys):
    out = tiny_corpora.data_dir.parent / "run"
    assert main([*train_args(tiny_corpora.main, 2), "--data-dir", str(tiny_corpora.data_dir), "--aux", "aux7",
                 "--compare", "single-task", "--seeds", "2", "--out", str(out)]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    result = json.loads((out / "comparison.json").read_text())
    assert result["method"] == "iter"  # --aux without --method: the evidence's default
    assert result["seeds"] == [3, 4] and len(result["compare_test_f1"]) == 2
    b = result["bootstrap"]
    assert b["low"] <= b["delta"] <= b["high"] and b["seeds"] == 2
    assert last.startswith(f"with auxiliary corpora aux7 (iter): test F1 {100 * b['a']:.2f}; alone: {100 * b['b']:.2f}; "
                           f"difference {100 * b['delta']:+.2f}, 95% interval [")
    assert last.endswith("over 2 seeds") or " over 2 seeds (" in last
    assert json.loads((out / "config.json").read_text())["method"] == "iter"
    assert json.loads((out / "compare" / "single-task-seed-4" / "config.json").read_text())["method"] == "single-task"
    assert (out / "seed-4" / "model.pt").exists()


def test_without_aux_the_default_method_stays_single_task(tiny_corpus, tmp_path):
    assert main([*train_args(tiny_corpus, 1), "--out", str(tmp_path / "run")]) == 0
    assert json.loads((tmp_path / "run" / "config.json").read_text())["method"] == "single-task"


def test_pubtator_id_space_bar_lines_read_as_ncbi_counts_them(tmp_path):
    """NCBI-disease's development set writes two titles as ``ID |t| Title``; its offsets count ``ID|t|Title``."""
    path = tmp_path / "dev.pubtator"
    path.write_text("8808605 |t| Somatic mosaicism\n8808605 |a| G6PD deficiency was seen.\n"
                    "8808605\t18\t33\tG6PD deficiency\tSpecificDisease\n\n")
    counts = Counter()
    from munchables.data.annotated import read_documents

    [doc] = read_documents(path)
    assert doc.id == "8808605" and doc.passages[0].text == "Somatic mosaicism"
    out = document_sentences([doc], None, counts)
    assert out[1].tags[:2] == ("B-SpecificDisease", "I-SpecificDisease") and counts[TEXT_DIFFERS] == 0


def test_formats_told_by_content(tmp_path):
    """BioC XML and JSON (pretty or on one line) and JSONL, without telling suffixes, read into the same sentences."""
    from munchables.data.formats import OUTPUT_FORMATS

    doc = doc_of(tiny_sentences(2, seed=3))
    sentences = document_sentences([doc], None, Counter())
    for fmt in ("bioc-xml", "bioc-json", "jsonl"):
        spec = OUTPUT_FORMATS[fmt]
        path = tmp_path / f"{fmt}.data"
        path.write_text(spec.header([]) + spec.document(doc, doc.entities, []) + spec.footer)
        assert document_format(path) == fmt
        from munchables.data.annotated import read_documents

        assert document_sentences(read_documents(path), None, Counter()) == sentences
    pretty = tmp_path / "pretty.data"
    pretty.write_text(json.dumps(json.loads((tmp_path / "bioc-json.data").read_text()), indent=1))
    assert document_format(pretty) == "bioc-json"


def test_brat_ann_keeps_the_inputs_entities_their_concept_ids_and_binary_relations():
    text = "Aspirin causes fever ."
    own = [{"id": "a1", **entity("Aspirin", "Chemical", 0, 7), "infons": {"identifier": "D001241"}},
           {"id": "a2", **entity("fever", "Disease", 15, 20)}]
    ours = [{**entity("fever", "Disease", 15, 20, head="dis", score=0.9), "model": "m1"}]
    relations = [{"id": "r1", "infons": {"type": "causes"}, "nodes": [{"refid": "a1", "role": "Chemical"},
                                                                      {"refid": "a2", "role": "Disease"}]},
                 {"id": None, "infons": {"type": "CID", "arg1": "D001241", "arg2": "D005334"}, "nodes": []}]
    ann, unwritten = brat_ann(own, ours, relations)
    assert ann.splitlines() == ["T1\tChemical 0 7\tAspirin", "#1\tAnnotatorNotes T1\tidentifier=D001241",
                                "T2\tDisease 15 20\tfever",
                                "T3\tDisease 15 20\tfever", "#3\tAnnotatorNotes T3\thead=dis score=0.9 model=m1",
                                "R1\tcauses Chemical:T1 Disease:T2"]
    assert unwritten == 1  # PubTator's concept-level relation: no mention to point at
    found, skipped = parse_ann(ann, text)  # brat's reader reads it back: three mentions, the rest counted
    assert [(e["start"], e["end"], e["type"]) for e in found] == [(0, 7, "Chemical"), (15, 20, "Disease"),
                                                                (15, 20, "Disease")]
    assert skipped == {"#": 2, "R": 1}
