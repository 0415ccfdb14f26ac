"""`munch reproduce`: the protocol's selection, the store surviving a kill, the Ray engine."""

import os
import platform
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from munchables.experiments.driver import store_record
from munchables.experiments.protocol import PAPER_GRID, PRESETS, Protocol, Trial, plan
from munchables.experiments.store import Store

CORPORA = ["ncbi-disease", "bc5cdr-chem", "bc2gm", "s800"]
FAMILIES = {"ncbi-disease": "disease", "bc5cdr-chem": "chemical", "bc2gm": "gene/protein", "s800": "species"}


def fake_result(dev_f1: float, corpora) -> dict:
    """A trial's result as the engine returns it, with a given dev F1 for every corpus."""
    tp = round(1000 * dev_f1)  # with fp = fn = 1000 - tp... F1 = tp / 1000 exactly
    m = {"tp": tp, "fp": 1000 - tp, "fn": 1000 - tp, "precision": dev_f1, "recall": dev_f1, "f1": dev_f1}
    per_corpus = {c: {"dev": m, "test": m} for c in corpora}
    metrics = {"dev": m, "test": m, "epochs": 1, "seconds": 0.1, "device": "cpu"}
    if len(corpora) > 1:
        metrics["per_corpus"] = per_corpus
    return {"metrics": metrics, "curve": []}


def simulate(protocol, store, dev_f1):
    """Run the protocol without training: every trial gets the dev F1 that `dev_f1(trial)` says."""
    while True:
        ready, waiting = plan(protocol, store.trials())
        if not ready:
            assert not waiting
            return
        for trial in ready:
            corpora = protocol.corpora if trial.method == "multi-task" else [trial.target]
            store.record(*store_record(trial, fake_result(dev_f1(trial), corpora), "test"))


def test_selection_picks_the_best_dev_setting_and_corpus(tmp_path):
    protocol = Protocol(["ncbi-disease"], CORPORA, FAMILIES, ["single-task", "single-aux", "stack", "stack-sort", "multi-task"],
                        list(PAPER_GRID), "quick", PRESETS["quick"], seeds=2)
    aux_rank = {"bc5cdr-chem": 0.3, "bc2gm": 0.1, "s800": 0.2}

    def dev_f1(trial):
        if trial.phase == "final":
            return 0.5
        if trial.method == "single-aux":  # best pair: (32, 0.05) with bc5cdr-chem; at (16, 0.1) s800 beats bc5cdr-chem
            bonus = {(32, 0.05): 0.4, (16, 0.1): 0.0}.get(trial.setting, 0.2)
            return {"bc5cdr-chem": 0.3, "bc2gm": 0.1, "s800": 0.35 if trial.setting == (16, 0.1) else 0.2}[trial.aux[0]] + bonus
        return {(16, 0.05): 0.1, (16, 0.1): 0.6, (32, 0.05): 0.2, (32, 0.1): 0.6}[trial.setting]  # tie: grid order

    with Store(tmp_path / "r.sqlite") as store:
        simulate(protocol, store, dev_f1)
        trials = store.trials()
    finals = {(t["method"], t["seed"]): t for t in trials if t["phase"] == "final"}
    assert sorted(finals) == [(m, s) for m in ("multi-task", "single-aux", "single-task", "stack", "stack-sort") for s in (1, 2)]
    for method in ("single-task", "stack", "stack-sort", "multi-task"):
        assert (finals[(method, 1)]["batch_size"], finals[(method, 1)]["lr"]) == (16, 0.1)  # first of the tie
    assert (finals[("single-aux", 1)]["batch_size"], finals[("single-aux", 1)]["lr"]) == (32, 0.05)
    assert finals[("single-aux", 1)]["aux"] == ["bc5cdr-chem"]
    # stack-sort at (16, 0.1): ascending single-aux dev F1 under that setting, s800 last
    assert finals[("stack-sort", 2)]["aux"] == ["bc2gm", "bc5cdr-chem", "s800"]
    stack = finals[("stack", 1)]["aux"]  # random order, families never neighbours (all differ here)
    assert sorted(stack) == sorted(aux_rank)
    dev = [t for t in trials if t["phase"] == "dev"]
    assert len(dev) == 4 * (1 + 3 + 1 + 1 + 1)  # settings x (single-task, candidates, stack, stack-sort, multi-task)
    assert all(t["target"] == "ncbi-disease" for t in trials)  # multi-task's anchor is the first corpus


