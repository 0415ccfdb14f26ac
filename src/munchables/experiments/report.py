"""Tables and plots from the results store alone: `munch report --out DIR`.

Writes DIR/report.md with, beside it, one CSV per table and PNG plots (matplotlib, Agg):

- Table 2: test F1 (%) of the six methods per target, macro and micro averages (micro: F1 of
  the tp/fp/fn pooled over the targets), the paper's figures beside ours and the difference;
- Table 4: iter and stack without and with sorting (section 5.1), the same way;
- Table 3: dev F1 (%) of single-aux per auxiliary corpus and setting for one target, and of the
  sorted variants;
- the gain matrix: single-aux dev F1 minus single-task dev F1 per target and auxiliary corpus
  (each at its best setting), as a table and a heat map;
- a grouped bar chart of test F1 per target and method; dev F1 against epoch per method for one
  target (the dev trial at the chosen setting).

With several seeds a figure is the mean over seeds and the standard deviation is shown beside it.
"""

from __future__ import annotations

import csv
import statistics
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError
from ..evaluate import Score
from ..util.files import ensure_dir
from .. import paper
from . import sizes, stats
from ..choices import METHODS as TABLE2_METHODS, PROTOCOL_METHODS as METHODS
from .protocol import best
from .store import Store

TABLE4_METHODS = ("iter", "iter-sort", "stack", "stack-sort")


# --- from store rows to figures --------------------------------------------------------------


def load(store_path, preset: str | None = None) -> list[dict]:
    """The trials of one preset (the store's only one when `preset` is None)."""
    with Store(store_path, readonly=True) as store:
        return select(store.trials(), preset, store_path)


def select(trials: list[dict], preset: str | None, store_path) -> list[dict]:
    """The trials of `preset`, refused when they were made with several sets of word vectors (a
    comparison would pair trials of different inputs)."""
    presets = sorted({t["preset"] for t in trials})
    if preset is None and len(presets) > 1:
        raise UserError(f"{store_path} holds trials of several presets ({', '.join(presets)}); choose one with --preset")
    preset = preset if preset is not None else (presets[0] if presets else None)
    chosen = [t for t in trials if t["preset"] == preset]
    if not chosen and preset is not None:
        raise UserError(f"{store_path}: no trials of preset {preset!r}; the store holds {', '.join(presets) or 'none'}")
    vectors = {t["config"].get("vectors_sha256") for t in chosen}
    if len(vectors) > 1:
        shown = ", ".join(f"{(v or 'none')[:8]} ({sum(t['config'].get('vectors_sha256') == v for t in chosen)} trials)"
                          for v in sorted(vectors, key=str))
        raise UserError(f"{store_path}: the {preset} trials were made with {len(vectors)} sets of word vectors "
                        f"({shown}); a report would pair trials of different inputs: keep each set in a store of "
                        "its own (copy the store and delete the other set's trials)")
    return chosen


def load_counts(store_path) -> dict:
    """Per-sentence counts {(trial key, corpus, split): [[tp, fp, fn], ...]} for the bootstrap."""
    with Store(store_path, readonly=True) as store:
        return store.sentence_counts()


def _f1(t: dict, corpus: str, split: str) -> float:
    return t["scores"][(corpus, split)]["f1"]


def on_train(t: dict) -> bool:
    """Trained on train alone, so its dev F1 is held out: dev trials, and finals of lowres-cpu-like presets."""
    return t["phase"] == "dev" or not t["config"].get("final_on_dev", True)


def targets_of(trials: list[dict]) -> list[str]:
    """Targets with any single-corpus trial, in the paper's order, then others."""
    found = {t["target"] for t in trials if t["method"] != "multi-task"}
    found |= {c for t in trials if t["method"] == "multi-task" for c, _ in t["scores"]}
    return [c for c in paper.TARGETS if c in found] + sorted(found - set(paper.TARGETS))


def final_scores(trials: list[dict], method: str, target: str) -> list[Score]:
    """Test counts of the final models (one per seed) of `method` for `target`."""
    scores = [t["scores"].get((target, "test")) for t in final_trials(trials, method, target)]
    return [Score(s["tp"], s["fp"], s["fn"]) for s in scores if s]


