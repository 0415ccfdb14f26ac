"""Friendliness: nothing replaced unasked, one run per directory, --resume alone, status, messages."""

from __future__ import annotations

import json
import logging
import re
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from munchables import __version__
from munchables.cli import main
from munchables.experiments.driver import store_record
from munchables.experiments.protocol import PRESETS, Protocol, plan
from munchables.experiments.status import format_status, status
from munchables.experiments.store import Store
from munchables.pipeline import train
from munchables.trainer import Trainer
from munchables.util.progress import Progress
from munchables.util.rundir import claim
from test_cli import check_one_line_error, epochs, scores
from test_reproduce import fake_result
from test_trainer import options


def tiny(corpus: Path, out: Path, epochs_: int = 2, *extra: str) -> list[str]:
    return ["-q", "train", "--target", str(corpus), "--max-epochs", str(epochs_), "--hidden", "8", "--word-dim", "8",
            "--batch-size", "8", "--lr", "0.5", "--dropout", "0.1", "--device", "cpu", "--seed", "3",
            "--out", str(out), *extra]


# --- a finished run is never replaced unasked; one run per directory ------------------------------


def test_train_refuses_an_out_holding_a_run_unless_resume_or_overwrite(tiny_corpus, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(tiny(tiny_corpus, out)) == 0
    model = (out / "model.pt").read_bytes()
    capsys.readouterr()
    rc = main(tiny(tiny_corpus, out, 1))
    check_one_line_error(rc, capsys.readouterr().err, "train", "already holds a run (model.pt)")
    assert (out / "model.pt").read_bytes() == model  # untouched
    assert main(tiny(tiny_corpus, out, 1, "--overwrite")) == 0
    assert [r["epoch"] for r in epochs(out)] == [1]  # replaced by the 1-epoch run


def test_a_second_run_into_a_locked_directory_names_the_first_ones_pid(tiny_corpus, tmp_path, capsys):
    out = tmp_path / "run"
    import os

    with claim(out):  # as a first run does for its whole life (another open file: flock excludes it too)
        rc = main(tiny(tiny_corpus, out, 1))
        check_one_line_error(rc, capsys.readouterr().err, "train", f"in use by another munch run (pid {os.getpid()})")
        assert not (out / "model.pt").exists()
    assert main(tiny(tiny_corpus, out, 1)) == 0  # released when the first run ends


# --- resume without retyping --------------------------------------------------------------------


def test_resume_alone_continues_an_interrupted_run_with_its_own_settings(tiny_run, tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    step = Trainer._step

    def interrupted(self, update):
        if update.epoch == 4:
            raise KeyboardInterrupt
        return step(self, update)

    monkeypatch.setattr(Trainer, "_step", interrupted)
    assert main([*tiny_run.args, "--out", str(out)]) == 130
    assert f"continue with: munch train --out {out} --resume" in capsys.readouterr().err
    monkeypatch.setattr(Trainer, "_step", step)
    assert main(["-q", "train", "--out", str(out), "--resume"]) == 0  # no other flag
    assert scores(out) == scores(tiny_run.out)
    assert [r["loss"] for r in epochs(out)] == [r["loss"] for r in epochs(tiny_run.out)]


def test_resume_names_a_differing_flag(tiny_corpus, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(tiny(tiny_corpus, out, 2, "--keep-checkpoint")) == 0
    capsys.readouterr()
    rc = main(["train", "--out", str(out), "--resume", "--lr", "0.3", "--hidden", "8"])
    check_one_line_error(rc, capsys.readouterr().err, "train", "cannot resume with --lr 0.3 was 0.5;")


def test_raising_max_epochs_on_resume_extends_the_run(tiny_corpus, tmp_path, capsys):
    direct, extended = tmp_path / "direct", tmp_path / "extended"
    assert main(tiny(tiny_corpus, direct, 4)) == 0
    assert main(tiny(tiny_corpus, extended, 2, "--keep-checkpoint")) == 0
    assert (extended / "checkpoint.pt").exists()
    assert main(["-q", "train", "--out", str(extended), "--resume", "--max-epochs", "4"]) == 0
    assert [r["loss"] for r in epochs(extended)] == [r["loss"] for r in epochs(direct)]
    assert scores(extended) == scores(direct)
    assert not (extended / "checkpoint.pt").exists()  # this time it was not asked to keep it


def test_a_finished_run_without_its_checkpoint_resumes_as_done_and_extends_from_its_model(tiny_corpus, tmp_path, capsys):
    """Issue 27.4: plain SGD keeps no state but its rate, so model.pt (weights, torch's random state)
    and log.jsonl (the losses that set the rate and the plateau rule) extend a finished run exactly
    as its checkpoint would."""
    out, kept = tmp_path / "run", tmp_path / "kept"
    assert main(tiny(tiny_corpus, out, 2)) == 0
    assert main(tiny(tiny_corpus, kept, 2, "--keep-checkpoint")) == 0
    assert not (out / "checkpoint.pt").exists() and (kept / "checkpoint.pt").exists()
    before, log = scores(out), epochs(out)
    assert main(["-q", "train", "--out", str(out), "--resume"]) == 0  # nothing more asked: nothing done
    assert scores(out) == before and epochs(out) == log
    for run in (out, kept):
        assert main(["-q", "train", "--out", str(run), "--resume", "--max-epochs", "5"]) == 0
    extended, with_checkpoint = epochs(out), epochs(kept)
    assert len(extended) == len(with_checkpoint) == 5 and extended[:2] == log
    assert [r["loss"] for r in extended] == pytest.approx([r["loss"] for r in with_checkpoint], rel=1e-6)
    assert [r["lr"] for r in extended] == [r["lr"] for r in with_checkpoint]
    assert scores(out)["dev"]["f1"] == pytest.approx(scores(kept)["dev"]["f1"])


def test_a_finished_best_dev_run_without_its_checkpoint_says_why_it_cannot_extend(tiny_corpus, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(tiny(tiny_corpus, out, 2, "--keep", "best-dev")) == 0
    capsys.readouterr()
    rc = main(["train", "--out", str(out), "--resume", "--max-epochs", "3"])
    check_one_line_error(rc, capsys.readouterr().err, "train", "--keep-checkpoint")


def test_keep_best_dev_keeps_the_epoch_of_the_best_dev_f1(tiny_corpus, tmp_path):
    out = tmp_path / "run"
    assert main(tiny(tiny_corpus, out, 4, "--keep", "best-dev")) == 0
    log = epochs(out)
    assert json.loads((out / "metrics.json").read_text())["dev"]["f1"] == max(r["dev_f1"] for r in log)
    assert not (out / "best.pt").exists()


def test_final_models_print_no_dev_f1(tiny_corpora, tmp_path, caplog):
    """A model trained on train + dev (the protocol's final models) has no dev F1 worth a word."""
    opts = replace(options(tiny_corpora, tmp_path, "single-task"), train_on_dev=True)
    with caplog.at_level(logging.INFO, logger="munchables"):
        train(opts)
    messages = [r.getMessage() for r in caplog.records]
    assert any("test F1" in m for m in messages) and not any("dev F1" in m for m in messages)
    assert all("dev_f1" not in r for r in epochs(opts.out))


# --- messages -----------------------------------------------------------------------------------


def test_version_is_the_package_version(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    version = re.search(r'^version = "(.+)"$', (Path(__file__).parents[1] / "pyproject.toml").read_text(), re.M)[1]
    assert capsys.readouterr().out.strip() == f"munch (munchables) {version}" == f"munch (munchables) {__version__}"


def test_a_bad_flag_prints_the_subcommands_usage(capsys):
    with pytest.raises(SystemExit) as done:
        main(["report", "--out", "x", "--no-such-flag"])
    err = capsys.readouterr().err
    assert done.value.code == 2
    assert err.startswith("usage: munch report") and "unrecognized arguments: --no-such-flag" in err


@pytest.mark.parametrize("command", ["text", "report"])
def test_commands_writing_a_file_refuse_to_replace_it_unasked(command, tiny_corpora, tmp_path, capsys):
    if command == "text":
        out = tmp_path / "text.txt"
        argv = ["text", "--corpora", "main", "--data-dir", str(tiny_corpora.data_dir), "--out", str(out)]
        result = out
    else:
        store = tmp_path / "s.sqlite"
        with Store(store) as s:
            s.record(*store_record(_trial("main"), fake_result(0.5, ["main"]), "c"))
        out = tmp_path / "report"
        argv = ["report", "--store", str(store), "--out", str(out)]
        result = out / "report.md"
    assert main(argv) == 0
    first = result.read_bytes()
    capsys.readouterr()
    check_one_line_error(main(argv), capsys.readouterr().err, command, "--overwrite")
    assert result.read_bytes() == first
    assert main([*argv, "--overwrite"]) == 0


def test_cuda_with_a_cpu_only_torch_names_the_build(tiny_corpora, tmp_path, capsys):
    if torch.cuda.is_available() or torch.version.cuda is not None:
        pytest.skip("needs the CPU-only torch build")
    rc = main(["train", "--target", "main", "--data-dir", str(tiny_corpora.data_dir), "--out", str(tmp_path / "r"),
               "--device", "cuda"])
    check_one_line_error(rc, capsys.readouterr().err, "train", "CPU-only build")


def test_ray_without_a_cluster_is_one_line(tiny_corpora, tmp_path, capsys, monkeypatch):
    ray = pytest.importorskip("ray")

    def no_cluster(*args, **kwargs):
        raise ConnectionError("Could not find any running Ray instance. Please specify the one to connect to\n"
                              "by setting `--address` flag or `RAY_ADDRESS` environment variable.")

    monkeypatch.setattr(ray, "init", no_cluster)
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    rc = main(["reproduce", "--engine", "ray", "--ray-address", "auto", "--data-dir", str(tiny_corpora.data_dir),
               "--store", str(tmp_path / "s.sqlite"), "--runs-dir", str(tmp_path / "trials")])
    check_one_line_error(rc, capsys.readouterr().err, "reproduce", "Could not find any running Ray instance")


def test_local_workers_get_one_thread_by_default():
    from munchables.experiments.engines import LocalEngine

    engine = LocalEngine(2)
    try:
        assert engine.threads == 1
    finally:
        engine.close()


# --- progress and status ------------------------------------------------------------------------


def test_progress_in_a_log_gives_count_total_and_time_left(caplog, monkeypatch):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    progress = Progress(total=4, every=0.0)
    with caplog.at_level(logging.INFO, logger="munchables"):
        for _ in range(3):
            progress.step(1, 2)
    lines = [r.getMessage() for r in caplog.records]
    assert [line.split(",")[0] for line in lines] == [f"stage 1 epoch 2: {i}/4 updates" for i in (1, 2, 3)]
    assert "left" in lines[-1]


def test_predict_progress_in_a_log_gives_documents_and_the_sentence_rate(caplog, monkeypatch):
    # munch predict counts with the one Progress: no total, the sentences per second as its note
    from types import SimpleNamespace

    from munchables.tagging.collection import Tally

    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    tally = Tally()
    tally.bar.every = 0.0
    with caplog.at_level(logging.INFO, logger="munchables"):
        for _ in range(2):
            tally.step(SimpleNamespace(sentences=3, entities=[1, 2], dropped=0))
        summary = tally.close(0, "all")
    lines = [r.getMessage() for r in caplog.records]
    assert [line.split(",")[0] for line in lines[:2]] == ["tagging: 1 docs", "tagging: 2 docs"]
    assert all("sentences/s" in line for line in lines[:2])
    assert (summary["documents"], summary["sentences"], summary["entities"]) == (2, 6, 4)


def _trial(target):
    protocol = Protocol([target], [target, "aux"], {target: None, "aux": None}, ["single-task"], [(16, 0.1)],
                        "quick", PRESETS["quick"])
    return plan(protocol, [])[0][0]


def test_status_counts_done_running_and_left_per_method_and_target(tmp_path):
    corpora = ["a", "b", "c"]
    protocol = Protocol(["a", "b"], corpora, dict.fromkeys(corpora), ["single-task", "single-aux"], [(16, 0.1), (32, 0.1)],
                        "quick", PRESETS["quick"], seeds=2)
    # by hand, per target: single-task 2 dev + 2 seeds = 4; single-aux 2 settings x 2 aux dev + 2 = 6
    with Store(tmp_path / "s.sqlite") as store:
        ready, _ = plan(protocol, [])
        first = [t for t in ready if t.target == "a" and t.method == "single-task"]  # its two dev trials
        for t in first:
            store.record(*store_record(t, fake_result(0.5, [t.target]), "c"))
        done = store.trials()
    running = next(t for t in plan(protocol, done)[0] if t.target == "b" and t.method == "single-aux")
    (tmp_path / "trials" / running.key).mkdir(parents=True)
    (tmp_path / "trials" / running.key / "checkpoint.pt").write_bytes(b"")
    result = status(protocol, done, tmp_path / "trials")
    rows = {(r["method"], r["target"]): (r["done"], r["running"], r["left"]) for r in result["rows"]}
    assert rows == {("single-task", "a"): (2, 0, 2), ("single-task", "b"): (0, 0, 4),
                    ("single-aux", "a"): (0, 0, 6), ("single-aux", "b"): (0, 1, 5)}
    assert result["mean_seconds"] == 0.1
    # 0.1 s per single-task trial; left: single-task 2 + 4, single-aux 6 + 5 (x2 each), running 1 (x2, half done)
    assert result["eta_seconds"] == pytest.approx(0.1 * (6 + 2 * 11 + 2 * 0.5))
    text = format_status(result, "s.sqlite")
    assert "2 done, 1 running, 17 left of about 20 trials" in text and "to go" in text


def test_status_weighs_iter_and_stack_by_their_auxiliary_corpora():
    from munchables.experiments.status import work

    assert [work(m, 3) for m in ("single-task", "single-aux", "conc", "iter", "stack", "stack-sort", "multi-task")] == \
        [1, 2, 2, 6, 6, 6, 4]


def test_vectors_reports_the_vocabulary_and_keeps_gensim_quiet(tmp_path, capfd):
    from collections import Counter

    text = tmp_path / "text.txt"
    lines = ["aspirin reduced fever in mice ."] * 3 + ["caffeine raised the heart rate ."] * 2 + ["one rare line"]
    text.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "v.bin"
    argv = ["vectors", "--text", str(text), "--out", str(out), "--dim", "8", "--min-count", "2", "--epochs", "1",
            "--buckets", "1000", "--threads", "1"]
    assert main(argv) == 0
    captured = capfd.readouterr()
    counts = Counter(w for line in lines for w in line.split())
    assert json.loads(captured.out)["vocabulary"] == sum(1 for c in counts.values() if c >= 2)
    assert [line for line in captured.err.splitlines() if not line.startswith("fastText")] == []
    check_one_line_error(main(argv), capfd.readouterr().err, "vectors", "--overwrite")


@pytest.mark.parametrize("given, fetch", [([], True), (["--no-fetch"], False)])
def test_resume_takes_no_fetch_from_the_command_line(tiny_corpus, tmp_path, monkeypatch, given, fetch):
    # --no-fetch says how, not what, is trained: a resumed run obeys it whatever the run was started with
    out = tmp_path / "run"
    assert main([*tiny(tiny_corpus, out, 1, "--keep-checkpoint")]) == 0
    saved = json.loads((out / "config.json").read_text())
    saved["options"]["fetch"] = True  # as config.json files written before fetch was a free option hold it
    (out / "config.json").write_text(json.dumps(saved))
    seen = []
    monkeypatch.setattr("munchables.pipeline.train", lambda options: seen.append(options) or
                        {"dev": {"f1": 0.0}, "test": {"f1": 0.0}})
    assert main(["-q", "train", "--out", str(out), "--resume", *given]) == 0
    assert seen[0].fetch is fetch
    monkeypatch.undo()
    assert main(["-q", "train", "--out", str(out), "--resume", "--max-epochs", "2", *given]) == 0  # nothing refused