class InstantEngine:
    """Finishes each trial at once, one at a time, reporting `seconds` = 10 x its work."""

    slots = 1

    def __init__(self, corpora):
        from munchables.experiments.status import work

        self.work, self.corpora, self.handles = work, corpora, {}

    def submit(self, trial, runs_dir, data_dir, device):
        self.handles[len(self.handles)] = trial
        return len(self.handles) - 1

    def wait(self, handles):
        return handles[:1]

    def result(self, handle):
        trial = self.handles[handle]
        result = fake_result({"bc5cdr-chem": 0.6, "bc2gm": 0.4}.get(trial.aux[0], 0.5) if trial.aux else 0.5, [trial.target])
        result["metrics"]["seconds"] = 10.0 * self.work(trial.method, len(trial.aux))
        for split in ("dev", "test"):
            result["metrics"][split] = dict(result["metrics"][split], sentences=[[handle, 0, 1], [0, 1, 0]])
        return result


def test_the_driver_estimates_the_time_left_by_the_work_left(tmp_path, caplog):
    """After single-task (10 s for one unit of work) only a stack trial over three auxiliary corpora
    is left: 6 units, about 60 s (counting trials per hour said 0 s: the fake trials take none)."""
    from munchables.experiments.driver import reproduce

    protocol = Protocol(["ncbi-disease"], CORPORA, FAMILIES, ["single-task", "stack"], [(32, 0.1)], "lowres-cpu",
                        PRESETS["lowres-cpu"], seeds=1)
    with Store(tmp_path / "r.sqlite") as store, caplog.at_level("INFO", logger="munchables"):
        summary = reproduce(protocol, store, InstantEngine(CORPORA), tmp_path / "trials")
    assert summary.ran == 2
    done = [r.getMessage() for r in caplog.records if " done (" in r.getMessage()]
    assert "trial 1 of about 2 done" in done[0] and "about 60 s left" in done[0] and "single-task" in done[0]
    assert "trial 2 of about 2 done" in done[1] and "left" not in done[1]


def test_a_final_trial_that_is_its_dev_twin_is_recorded_not_trained_again(tmp_path):
    """lowres-cpu trains finals on train alone, so the seed-1 single-aux final is the chosen
    corpus's selection model (same data, seed and settings): recorded from it, not trained."""
    from munchables.experiments.driver import reproduce, twin_key

    protocol = Protocol(["ncbi-disease"], CORPORA, FAMILIES, ["single-task", "single-aux"], [(32, 0.1)], "lowres-cpu",
                        PRESETS["lowres-cpu"], seeds=2)
    engine = InstantEngine(CORPORA)
    with Store(tmp_path / "r.sqlite") as store:
        summary = reproduce(protocol, store, engine, tmp_path / "trials")
        rows = {t["key"]: t for t in store.trials()}
        counts = store.sentence_counts()
    trained = list(engine.handles.values())
    assert sorted((t.method, t.phase, t.seed) for t in trained) == [
        ("single-aux", "dev", 1)] * 3 + [("single-aux", "final", 2), ("single-task", "final", 1), ("single-task", "final", 2)]
    assert summary.ran == 7 and len(rows) == 7
    final = next(t for t in rows.values() if (t["method"], t["phase"], t["seed"]) == ("single-aux", "final", 1))
    twin = rows[twin_key(Trial(**{k: tuple(v) if k == "aux" else v for k, v in final["config"].items()}))]
    assert twin["phase"] == "dev" and twin["aux"] == final["aux"]
    strip = lambda scores: {k: {f: v for f, v in s.items() if f != "key"} for k, s in scores.items()}  # noqa: E731
    assert strip(final["scores"]) == strip(twin["scores"]) and final["seconds"] == twin["seconds"]
    assert twin["aux"] == ["bc5cdr-chem"]  # the best dev F1 of the three
    for split in ("dev", "test"):
        assert counts[(final["key"], "ncbi-disease", split)] == counts[(twin["key"], "ncbi-disease", split)]
    paper = Protocol(["ncbi-disease"], CORPORA, FAMILIES, ["single-aux"], [(32, 0.1)], "quick", PRESETS["quick"])
    assert all(twin_key(t) is None for t in plan(paper, [])[0])  # finals on train + dev: no twin


def _trials(path):
    db = sqlite3.connect(path)
    rows = db.execute("SELECT key, finished_at, seconds, epochs FROM trials ORDER BY key").fetchall()
    scores = db.execute("SELECT key, count(*) FROM scores GROUP BY key").fetchall()
    orphans = db.execute("SELECT count(*) FROM scores WHERE key NOT IN (SELECT key FROM trials)").fetchone()[0]
    db.close()
    return rows, dict(scores), orphans