def final_trials(trials: list[dict], method: str, target: str) -> list[dict]:
    """The final models (one per seed, in seed order) of `method` for `target`."""
    if method == "multi-task":  # one model serves every target: the one at this target's best setting
        dev = {(t["batch_size"], t["lr"]): t for t in trials
               if t["method"] == "multi-task" and t["phase"] == "dev" and (target, "dev") in t["scores"]}
        finals = [t for t in trials if t["method"] == method and t["phase"] == "final"]
        if dev:
            bs, lr = best({s: _f1(t, target, "dev") for s, t in dev.items()})
            finals = [t for t in finals if (t["batch_size"], t["lr"]) == (bs, lr)]
        chosen = finals if dev or len({(t["batch_size"], t["lr"]) for t in finals}) == 1 else []
    else:
        chosen = [t for t in trials if t["method"] == method and t["phase"] == "final" and t["target"] == target]
    return sorted(chosen, key=lambda t: t["seed"])


def _mean_std(values: list[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    return statistics.mean(values), (statistics.stdev(values) if len(values) > 1 else None)


def results_table(trials: list[dict], methods, targets, published: dict) -> list[dict]:
    """One row per method and column (targets, macro, micro): ours (mean, std, seeds), paper's, difference.

    Macro: mean over targets of the per-target F1. Micro: F1 of the counts pooled over targets
    (per seed, then the mean over seeds). The averages cover only targets with a result for
    every method listed that has any; the paper's macro average is given both as published (over its eight
    targets) and over the same targets as ours.
    """
    per = {(m, t): final_scores(trials, m, t) for m in methods for t in targets}
    finished = [m for m in methods if any(per[(m, t)] for t in targets)]  # methods with no final model yet: ignored
    complete = [t for t in targets if all(per[(m, t)] for m in finished)]
    rows = []
    for m in methods:
        for t in targets:
            mean, std = _mean_std([100 * s.f1 for s in per[(m, t)]])
            rows.append(_row(m, t, mean, std, len(per[(m, t)]), published.get(m, {}).get(t)))
        seeds = min((len(per[(m, t)]) for t in complete), default=0)
        macro = [statistics.mean(100 * per[(m, t)][k].f1 for t in complete) for k in range(seeds)]
        micro = [100 * sum((per[(m, t)][k] for t in complete), Score()).f1 for k in range(seeds)]
        paper_same = [published.get(m, {}).get(t) for t in complete]
        paper_macro = statistics.mean(paper_same) if paper_same and None not in paper_same else None
        rows.append(_row(m, "macro", *_mean_std(macro), seeds, paper_macro))
        rows.append(_row(m, "micro", *_mean_std(micro), seeds, None))
        rows.append(_row(m, "paper macro (8 targets)", None, None, 0, published.get(m, {}).get("macro")))
        rows.append(_row(m, "paper micro (8 targets)", None, None, 0, published.get(m, {}).get("micro")))
    return rows


def _row(method, column, mean, std, seeds, paper_f1) -> dict:
    diff = mean - paper_f1 if mean is not None and paper_f1 is not None else None
    return {"method": method, "column": column, "ours": mean, "std": std, "seeds": seeds, "paper": paper_f1, "diff": diff}


def table3(trials: list[dict], target: str) -> tuple[list[tuple[int, float]], dict[str, dict]]:
    """Settings and {auxiliary corpus or sorted variant: {setting: dev F1 %}} for `target`."""
    rows: dict[str, dict] = {}
    for t in trials:
        if t["phase"] != "dev" or t["target"] != target or t["method"] not in ("single-aux", "iter-sort", "stack-sort"):
            continue
        name = t["aux"][0] if t["method"] == "single-aux" else t["method"]
        rows.setdefault(name, {})[(t["batch_size"], t["lr"])] = 100 * _f1(t, target, "dev")
    settings = sorted({s for r in rows.values() for s in r})
    order = [c for c in paper.TARGETS if c in rows] + sorted(set(rows) - set(paper.TARGETS) - {"iter-sort", "stack-sort"})
    return settings, {name: rows[name] for name in order + [m for m in ("iter-sort", "stack-sort") if m in rows]}


def gain_matrix(trials: list[dict], targets: list[str]) -> tuple[list[str], dict[str, dict[str, float]]]:
    """{target: {aux: best single-aux dev F1 - best single-task dev F1}} in points."""
    def best_dev(method, target, aux=None):
        values = [_f1(t, target, "dev") for t in trials if on_train(t) and t["method"] == method
                  and t["target"] == target and (aux is None or t["aux"] == [aux])
                  and (t["phase"] == "dev" or t["seed"] == 1)]
        return max(values) if values else None

    matrix, auxes = {}, set()
    for target in targets:
        base = best_dev("single-task", target)
        cands = {t["aux"][0] for t in trials if t["method"] == "single-aux" and t["phase"] == "dev" and t["target"] == target}
        if base is None or not cands:  # no row without a gain: the heat map would have no columns
            continue
        matrix[target] = {a: 100 * (best_dev("single-aux", target, a) - base) for a in cands}
        auxes |= cands
    columns = [c for c in paper.TARGETS if c in auxes] + sorted(auxes - set(paper.TARGETS))
    return columns, matrix


def significance(trials: list[dict], counts: dict, targets, methods, baseline: str = "single-task",
                 baseline_trials: list[dict] | None = None) -> list[dict]:
    """Each method against `baseline` per target: test F1 over seeds, per-seed paired differences,
    and the paired bootstrap over test sentences (stats.paired_bootstrap) where the store has
    per-sentence counts. F1 and differences in points. With `baseline_trials` (a control preset's,
    e.g. single-task trained as many epochs as iter) the baseline comes from those, and the
    method named `baseline` is compared with it too."""
    rows = []
    for target in targets:
        base = {t["seed"]: t for t in final_trials(baseline_trials if baseline_trials is not None else trials,
                                                   baseline, target) if (target, "test") in t["scores"]}
        for method in methods:
            runs = {t["seed"]: t for t in final_trials(trials, method, target) if (target, "test") in t["scores"]}
            seeds = sorted(set(base) & set(runs))
            if (method == baseline and baseline_trials is None) or not seeds:
                continue
            ours = [100 * _f1(runs[k], target, "test") for k in seeds]
            theirs = [100 * _f1(base[k], target, "test") for k in seeds]
            row = {"target": target, "method": method, "seeds": len(seeds),
                   "f1": statistics.mean(ours), "std": _mean_std(ours)[1],
                   "baseline_f1": statistics.mean(theirs), "baseline_std": _mean_std(theirs)[1],
                   "per_seed": [a - b for a, b in zip(ours, theirs)], "delta": statistics.mean(ours) - statistics.mean(theirs),
                   "low": None, "high": None, "p": None, "p_text": None, "within_noise": None,
                   "devices": _devices([runs[k] for k in seeds]) + " / " + _devices([base[k] for k in seeds])}
            a = [counts.get((runs[k]["key"], target, "test")) for k in seeds]
            b = [counts.get((base[k]["key"], target, "test")) for k in seeds]
            if all(x is not None for x in a + b):
                c = stats.paired_bootstrap(a, b)
                row |= {"low": 100 * c.low, "high": 100 * c.high, "p": c.p, "p_text": c.p_text,
                        "within_noise": c.within_noise}
            rows.append(row)
    return rows


def _devices(trials: list[dict]) -> str:
    """Where the trials ran, e.g. "cpu" or "2 cuda, 1 cpu" (a mixed cell is worth seeing)."""
    found = Counter(t.get("device", "?") for t in trials)
    return next(iter(found)) if len(found) == 1 else ", ".join(f"{n} {d}" for d, n in found.most_common())


def preset_comparison(trials: list[dict], other: list[dict], counts: dict, targets) -> list[dict]:
    """The final models of two presets (e.g. two loss reductions) paired by target, method and seed,
    on dev (when both trained on train alone) and on test, with the paired bootstrap. Points."""
    rows = []
    for target in targets:
        for method in METHODS:
            a = {t["seed"]: t for t in final_trials(trials, method, target)}
            b = {t["seed"]: t for t in final_trials(other, method, target)}
            seeds = sorted(set(a) & set(b))
            for split in ("dev", "test"):
                if not seeds or (split == "dev" and not all(on_train(x[k]) for x in (a, b) for k in seeds)):
                    continue
                ca = [counts.get((a[k]["key"], target, split)) for k in seeds]
                cb = [counts.get((b[k]["key"], target, split)) for k in seeds]
                if any(c is None for c in ca + cb):
                    continue
                c = stats.paired_bootstrap(ca, cb)
                per_seed = [100 * (_f1(a[k], target, split) - _f1(b[k], target, split)) for k in seeds]
                rows.append({"target": target, "method": method, "split": split, "seeds": len(seeds),
                             "a": 100 * c.a, "b": 100 * c.b, "delta": 100 * c.delta, "low": 100 * c.low,
                             "high": 100 * c.high, "p": c.p, "p_text": c.p_text, "within_noise": c.within_noise,
                             "per_seed": " ".join(f"{d:+.2f}" for d in per_seed)})
    return rows


def gain_intervals(trials: list[dict], counts: dict, targets) -> dict[str, dict[str, dict]]:
    """{target: {aux: single-aux minus single-task dev F1, with its 95% bootstrap interval}} in points.

    Both trained on train alone with the same seed(s), at the same setting; the interval comes
    from resampling dev sentences (stats.paired_bootstrap)."""
    out: dict[str, dict[str, dict]] = {}
    for target in targets:
        def runs(method, aux=None):
            return {(t["seed"], t["batch_size"], t["lr"]): counts[(t["key"], target, "dev")] for t in trials
                    if on_train(t) and t["method"] == method and t["target"] == target
                    and (aux is None or t["aux"] == [aux]) and (t["key"], target, "dev") in counts}
        base = runs("single-task")
        for aux in sorted({t["aux"][0] for t in trials if t["method"] == "single-aux" and t["target"] == target}):
            cand = runs("single-aux", aux)
            common = sorted(set(base) & set(cand))
            if common:
                c = stats.paired_bootstrap([cand[k] for k in common], [base[k] for k in common])
                out.setdefault(target, {})[aux] = {"gain": 100 * c.delta, "low": 100 * c.low, "high": 100 * c.high,
                                                   "p": c.p, "p_text": c.p_text, "runs": len(common)}
    return out


def curves(trials: list[dict], target: str) -> dict[str, list[float]]:
    """Dev F1 (%) after every epoch (stages one after another) of each method's chosen dev trial."""
    out = {}
    for method in METHODS:
        dev = [t for t in trials if on_train(t) and t["method"] == method and t["target"] == target
               and (target, "dev") in t["scores"] and (t["phase"] == "dev" or t["seed"] == 1)]
        if not dev:
            continue
        chosen = max(dev, key=lambda t: _f1(t, target, "dev"))
        out[method] = [100 * (r["dev_f1"] or 0.0) for r in chosen["curve"]]
    return out


# --- writing -------------------------------------------------------------------------------


def _markdown_significance(rows: list[dict], baseline: str = "single-task") -> list[str]:
    if not rows:
        return [f"(needs final models of {baseline} and another method with the same seeds)"]
    md = [f"| target | method | test F1 | {baseline} | per-seed difference | mean difference | 95% interval | p | reading | devices |",
          "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        sd = lambda x: f" ± {x:.2f}" if x is not None else ""  # noqa: E731
        if r["low"] is None:
            interval, p, reading = "–", "–", "no per-sentence counts"
        else:
            interval, p = f"[{r['low']:+.2f}, {r['high']:+.2f}]", r["p_text"]
            reading = "within noise" if r["within_noise"] else ("better" if r["delta"] > 0 else "worse")
        md.append(f"| {r['target']} | {r['method']} | {r['f1']:.2f}{sd(r['std'])} ({r['seeds']}) | "
                  f"{r['baseline_f1']:.2f}{sd(r['baseline_std'])} | "
                  + ", ".join(f"{d:+.2f}" for d in r["per_seed"])
                  + f" | {r['delta']:+.2f} | {interval} | {p} | {reading} | {r.get('devices', '')} |")
    return md


def _markdown_gain_intervals(intervals: dict, columns: list[str]) -> list[str]:
    md = ["| target | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for target, row in intervals.items():
        cells = [f"{row[a]['gain']:+.2f} [{row[a]['low']:+.2f}, {row[a]['high']:+.2f}] ({row[a]['runs']})" if a in row else ""
                 for a in columns]
        md.append(f"| {target} | " + " | ".join(cells) + " |")
    return md


def _fmt(x, digits=2) -> str:
    return "" if x is None else f"{x:.{digits}f}"


def _cell(row: dict) -> str:
    if row["ours"] is None:
        return "–" if row["paper"] is None else f"– ({_fmt(row['paper'])})"
    ours = _fmt(row["ours"]) + (f" ± {_fmt(row['std'])}" if row["std"] is not None else "")
    if row["paper"] is None:
        return ours
    return f"{ours} ({_fmt(row['paper'])}, {row['diff']:+.2f})"


def _markdown_results(rows: list[dict], methods, targets) -> str:
    columns = [*targets, "macro", "micro", "paper macro (8 targets)", "paper micro (8 targets)"]
    cells = {(r["method"], r["column"]): r for r in rows}
    lines = ["| method | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for m in methods:
        lines.append(f"| {m} | " + " | ".join(_cell(cells[(m, c)]) for c in columns) + " |")
    return "\n".join(lines)


def _write_csv(path: Path, rows: list[dict]) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["empty"])
        writer.writeheader()
        writer.writerows(rows)


def _plots(out: Path, table2: list[dict], methods, targets, gains, gain_columns, curve_data, curve_target,
           intervals: dict | None = None) -> list[str]:
    import matplotlib  # here: the backend must be chosen before pyplot loads, and only the plots need it

    matplotlib.use("Agg")
    import matplotlib.ticker
    import matplotlib.pyplot as plt
    import numpy as np

    written = []
    # grouped bars: test F1 per target (groups) and method (bars)
    cells = {(r["method"], r["column"]): r for r in table2}
    if not any(cells[(m, t)]["ours"] is not None for m in methods for t in targets):
        methods = []  # no final model yet: no empty chart (and no legend without labels)
    if methods:
        _bars(out, plt, np, cells, methods, targets)
        written.append("test_f1_bars.png")

    if gains:
        rows = list(gains)
        data = np.array([[gains[t].get(a, np.nan) for a in gain_columns] for t in rows])
        # at least one point either way, so that equal scores give a readable scale, not 1e-6
        limit = max(1.0, float(np.nanmax(np.abs(data)))) if np.isfinite(data).any() else 1.0
        fig, ax = plt.subplots(figsize=(max(6.0, 1.3 * len(gain_columns) + 4), 0.6 * len(rows) + 2.5))
        image = ax.imshow(data, cmap="RdBu", vmin=-limit, vmax=limit)
        ax.set_xticks(range(len(gain_columns)), gain_columns, rotation=30, ha="right")
        ax.set_yticks(range(len(rows)), rows)
        ax.set_xlabel("auxiliary corpus")
        ax.set_ylabel("target")
        for i in range(len(rows)):
            for j in range(len(gain_columns)):
                if np.isfinite(data[i, j]):
                    ci = (intervals or {}).get(rows[i], {}).get(gain_columns[j])
                    label = f"{data[i, j]:+.1f}" + (f"\n[{ci['low']:+.1f}, {ci['high']:+.1f}]" if ci else "")
                    ax.text(j, i, label, ha="center", va="center", fontsize=8)
        fig.colorbar(image, ax=ax, label="dev F1 gain (points)")
        ax.set_title("Which corpus helps which")
        fig.tight_layout()
        fig.savefig(out / "gain_heatmap.png", dpi=110)
        plt.close(fig)
        written.append("gain_heatmap.png")

    if intervals:
        _gain_error_bars(out, plt, np, intervals, gain_columns)
        written.append("gain_intervals.png")

    if curve_data:
        fig, ax = plt.subplots(figsize=(8, 4.5))
        for m, ys in curve_data.items():
            ax.plot(range(1, len(ys) + 1), ys, marker="o", markersize=3, label=m)
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.set_xlabel("epoch (stages of stack one after another)")
        ax.set_ylabel("dev F1 (%)")
        ax.set_title(f"Dev F1 against epoch, {curve_target} (dev trials at the chosen setting)")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out / "dev_curves.png", dpi=110)
        plt.close(fig)
        written.append("dev_curves.png")
    return written


def _gain_error_bars(out: Path, plt, np, intervals: dict, columns: list[str]) -> None:
    """The single-aux gain per target and auxiliary corpus with its 95% bootstrap interval as error bars."""
    targets = list(intervals)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.4 * len(columns) * len(targets) / 2 + 3), 4.0))
    width = 0.8 / max(1, len(targets))
    for i, target in enumerate(targets):
        xs = [j + (i - (len(targets) - 1) / 2) * width for j, a in enumerate(columns) if a in intervals[target]]
        rows = [intervals[target][a] for a in columns if a in intervals[target]]
        gains = np.array([r["gain"] for r in rows])
        errors = np.array([[r["gain"] - r["low"] for r in rows], [r["high"] - r["gain"] for r in rows]])
        ax.errorbar(xs, gains, yerr=errors, fmt="o", capsize=4, label=target)
    ax.axhline(0, color="grey", linewidth=0.8)
    ax.set_xticks(range(len(columns)), columns, rotation=20)
    ax.set_xlabel("auxiliary corpus")
    ax.set_ylabel("dev F1 gain over single-task (points)")
    ax.set_title("Single-aux gain with 95% paired-bootstrap intervals")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "gain_intervals.png", dpi=110)
    plt.close(fig)


