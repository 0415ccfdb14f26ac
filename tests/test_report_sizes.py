"""`munch report`: every method against a control preset, and the gain against target size, from a
store this test writes through the protocol (issue 24.1, 24.2)."""

import csv
from dataclasses import replace

import pytest

from munchables.cli import main
from munchables.experiments.protocol import PRESETS, Protocol, plan, store_record
from munchables.experiments.store import Store

CORPORA = ["ncbi-disease", "bc2gm", "s800"]
FAMILIES = {"ncbi-disease": "disease", "bc2gm": "gene/protein", "s800": "species"}
LOWRES = PRESETS["lowres-cpu"]
# preset name -> (its settings, seeds, entities of 100 found by single-task and by iter)
PRESETS_RUN = {
    "lowres-cpu": (LOWRES, 3, 50, 70),
    "lowres-cpu+max_epochs=120,train_limit=250": (replace(LOWRES, max_epochs=120, train_limit=250), 3, 30, 50),
    "lowres-cpu+max_epochs=40,train_limit=2000": (replace(LOWRES, max_epochs=40, train_limit=2000), 1, 70, 80),
    "lowres-cpu+max_epochs=180": (replace(LOWRES, max_epochs=180), 3, 60, None),  # the control: single-task only
    "lowres-cpu+hidden=64": (replace(LOWRES, hidden=64), 3, 10, 90),  # another model: not in the size series
}


def f1(found):  # no false positives, 100 entities
    return 100 * 2 * found / (100 + found)


def result(found):
    sentences = [[1, 0, 0] if i < found else [0, 0, 1] for i in range(100)]
    m = {"tp": found, "fp": 0, "fn": 100 - found, "precision": 1.0, "recall": found / 100, "f1": f1(found) / 100,
         "sentences": sentences}
    return {"metrics": {"dev": m, "test": m, "epochs": 1, "seconds": 1.0, "device": "cpu"}, "curve": []}


@pytest.fixture(scope="module")
def store_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("sizes") / "r.sqlite"
    with Store(path) as store:
        for name, (preset, seeds, single, iterated) in PRESETS_RUN.items():
            methods = ["single-task"] + (["iter"] if iterated else [])
            protocol = Protocol(["ncbi-disease"], CORPORA, FAMILIES, methods, [(32, 0.1)], name, preset, seeds=seeds,
                                aux_pool=["bc2gm", "s800"], vectors_sha256="ab" * 32)
            while ready := plan(protocol, store.trials())[0]:
                for trial in ready:
                    found = single if trial.method == "single-task" else iterated
                    store.record(*store_record(trial, result(found), "c"))
    return path


def rows(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def test_every_method_against_the_control_preset(store_path, tmp_path):
    assert main(["-q", "report", "--store", str(store_path), "--preset", "lowres-cpu", "--compare-preset",
                 "lowres-cpu+max_epochs=180", "--out", str(tmp_path / "r")]) == 0
    md = (tmp_path / "r" / "report.md").read_text()
    section = md.split("### Each method of lowres-cpu against single-task of lowres-cpu+max_epochs=180")[1]
    iter_row = next(line for line in section.splitlines() if line.startswith("| ncbi-disease | iter |"))
    single_row = next(line for line in section.splitlines() if line.startswith("| ncbi-disease | single-task |"))
    assert f"| {f1(70) - f1(60):+.2f} |" in iter_row and "| better |" in iter_row
    assert f"| {f1(50) - f1(60):+.2f} |" in single_row and "| worse |" in single_row
    control = {r["method"]: r for r in rows(tmp_path / "r" / "control.csv")}
    assert float(control["iter"]["baseline_f1"]) == pytest.approx(f1(60)) and control["iter"]["seeds"] == "3"


def test_the_gain_against_target_size_over_the_presets_of_one_series(store_path, tmp_path):
    assert main(["-q", "report", "--store", str(store_path), "--preset", "lowres-cpu", "--out", str(tmp_path / "r")]) == 0
    md = (tmp_path / "r" / "report.md").read_text()
    table = [r for r in rows(tmp_path / "r" / "gain_by_size.csv")]
    by_size = {int(r["train_limit"]): r for r in table}
    assert sorted(by_size) == [250, 1000, 2000]  # not the other model's preset, not the control (no iter)
    expected = {250: (30, 50), 1000: (50, 70), 2000: (70, 80)}
    for size, (single, iterated) in expected.items():
        r = by_size[size]
        assert float(r["gain"]) == pytest.approx(f1(iterated) - f1(single))
        assert float(r["low"]) <= float(r["gain"]) <= float(r["high"])
    assert by_size[250]["max_epochs"] == "120" and by_size[2000]["seeds"] == "1"
    line = next(x for x in md.splitlines() if x.startswith("| ncbi-disease | iter | 2000 | 40 | 1 |"))
    assert "(1 seed: sentence noise only)" in line and f"| {f1(80) - f1(70):+.2f} |" in line
    assert "0.000" not in md and "< 0.001" in md
    assert "![gain against target size](gain_vs_size.png)" in md and (tmp_path / "r" / "gain_vs_size.png").stat().st_size


def test_a_preset_made_with_two_sets_of_vectors_is_refused(store_path, tmp_path, capsys):
    import shutil

    copy = tmp_path / "mixed.sqlite"
    shutil.copy(store_path, copy)
    with Store(copy) as store:
        protocol = Protocol(["s800"], CORPORA, FAMILIES, ["single-task"], [(32, 0.1)], "lowres-cpu", LOWRES, seeds=1,
                            aux_pool=["bc2gm"], vectors_sha256="cd" * 32)
        for trial in plan(protocol, [])[0]:
            store.record(*store_record(trial, result(10), "c"))
    assert main(["report", "--store", str(copy), "--preset", "lowres-cpu", "--out", str(tmp_path / "r")]) == 2
    assert "made with 2 sets of word vectors (abababab (6 trials), cdcdcdcd (1 trials))" in capsys.readouterr().err
