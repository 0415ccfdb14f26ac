"""`munch report`: Tables 2, 3, 4 and the gain matrix from store rows built by hand."""

import csv
import statistics

import pytest

from munchables import paper
from munchables.cli import main
from munchables.experiments.store import Store

TARGETS = ("ncbi-disease", "s800")
# (method, target, seed) -> test counts (tp, fp, fn) of the final model
FINALS = {
    ("single-task", "ncbi-disease", 1): (80, 10, 30), ("single-task", "ncbi-disease", 2): (84, 12, 26),
    ("single-task", "s800", 1): (10, 40, 5), ("single-task", "s800", 2): (12, 30, 9),
    ("iter", "ncbi-disease", 1): (90, 5, 20), ("iter", "s800", 1): (30, 10, 10),
    ("iter-sort", "ncbi-disease", 1): (91, 5, 19), ("iter-sort", "s800", 1): (31, 10, 9),
}
# single-aux dev F1 per (target, aux, setting) and single-task dev F1 per (target, setting)
CANDIDATES = {("ncbi-disease", "s800", (16, 0.1)): 0.70, ("ncbi-disease", "s800", (32, 0.1)): 0.72,
              ("ncbi-disease", "bc2gm", (16, 0.1)): 0.60, ("ncbi-disease", "bc2gm", (32, 0.1)): 0.50}
SINGLE_DEV = {("ncbi-disease", (16, 0.1)): 0.65, ("ncbi-disease", (32, 0.1)): 0.66}


def f1(tp, fp, fn):
    return 2 * tp / (2 * tp + fp + fn)


def add(store, key, method, target, phase, counts, aux=(), setting=(16, 0.1), seed=1, curve=()):
    tp, fp, fn = counts
    m = {"tp": tp, "fp": fp, "fn": fn, "precision": 0.0, "recall": 0.0, "f1": f1(tp, fp, fn)}
    store.record(
        {"key": key, "target": target, "method": method, "aux": list(aux), "lr": setting[1], "batch_size": setting[0],
         "seed": seed, "phase": phase, "preset": "quick", "config": {}, "epochs": 2, "seconds": 1.0, "device": "cpu",
         "git_commit": "abc", "curve": [{"stage": 1, "epoch": i + 1, "loss": 1.0, "dev_f1": v} for i, v in enumerate(curve)]},
        [{"corpus": target, "split": s, **m} for s in ("dev", "test")],
    )


def counts_for(f):  # dev counts with exactly this F1 (fp = fn = 1000 - tp)
    return (round(1000 * f), 1000 - round(1000 * f), 1000 - round(1000 * f))


@pytest.fixture
def store_path(tmp_path):
    path = tmp_path / "results.sqlite"
    with Store(path) as store:
        for (method, target, seed), counts in FINALS.items():
            add(store, f"f-{method}-{target}-{seed}", method, target, "final", counts, seed=seed)
        for (target, aux, setting), f in CANDIDATES.items():
            add(store, f"c-{aux}-{setting}", "single-aux", target, "dev", counts_for(f), aux=[aux], setting=setting,
                curve=[0.1, f])
        for (target, setting), f in SINGLE_DEV.items():
            add(store, f"d-{setting}", "single-task", target, "dev", counts_for(f), setting=setting, curve=[0.2, 0.4, f])
    return path