def _bars(out: Path, plt, np, cells: dict, methods: list[str], targets: list[str]) -> None:
    """Grouped bars: test F1 per target (groups) and method (bars)."""
    fig, ax = plt.subplots(figsize=(max(8, 1.6 * len(targets)), 4.5))
    width = 0.8 / max(1, len(methods))
    for i, m in enumerate(methods):
        values = [cells[(m, t)]["ours"] or 0.0 for t in targets]
        errors = [cells[(m, t)]["std"] or 0.0 for t in targets]
        ax.bar(np.arange(len(targets)) + (i - (len(methods) - 1) / 2) * width, values, width, yerr=errors, label=m)
    ax.set_xticks(np.arange(len(targets)), targets, rotation=20)
    ax.set_ylabel("test F1 (%)")
    ax.set_title("Test F1 per target and method")
    ax.legend(fontsize=8, ncol=4)
    fig.tight_layout()
    fig.savefig(out / "test_f1_bars.png", dpi=110)
    plt.close(fig)


# every file write_report may write into --out (the command checks that none of them is the store)
REPORT_FILES = ("report.md", "table2.csv", "table3.csv", "table4.csv", "gain_matrix.csv", "dev_curves.csv",
                "significance.csv", "gain_intervals.csv", "preset_comparison.csv", "test_f1_bars.png", "gain_heatmap.png",
                "gain_intervals.png",
                "dev_curves.png", "control.csv", "gain_by_size.csv", "gain_vs_size.png")


