"""munchables.evaluate against its oracle, seqeval 1.2 in strict IOB2 mode, plus hand cases."""

import json
import random
import warnings

import pytest
from seqeval.metrics import classification_report, f1_score, precision_score, recall_score
from seqeval.scheme import IOB2, Entities, Tokens

from munchables.evaluate import Score, entities, score, score_by_type


def random_tags(rng: random.Random, n: int, types: list[str]) -> list[str]:
    """Tags drawn independently, so I- after O, I- of another type and a leading I- all occur."""
    pool = ["O", "O", "O"] + [f"{p}-{t}" for t in types for p in "BI"]
    return [rng.choice(pool) for _ in range(n)]


def perturb(rng: random.Random, tags: list[str], types: list[str]) -> list[str]:
    """A prediction close to gold (so that many entities match) with some tags redrawn."""
    pool = ["O"] + [f"{p}-{t}" for t in types for p in "BI"]
    return [rng.choice(pool) if rng.random() < 0.2 else t for t in tags]


def random_corpus(seed: int):
    """A few sentences (some empty) over 1-3 entity types, and a prediction for them."""
    rng = random.Random(seed)
    types = rng.sample(["Gene", "Chemical", "Disease"], rng.randint(1, 3))
    gold = [random_tags(rng, rng.randint(0, 12), types) for _ in range(rng.randint(1, 6))]
    if rng.random() < 0.5:
        pred = [perturb(rng, g, types) for g in gold]
    else:
        pred = [random_tags(rng, len(g), types) for g in gold]
    return gold, pred


def seqeval_counts(gold, pred) -> dict[str, tuple[int, int, int]]:
    """(tp, fp, fn) per type from seqeval's own entity sets (sentence id, type, start, end)."""
    g, p = Entities(gold, IOB2), Entities(pred, IOB2)
    counts = {}
    for t in sorted(g.unique_tags | p.unique_tags):
        gs, ps = g.filter(t), p.filter(t)
        counts[t] = (len(gs & ps), len(ps - gs), len(gs - ps))
    return counts


SEEDS = range(400)


@pytest.mark.parametrize("seed", range(0, 400, 50))
def test_entities_match_seqeval(seed):
    for s in range(seed, seed + 50):
        for tags in random_corpus(s)[0]:
            expected = [(e.tag, e.start, e.end) for e in Tokens(tags, IOB2).entities]
            assert entities(tags) == expected, tags


@pytest.mark.parametrize("tags", [["B"], ["B-", "I"], ["BX", "I-X"], ["B--X", "I-X"],
                                  ["I-X", "I-X"], ["B-X", "I-Y", "I-Y"], ["O-X", "B-X"], []])
def test_entities_match_seqeval_odd_tags(tags):
    assert entities(tags) == [(e.tag, e.start, e.end) for e in Tokens(tags, IOB2).entities]


def test_score_matches_seqeval():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # seqeval warns where a denominator is 0 (and says 0.0)
        for seed in SEEDS:
            gold, pred = random_corpus(seed)
            got = score(gold, pred)
            kw = dict(mode="strict", scheme=IOB2)
            assert got.precision == pytest.approx(precision_score(gold, pred, **kw)), seed
            assert got.recall == pytest.approx(recall_score(gold, pred, **kw)), seed
            assert got.f1 == pytest.approx(f1_score(gold, pred, **kw)), seed


def test_score_by_type_matches_seqeval():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for seed in SEEDS:
            gold, pred = random_corpus(seed)
            by_type = score_by_type(gold, pred)
            assert {t: (s.tp, s.fp, s.fn) for t, s in by_type.items()} == seqeval_counts(gold, pred)
            if not by_type:
                continue  # classification_report needs at least one entity
            report = classification_report(gold, pred, output_dict=True, mode="strict", scheme=IOB2)
            for t, s in by_type.items():
                row = report[t]
                assert row["support"] == s.tp + s.fn
                assert (s.precision, s.recall, s.f1) == pytest.approx(
                    (row["precision"], row["recall"], row["f1-score"])), (seed, t)
            assert sum(by_type.values(), Score()) == score(gold, pred)


