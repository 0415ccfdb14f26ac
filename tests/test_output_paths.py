"""Issue 22.1 across every command that writes a file: an output is never one of the command's inputs.

Each case points a command's output at one of its inputs (the same name, a hard link, a symbolic
link, or a place inside an input directory) and checks that the command refuses in one line
(exit 2) and leaves the input byte for byte as it was. (`munch predict`: tests/test_predict_cli.py;
`munch serve` and `munch bench` write no files.)
"""

import os

import pytest

from munchables.cli import main
from munchables.util.paths import clash


def snapshot(root):
    return {p: p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def refused(capsys, *argv):
    code = main(["-q", *map(str, argv)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "an output must never be an input" in err, err
    return err


@pytest.fixture
def inputs(tmp_path, write_tiny_corpus):
    (tmp_path / "notes.txt").write_text("Aspirin caused fever .\n", encoding="utf-8")
    os.link(tmp_path / "notes.txt", tmp_path / "notes-link.txt")
    (tmp_path / "notes-sym.txt").symlink_to(tmp_path / "notes.txt")
    (tmp_path / "vectors.npz").write_bytes(b"PK not really")
    (tmp_path / "hf").mkdir()
    (tmp_path / "hf" / "config.json").write_text('{"model_type": "bert"}', encoding="utf-8")
    (tmp_path / "results.sqlite").write_bytes(b"SQLite format 3\0")
    os.link(tmp_path / "results.sqlite", tmp_path / "results-link.sqlite")
    write_tiny_corpus(tmp_path / "data" / "tiny", 6)
    return tmp_path


@pytest.mark.parametrize("name", ["notes.txt", "notes-link.txt", "notes-sym.txt"])
def test_text_vectors_and_charlm_never_write_onto_their_text(inputs, capsys, name):
    before = snapshot(inputs)
    out = inputs / name
    refused(capsys, "text", "--raw", inputs / "notes.txt", "--out", out, "--overwrite")
    refused(capsys, "vectors", "--text", inputs / "notes.txt", "--out", out, "--overwrite")
    refused(capsys, "charlm", "--text", inputs / "notes.txt", "--direction", "forward", "--out", out, "--resume")
    assert snapshot(inputs) == before


def test_corpus_files_and_vectors_are_never_outputs(inputs, capsys):
    before = snapshot(inputs)
    data = inputs / "data"
    err = refused(capsys, "text", "--corpora", "tiny", "--data-dir", data, "--out", data / "tiny" / "train.tsv",
                  "--overwrite")
    assert "lies inside the input directory --corpora" in err
    refused(capsys, "vector-subset", "--vectors", inputs / "vectors.npz", "--corpora", "tiny", "--data-dir", data,
            "--out", inputs / "vectors.npz", "--overwrite")
    refused(capsys, "vector-subset", "--vectors", inputs / "vectors.npz", "--corpora", "tiny", "--data-dir", data,
            "--out", data / "tiny" / "subset.npz")
    assert snapshot(inputs) == before


def test_train_never_writes_into_its_inputs(inputs, capsys):
    before = snapshot(inputs)
    corpus = inputs / "data" / "tiny"
    assert "is the input directory --target/--aux" in refused(capsys, "train", "--target", corpus, "--out", corpus)
    refused(capsys, "train", "--target", "tiny", "--data-dir", inputs / "data", "--out", corpus / "run")
    # --overwrite removes a run's config.json: never the transformer's
    refused(capsys, "train", "--target", corpus, "--transformer", inputs / "hf", "--out", inputs / "hf", "--overwrite")
    assert snapshot(inputs) == before and not (corpus / "model.pt").exists()


def test_stores_and_reports_never_write_onto_their_inputs(inputs, capsys):
    (inputs / "report.md").write_text("# a store named like the report\n")
    before = snapshot(inputs)
    refused(capsys, "merge-stores", "--store", inputs / "results.sqlite", inputs / "results-link.sqlite")
    refused(capsys, "report", "--store", inputs / "report.md", "--out", inputs, "--overwrite")
    refused(capsys, "reproduce", "--targets", "tiny", "--data-dir", inputs / "data", "--no-fetch",
            "--store", inputs / "data" / "tiny" / "train.tsv")
    assert snapshot(inputs) == before


def test_clash_sees_links_dots_and_directories(tmp_path):
    (tmp_path / "d" / "e").mkdir(parents=True)
    (tmp_path / "f").write_text("x")
    (tmp_path / "dlink").symlink_to(tmp_path / "d")
    assert clash(tmp_path / "f", tmp_path / "f") == "is"
    assert clash(tmp_path / "d" / ".." / "f", tmp_path / "f") == "is"
    assert clash(tmp_path / "dlink" / "e" / "new" / "out", tmp_path / "d") == "lies inside"
    assert clash(tmp_path / "dlink", tmp_path / "d") == "is"
    assert clash(tmp_path / "g", tmp_path / "f") is None and clash(tmp_path / "out", tmp_path / "d") is None
    assert clash(tmp_path / "f", tmp_path / "missing") is None


def test_a_file_written_whole_never_replaces_a_device_or_pipe(tmp_path):
    """atomic_write renames a finished file into place; over a named pipe (or /dev/stdout, as root)
    that would replace the pipe's entry itself: refused in one line, the pipe left as it was."""
    import stat

    from munchables.errors import UserError
    from munchables.util.files import atomic_write_text

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(UserError, match="not a regular file"):
        atomic_write_text(fifo, "x")
    assert stat.S_ISFIFO(os.stat(fifo).st_mode) and [p.name for p in tmp_path.iterdir()] == ["pipe"]