@dataclass
class Inputs:
    """What every section of the report reads: the chosen preset's trials and the store's counts."""

    store_path: Path
    out: Path
    trials: list[dict]  # the chosen preset's
    everything: list[dict]  # every trial in the store (the size series)
    counts: dict
    targets: list[str]


def write_report(store_path, out, target: str | None = None, curve_target: str | None = None,
                 preset: str | None = None, compare_preset: str | None = None, overwrite: bool = False) -> Path:
    """Write report.md, the CSV files and the PNG plots into `out`; the path of report.md.

    With `compare_preset`, also a section comparing this preset's final models with that one's,
    and every method against that preset's single-task (a control, e.g. trained longer)."""
    out = Path(out)
    if (out / "report.md").exists() and not overwrite:
        raise UserError(f"--out {out} already holds a report; add --overwrite to replace it, or choose another --out")
    with Store(store_path, readonly=True) as store:
        everything = store.trials()
        counts = store.sentence_counts()
    trials = select(everything, preset, store_path)
    other = select(everything, compare_preset, store_path) if compare_preset else []
    out = ensure_dir(out, "--out")  # an existing file, a broken link, a read-only parent: one line
    r = Inputs(Path(store_path), out, trials, everything, counts, targets_of(trials))
    tables, plot_rows, plot_methods = _section_tables(r)
    t3_target = target or (paper.TABLE3_TARGET if paper.TABLE3_TARGET in r.targets else (r.targets[0] if r.targets else None))
    gains_md, gains, gain_columns, intervals = _section_gains(r)
    curve_target = curve_target or t3_target
    curve_data = curves(trials, curve_target) if curve_target else {}
    _write_csv(out / "dev_curves.csv", [{"method": m, "epoch": i + 1, "dev_f1": y}
                                        for m, ys in curve_data.items() for i, y in enumerate(ys)])
    plots = _plots(out, plot_rows, plot_methods, r.targets, gains, gain_columns, curve_data, curve_target, intervals)
    md = [*_section_header(r), *tables, *_section_table3(r, t3_target), *gains_md, *_section_significance(r)]
    if compare_preset:
        md += _section_compare(r, other, compare_preset)
    md += _section_sizes(r)
    md += ["", "## Plots", ""]
    if "test_f1_bars.png" in plots:
        md += ["![test F1 per target and method](test_f1_bars.png)", ""]
    else:
        md += ["(no final model yet: no test F1 chart)", ""]
    if "dev_curves.png" in plots:
        md += [f"![dev F1 against epoch, {curve_target}](dev_curves.png)", ""]
    md += ["CSV files: " + ", ".join(f"`{p.name}`" for p in sorted(out.glob("*.csv"))), ""]
    path = out / "report.md"
    path.write_text("\n".join(md), encoding="utf-8")
    return path