def read(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def cell(rows, method, column, field="ours"):
    (row,) = [r for r in rows if r["method"] == method and r["column"] == column]
    return float(row[field]) if row[field] else None


def test_report_tables_against_hand_computed_figures(store_path, tmp_path):
    out = tmp_path / "report"
    assert main(["report", "--store", str(store_path), "--out", str(out), "--target", "ncbi-disease"]) == 0
    t2 = read(out / "table2.csv")
    # per target: mean and standard deviation over the two seeds
    ncbi = [100 * f1(*FINALS[("single-task", "ncbi-disease", s)]) for s in (1, 2)]
    assert cell(t2, "single-task", "ncbi-disease") == pytest.approx(statistics.mean(ncbi))
    assert cell(t2, "single-task", "ncbi-disease", "std") == pytest.approx(statistics.stdev(ncbi))
    # micro: F1 of the counts pooled over targets, per seed, then the mean over seeds
    micro = [100 * f1(*[sum(FINALS[("single-task", t, s)][i] for t in TARGETS) for i in range(3)]) for s in (1, 2)]
    assert cell(t2, "single-task", "micro") == pytest.approx(statistics.mean(micro))
    macro = [statistics.mean(100 * f1(*FINALS[("single-task", t, s)]) for t in TARGETS) for s in (1, 2)]
    assert cell(t2, "single-task", "macro") == pytest.approx(statistics.mean(macro))
    assert cell(t2, "single-task", "micro") != pytest.approx(cell(t2, "single-task", "macro"))
    # the paper's figures from its Table 2 text, and the difference
    assert cell(t2, "single-task", "ncbi-disease", "paper") == 87.56
    assert cell(t2, "single-task", "s800", "paper") == 75.41
    assert cell(t2, "single-task", "ncbi-disease", "diff") == pytest.approx(statistics.mean(ncbi) - 87.56)
    assert cell(t2, "single-task", "macro", "paper") == pytest.approx((87.56 + 75.41) / 2)
    assert cell(t2, "single-task", "paper micro (8 targets)", "paper") == 88.46
    assert cell(t2, "iter", "paper macro (8 targets)", "paper") == 86.09
    # Table 4: with and without sorting, the paper's sorted figures beside ours
    t4 = read(out / "table4.csv")
    assert cell(t4, "iter-sort", "ncbi-disease") == pytest.approx(100 * f1(91, 5, 19))
    assert cell(t4, "iter-sort", "ncbi-disease", "paper") == 88.50
    assert cell(t4, "iter", "s800", "paper") == 77.20
    # Table 3: single-aux dev F1 per corpus and setting
    t3 = {(r["row"], r["batch_size"], r["lr"]): float(r["dev_f1"]) for r in read(out / "table3.csv")}
    assert t3[("s800", "32", "0.1")] == pytest.approx(72.0) and t3[("bc2gm", "16", "0.1")] == pytest.approx(60.0)
    # gain: best single-aux dev F1 over the grid minus best single-task dev F1 over the grid
    (gain,) = read(out / "gain_matrix.csv")
    assert float(gain["s800"]) == pytest.approx(100 * (0.72 - 0.66))
    assert float(gain["bc2gm"]) == pytest.approx(100 * (0.60 - 0.66))
    curves = [r for r in read(out / "dev_curves.csv") if r["method"] == "single-task"]
    assert [float(r["dev_f1"]) for r in curves] == pytest.approx([20.0, 40.0, 66.0])  # the best dev trial's curve
    text = (out / "report.md").read_text()
    assert "87.56" in text and "## Table 3" in text and "gain_heatmap.png" in text
    for png in ("test_f1_bars.png", "gain_heatmap.png", "dev_curves.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"


def test_report_refuses_a_store_with_several_presets(store_path, tmp_path, capsys):
    with Store(store_path) as store:
        store.db.execute("UPDATE trials SET preset = 'paper' WHERE method = 'iter'")
        store.db.commit()
    assert main(["report", "--store", str(store_path), "--out", str(tmp_path / "r")]) == 2
    assert "--preset" in capsys.readouterr().err
    assert main(["report", "--store", str(store_path), "--out", str(tmp_path / "r"), "--preset", "quick"]) == 0


def test_paper_figures_match_the_papers_averages():
    for method, row in paper.TABLE2.items():  # the published macro average is the mean of the eight
        assert statistics.mean(row[t] for t in paper.TARGETS) == pytest.approx(row["macro"], abs=0.006), method


@pytest.mark.parametrize("kept", ["finals", "dev", "single-task dev"])
def test_report_plots_each_chart_from_its_own_trials(tmp_path, kept):
    # finals alone: the bars without a gain matrix; dev trials alone: the heat map without bars;
    # single-task dev trials alone: no gain, so neither
    path = tmp_path / "results.sqlite"
    with Store(path) as store:
        if kept == "finals":
            for (method, target, seed), counts in FINALS.items():
                add(store, f"f-{method}-{target}-{seed}", method, target, "final", counts, seed=seed)
        else:
            for (target, aux, setting), f in CANDIDATES.items() if kept == "dev" else ():
                add(store, f"c-{aux}-{setting}", "single-aux", target, "dev", counts_for(f), aux=[aux], setting=setting)
            for (target, setting), f in SINGLE_DEV.items():
                add(store, f"d-{setting}", "single-task", target, "dev", counts_for(f), setting=setting)
    out = tmp_path / "report"
    assert main(["report", "--store", str(path), "--out", str(out)]) == 0
    bars, heat = (out / "test_f1_bars.png").exists(), (out / "gain_heatmap.png").exists()
    assert (bars, heat) == {"finals": (True, False), "dev": (False, True), "single-task dev": (False, False)}[kept]
    text = (out / "report.md").read_text()
    assert ("](gain_heatmap.png)" in text) == heat and ("](test_f1_bars.png)" in text) == bars
    assert len(read(out / "gain_matrix.csv")) == heat  # a row per target with a gain
