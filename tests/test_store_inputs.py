"""What a trial depends on beyond its key: recorded, migrated into older stores, and named when
the store holds this preset's trials made with other inputs (issue 24.3)."""

import json
import os
import sqlite3
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from munchables.cli import main
from munchables.errors import UserError
from munchables.experiments import mismatch, reproduce_command
from munchables.experiments.protocol import PRESETS, Protocol, Trial, plan, store_record
from munchables.experiments.status import all_trials
from munchables.experiments.store import SCHEMA, SCHEMA_VERSION, Store
from munchables.util.versions import library_versions

CORPORA = ["ncbi-disease", "bc2gm", "s800"]
FAMILIES = {"ncbi-disease": "disease", "bc2gm": "gene/protein", "s800": "species"}
OLD_SHA, NEW_SHA = "cb" * 32, "73" * 32


def result(trial, environment=None):
    m = {"tp": 5, "fp": 1, "fn": 1, "precision": 5 / 6, "recall": 5 / 6, "f1": 5 / 6, "sentences": [[5, 1, 1]]}
    out = {"metrics": {"dev": m, "test": m, "epochs": 1, "seconds": 3600.0, "device": "cpu"}, "curve": []}
    return out | ({"environment": environment} if environment else {})


def protocol(sha, source=None, aux_pool=None, preset="lowres-cpu"):
    return Protocol(["ncbi-disease"], CORPORA, FAMILIES, ["single-task", "iter"], [(32, 0.1)], preset,
                    PRESETS["lowres-cpu"], seeds=2, aux_pool=aux_pool, word_vectors="/v.bin", vectors_sha256=sha,
                    vectors_source=source)


def fill(store, p, environment=None):
    while True:
        ready, _ = plan(p, store.trials())
        if not ready:
            return
        for trial in ready:
            store.record(*store_record(trial, result(trial, environment), "c", p.vectors_source))


# schema 1: the same tables without the inputs columns (finished_at was the last column)
OLD_SCHEMA = (SCHEMA.split("    vectors_sha256 TEXT,")[0].replace("DEFAULT (datetime('now')),", "DEFAULT (datetime('now'))")
              + ");" + SCHEMA.split("gensim TEXT\n);", 1)[1])


def test_an_older_store_is_migrated_in_place_and_keeps_its_keys(tmp_path):
    """A schema-1 store (no inputs columns, user_version 0): read as it is, migrated when opened
    for writing, the vectors' sha256 taken from each trial's config, the rest NULL."""
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.executescript(OLD_SCHEMA)
    trial = Trial("ncbi-disease", "single-task", (), 0.1, 32, 1, "final", "lowres-cpu", 60, 1000, 256, 100,
                  "sum", True, False, OLD_SHA)
    row, scores = store_record(trial, result(trial), "old")
    row = {k: json.dumps(v) if k in ("aux", "config", "curve") else v for k, v in row.items()}
    fields = ("key", "target", "method", "aux", "lr", "batch_size", "seed", "phase", "preset", "config", "epochs",
              "seconds", "device", "git_commit", "curve")
    db.execute(f"INSERT INTO trials ({', '.join(fields)}) VALUES ({', '.join('?' * len(fields))})", [row[k] for k in fields])
    db.commit()
    db.close()
    with Store(path, readonly=True) as store:  # read as it is, not changed
        (t,) = store.trials()
        assert t["text_sha256"] is None and t["torch"] is None
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == 0
    with Store(path) as store:
        (t,) = store.trials()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert t["key"] == trial.key and t["vectors_sha256"] == OLD_SHA
    assert t["text_sha256"] is t["vectors_made_with"] is t["python"] is t["torch"] is None