def _section_header(r: Inputs) -> list[str]:
    presets = sorted({t["preset"] for t in r.trials})
    commits = sorted({t["git_commit"] for t in r.trials})
    devices = sorted({t["device"] for t in r.trials})
    hours = sum(t["seconds"] for t in r.trials) / 3600
    vectors = sorted({(t["config"].get("vectors_sha256") or "")[:8] for t in r.trials} - {""})
    return [
        "# Reproduction report",
        "",
        f"From `{r.store_path}`: {len(r.trials)} trials ({sum(t['phase'] == 'final' for t in r.trials)} final), "
        f"preset {', '.join(presets)}, device {', '.join(devices)}, {hours:.2f} trial-hours, "
        f"commit {', '.join(c[:10] for c in commits)}" + (f", word vectors {', '.join(vectors)}" if vectors else "") + ".",
        "",
        "Cells: our test F1 (%) [± standard deviation over seeds] (the paper's figure, our minus the paper's). "
        "Macro and micro averages cover the targets with a result for every method in the table; "
        "the paper's macro average beside ours is recomputed over those same targets, the paper's published "
        "averages over its eight targets (CHEMDNER included) are in the last two columns. "
        "Micro: F1 of the true positives, false positives and false negatives pooled over the targets.",
        "",
    ]


