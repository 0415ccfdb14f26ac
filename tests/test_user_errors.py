"""Ordinary mistakes are one line on stderr with exit 2 (issue 9): non-finite numbers, thread
counts, output paths, stores, checkpoints of another model, standard input; files get the
umask's modes; a non-finite training loss stops the run and keeps the last good checkpoint."""

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from munchables.cli import main
from munchables.errors import UserError
from munchables.model import MultiTaskTagger
from munchables.pipeline import RunOptions, train
from munchables.trainer import TrainConfig
from munchables.util.files import atomic_write_text

ROOT = os.geteuid() == 0  # root reads and writes whatever the modes say
needs_non_root = pytest.mark.skipif(ROOT, reason="permissions do not bind root")


def one_line(capsys, rc, command, *fragments):
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2, err
    assert len(err) == 1 and err[0].startswith(f"munch {command}: error: "), err
    for fragment in fragments:
        assert fragment in err[0], err


def tiny(corpus, out, *extra):
    return ["train", "--target", str(corpus), "--out", str(out), "--hidden", "4", "--word-dim", "4",
            "--max-epochs", "1", "--device", "cpu", *extra]


@pytest.mark.parametrize("flag", ["--lr", "--dropout"])
@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_train_refuses_non_finite_numbers(tmp_path, tiny_corpus, capsys, flag, value):
    one_line(capsys, main(tiny(tiny_corpus, tmp_path / "o", f"{flag}={value}")), "train", flag, "finite")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("argv, flag", [
    (["--lr", "nan"], "--lr"), (["--lr", "inf"], "--lr"), (["--held-out", "nan"], "--held-out"),
    (["--max-minutes", "inf"], "--max-minutes"),
])
def test_charlm_refuses_non_finite_numbers(tmp_path, capsys, argv, flag):
    (tmp_path / "t.txt").write_text("a b\nc d\ne f\n", encoding="utf-8")
    rc = main(["charlm", "--text", str(tmp_path / "t.txt"), "--direction", "forward", "--out",
               str(tmp_path / "lm.pt"), "--hidden", "4", *argv])
    one_line(capsys, rc, "charlm", flag)
    assert not (tmp_path / "lm.pt").exists()


@pytest.mark.parametrize("argv, flag", [
    (["--lr", "nan"], "--lr"), (["--cpus-per-trial", "inf"], "--cpus-per-trial"), (["--max-epochs", "0"], "--max-epochs"),
    (["--hidden", "0"], "--hidden"), (["--train-limit", "0"], "--train-limit"),
])
def test_reproduce_checks_every_setting_before_any_trial(tmp_path, tiny_corpora, capsys, argv, flag):
    rc = main(["reproduce", "--data-dir", str(tiny_corpora.data_dir), "--store", str(tmp_path / "r.sqlite"),
               "--runs-dir", str(tmp_path / "trials"), "--device", "cpu", *argv])
    one_line(capsys, rc, "reproduce", flag)
    assert not (tmp_path / "trials").exists() and not (tmp_path / "r.sqlite").exists()


@pytest.mark.parametrize("argv", [
    ["train", "--target", "x", "--out", "o"], ["charlm", "--text", "t", "--direction", "forward", "--out", "o"],
    ["vectors", "--text", "t", "--out", "o.bin"], ["bench"],
])
@pytest.mark.parametrize("threads", ["0", "-2"])
def test_threads_below_one_are_refused(tmp_path, capsys, monkeypatch, argv, threads):
    monkeypatch.chdir(tmp_path)
    one_line(capsys, main([*argv, "--threads", threads]), argv[0], "--threads must be at least 1")


# --- output paths ---------------------------------------------------------------------------


@pytest.mark.parametrize("make, fragment", [
    (lambda d: (d / "link").symlink_to(d / "nowhere"), "symbolic link"),
    (lambda d: (d / "link").symlink_to(d / "link"), "symbolic link"),
    (lambda d: (d / "link").write_text("x"), "is a file"),
])
def test_out_that_cannot_be_a_directory(tmp_path, tiny_corpus, capsys, make, fragment):
    make(tmp_path)
    one_line(capsys, main(tiny(tiny_corpus, tmp_path / "link" / "run")), "train", "--out", fragment)
    one_line(capsys, main(tiny(tiny_corpus, tmp_path / "link")), "train", "--out")


@needs_non_root
def test_out_in_a_read_only_directory(tmp_path, tiny_corpus, capsys):
    (tmp_path / "ro").mkdir(mode=0o555)
    one_line(capsys, main(tiny(tiny_corpus, tmp_path / "ro" / "run")), "train", "not writable")


@needs_non_root
def test_unreadable_corpus_file_and_directory(tmp_path, tiny_corpus, capsys):
    (tiny_corpus / "train.tsv").chmod(0)
    one_line(capsys, main(tiny(tiny_corpus, tmp_path / "run")), "train", "train.tsv", "Permission denied")
    tiny_corpus.chmod(0)
    try:
        one_line(capsys, main(tiny(tiny_corpus, tmp_path / "run")), "train", str(tiny_corpus))
    finally:
        tiny_corpus.chmod(0o755)


def test_data_dir_naming_a_file(tmp_path, capsys):
    (tmp_path / "f").write_text("x")
    one_line(capsys, main(["corpora", "--data-dir", str(tmp_path / "f")]), "corpora", "is a file")


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_written_files_honour_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        atomic_write_text(tmp_path / "f.txt", "x")
        (tmp_path / "plain.txt").write_text("x")  # the oracle: what open() gives
    finally:
        os.umask(old)
    assert (tmp_path / "f.txt").stat().st_mode & 0o777 == (tmp_path / "plain.txt").stat().st_mode & 0o777


