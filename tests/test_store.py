"""The results store: one transaction per trial, never a duplicate or a half-written trial."""

import sqlite3
from pathlib import Path

import pytest

from munchables.cli import main
from munchables.errors import UserError
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


# --- stores that must not fail silently (issue 22.3, 22.8) ------------------------------------

def _newer_store(path, version=0):
    """A store as a newer munchables might write it: one more NOT NULL column in trials."""
    from munchables.experiments.store import SCHEMA

    db = sqlite3.connect(path)
    db.executescript(SCHEMA.replace("curve TEXT NOT NULL,", "curve TEXT NOT NULL,\n    lineage TEXT NOT NULL,"))
    db.execute(f"PRAGMA user_version = {version}")
    db.commit()
    db.close()


@pytest.mark.parametrize("version", [0, 3])
def test_a_store_of_a_newer_schema_is_refused_not_written_to_in_vain(tmp_path, version):
    path = tmp_path / "newer.sqlite"
    _newer_store(path, version)
    for readonly in (False, True):
        with pytest.raises(UserError, match="newer munchables") as e:
            Store(path, readonly=readonly)
        assert ("lineage" in str(e.value)) if version == 0 else ("schema version 3" in str(e.value))


def test_merge_from_a_newer_store_copies_nothing_and_says_so(tmp_path, capsys):
    _newer_store(tmp_path / "there.sqlite")
    db = sqlite3.connect(tmp_path / "there.sqlite")
    db.execute("INSERT INTO trials (key, target, method, aux, lr, batch_size, seed, phase, preset, config, epochs, "
               "seconds, device, git_commit, curve, lineage) VALUES ('a', 't', 'single-task', '[]', 0.1, 32, 1, "
               "'final', 'p', '{}', 1, 1.0, 'cpu', 'x', '[]', 'y')")
    db.commit()
    db.close()
    assert main(["merge-stores", "--store", str(tmp_path / "here.sqlite"), str(tmp_path / "there.sqlite")]) == 2
    err = capsys.readouterr().err
    assert "newer munchables" in err and "lineage" in err and "copied" not in err


def test_merge_counts_only_what_landed(tmp_path):
    """A write that does not land (here a trigger undoes it; INSERT OR IGNORE hid worse) raises and
    leaves nothing of the trial; merge never counts it."""
    with Store(tmp_path / "there.sqlite") as there:
        _record(there, "b", 0.7, [[1, 0, 0]])
    with Store(tmp_path / "here.sqlite") as here:
        here.db.execute("CREATE TRIGGER lose AFTER INSERT ON scores BEGIN DELETE FROM scores WHERE key = NEW.key; END")
        with pytest.raises(UserError, match="could not record trial b .*found 1, 0 and"):
            here.merge_from(tmp_path / "there.sqlite")
        assert here.done_keys() == set()
        here.db.execute("DROP TRIGGER lose")
        assert here.merge_from(tmp_path / "there.sqlite") == (1, 0)