def _section_tables(r: Inputs) -> tuple[list[str], list[dict], list[str]]:
    """Tables 2 and 4 (markdown), with the rows and methods the bar chart draws."""
    methods2 = [m for m in TABLE2_METHODS if any(t["method"] == m for t in r.trials)]
    methods4 = [m for m in TABLE4_METHODS if any(t["method"] == m for t in r.trials)]
    table2 = results_table(r.trials, methods2, r.targets, paper.TABLE2)
    table4 = results_table(r.trials, methods4, r.targets, paper.TABLE4)
    _write_csv(r.out / "table2.csv", table2)
    _write_csv(r.out / "table4.csv", table4)
    md = ["## Table 2: test F1 per method and target", "",
          _markdown_results(table2, methods2, r.targets) if methods2 else "(no results)", "",
          "## Table 4: iter and stack without and with sorting", "",
          _markdown_results(table4, methods4, r.targets) if methods4 else "(no results)", ""]
    return md, table2 + table4, methods2 + [m for m in methods4 if m not in methods2]


def _section_table3(r: Inputs, t3_target: str | None) -> list[str]:
    settings, t3 = table3(r.trials, t3_target) if t3_target else ([], {})
    _write_csv(r.out / "table3.csv", [{"row": name, "batch_size": s[0], "lr": s[1], "dev_f1": v.get(s),
                                       "paper": paper.TABLE3.get(name, {}).get(s) if t3_target == paper.TABLE3_TARGET else None}
                                      for name, v in t3.items() for s in settings])
    md = [f"## Table 3: dev F1 (%) of single-aux per auxiliary corpus and setting, target {t3_target}", ""]
    if not t3:
        return md + ["(no single-aux dev trials)"]
    header = [f"bs {bs}, lr {lr:g}" for bs, lr in settings]
    md += ["| auxiliary corpus | " + " | ".join(header) + " |", "|---" * (len(settings) + 1) + "|"]
    for name, values in t3.items():
        cells = []
        for s in settings:
            v = _fmt(values.get(s))
            p = paper.TABLE3.get(name, {}).get(s) if t3_target == paper.TABLE3_TARGET else None
            cells.append(v if p is None else f"{v} ({p:.2f})")
        md.append(f"| {name} | " + " | ".join(cells) + " |")
    if t3_target != paper.TABLE3_TARGET:
        md += ["", f"The paper's Table 3 is for {paper.TABLE3_TARGET}, which is not in this store; "
                   "its figures are in `munchables.paper.TABLE3`."]
    return md


