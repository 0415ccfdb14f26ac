"""The compute-matched control across the two stores (docs/results.md, "Second round").

The converged table's trials (docs/results/lowres-cpu.sqlite) were trained with word vectors that
cannot be rebuilt byte for byte here (the BLAS kernel changes the bytes: README, "Resuming the
committed store"); the second round (docs/results/round2.sqlite) retrained single-task with this
machine's vectors, at 60 epochs (the vectors' own effect) and at 180 (the control). This prints,
per target, every comparison with the paired bootstrap of munch report (experiments/stats.py):
test F1 over the seeds both sides have, paired by seed.

    python3 scripts/round2_control.py [OLD_STORE] [ROUND2_STORE]
"""

from __future__ import annotations

import json
import sqlite3
import sys

from munchables.experiments.stats import paired_bootstrap

OLD = sys.argv[1] if len(sys.argv) > 1 else "docs/results/lowres-cpu.sqlite"
NEW = sys.argv[2] if len(sys.argv) > 2 else "docs/results/round2.sqlite"


def runs(store: str, target: str, method: str, preset: str) -> dict[int, list]:
    """seed -> per-sentence test counts of the final trials of (target, method, preset)."""
    db = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    rows = db.execute("SELECT t.seed, s.counts FROM trials t JOIN sentence_scores s ON s.key = t.key "
                      "WHERE t.target = ? AND t.method = ? AND t.preset = ? AND t.phase = 'final' "
                      "AND s.corpus = ? AND s.split = 'test'", (target, method, preset, target)).fetchall()
    return {seed: json.loads(counts) for seed, counts in rows}


def line(name: str, a: dict, b: dict) -> str:
    seeds = sorted(set(a) & set(b))
    if not seeds:
        return f"| {name} | (not run yet) | | | | |"
    c = paired_bootstrap([a[s] for s in seeds], [b[s] for s in seeds])
    return (f"| {name} | {', '.join(map(str, seeds))} | {100 * c.a:.2f} | {100 * c.b:.2f} | "
            f"{100 * c.delta:+.2f} [{100 * c.low:+.2f}, {100 * c.high:+.2f}] | {c.p_text} |")


def main() -> None:
    print("| comparison (A vs B) | seeds | A test F1 | B test F1 | A - B, 95% interval | p |")
    print("|---|---|---|---|---|---|")
    for target in ("ncbi-disease", "s800"):
        st60_old = runs(OLD, target, "single-task", "lowres-cpu")
        st60_new = runs(NEW, target, "single-task", "lowres-cpu")
        control = runs(NEW, target, "single-task", "lowres-cpu+max_epochs=180")
        print(line(f"{target}: single-task 60 epochs, this machine's vectors vs the committed ones", st60_new, st60_old))
        print(line(f"{target}: single-task 180 epochs (control) vs 60, same vectors", control, st60_new))
        for method in ("single-aux", "conc", "iter", "stack"):
            print(line(f"{target}: {method} vs the control", runs(OLD, target, method, "lowres-cpu"), control))


if __name__ == "__main__":
    main()
