"""The `munch` command: one-line errors for user mistakes, and tiny end-to-end runs."""

import io
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from munchables import choices, methods
from munchables.cli import main
from munchables.data import formats
from munchables.data.tokenize import tokenize
from munchables.tagging.tagger import Tagger
from munchables.trainer import Trainer

# --- user mistakes: exit 2, one line on stderr, no traceback --------------------------------


class Paths:
    """What the error cases build their arguments from."""

    def __init__(self, tmp_path: Path, tiny_corpora, write_tiny_corpus):
        self.tmp = tmp_path
        self.data = str(tiny_corpora.data_dir)
        self.out = str(tmp_path / "out")
        self._write = write_tiny_corpus

    def corpus(self, split: str, text: bytes | None) -> str:
        """A corpus directory "bad" whose `split` file holds `text` (None: has no such file)."""
        directory = self._write(self.tmp / "bad", 6)
        if text is None:
            (directory / f"{split}.tsv").unlink()
        else:
            (directory / f"{split}.tsv").write_bytes(text)
        return str(directory)

    def file(self, name, data: bytes) -> str:
        (self.tmp / name).write_bytes(data)
        return str(self.tmp / name)


@pytest.fixture
def paths(tmp_path, tiny_corpora, write_tiny_corpus):
    return Paths(tmp_path, tiny_corpora, write_tiny_corpus)


def train(p: Paths, *args):
    return ["train", "--data-dir", p.data, "--out", p.out, "--hidden", "8", "--max-epochs", "1", *args]


NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")

MISTAKES = [  # (arguments, a fragment of the message)
    pytest.param(lambda p: train(p, "--target", "nosuch"), "corpus 'nosuch' not found", id="missing corpus"),
    pytest.param(lambda p: train(p, "--target", "nosuch"), "available there: aux25, aux3, aux7, main",
                 id="missing corpus lists the others"),
    pytest.param(lambda p: train(p, "--target", str(p.tmp / "no" / "dir")), "no such directory",
                 id="missing corpus directory"),
    pytest.param(lambda p: train(p, "--target", "chemdner"), "cambridgeltl/MTL-Bioinformatics-2016",
                 id="chemdner hint"),
    pytest.param(lambda p: train(p, "--target", p.corpus("train", b"a\tO\nb\tO\nbroken\n")),
                 "train.tsv:3: one column", id="malformed line"),
    pytest.param(lambda p: train(p, "--target", p.corpus("dev", b"a\tNN\tO\n\nb\tO\n")),
                 "dev.tsv:3: 2 columns", id="column count"),
    pytest.param(lambda p: train(p, "--target", p.corpus("train", b"a\tO\nb\tX-Chem\n")),
                 "train.tsv:2: unknown tag 'X-Chem'", id="unknown tag"),
    pytest.param(lambda p: train(p, "--target", p.corpus("dev", b"\n\n")), "dev.tsv: no sentences",
                 id="empty split"),
    pytest.param(lambda p: train(p, "--target", p.corpus("test", b"a\tO\ncaf\xe9\tO\n")),
                 "test.tsv:2: byte b'\\xe9' is not UTF-8", id="undecodable bytes"),
    pytest.param(lambda p: train(p, "--target", p.corpus("dev", None)), "no dev file", id="missing split"),
    pytest.param(lambda p: train(p, "--target", "main", "--method", "nosuch"), "unknown --method 'nosuch'",
                 id="unknown method"),
    pytest.param(lambda p: train(p, "--target", "main", "--method", "conc", "--aux", "aux3,main"),
                 "auxiliary corpus 'main' is the target itself", id="aux is the target"),
    pytest.param(lambda p: train(p, "--target", "main", "--method", "conc", "--aux", str(Path(p.data, "main"))),
                 "is the target itself", id="aux is the target by path"),
    pytest.param(lambda p: train(p, "--target", "main", "--method", "conc", "--aux", "aux3,nosuch"),
                 "corpus 'nosuch' not found", id="aux missing"),
    pytest.param(lambda p: train(p, "--target", "main", "--method", "stack", "--aux", ""),
                 "needs at least one auxiliary corpus", id="no aux"),
    pytest.param(lambda p: train(p, "--target", "main", "--batch-size", "0"), "--batch-size", id="batch size 0"),
    pytest.param(lambda p: train(p, "--target", "main", "--dropout", "1"), "--dropout", id="dropout 1"),
    pytest.param(lambda p: train(p, "--target", "main", "--dropout", "-0.5"), "--dropout", id="dropout negative"),
    pytest.param(lambda p: train(p, "--target", "main", "--hidden", "0"), "--hidden", id="hidden 0"),
    pytest.param(lambda p: ["train", "--target", "main", "--data-dir", p.data, "--out", p.file("f", b"") + "/run"],
                 "is a file; expected a directory", id="out below a file"),
    pytest.param(lambda p: train(p, "--target", "main", "--word-vectors", str(p.tmp / "v.vec")),
                 "word-vector file not found", id="word vectors missing"),
    pytest.param(lambda p: train(p, "--target", "main", "--word-vectors", p.file("v.txt", b"x y z\n")),
                 "cannot read word vectors", id="word vectors corrupt"),
    pytest.param(lambda p: train(p, "--target", "main", "--device", "cuda"), "no CUDA device",
                 marks=NO_CUDA, id="cuda on a CPU machine"),
    pytest.param(lambda p: ["predict", "--model", str(p.tmp / "nomodel")], "no trained model here",
                 id="predict, missing model"),
    pytest.param(lambda p: ["predict", "--model", p.file("model.pt", b"\x00\x01junk")], "cannot read the model",
                 id="predict, garbage model"),
    pytest.param(lambda p: ["evaluate", "--model", str(p.tmp / "nomodel"), "--corpus", "main", "--data-dir", p.data],
                 "no trained model here", id="evaluate, missing model"),
]