def test_a_trial_records_the_libraries_that_trained_it_and_where_its_vectors_came_from(tmp_path):
    source = {"vectors_sha256": NEW_SHA, "text_sha256": "ee" * 32, "text": "t.txt", "settings": {"seed": 1},
              "versions": {"gensim": "4.4.0", "numpy": "2.4.6", "scipy": "1.17.1", "python": "3.11.7"}}
    worker = {"python": "3.11.7", "torch": "2.13.0+cpu", "numpy": "2.4.6", "gensim": "4.4.0"}
    with Store(tmp_path / "r.sqlite") as store:
        fill(store, protocol(NEW_SHA, source), worker)
        trials = store.trials()
    assert trials and all(t["vectors_sha256"] == NEW_SHA and t["text_sha256"] == "ee" * 32 for t in trials)
    assert all(t["vectors_made_with"] == {"settings": {"seed": 1}, "versions": source["versions"]} for t in trials)
    assert all({k: t[k] for k in worker} == worker for t in trials)


def test_status_and_reproduce_name_the_vectors_a_stores_trials_were_made_with(tmp_path, tiny_corpora, monkeypatch):
    """The committed store's trials were made with vectors now lost: `--status` says which and what
    is known of them, and `munch reproduce` refuses to train them again without --retrain."""
    with Store(tmp_path / "r.sqlite") as store:
        fill(store, protocol(OLD_SHA))
        stored = store.trials()
    mine = {"vectors_sha256": NEW_SHA, "text_sha256": "ee" * 32, "settings": {}, "versions": {"gensim": "4.4.0"}}
    p = protocol(NEW_SHA, mine)
    found = mismatch.find(p, all_trials(p, stored), stored)
    assert found.count == len(stored) == 4 and found.seconds == 4 * 3600
    lines = "\n".join(mismatch.describe(found, "lowres-cpu", "r.sqlite"))
    assert "holds 4 trials of this run of lowres-cpu made otherwise" in lines
    assert "made with vectors cbcbcbcb..., yours are 73737373... (--word-vectors)" in lines
    assert "same text? unknown (the store's trials record no text hash" in lines
    assert "the libraries that made them: unknown there (gensim 4.4.0 here)" in lines and "about 4.0 h" in lines
    # the same vectors: nothing to say; other flags (a forgotten --aux): named with the flag
    assert not mismatch.find(protocol(OLD_SHA), all_trials(protocol(OLD_SHA), stored), stored).groups
    other = protocol(OLD_SHA, aux_pool=["s800"])
    text = "\n".join(mismatch.describe(mismatch.find(other, all_trials(other, stored), stored), "lowres-cpu", "r"))
    assert "aux bc2gm,s800 there, yours s800 (--aux)" in text and "vectors" not in text
    # a new preset is a new experiment, not a mismatch
    assert not mismatch.find(replace(p, preset_name="lowres-cpu+max_epochs=180"), all_trials(p, stored), stored).groups

    # munch reproduce: refused before any engine starts, unless --retrain
    vectors = tmp_path / "v.bin"
    vectors.write_bytes(b"other vectors")
    monkeypatch.setattr("munchables.experiments.validate_trials", lambda *a: None)
    monkeypatch.setattr("munchables.experiments.make_engine", lambda *a: pytest.fail("an engine was started"))
    with Store(tmp_path / "t.sqlite") as store:
        target = Protocol(["main"], ["main", "aux7"], {"main": None, "aux7": None}, ["single-task"], [(32, 0.1)],
                          "lowres-cpu", PRESETS["lowres-cpu"], seeds=1, vectors_sha256=OLD_SHA)
        fill(store, target)
    options = dict(data_dir=str(tiny_corpora.data_dir), targets=["main"], aux=["aux7"], methods=["single-task"],
                   preset="lowres-cpu", word_vectors=str(vectors))
    with pytest.raises(UserError, match=r"holds 1 trial of this run of lowres-cpu made otherwise \(vectors cbcbcbcb"
                                        r".*add --retrain"):
        reproduce_command(tmp_path / "t.sqlite", tmp_path, **options)
    with pytest.raises(BaseException, match="an engine was started"):
        reproduce_command(tmp_path / "t.sqlite", tmp_path, retrain=True, **options)


