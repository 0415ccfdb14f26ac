"""The results store: one transaction per trial, never a duplicate or a half-written trial."""

import sqlite3

import pytest

from munchables.cli import main
from munchables.experiments.store import Store


def trial_row(key="k1", **over):
    row = {"key": key, "target": "ncbi-disease", "method": "iter", "aux": ["s800", "bc2gm"], "lr": 0.1,
           "batch_size": 16, "seed": 1, "phase": "dev", "preset": "quick", "config": {"hidden": 8},
           "epochs": 3, "seconds": 1.5, "device": "cpu", "git_commit": "abc", "curve": [{"epoch": 1, "dev_f1": 0.5}]}
    return row | over


def score_rows(tp=3, fp=1, fn=2):
    return [{"corpus": "ncbi-disease", "split": split, "tp": tp, "fp": fp, "fn": fn, "precision": tp / (tp + fp),
             "recall": tp / (tp + fn), "f1": 2 * tp / (2 * tp + fp + fn)} for split in ("dev", "test")]


def test_record_round_trip_and_no_duplicates(tmp_path):
    path = tmp_path / "deep" / "results.sqlite"
    with Store(path) as store:
        assert store.record(trial_row(), score_rows())
        assert not store.record(trial_row(seconds=99.0), score_rows(tp=9))  # same key: ignored whole
        (t,) = store.trials()
    assert t["aux"] == ["s800", "bc2gm"] and t["seconds"] == 1.5 and t["curve"] == [{"epoch": 1, "dev_f1": 0.5}]
    assert t["scores"][("ncbi-disease", "test")]["tp"] == 3
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("SELECT count(*) FROM scores").fetchone()[0] == 2
    assert db.execute("SELECT count(*) FROM results").fetchone()[0] == 2


def test_a_failing_write_leaves_nothing(tmp_path):
    with Store(tmp_path / "r.sqlite") as store:
        broken = score_rows()
        del broken[1]["f1"]  # the second score row cannot be written
        with pytest.raises(KeyError):
            store.record(trial_row(), broken)
        assert store.trials() == [] and store.done_keys() == set()
        assert store.db.execute("SELECT count(*) FROM scores").fetchone()[0] == 0
        assert store.record(trial_row(), score_rows())  # and the trial can be recorded afterwards
        assert store.done_keys() == {"k1"}


def _record(store, key, f1, sentences):
    trial = {"key": key, "target": "t", "method": "single-task", "aux": [], "lr": 0.1, "batch_size": 32, "seed": 1,
             "phase": "final", "preset": "p", "config": {}, "epochs": 3, "seconds": 1.0, "device": "cuda",
             "git_commit": "x", "curve": []}
    score = {"corpus": "t", "split": "test", "tp": 1, "fp": 0, "fn": 1, "precision": 1.0, "recall": 0.5, "f1": f1,
             "sentences": sentences}
    store.record(trial, [score])


def test_merge_copies_missing_trials_with_their_counts_and_leaves_present_ones(tmp_path):
    with Store(tmp_path / "here.sqlite") as here, Store(tmp_path / "there.sqlite") as there:
        _record(here, "a", 0.5, [[1, 0, 1]])
        _record(there, "a", 0.9, [[9, 9, 9]])  # the same key: the same trial, left as it is here
        _record(there, "b", 0.7, [[1, 0, 0], [0, 0, 1]])
    assert main(["-q", "merge-stores", "--store", str(tmp_path / "here.sqlite"), str(tmp_path / "there.sqlite")]) == 0
    with Store(tmp_path / "here.sqlite", readonly=True) as here:
        trials = {t["key"]: t for t in here.trials()}
        counts = here.sentence_counts()
    assert set(trials) == {"a", "b"}
    assert trials["a"]["scores"][("t", "test")]["f1"] == 0.5 and trials["b"]["scores"][("t", "test")]["f1"] == 0.7
    assert trials["b"]["device"] == "cuda" and counts[("b", "t", "test")] == [[1, 0, 0], [0, 0, 1]]
    with Store(tmp_path / "here.sqlite") as here:
        assert here.merge_from(tmp_path / "there.sqlite") == (0, 2)
    assert main(["merge-stores", "--store", str(tmp_path / "here.sqlite"), str(tmp_path / "here.sqlite")]) == 2


def test_reading_a_store_leaves_nothing_beside_it(tmp_path):
    """Issue 27.5: `munch report` opens the store read-only and must not leave -wal/-shm files."""
    path = tmp_path / "store.sqlite"
    with Store(path) as store:
        _record(store, "a", 0.5, [[1, 0, 1]])
    before = sorted(p.name for p in tmp_path.iterdir())
    with Store(path, readonly=True) as store:
        assert [t["key"] for t in store.trials()] == ["a"]
    assert sorted(p.name for p in tmp_path.iterdir()) == before == ["store.sqlite"]
    # while a writer holds the store, the reader sees its committed trials
    with Store(path) as writer:
        _record(writer, "b", 0.7, [[1, 0, 0]])
        with Store(path, readonly=True) as reader:
            assert sorted(t["key"] for t in reader.trials()) == ["a", "b"]