def check_one_line_error(rc, err, command, fragment):
    assert rc == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"munch {command}: error: ")
    assert fragment in lines[0]


@pytest.mark.parametrize("argv, fragment", MISTAKES)
def test_user_mistakes_exit_2_with_one_line(paths, capsys, argv, fragment):
    args = argv(paths)
    rc = main(args)
    _, err = capsys.readouterr()
    check_one_line_error(rc, err, args[0], fragment)


def test_user_mistake_in_a_real_process(paths):
    """The installed entry point, logging to stderr as a user sees it."""
    args = train(paths, "--target", "nosuch")
    done = subprocess.run([sys.executable, "-m", "munchables.cli", *args], capture_output=True, text=True, timeout=60)
    check_one_line_error(done.returncode, done.stderr, "train", "corpus 'nosuch' not found")
    assert done.stdout == ""


# --- munch corpora --------------------------------------------------------------------------


def counted_by_hand(directory: Path, split: str) -> dict:
    blocks = [b for b in (directory / f"{split}.tsv").read_text().split("\n\n") if b.strip()]
    lines = [line for b in blocks for line in b.splitlines()]
    return {"corpus": directory.name, "split": split, "sentences": len(blocks), "tokens": len(lines),
            "mentions": sum(line.split("\t")[-1].startswith("B-") for line in lines)}


def types_by_hand(directory: Path) -> list[str]:
    text = "".join((directory / f"{split}.tsv").read_text() for split in ("train", "dev", "test"))
    return sorted({line.split("\t")[-1][2:] for line in text.splitlines() if "\tB-" in line})


def test_corpora_json(tiny_corpora, capsys):
    assert main(["corpora", "--json", "--data-dir", str(tiny_corpora.data_dir)]) == 0
    rows = json.loads(capsys.readouterr().out)
    names = ("aux25", "aux3", "aux7", "main")
    expected = [counted_by_hand(tiny_corpora.data_dir / name, split) | {"entity_types": types_by_hand(tiny_corpora.data_dir / name)}
                for name in names for split in ("train", "dev", "test")]
    assert rows[:len(expected)] == expected
    assert [r["sentences"] for r in rows if r["split"] == "train" and not r.get("missing")] == [25, 3, 7, 10]
    missing = rows[len(expected):]  # every Table 1 corpus, marked, with the command that fetches it
    assert [r["corpus"] for r in missing if r["split"] == "train"] == [
        "ncbi-disease", "bc5cdr-disease", "bc5cdr-chem", "chemdner", "bc2gm", "jnlpba", "linnaeus", "s800"]
    assert all(r["missing"] and r["fetch"].startswith(f"munch corpora fetch {r['corpus']} --data-dir") for r in missing)
    assert next(r for r in missing if r["corpus"] == "s800")["entity_types"] == ["Species"]