# --- stores --------------------------------------------------------------------------------


def foreign_sqlite(path: Path) -> bytes:
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE notes (x TEXT)")
    db.execute("INSERT INTO notes VALUES ('mine')")
    db.commit()
    db.close()
    return path.read_bytes()


def test_report_never_writes_into_a_foreign_store(tmp_path, capsys):
    before = foreign_sqlite(tmp_path / "other.sqlite")
    rc = main(["report", "--store", str(tmp_path / "other.sqlite"), "--out", str(tmp_path / "rep")])
    one_line(capsys, rc, "report", "not a munchables results store")
    assert (tmp_path / "other.sqlite").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.sqlite"]  # no -wal, no report folder


@pytest.mark.parametrize("command", ["report", "reproduce"])
@pytest.mark.parametrize("kind", ["directory", "text", "foreign"])
def test_store_that_is_not_a_store(tmp_path, tiny_corpora, capsys, command, kind):
    store = tmp_path / "store"
    if kind == "directory":
        store.mkdir()
    elif kind == "text":
        store.write_text("hello\n" * 100)
    else:
        foreign_sqlite(store)
    argv = ["--out", str(tmp_path / "rep")] if command == "report" else [
        "--data-dir", str(tiny_corpora.data_dir), "--runs-dir", str(tmp_path / "trials"), "--device", "cpu"]
    one_line(capsys, main([command, "--store", str(store), *argv]), command, "--store")


def test_report_out_naming_a_file(tmp_path, capsys):
    from munchables.experiments.store import Store

    Store(tmp_path / "r.sqlite").close()
    (tmp_path / "f").write_text("keep")
    one_line(capsys, main(["report", "--store", str(tmp_path / "r.sqlite"), "--out", str(tmp_path / "f")]),
             "report", "is a file")
    assert (tmp_path / "f").read_text() == "keep"


# --- checkpoints and models ------------------------------------------------------------------


def test_resume_with_a_checkpoint_of_another_shape(tmp_path, tiny_corpus, capsys):
    assert main(tiny(tiny_corpus, tmp_path / "run", "--hidden", "4", "--keep-checkpoint")) == 0
    (tmp_path / "run" / "config.json").unlink()
    (tmp_path / "run" / "model.pt").unlink()
    capsys.readouterr()
    one_line(capsys, main(tiny(tiny_corpus, tmp_path / "run", "--hidden", "6", "--resume")), "train",
             "checkpoint.pt", "another model")


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, tiny_corpus, monkeypatch):
    real = MultiTaskTagger.loss
    calls = {"n": 0}

    def loss(self, batch, reduction="mean"):  # finite through epoch 1 (3 batches of 8 of the 24 sentences), then NaN
        calls["n"] += 1
        value = real(self, batch, reduction)
        return value if calls["n"] <= 3 else value * float("nan")

    monkeypatch.setattr(MultiTaskTagger, "loss", loss)
    options = RunOptions(target=str(tiny_corpus), out=tmp_path / "run", device="cpu", progress=False,
                         train=TrainConfig(batch_size=8, max_epochs=3))
    options.model.hidden, options.model.word_dim = 4, 4
    with pytest.raises(UserError, match="stage 1 epoch 2: the training loss is not finite.*last good checkpoint"):
        train(options)
    state = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    assert tuple(state["position"]) == (1, 1)
    assert all(torch.isfinite(v).all() for v in state["model"].values())
    assert not (tmp_path / "run" / "model.pt").exists()


def test_invalid_utf8_on_standard_input(tiny_run):
    done = subprocess.run([sys.executable, "-m", "munchables.cli", "predict", "--model", str(tiny_run.out)],
                          input=b"aspirin \xff\xfe fever\n", capture_output=True, timeout=120,
                          env=os.environ | {"PYTHONIOENCODING": "utf-8:strict", "LC_ALL": "C.UTF-8"})
    err = done.stderr.decode().strip().splitlines()
    assert done.returncode == 2 and len(err) == 1 and "standard input" in err[0], err


@pytest.mark.parametrize("sentences", [[["aspirin", ""]], [[""]], ["aspirin fever"], [["aspirin", None]]])
def test_tag_refuses_empty_tokens(tiny_run, sentences):
    from munchables.tagging.tagger import Tagger

    with pytest.raises(UserError, match="sentence 0"):
        Tagger.load(tiny_run.out).tag(sentences)


def test_charlm_non_finite_loss_stops_with_the_epoch(tmp_path, monkeypatch):
    from munchables.embeddings.charlm import CharLM, CharLMConfig, CharLMTraining, train_charlm

    (tmp_path / "t.txt").write_text("aspirin fever\nheadache and caffeine\nno fever\nasthma\n" * 5, encoding="utf-8")
    monkeypatch.setattr(CharLM, "logits", lambda self, out: self.proj(out) * float("nan"))
    with pytest.raises(UserError, match="loss became nan in epoch 1.*lower --lr"):
        train_charlm(tmp_path / "t.txt", tmp_path / "lm.pt", CharLMConfig(hidden=4, char_dim=3),
                     CharLMTraining(epochs=2, batch_size=2, bptt=10, held_out=0.2), torch.device("cpu"))
    assert not (tmp_path / "lm.pt").exists()


def test_resume_with_a_damaged_config_json(tmp_path, tiny_corpus, capsys):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.json").write_text("{not json")
    one_line(capsys, main(tiny(tiny_corpus, tmp_path / "run", "--resume")), "train", "config.json")
