"""One thread rule for every command (util/threads.py), and progress from `munch bench`.

Issue 27.3: train, charlm and reproduce dropped to one thread on busy cores while predict,
evaluate, serve, bench and vectors kept torch's one per core. Each command is run here with a
load average that says the cores are busy, and must come out with one thread.
"""

from __future__ import annotations

import logging

import pytest
import torch

from munchables.cli import main
from munchables.errors import UserError
from munchables.util import threads


@pytest.fixture
def busy_cores(monkeypatch):
    """A 4-core machine whose cores other jobs keep busy; torch set to 4 threads first."""
    monkeypatch.setattr(threads, "busy", lambda: (True, 7.5, 4))
    monkeypatch.setattr(threads.os, "cpu_count", lambda: 4)
    before = torch.get_num_threads()
    torch.set_num_threads(4)
    yield
    torch.set_num_threads(before)


def test_the_rule(monkeypatch):
    monkeypatch.setattr(threads.os, "cpu_count", lambda: 4)
    monkeypatch.setattr(threads, "busy", lambda: (True, 7.5, 4))
    assert threads.default_threads(None) == 1
    assert threads.default_threads(3) == 3  # --threads always wins
    monkeypatch.setattr(threads, "busy", lambda: (False, 0.2, 4))
    assert threads.default_threads(None) == 4
    with pytest.raises(UserError, match="--threads"):
        threads.default_threads(0)


def test_evaluate_predict_and_bench_drop_to_one_thread_on_busy_cores(busy_cores, tiny_run, tmp_path, capsys):
    for argv in (["-q", "evaluate", "--model", str(tiny_run.out), "--corpus", str(tiny_run.corpus)],
                 ["-q", "predict", "--model", str(tiny_run.out), "--input", str(tiny_run.corpus / "test.tsv")],
                 ["-q", "bench", "--corpus", str(tiny_run.corpus), "--sentences", "8", "--hidden", "8"]):
        torch.set_num_threads(4)
        assert main(argv) == 0, argv
        assert torch.get_num_threads() == 1, argv[1]
    capsys.readouterr()


def test_vectors_take_the_same_rule(busy_cores, monkeypatch, tmp_path):
    seen = {}
    import munchables.embeddings.fasttext as fasttext

    monkeypatch.setattr(fasttext, "train_vectors", lambda text, out, config: seen.setdefault("threads", config.threads) and {})
    assert main(["-q", "vectors", "--text", str(tmp_path / "t.txt"), "--out", str(tmp_path / "v.bin")]) == 0
    assert seen["threads"] == 1


def test_bench_reports_progress(tiny_corpus, monkeypatch, caplog):
    """A log line per part (training, tagging) when stderr is not a terminal."""
    import munchables.util.progress as progress

    monkeypatch.setattr(progress, "LOG_EVERY", 0.0)
    monkeypatch.setattr(progress, "on_terminal", lambda: False)
    with caplog.at_level(logging.INFO, logger="munchables"):
        assert main(["bench", "--corpus", str(tiny_corpus), "--sentences", "16", "--batch-size", "4",
                     "--hidden", "8", "--threads", "1"]) == 0
    lines = [r.getMessage() for r in caplog.records]
    assert any(line.startswith("bench: training on tiny: ") and "/16 sentences" in line for line in lines), lines
    assert any(line.startswith("bench: tagging tiny dev: ") for line in lines), lines