def test_corpora_table(tiny_corpora, capsys):
    assert main(["corpora", "--data-dir", str(tiny_corpora.data_dir)]) == 0
    out = capsys.readouterr().out
    assert "ncbi-disease" in out and "missing" in out  # Table 1 corpora absent from this directory
    assert "munch corpora fetch ncbi-disease bc5cdr-disease" in out and "s800 --data-dir" in out
    types = {line.split()[0]: line.split(None, 1)[1] for line in out.split("entity types:")[1].splitlines()[1:]
             if line.startswith("  ")}
    assert types["main"] == "Chemical" and types["aux25"] == "Chemical, Disease"
    assert types["ncbi-disease"].startswith("Disease (expected")
    assert sum(line.startswith("main ") for line in out.splitlines()) == 3


# --- end to end on the tiny corpus ----------------------------------------------------------


def epochs(out: Path) -> list[dict]:
    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    return [r for r in records if r.get("event", "epoch") == "epoch"]


def scores(out: Path) -> dict:
    """The corpus-level scores of metrics.json (without the per-sentence counts, which sum to them)."""
    metrics = json.loads((out / "metrics.json").read_text())
    for split in ("dev", "test"):
        counts = metrics[split].pop("sentences")
        assert [sum(c[i] for c in counts) for i in range(3)] == [metrics[split][k] for k in ("tp", "fp", "fn")]
    return {split: metrics[split] for split in ("dev", "test")}


def test_train_writes_model_metrics_log_and_removes_its_checkpoint(tiny_run):
    out = tiny_run.out
    for name in ("model.pt", "metrics.json", "log.jsonl", "config.json"):
        assert (out / name).is_file(), name
    assert not (out / "checkpoint.pt").exists()  # as large as the model; --keep-checkpoint keeps it
    metrics = json.loads((out / "metrics.json").read_text())
    for split in ("dev", "test"):
        m = metrics[split]
        assert all(0.0 <= m[k] <= 1.0 for k in ("precision", "recall", "f1"))
        assert m["precision"] == pytest.approx(m["tp"] / max(1, m["tp"] + m["fp"]))
        assert m["recall"] == pytest.approx(m["tp"] / max(1, m["tp"] + m["fn"]))
    assert metrics["dev"]["f1"] > 0.8  # the tiny corpus is learnable: 12 epochs nearly fit it
    log = epochs(out)
    assert [r["epoch"] for r in log] == list(range(1, 13)) and metrics["epochs"] == 12
    assert all(math.isfinite(r["loss"]) and r["loss"] > 0 for r in log)
    assert log[-1]["loss"] < log[0]["loss"]