def test_killed_run_resumes_without_losing_or_repeating_a_trial(tiny_corpora, tmp_path):
    store = tmp_path / "results.sqlite"
    args = [sys.executable, "-m", "munchables.cli", "reproduce", "--data-dir", str(tiny_corpora.data_dir),
            "--targets", "main", "--methods", "single-task,single-aux", "--max-epochs", "1",
            "--hidden", "8", "--jobs", "1", "--device", "cpu", "--store", str(store), "--runs-dir", str(tmp_path / "trials")]
    process = subprocess.Popen(args, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    try:
        while time.time() < deadline and process.poll() is None:
            try:
                if store.exists() and _trials(store)[0]:
                    break
            except sqlite3.OperationalError:  # the driver is still creating the tables
                pass
            time.sleep(0.05)
        assert process.poll() is None, process.stderr.read().decode()[-2000:]
        os.killpg(process.pid, signal.SIGKILL)  # the driver and its worker, mid-grid
    finally:
        process.wait()
    before, _, _ = _trials(store)
    # 2 single-task (dev, final) + 3 single-aux candidates + 1 single-aux final
    assert 1 <= len(before) < 6

    resumed = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    after, scores, orphans = _trials(store)
    assert f"{6 - len(before)} trials run, {len(before)} found" in resumed.stderr
    assert len(after) == 6 and len({k for k, *_ in after}) == 6
    assert set(before) <= set(after)  # finished trials untouched: same time stamp, wall time, epochs
    assert all(scores[k] == 2 for k, *_ in after) and orphans == 0  # dev and test of the target, nothing partial
    import torch

    db = sqlite3.connect(store)  # each trial says which libraries trained it (the worker's)
    assert db.execute("SELECT DISTINCT torch, python FROM trials").fetchall() == [(torch.__version__, platform.python_version())]
    db.close()

    again = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert "0 trials run, 6 found" in again.stderr and _trials(store)[0] == after


def test_ray_engine_runs_a_two_trial_grid(tiny_corpora, tmp_path):
    ray = pytest.importorskip("ray")
    from munchables.experiments import reproduce_command

    try:
        summary = reproduce_command(
            tmp_path / "r.sqlite", tmp_path / "trials", engine="ray", device="cpu", data_dir=str(tiny_corpora.data_dir),
            ray_init={"num_cpus": 2, "include_dashboard": False, "log_to_driver": False},
            targets=["main"], methods=["single-task"], max_epochs=1, hidden=8,
        )
    finally:
        ray.shutdown()
    assert summary.ran == 2 and not summary.failed
    with Store(tmp_path / "r.sqlite") as store:
        assert sorted(t["phase"] for t in store.trials()) == ["dev", "final"]


def test_an_address_where_nothing_listens_is_refused_before_ray_init(monkeypatch):
    """ray.init retries an unreachable address for about two minutes: say so at once instead."""
    import socket

    ray = pytest.importorskip("ray")
    from munchables.errors import UserError
    from munchables.experiments.engines import RayEngine

    with socket.socket() as s:  # a port nothing listens on once closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", lambda *a, **k: pytest.fail("ray.init was called"))
    for address in (f"127.0.0.1:{port}", f"ray://127.0.0.1:{port}"):
        with pytest.raises(UserError, match=f"--ray-address {address}: nothing answers there"):
            RayEngine(address=address)


def test_lowres_preset_runs_finals_only_on_the_aux_pool_and_keeps_old_keys(tmp_path):
    """One setting and finals on train: no dev phase except single-aux selection (one seed), the
    auxiliary pool for every target, every setting in the key, and the keys of older trials kept."""
    from dataclasses import replace

    from munchables.experiments.protocol import Trial

    preset = PRESETS["lowres-cpu"]
    protocol = Protocol(["ncbi-disease", "s800"], CORPORA, FAMILIES, ["single-task", "single-aux", "conc", "iter", "stack"],
                        [(preset.batch_size, preset.lr)], "lowres-cpu", preset, seeds=3,
                        aux_pool=["bc5cdr-chem", "bc2gm", "s800"], word_vectors="/v.bin", vectors_sha256="ab" * 32)
    with Store(tmp_path / "r.sqlite") as store:
        simulate(protocol, store, lambda t: {"bc5cdr-chem": 0.3, "bc2gm": 0.4, "s800": 0.1}.get(t.aux[0], 0.5) if t.aux else 0.5)
        trials = store.trials()
    dev = [t for t in trials if t["phase"] == "dev"]
    assert sorted((t["target"], t["aux"][0]) for t in dev) == [
        ("ncbi-disease", "bc2gm"), ("ncbi-disease", "bc5cdr-chem"), ("ncbi-disease", "s800"),
        ("s800", "bc2gm"), ("s800", "bc5cdr-chem")]
    assert {t["method"] for t in dev} == {"single-aux"} and {t["seed"] for t in dev} == {1}
    finals = [t for t in trials if t["phase"] == "final"]
    assert len(finals) == 2 * 5 * 3
    for t in finals:
        assert t["config"]["loss_reduction"] == "sum" and t["config"]["aux_whole"] and not t["config"]["final_on_dev"]
        assert t["config"]["vectors_sha256"] == "ab" * 32 and t["config"]["word_vectors"] == "/v.bin"
        if t["method"] in ("conc", "iter", "stack"):
            assert sorted(t["aux"]) == sorted(a for a in protocol.aux_pool if a != t["target"])
    assert {tuple(t["aux"]) for t in finals if t["method"] == "single-aux"} == {("bc2gm",)}  # best dev F1
    old = Trial("t", "single-task", (), 0.1, 16, 1, "dev", "quick", 3, 500, 64, 50)
    assert old.key == "6c24a0cbe6618e67"  # a key written by the store before the later fields existed
    assert replace(old, word_vectors="/elsewhere.bin").key == old.key  # a moved file is the same trial
    assert len({old.key, replace(old, loss_reduction="sum").key, replace(old, vectors_sha256="x").key,
                replace(old, aux_whole=True).key, replace(old, final_on_dev=False).key}) == 5


def test_report_prints_seeds_bootstrap_and_gain_intervals(tmp_path):
    """Per-sentence counts reach the store; the report's significance table and gain intervals use them."""
    from munchables.experiments.report import write_report

    preset = PRESETS["lowres-cpu"]
    protocol = Protocol(["ncbi-disease"], CORPORA, FAMILIES, ["single-task", "single-aux", "conc"],
                        [(preset.batch_size, preset.lr)], "lowres-cpu", preset, seeds=3)

    def result(trial):
        # single-task finds 50 of 100 entities; conc 90 (clearly better); single-aux as single-task but one sentence
        found = {"conc": 90, "single-aux": 51}.get(trial.method, 50)
        sentences = [[1, 0, 0] if i < found else [0, 0, 1] for i in range(100)]
        m = {"tp": found, "fp": 0, "fn": 100 - found, "precision": 1.0, "recall": found / 100, "f1": 2 * found / (100 + found)}
        split = m | {"sentences": sentences}
        return {"metrics": {"dev": split, "test": split, "epochs": 1, "seconds": 0.1, "device": "cpu"}, "curve": []}

    with Store(tmp_path / "r.sqlite") as store:
        while True:
            ready, _ = plan(protocol, store.trials())
            if not ready:
                break
            for trial in ready:
                store.record(*store_record(trial, result(trial), "test"))
        assert len(store.sentence_counts()) == 2 * len(store.trials())
    md = write_report(tmp_path / "r.sqlite", tmp_path / "report").read_text()
    conc = next(line for line in md.splitlines() if line.startswith("| ncbi-disease | conc |"))
    assert "+28.07, +28.07, +28.07" in conc and "| better |" in conc and "| < 0.001 |" in conc
    assert "0.000 |" not in md  # a p below the bootstrap's resolution is never printed as zero
    aux = next(line for line in md.splitlines() if line.startswith("| ncbi-disease | single-aux |"))
    assert "within noise" in aux
    assert "95% interval" in md and (tmp_path / "report" / "gain_intervals.csv").exists()
    assert "![gain with intervals](gain_intervals.png)" in md and (tmp_path / "report" / "gain_intervals.png").stat().st_size
    interval_row = next(line for line in md.splitlines() if line.startswith("| ncbi-disease | ") and "[" in line
                        and "single-aux" not in line and "conc" not in line)
    assert interval_row.rstrip(" |").endswith(")")  # each interval cell says how many runs it pairs


def test_aux_that_leaves_a_target_no_auxiliary_corpus_is_a_user_error(tiny_corpora):
    from munchables.errors import UserError
    from munchables.experiments.protocol import make_protocol

    data = str(tiny_corpora.data_dir)
    with pytest.raises(UserError, match="main without an auxiliary corpus"):
        make_protocol(targets=["main", "aux3"], aux=["main"], data_dir=data, methods=["single-aux"])
    assert make_protocol(targets=["main"], aux=["main"], data_dir=data, methods=["single-task"]).targets == ["main"]
    protocol = make_protocol(targets=["main", "aux3"], aux=["main", "aux7"], data_dir=data, methods=["single-aux"])
    assert plan(protocol, [])[0]  # each target has a candidate to run


def test_closing_the_local_engine_ends_a_running_trial_at_once():
    """An interrupted `munch reproduce` (SIGINT to the driver alone: `timeout -s INT`, `kill -INT`)
    closes its engine in a finally: the workers must end then, not train on until their trial ends."""
    from munchables.experiments.engines import LocalEngine

    engine = LocalEngine(jobs=1)
    job = engine.pool.submit(time.sleep, 120)  # a trial that would run two minutes
    deadline = time.time() + 60
    while not job.running() and time.time() < deadline:
        time.sleep(0.05)
    workers = list(engine.pool._processes.values())
    assert job.running() and workers
    started = time.time()
    engine.close()
    assert time.time() - started < 15
    assert not any(w.is_alive() for w in workers)
