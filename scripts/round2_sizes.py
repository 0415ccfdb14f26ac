"""The size curve of the second round (docs/results.md section 5): iter's gain over single-task
against the number of target sentences, ncbi-disease, three seeds per size.

250, 500 and 2,000 sentences come from docs/results/round2.sqlite (this machine's vectors), 1,000
from the converged table's store docs/results/lowres-cpu.sqlite (its own vectors: both methods of
a size always share theirs). Per size: the paired bootstrap of experiments/stats.py over the test
sentences, seed with seed (sizes.py's arithmetic), and, per trial, whether its cap was long
enough: the epoch of its best dev F1 and whether dev F1 still rose in the last tenth of the epochs
it ran (a cap "too short" by the rule of section 5).

    python3 scripts/round2_sizes.py [--plot DIR]     # the table; with --plot, DIR/gain_vs_size.png and .csv
"""

from __future__ import annotations

import argparse
import csv
import json
import sqlite3
from pathlib import Path

from munchables.experiments import sizes
from munchables.experiments.stats import paired_bootstrap

OLD, NEW = "docs/results/lowres-cpu.sqlite", "docs/results/round2.sqlite"
TARGET = "ncbi-disease"
SIZES = [(250, "lowres-cpu+max_epochs=120,train_limit=250", NEW), (500, "lowres-cpu+max_epochs=90,train_limit=500", NEW),
         (1000, "lowres-cpu", OLD), (2000, "lowres-cpu+max_epochs=30,train_limit=2000", NEW)]
CAPS = {250: 120, 500: 90, 1000: 60, 2000: 30}
CONTROL_2000 = "lowres-cpu+max_epochs=90,train_limit=2000"  # single-task with iter's target updates at cap 30


def trials(store: str, preset: str, method: str) -> dict[int, dict]:
    """seed -> {counts, curve, epochs} of the final trials of (TARGET, method, preset)."""
    db = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    rows = db.execute("SELECT t.seed, s.counts, t.curve, t.epochs FROM trials t JOIN sentence_scores s ON s.key = t.key "
                      "WHERE t.target = ? AND t.method = ? AND t.preset = ? AND t.phase = 'final' "
                      "AND s.corpus = ? AND s.split = 'test'", (TARGET, method, preset, TARGET)).fetchall()
    return {seed: {"counts": json.loads(c), "curve": json.loads(curve), "epochs": e} for seed, c, curve, e in rows}


def still_rising(curve: list[dict]) -> tuple[int, float]:
    """(epoch of the best dev F1 over the whole run, by how many points the last tenth of the
    epochs beat the best dev F1 before it: > 0 means it still rose)."""
    points = [(i, r["dev_f1"]) for i, r in enumerate(curve, 1) if r.get("dev_f1") is not None]
    if not points:
        return 0, 0.0
    best_at = max(points, key=lambda p: p[1])[0]
    tenth = max(1, len(points) // 10)
    before = max(f for _, f in points[:-tenth]) if len(points) > tenth else 0.0
    return best_at, 100 * (max(f for _, f in points[-tenth:]) - before)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--plot", help="write gain_vs_size.png and gain_by_size.csv into this folder")
    args = parser.parse_args()
    rows, caps = [], []
    print("| target sentences | epoch cap | seeds | single-task test F1 | iter test F1 | gain | 95% interval | p |")
    print("|---|---|---|---|---|---|---|---|")
    for size, preset, store in SIZES:
        base, method = trials(store, preset, "single-task"), trials(store, preset, "iter")
        for name, runs in (("single-task", base), ("iter", method)):
            for seed, t in sorted(runs.items()):
                best_at, rising = still_rising(t["curve"])
                caps.append(f"| {size} | {name} | {seed} | {t['epochs']} of {CAPS[size]} | {best_at} | "
                            f"{f'yes, by {rising:.2f}' if rising > 0 else 'no'} |")
        seeds = sorted(set(base) & set(method))
        if not seeds:
            print(f"| {size} | {CAPS[size]} | (single-task {len(base)}, iter {len(method)} finished) | | | | | |")
            continue
        c = paired_bootstrap([method[s]["counts"] for s in seeds], [base[s]["counts"] for s in seeds])
        rows.append({"target": TARGET, "method": "iter", "train_limit": size, "max_epochs": CAPS[size],
                     "preset": preset, "seeds": len(seeds), "single_task": 100 * c.b, "f1": 100 * c.a,
                     "gain": 100 * c.delta, "low": 100 * c.low, "high": 100 * c.high, "p": c.p, "p_text": c.p_text,
                     "within_noise": c.within_noise})
        print(f"| {size} | {CAPS[size]} | {', '.join(map(str, seeds))} | {100 * c.b:.2f} | {100 * c.a:.2f} | "
              f"{100 * c.delta:+.2f} | [{100 * c.low:+.2f}, {100 * c.high:+.2f}] | {c.p_text} |")
    control, (_, preset_2000, _) = trials(NEW, CONTROL_2000, "single-task"), SIZES[-1]
    if control:
        print()
        print("| at 2,000 sentences (A vs B) | seeds | A test F1 | B test F1 | A - B, 95% interval | p |")
        print("|---|---|---|---|---|---|")
        for label, a, b in (("single-task 90 epochs (control) vs 30", control, trials(NEW, preset_2000, "single-task")),
                            ("iter (cap 30) vs the control", trials(NEW, preset_2000, "iter"), control)):
            seeds = sorted(set(a) & set(b))
            c = paired_bootstrap([a[s]["counts"] for s in seeds], [b[s]["counts"] for s in seeds])
            print(f"| {label} | {', '.join(map(str, seeds))} | {100 * c.a:.2f} | {100 * c.b:.2f} | "
                  f"{100 * c.delta:+.2f} [{100 * c.low:+.2f}, {100 * c.high:+.2f}] | {c.p_text} |")
        for seed, t in sorted(control.items()):
            best_at, rising = still_rising(t["curve"])
            caps.append(f"| 2000 (control) | single-task | {seed} | {t['epochs']} of 90 | {best_at} | "
                        f"{f'yes, by {rising:.2f}' if rising > 0 else 'no'} |")
    print()
    print("| target sentences | method | seed | epochs run of the cap | best dev F1 at epoch "
          "| dev F1 rose in the last tenth (points over the best before) |")
    print("|---|---|---|---|---|---|")
    print("\n".join(caps))
    if args.plot and rows:
        out = Path(args.plot)
        out.mkdir(parents=True, exist_ok=True)
        sizes.plot(out, rows)
        with open(out / "gain_by_size.csv", "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)


if __name__ == "__main__":
    main()