def _section_gains(r: Inputs) -> tuple[list[str], dict, list[str], dict]:
    """The single-aux gain matrix and its intervals (markdown), with what the plots draw."""
    gain_columns, gains = gain_matrix(r.trials, r.targets)
    _write_csv(r.out / "gain_matrix.csv", [{"target": t, **{a: row.get(a) for a in gain_columns}} for t, row in gains.items()])
    intervals = gain_intervals(r.trials, r.counts, r.targets)
    _write_csv(r.out / "gain_intervals.csv", [{"target": t, "aux": a, **v} for t, row in intervals.items() for a, v in row.items()])
    md = ["", "## Which corpus helps which: single-aux dev F1 gain over single-task (points)", "",
          "Best single-aux dev F1 with each auxiliary corpus minus the best single-task dev F1, both over the grid.", ""]
    if gains:
        md += ["| target | " + " | ".join(gain_columns) + " |", "|---" * (len(gain_columns) + 1) + "|"]
        for t, row in gains.items():
            md.append(f"| {t} | " + " | ".join(f"{row[a]:+.2f}" if a in row else "" for a in gain_columns) + " |")
        md += ["", "![gain heat map](gain_heatmap.png)"]
    else:
        md.append("(needs single-task and single-aux dev trials)")
    if intervals:
        md += ["", "With its 95% interval from a paired bootstrap over dev sentences (single-aux and single-task "
                   "trained on train alone, the same seeds and setting), and in brackets the number of runs paired: "
                   "every seed that both have, so where the chosen corpus's final models were trained on train alone "
                   "too (lowres-cpu) the gain is their mean over seeds and may differ from the best-of-grid figure "
                   "above:", "", *_markdown_gain_intervals(intervals, gain_columns), "",
               "![gain with intervals](gain_intervals.png)"]
    return md, gains, gain_columns, intervals