def test_done_trials_made_with_other_libraries_count_as_done_and_are_mentioned(tmp_path):
    with Store(tmp_path / "r.sqlite") as store:
        fill(store, protocol(OLD_SHA), {"python": "3.10.0", "torch": "2.1.0", "numpy": "1.26.0", "gensim": "4.3.0"})
        stored = store.trials()
    found = mismatch.find(protocol(OLD_SHA), all_trials(protocol(OLD_SHA), stored), stored)
    assert not found.groups
    text = "\n".join(mismatch.describe(found, "lowres-cpu", "r"))
    assert f"4 with torch 2.1.0 (here {library_versions()['torch']})" in text


def test_vectors_are_the_same_bytes_under_two_hash_seeds_and_say_what_made_them(tmp_path):
    """`munch vectors` with one thread and a seed: the same sha256 whatever PYTHONHASHSEED (gensim
    seeds from its own hash), and a sidecar with the text's hash and the libraries."""
    from munchables.embeddings.provenance import read_sidecar, sidecar_path
    from munchables.embeddings.word_vectors import file_sha256

    text = tmp_path / "text.txt"
    words = "aspirin fever headache morphine asthma caffeine lung cancer heart failure".split()
    text.write_text("\n".join(" ".join(words[(i + j) % len(words)] for j in range(8)) for i in range(60)) + "\n")
    shas = []
    for seed in ("0", "123"):
        out = tmp_path / f"v{seed}.bin"
        run = subprocess.run([sys.executable, "-m", "munchables.cli", "-q", "vectors", "--text", str(text), "--out",
                              str(out), "--dim", "8", "--min-count", "1", "--epochs", "2", "--buckets", "500",
                              "--threads", "1", "--seed", "1"], capture_output=True, text=True, timeout=120,
                             env={**os.environ, "PYTHONHASHSEED": seed})
        assert run.returncode == 0, run.stderr[-2000:]
        shas.append(file_sha256(out))
        assert json.loads(run.stdout)["sha256"] == shas[-1]
    assert shas[0] == shas[1]
    sidecar = read_sidecar(tmp_path / "v0.bin", shas[0])
    assert sidecar["text_sha256"] == file_sha256(text) and sidecar["versions"]["gensim"] == library_versions()["gensim"]
    assert sidecar["settings"]["seed"] == 1 and sidecar["settings"]["threads"] == 1 and "blas" in sidecar["versions"]
    assert read_sidecar(tmp_path / "v0.bin", "0" * 64) is None  # a sidecar of other bytes is not believed
    assert sidecar_path(tmp_path / "v0.bin") == Path(str(tmp_path / "v0.bin") + ".json")


def test_a_subset_carries_the_sidecar_of_the_file_it_was_cut_from(tiny_corpora, tmp_path):
    """A subset counts as its file in the key, and in the store's inputs: its protocol reads the same sidecar."""
    from munchables.embeddings.provenance import write_sidecar
    from munchables.embeddings.word_vectors import file_sha256
    from munchables.experiments.protocol import make_protocol
    from test_vector_subset import fasttext_file

    whole = fasttext_file(tmp_path / "vectors.bin", min_n=2, max_n=4, bucket=5000)
    text = tmp_path / "text.txt"
    text.write_text("aspirin fever\n")
    write_sidecar(whole, file_sha256(whole), text, {"seed": 0})
    subset = tmp_path / "subset.npz"
    assert main(["-q", "vector-subset", "--vectors", str(whole), "--corpora", "main,aux7", "--out", str(subset),
                 "--data-dir", str(tiny_corpora.data_dir), "--no-fetch"]) == 0

    def source(vectors):
        return make_protocol(targets=["main"], methods=["single-task"], preset="lowres-cpu",
                             data_dir=str(tiny_corpora.data_dir), word_vectors=str(vectors)).vectors_source

    assert source(subset) == source(whole) and source(whole)["text_sha256"] == file_sha256(text)