@pytest.mark.parametrize("split", ["dev", "test"])
def test_evaluate_json_equals_the_training_metrics(tiny_run, capsys, split):
    assert main(["evaluate", "--model", str(tiny_run.out), "--corpus", str(tiny_run.corpus), "--split", split, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["corpus"] == "tiny" and result["split"] == split and result["head"] == "tiny"
    assert {k: result[k] for k in scores(tiny_run.out)[split]} == scores(tiny_run.out)[split]


def test_evaluate_another_corpus_with_the_target_head(tiny_run, capsys, write_tiny_corpus, tmp_path):
    other = write_tiny_corpus(tmp_path / "other", 3, seed=5)
    assert main(["evaluate", "--model", str(tiny_run.out), "--corpus", str(other)]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith("other test (head tiny): precision ") and "F1 " in line


TEXT = "Patients treated with aspirin reported fever.\nNo asthma was seen after morphine ."


def test_predict_conll_from_stdin(tiny_run, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(TEXT.encode("utf-8"))))
    assert main(["predict", "--model", str(tiny_run.out)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# columns = token tag:tiny\n# document = stdin\n")
    blocks = out.split("\n", 2)[2].strip("\n").split("\n\n")
    sentences = tokenize(TEXT)
    expected = Tagger.load(tiny_run.out).tag([[t for t, _, _ in s] for s in sentences])
    assert len(blocks) == len(sentences) == 2
    for block, sentence, tags in zip(blocks, sentences, expected):
        assert block.splitlines() == [f"{tok}\t{tag}" for (tok, _, _), tag in zip(sentence, tags)]


def test_predict_json_from_a_file(tiny_run, capsys, tmp_path):
    path = tmp_path / "in.txt"
    path.write_text(TEXT, encoding="utf-8")
    assert main(["predict", "--model", str(tiny_run.out), "--input", str(path), "--format", "json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found == Tagger.load(tiny_run.out).predict(TEXT)
    assert {(e["text"], e["type"]) for e in found} == {
        ("aspirin", "Chemical"), ("fever", "Disease"), ("asthma", "Disease"), ("morphine", "Chemical")}
    assert all(TEXT[e["start"]:e["end"]] == e["text"] for e in found)


@pytest.mark.parametrize("data, fragment", [(None, "input file not found"), (b"caf\xe9", "not UTF-8")])
def test_predict_bad_input_file(tiny_run, capsys, tmp_path, data, fragment):
    path = tmp_path / "in.txt"
    if data is not None:
        path.write_bytes(data)
    rc = main(["predict", "--model", str(tiny_run.out), "--input", str(path)])
    check_one_line_error(rc, capsys.readouterr().err, "predict", fragment)


def test_same_seed_gives_identical_results(tiny_run, tmp_path):
    assert main([*tiny_run.args, "--out", str(tmp_path / "again")]) == 0
    assert scores(tmp_path / "again") == scores(tiny_run.out)
    assert [r["loss"] for r in epochs(tmp_path / "again")] == [r["loss"] for r in epochs(tiny_run.out)]


def test_resume_after_a_finished_run_changes_nothing(tiny_train_args, tiny_corpus, tmp_path):
    args = [*tiny_train_args(tiny_corpus, 3), "--out", str(tmp_path / "run")]
    assert main(args) == 0
    before, log = scores(tmp_path / "run"), epochs(tmp_path / "run")
    assert main([*args, "--resume"]) == 0
    assert scores(tmp_path / "run") == before
    assert epochs(tmp_path / "run") == log  # nothing trained again


@pytest.mark.parametrize("stop_in_epoch", [2, 9])
def test_interrupted_run_resumes_to_the_uninterrupted_result(tiny_run, tmp_path, monkeypatch, capsys, stop_in_epoch):
    out = tmp_path / "run"
    step = Trainer._step

    def interrupted(self, update):
        if update.epoch == stop_in_epoch:
            raise KeyboardInterrupt
        return step(self, update)

    monkeypatch.setattr(Trainer, "_step", interrupted)
    assert main([*tiny_run.args, "--out", str(out)]) == 130
    assert "interrupted" in capsys.readouterr().err
    assert (out / "checkpoint.pt").exists() and not (out / "metrics.json").exists()
    assert [r["epoch"] for r in epochs(out)] == list(range(1, stop_in_epoch))
    monkeypatch.setattr(Trainer, "_step", step)
    assert main([*tiny_run.args, "--out", str(out), "--resume"]) == 0
    assert scores(out) == scores(tiny_run.out)
    assert [r["loss"] for r in epochs(out)] == [r["loss"] for r in epochs(tiny_run.out)]


def test_bench_json(tiny_corpus, capsys):
    argv = ["bench", "--corpus", str(tiny_corpus), "--hidden", "8", "--sentences", "16", "--batch-size", "8",
            "--device", "cpu", "--json"]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["corpus"], result["device"], result["hidden"], result["batch_size"]) == ("tiny", "cpu", 8, 8)
    assert result["train_sentences_per_s"] > 0 and result["tag_sentences_per_s"] > 0


def test_help_lists_the_options_the_pipeline_accepts():
    """choices.py names the options (torch-free, for --help); the functions that run them must agree."""

    assert choices.METHODS == tuple(methods.METHODS)
    assert choices.ITER_SWITCHES == tuple(methods.ITER_SWITCH)
    assert set(choices.OUTPUT_FORMATS) == {"json", *formats.OUTPUT_FORMATS, *formats.FOLDER_OUTPUTS}
    assert set(choices.INPUT_FORMATS) == set(formats.READERS) | set(formats.FOLDER_READERS)
