"""When auxiliary corpora help: each method's gain over single-task against the target's size.

The presets of one series differ only in how many target sentences they train on (`train_limit`)
and the epoch cap chosen for that size (`max_epochs`), e.g. `lowres-cpu` (1,000 sentences, 60
epochs) and `lowres-cpu+max_epochs=120,train_limit=250`; everything else in their trials'
configs (model sizes, learning rate, batch, loss, vectors ...) is the same. For every preset of
the series, target and method with final models: the gain is the method's test F1 minus
single-task's of the same preset, paired by seed, as the mean over seeds, with its 95% interval
from the paired bootstrap over test sentences (stats.paired_bootstrap; the test set is never cut,
so every size scores the same sentences).
"""

from __future__ import annotations

from pathlib import Path

from . import stats

PER_SIZE = ("train_limit", "max_epochs")
# fields that differ between the trials of one preset (or carry no meaning for a preset)
PER_TRIAL = ("target", "method", "aux", "lr", "batch_size", "seed", "phase", "preset", "word_vectors")


def preset_settings(trial: dict) -> tuple:
    """What a trial shares with every trial of its preset's series."""
    config = trial["config"]
    return tuple(sorted((k, str(v)) for k, v in config.items() if k not in PER_SIZE + PER_TRIAL))


def series(all_trials: list[dict], base: list[dict]) -> dict[str, list[dict]]:
    """{preset: its trials} for the presets of `base`'s series (`base` included), by train_limit."""
    if not base:
        return {}
    settings = {preset_settings(t) for t in base}
    by_preset: dict[str, list[dict]] = {}
    for t in all_trials:
        by_preset.setdefault(t["preset"], []).append(t)
    members = {p: ts for p, ts in by_preset.items() if {preset_settings(t) for t in ts} == settings
               and len({(t["config"].get("train_limit"), t["config"].get("max_epochs")) for t in ts}) == 1}
    return dict(sorted(members.items(), key=lambda kv: (kv[1][0]["config"].get("train_limit") or 1 << 60,
                                                        kv[1][0]["config"].get("max_epochs") or 0)))


def gain_by_size(members: dict[str, list[dict]], counts: dict, targets, methods, final_trials) -> list[dict]:
    """One row per (target, method, preset) with single-task and the method both finished:
    sizes, seeds, F1 of both (means), gain, 95% interval and p (points)."""
    rows = []
    for preset, trials in members.items():
        limit, cap = trials[0]["config"].get("train_limit"), trials[0]["config"].get("max_epochs")
        for target in targets:
            base = {t["seed"]: t for t in final_trials(trials, "single-task", target)}
            for method in methods:
                runs = {t["seed"]: t for t in final_trials(trials, method, target)}
                seeds = sorted(set(base) & set(runs))
                a = [counts.get((runs[k]["key"], target, "test")) for k in seeds]
                b = [counts.get((base[k]["key"], target, "test")) for k in seeds]
                if not seeds or any(c is None for c in a + b):
                    continue
                c = stats.paired_bootstrap(a, b)
                rows.append({"target": target, "method": method, "train_limit": limit, "max_epochs": cap,
                             "preset": preset, "seeds": len(seeds), "single_task": 100 * c.b, "f1": 100 * c.a,
                             "gain": 100 * c.delta, "low": 100 * c.low, "high": 100 * c.high, "p": c.p,
                             "p_text": c.p_text, "within_noise": c.within_noise})
    return rows


def markdown(rows: list[dict]) -> list[str]:
    md = ["| target | method | target sentences | epoch cap | seeds | single-task | method | gain | 95% interval | p |",
          "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        md.append(f"| {r['target']} | {r['method']} | {r['train_limit'] or 'all'} | {r['max_epochs'] or 'none'} | "
                  f"{r['seeds']} | {r['single_task']:.2f} | {r['f1']:.2f} | {r['gain']:+.2f} | "
                  f"[{r['low']:+.2f}, {r['high']:+.2f}] | {r['p_text']} |")
    return md


def plot(out: Path, rows: list[dict], whole: int | None = None) -> str:
    """gain_vs_size.png: the gain with its interval against target sentences (log scale), one line
    per target and method; a run on the whole training set (train_limit None) at `whole` or past the rest."""
    import matplotlib  # here: the backend must be chosen before pyplot loads

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = [r["train_limit"] for r in rows if r["train_limit"]]
    full = whole or (2 * max(sizes) if sizes else 1)
    fig, ax = plt.subplots(figsize=(7.0, 4.5))
    lines = sorted({(r["target"], r["method"]) for r in rows})
    for i, (target, method) in enumerate(lines):
        mine = sorted((r for r in rows if (r["target"], r["method"]) == (target, method)),
                      key=lambda r: r["train_limit"] or full)
        xs = [(r["train_limit"] or full) * (1 + 0.03 * (i - (len(lines) - 1) / 2)) for r in mine]  # no overlap
        ys = [r["gain"] for r in mine]
        errors = [[r["gain"] - r["low"] for r in mine], [r["high"] - r["gain"] for r in mine]]
        ax.errorbar(xs, ys, yerr=errors, fmt="o-", capsize=4, label=f"{method}, {target}")
    ax.axhline(0, color="grey", linewidth=0.8)
    ax.set_xscale("log")
    ax.minorticks_off()
    ticks = sorted({r["train_limit"] or full for r in rows})
    ax.set_xticks(ticks, [str(t) if t != full or any(r["train_limit"] == full for r in rows) else "all" for t in ticks])
    ax.set_xlabel("target training sentences")
    ax.set_ylabel("test F1 gain over single-task (points)")
    ax.set_title("Gain over single-task by target size (mean over seeds, 95% paired bootstrap)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "gain_vs_size.png", dpi=110)
    plt.close(fig)
    return "gain_vs_size.png"