def test_the_reproduction_environment_pins_every_dependency_exactly():
    """requirements-repro.txt (README, "Resuming the committed store") pins every runtime
    dependency of pyproject.toml with ==, so a new dependency cannot slip past it."""
    import re

    import tomllib

    root = Path(__file__).parents[1]
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    needed = {re.split(r"[<>=!~\[ ;]", d)[0].lower() for d in project["dependencies"]}
    pins = {}
    for line in (root / "requirements-repro.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith("-"):
            name, sep, version = line.partition("==")
            assert sep and version, f"not pinned exactly: {line}"
            pins[name.lower()] = version
    assert needed <= set(pins), sorted(needed - set(pins))
    assert {"scipy", "threadpoolctl"} <= set(pins)  # gensim's BLAS, and what reads its kernel


def test_munch_reproduce_status_names_the_mismatch_and_other_presets(tiny_corpora, tmp_path, capsys):
    vectors = tmp_path / "v.bin"
    vectors.write_bytes(b"new vectors")
    with Store(tmp_path / "r.sqlite") as store:
        fill(store, Protocol(["main"], ["main", "aux7"], {"main": None, "aux7": None}, ["single-task"], [(32, 0.1)],
                             "lowres-cpu", PRESETS["lowres-cpu"], seeds=2, vectors_sha256=OLD_SHA))
    args = ["reproduce", "--status", "--data-dir", str(tiny_corpora.data_dir), "--targets", "main", "--aux", "aux7",
            "--methods", "single-task", "--seeds", "2", "--word-vectors", str(vectors), "--store",
            str(tmp_path / "r.sqlite"), "--runs-dir", str(tmp_path), "--no-fetch"]
    assert main([*args, "--preset", "lowres-cpu"]) == 0
    out = capsys.readouterr().out
    assert "0 done, 0 running, 2 left" in out
    assert "holds 2 trials of this run of lowres-cpu made otherwise" in out and "made with vectors cbcbcbcb..." in out
    assert main([*args, "--preset", "lowres-cpu", "--max-epochs", "180"]) == 0
    out = capsys.readouterr().out
    assert "made otherwise" not in out  # another preset: a new experiment, not a mismatch
    assert "holds no lowres-cpu+max_epochs=180 trial; its trials are of preset lowres-cpu" in out


def test_trials_recorded_before_the_sidecar_get_its_text_hash(tiny_corpora, tmp_path, monkeypatch):
    """The same vector bytes came from the same text: `munch reproduce` with a sidecar'd vector file
    fills in the trials made with those bytes that do not say (the round-2 store's first trials)."""
    from munchables.embeddings.provenance import write_sidecar
    from munchables.embeddings.word_vectors import file_sha256

    vectors, text = tmp_path / "v.bin", tmp_path / "text.txt"
    vectors.write_bytes(b"the vectors")
    text.write_text("aspirin fever\n")
    sha = file_sha256(vectors)
    with Store(tmp_path / "r.sqlite") as store:
        fill(store, Protocol(["main"], ["main", "aux7"], {"main": None, "aux7": None}, ["single-task"], [(32, 0.1)],
                             "lowres-cpu", PRESETS["lowres-cpu"], seeds=2, vectors_sha256=sha))
        fill(store, Protocol(["main"], ["main", "aux7"], {"main": None, "aux7": None}, ["single-task"], [(32, 0.1)],
                             "lowres-cpu+hidden=8", PRESETS["lowres-cpu"], seeds=1, vectors_sha256=OLD_SHA))
    write_sidecar(vectors, sha, text, {"seed": 1})
    monkeypatch.setattr("munchables.experiments.validate_trials", lambda *a: None)
    monkeypatch.setattr("munchables.experiments.make_engine", lambda *a: pytest.fail("stop here"))
    with pytest.raises(BaseException, match="stop here"):
        reproduce_command(tmp_path / "r.sqlite", tmp_path, data_dir=str(tiny_corpora.data_dir), targets=["main"],
                          aux=["aux7"], methods=["single-task"], seeds=3, preset="lowres-cpu", word_vectors=str(vectors))
    with Store(tmp_path / "r.sqlite", readonly=True) as store:
        texts = {t["vectors_sha256"]: t["text_sha256"] for t in store.trials()}
    assert texts == {sha: file_sha256(text), OLD_SHA: None}  # other vectors' trials are left unknown