SIGNIFICANCE_HOW = ("Test F1 (%) as mean ± standard deviation over seeds (number of seeds); the difference per seed "
                    "(paired by seed); the paired bootstrap over test sentences ({resamples} resamples, the "
                    "difference of the seed-averaged F1): its 95% interval and two-sided p-value (below the "
                    "bootstrap's resolution: \"< 0.001\"; beside it, when it rests on one seed or fewer than "
                    "{few} sentences). \"Within noise\": the interval contains 0.")


def _section_significance(r: Inputs) -> list[str]:
    rows = significance(r.trials, r.counts, r.targets, [m for m in METHODS if m != "single-task"])
    _write_csv(r.out / "significance.csv", [x | {"per_seed": " ".join(f"{d:+.4f}" for d in x["per_seed"])} for x in rows])
    return ["", "## Is it more than noise? Each method against single-task", "",
            SIGNIFICANCE_HOW.format(resamples=stats.RESAMPLES, few=stats.FEW_SENTENCES)
            + " Devices: where the method's / single-task's models ran.", "", *_markdown_significance(rows)]


def _section_compare(r: Inputs, other: list[dict], compare_preset: str) -> list[str]:
    """This preset (A) against `compare_preset` (B): the same method paired by seed, and every
    method of A against B's single-task (B a control: single-task trained as long as iter)."""
    presets = ", ".join(sorted({t["preset"] for t in r.trials}))
    rows = preset_comparison(r.trials, other, r.counts, r.targets)
    _write_csv(r.out / "preset_comparison.csv", rows)
    md = ["", f"## {presets} (A) against {compare_preset} (B)", "",
          "Final models paired by target, method and seed; F1 (%) as the mean over seeds; the paired "
          "bootstrap over the split's sentences.", "",
          "| target | method | split | seeds | A | B | per-seed A − B | A − B | 95% interval | p | reading |",
          "|---|---|---|---|---|---|---|---|---|---|---|"]
    md += [f"| {x['target']} | {x['method']} | {x['split']} | {x['seeds']} | {x['a']:.2f} | {x['b']:.2f} | "
           f"{x['per_seed']} | {x['delta']:+.2f} | [{x['low']:+.2f}, {x['high']:+.2f}] | {x['p_text']} | "
           f"{'within noise' if x['within_noise'] else ('A better' if x['delta'] > 0 else 'B better')} |" for x in rows]
    control = significance(r.trials, r.counts, r.targets, list(METHODS), baseline_trials=other)
    _write_csv(r.out / "control.csv", [x | {"per_seed": " ".join(f"{d:+.4f}" for d in x["per_seed"])} for x in control])
    baseline = f"single-task ({compare_preset})"
    md += ["", f"### Each method of {presets} against single-task of {compare_preset}", "",
           SIGNIFICANCE_HOW.format(resamples=stats.RESAMPLES, few=stats.FEW_SENTENCES)
           + f" The baseline is {compare_preset}'s single-task, paired by seed.", "",
           *_markdown_significance(control, baseline)]
    return md


def _section_sizes(r: Inputs) -> list[str]:
    """The gain over single-task against target size, over the presets of this one's series."""
    members = sizes.series(r.everything, r.trials)
    rows = sizes.gain_by_size(members, r.counts, targets_of([t for ts in members.values() for t in ts]),
                              [m for m in METHODS if m != "single-task"], final_trials)
    if len({x["train_limit"] for x in rows}) < 2:
        return []  # one size: the significance table above says it all
    _write_csv(r.out / "gain_by_size.csv", rows)
    sizes.plot(r.out, rows)
    return ["", "## Gain over single-task by target size", "",
            "Presets that differ only in the target's training sentences and their epoch cap "
            f"({', '.join(f'`{p}`' for p in dict.fromkeys(x['preset'] for x in rows))}): "
            "each method's test F1 minus single-task's of the same preset, "
            "paired by seed, mean over seeds, with the 95% interval and p of the paired bootstrap over test "
            "sentences (the test set is whole at every size).", "", *sizes.markdown(rows), "",
            "![gain against target size](gain_vs_size.png)"]
