"""The results store: one transaction per trial, never a duplicate or a half-written trial."""

import sqlite3

import pytest

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