@pytest.mark.parametrize("damage", ["garbage", "truncated", "json", "orphan"])
def test_damaged_or_foreign_stores_are_one_line_in_merge_and_report(tmp_path, damage, capsys):
    path = tmp_path / "damaged.sqlite"
    if damage == "garbage":
        path.write_bytes(b"this is not SQLite at all\n" * 200)
    else:
        with Store(path) as store:
            for i in range(60):  # enough pages that a cut file loses some
                _record(store, f"k{i}", 0.5, [[1, 0, 1]] * 200)
            store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            store.db.execute("PRAGMA journal_mode=DELETE")
        if damage == "truncated":
            data = path.read_bytes()
            path.write_bytes(data[: len(data) // 2])
        else:
            db = sqlite3.connect(path)
            db.execute("UPDATE trials SET config = '{not json' WHERE key = 'k3'" if damage == "json" else
                       "DELETE FROM trials WHERE key = 'k3'")
            db.commit()
            db.close()
    assert main(["merge-stores", "--store", str(tmp_path / "here.sqlite"), str(path)]) == 2
    assert main(["report", "--store", str(path), "--out", str(tmp_path / "report")]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line]
    assert len(errors) == 2 and all(line.startswith("munch ") and str(path) in line for line in errors), errors
    assert "Traceback" not in "".join(errors)


def test_a_store_in_a_read_only_directory_says_so(tmp_path, monkeypatch):
    import os

    with Store(tmp_path / "d" / "r.sqlite") as store:
        _record(store, "a", 0.5, [[1, 0, 1]])
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **k: False if (str(p) == str(tmp_path / "d") and mode == os.W_OK)
                        else real(p, mode, **k))  # root writes anywhere: the check is what matters here
    with pytest.raises(UserError, match=r"the directory .*/d is read-only.* copy the store"):
        Store(tmp_path / "d" / "r.sqlite")
    with Store(tmp_path / "d" / "r.sqlite", readonly=True) as store:  # reading needs no writing
        assert store.done_keys() == {"a"}


def test_a_store_in_a_read_only_directory_reads_and_refuses_writes_as_another_user(tmp_path):
    """For real (not as root, who writes anywhere): a WAL store in a directory its reader cannot write."""
    import os
    import subprocess
    import sys
    import tempfile

    if os.geteuid() != 0 and os.access(tmp_path, os.W_OK):
        base = Path(tempfile.mkdtemp())
        user = None
    elif os.geteuid() == 0:
        base = Path(tempfile.mkdtemp(dir="/tmp"))
        user = 65534  # nobody
    else:
        pytest.skip("no writable temporary directory")
    d = base / "ro"
    with Store(d / "r.sqlite") as store:
        _record(store, "a", 0.5, [[1, 0, 1]])
    os.chmod(base, 0o755)
    os.chmod(d, 0o555)
    os.chmod(d / "r.sqlite", 0o444)
    code = ("from munchables.experiments.store import Store\nfrom munchables.errors import UserError\n"
            f"print(Store({str(d / 'r.sqlite')!r}, readonly=True).done_keys())\n"
            f"try:\n    Store({str(d / 'r.sqlite')!r})\nexcept UserError as e:\n    print(e)\n")
    try:
        try:
            run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                                 user=user,
                                 env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")}, cwd="/")
        except PermissionError:
            pytest.skip("Python is not runnable by nobody here")
    finally:
        os.chmod(d, 0o755)
    if user is not None and "Permission denied" in run.stderr:
        pytest.skip("the source tree is not readable by nobody")
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.splitlines()[0] == "{'a'}"
    assert "read-only" in run.stdout.splitlines()[1] and "not a results store" not in run.stdout


def test_a_second_reproduce_on_a_store_in_use_names_the_run_that_holds_it(tmp_path, tiny_corpora, capsys):
    import os

    from munchables.experiments.store import hold

    path = tmp_path / "r.sqlite"
    args = ["reproduce", "--data-dir", str(tiny_corpora.data_dir), "--targets", "main", "--methods", "single-task",
            "--hidden", "8", "--max-epochs", "1", "--no-fetch", "--store", str(path), "--runs-dir", str(tmp_path)]
    with hold(path):
        assert main(args) == 2
        err = capsys.readouterr().err
        assert f"another `munch reproduce` (pid {os.getpid()}) is running on this store" in err
        assert main([*args, "--status"]) == 0
        assert f"a `munch reproduce` (pid {os.getpid()}) is running on {path}" in capsys.readouterr().out
    with hold(path):  # released: free again, and the lock file gone after
        pass
    assert not (tmp_path / "r.sqlite.lock").exists()


def test_a_driver_whose_store_records_nothing_stops(tmp_path):
    """The store said a trial was written and it was not: the driver stops at once instead of
    planning and 'finishing' that trial forever."""
    from munchables.experiments.driver import reproduce
    from munchables.experiments.protocol import PRESETS, Protocol

    class Engine:
        slots, handed = 1, 0

        def submit(self, trial, *a):
            self.handed += 1
            if self.handed > 20:
                raise AssertionError("the driver loops")
            return trial

        def wait(self, handles):
            return handles[:1]

        def result(self, trial):
            m = {"tp": 1, "fp": 0, "fn": 0, "precision": 1.0, "recall": 1.0, "f1": 1.0}
            return {"metrics": {"dev": m, "test": m, "epochs": 1, "seconds": 0.1, "device": "cpu"}, "curve": []}

    protocol = Protocol(["a"], ["a", "b"], {"a": None, "b": None}, ["single-task"], [(32, 0.1)], "lowres-cpu",
                        PRESETS["lowres-cpu"], seeds=2)
    with Store(tmp_path / "r.sqlite") as store:
        store.record = lambda trial, scores: True  # a write that says it landed and did not
        with pytest.raises(UserError, match="does not hold it after recording"):
            reproduce(protocol, store, Engine(), tmp_path)


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
