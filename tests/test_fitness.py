"""Every run says which heads are fit to tag with (issue 27.2): `munch train` scores each head on
its own corpus's dev set, and `munch predict --heads all` warns about the heads below FIT_F1."""

from __future__ import annotations

import json
import logging

import pytest

import munchables.tagging.fitness as fitness
from munchables.cli import main
from munchables.tagging.tagger import Tagger


def _train(tiny_corpora, tmp_path, method, *extra):
    out = tmp_path / method
    args = ["train", "--target", tiny_corpora.main, "--method", method, "--aux", "aux7,aux25", "--aux-order", "given",
            "--data-dir", str(tiny_corpora.data_dir), "--no-fetch", "--max-epochs", "2", "--hidden", "8",
            "--word-dim", "10", "--batch-size", "4", "--threads", "1", "--out", str(out), *extra]
    assert main(args) == 0
    return out


@pytest.mark.parametrize("method,role", [("iter", "auxiliary"), ("multi-task", "multi-task")])
def test_train_scores_every_head_on_its_own_dev_set(tiny_corpora, tmp_path, capsys, caplog, method, role):
    with caplog.at_level(logging.INFO, logger="munchables"):
        out = _train(tiny_corpora, tmp_path, method, "--json")
    printed = json.loads(capsys.readouterr().out)
    metrics = json.loads((out / "metrics.json").read_text())
    assert list(metrics["heads"]) == ["main", "aux7", "aux25"] and printed["heads"] == metrics["heads"]
    assert metrics["heads"]["main"] == {"dev_f1": metrics["dev"]["f1"], "role": "target"}
    for aux in ("aux7", "aux25"):  # the oracle: munch evaluate with that head on that corpus's dev set
        assert main(["-q", "evaluate", "--model", str(out), "--corpus", str(tiny_corpora.data_dir / aux),
                     "--split", "dev", "--json"]) == 0
        scored = json.loads(capsys.readouterr().out)
        assert scored["head"] == aux and metrics["heads"][aux] == {"dev_f1": scored["f1"], "role": role}
    assert Tagger.load(out).head_scores == metrics["heads"]
    said = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("heads (each scored on its own corpus's dev set):") and "aux25" in m for m in said)
    assert said[-1].startswith(f"{method} on main: dev F1 ")  # the sentence is the last line


def test_predict_warns_about_heads_trained_only_as_helpers(tiny_corpora, tmp_path, capsys, caplog, monkeypatch):
    out = _train(tiny_corpora, tmp_path, "iter")
    text = tmp_path / "in.txt"
    text.write_text("aspirin caused fever .\n", encoding="utf-8")
    monkeypatch.setattr(fitness, "FIT_F1", 1.01)  # every head below it
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="munchables"):
        assert main(["predict", "--model", str(out), "--input", str(text), "--heads", "all"]) == 0
        assert main(["predict", "--model", str(out), "--input", str(text)]) == 0  # --heads target: the target only
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings  # for --heads all; --heads target names no helper
    assert "aux7 (dev F1" in warnings[-1] and "a helper" in warnings[-1] and "trained only as helpers for main" in warnings[-1]
    assert "multi-task" in warnings[-1]
    monkeypatch.setattr(fitness, "FIT_F1", -1.0)  # every head fit: nothing to say
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="munchables"):
        assert main(["predict", "--model", str(out), "--input", str(text), "--heads", "all"]) == 0
    assert not [r for r in caplog.records if r.levelno == logging.WARNING]
    capsys.readouterr()


def test_the_warning_advises_by_how_the_low_heads_were_trained():
    heads = {"t": {"dev_f1": 0.3, "role": "target"}, "m": {"dev_f1": 0.2, "role": "multi-task"},
             "a": {"dev_f1": 0.1, "role": "auxiliary"}, "ok": {"dev_f1": 0.8, "role": "multi-task"}}
    assert fitness.unfit(heads, ["t", "ok"], "t") is None  # the target's own score is the run's result
    tasks = fitness.unfit(heads, ["t", "m", "ok"], "t")
    assert "m (dev F1 0.20)" in tasks and "train longer" in tasks and "helper" not in tasks and "ok" not in tasks
    helpers = fitness.unfit(heads, ["a", "m"], "t")
    assert "a (dev F1 0.10, a helper)" in helpers and "--method multi-task" in helpers