@pytest.mark.parametrize("gold, pred, counts", [
    (["B-X", "I-X", "O"], ["B-X", "I-X", "O"], (1, 0, 0)),         # exact match
    (["B-X", "I-X", "O"], ["B-X", "I-X", "I-X"], (0, 1, 1)),       # one token too long
    (["B-X", "I-X", "O"], ["B-X", "O", "O"], (0, 1, 1)),           # one token too short
    (["B-X", "I-X", "O"], ["O", "B-X", "O"], (0, 1, 1)),           # shifted
    (["B-X", "I-X"], ["B-Y", "I-Y"], (0, 1, 1)),                   # type mismatch: 1 fp + 1 fn
    (["B-X", "I-X"], ["B-X", "B-X"], (0, 2, 1)),                   # split in two
    (["O", "I-X", "I-X"], ["B-X", "I-X", "I-X"], (0, 1, 0)),       # gold I- after O: no entity
    (["B-X", "I-X", "I-X"], ["B-X", "I-Y", "I-X"], (0, 1, 1)),     # I- of another type ends it
    (["B-X", "O", "B-Y"], ["O", "O", "O"], (0, 0, 2)),             # nothing predicted
])
def test_hand_cases(gold, pred, counts):
    got = score([gold], [pred])
    assert (got.tp, got.fp, got.fn) == counts


def test_empty_predictions_give_zero_not_nan():
    s = score([["B-X", "O"]], [["O", "O"]])
    assert (s.precision, s.recall, s.f1) == (0.0, 0.0, 0.0)
    assert Score().as_dict() == {"precision": 0.0, "recall": 0.0, "f1": 0.0,
                                 "tp": 0, "fp": 0, "fn": 0}


def test_scores_pool_counts():
    a = score([["B-X", "O"]], [["B-X", "O"]])                      # 1 tp
    b = score([["B-X", "I-X", "B-X"]], [["B-X", "O", "O"]])          # 0 tp, 1 fp, 2 fn
    assert a + b == Score(tp=1, fp=1, fn=2)
    assert (a + b).as_dict() == pytest.approx(
        {"precision": 0.5, "recall": 1 / 3, "f1": 0.4, "tp": 1, "fp": 1, "fn": 2})


def test_score_by_type_lists_types_from_both_sides():
    got = score_by_type([["B-X", "O"]], [["O", "B-Y"]])
    assert got == {"X": Score(0, 0, 1), "Y": Score(0, 1, 0)}


@pytest.mark.parametrize("gold, pred, message", [
    ([["O"]], [["O"], ["O"]], "gold has 1 sentences but pred has 2"),
    ([["O"], ["O", "O"]], [["O"], ["O"]], "sentence 1 has 2 gold tags but 1 predicted"),
    ([["O", "E-X"]], [["O", "O"]], "'E-X' at position 1"),
])
def test_bad_input_is_named(gold, pred, message):
    with pytest.raises(ValueError, match=message):
        score(gold, pred)


def test_evaluate_a_folder_holding_only_a_test_file(tiny_run, tmp_path, capsys):
    """Issue 27.5: `munch evaluate --split test` reads only the test split; no train file is demanded."""
    from munchables.cli import main

    only_test = tmp_path / "only-test"
    only_test.mkdir()
    (only_test / "test.tsv").write_bytes((tiny_run.corpus / "test.tsv").read_bytes())
    capsys.readouterr()
    assert main(["-q", "evaluate", "--model", str(tiny_run.out), "--corpus", str(only_test), "--json"]) == 0
    alone = json.loads(capsys.readouterr().out)
    assert main(["-q", "evaluate", "--model", str(tiny_run.out), "--corpus", str(tiny_run.corpus), "--json"]) == 0
    whole = json.loads(capsys.readouterr().out)
    assert (alone["tp"], alone["fp"], alone["fn"]) == (whole["tp"], whole["fp"], whole["fn"])
    assert main(["-q", "evaluate", "--model", str(tiny_run.out), "--corpus", str(only_test), "--split", "dev"]) == 2
    assert "no dev file" in capsys.readouterr().err
