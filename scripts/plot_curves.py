"""Dev F1, main loss and learning rate against epoch from the log.jsonl of `munch train` runs.

    python3 scripts/plot_curves.py runs/evidence/pilot-ncbi-disease runs/evidence/pilot-s800 \
        --out docs/results/pilot_curves.png

Used to choose the epoch cap of the lowres-cpu preset (docs/results.md): a cap must lie past the
plateau of the dev curve. Writes the PNG and, beside it, a CSV of the plotted values.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def epochs(run: Path) -> list[dict]:
    lines = (run / "log.jsonl").read_text(encoding="utf-8").splitlines()
    return [r for r in map(json.loads, lines) if r.get("event") == "epoch"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run directories (munch train --out)")
    parser.add_argument("--out", type=Path, required=True, help="the PNG to write")
    args = parser.parse_args()
    fig, (f1_ax, loss_ax) = plt.subplots(1, 2, figsize=(11, 4))
    rows = []
    for run in args.runs:
        records = epochs(run)
        x = [r["epoch"] for r in records]
        f1_ax.plot(x, [100 * r["dev_f1"] for r in records], label=run.name)
        loss_ax.plot(x, [r["loss"] for r in records], label=run.name)
        rows += [{"run": run.name, "epoch": r["epoch"], "dev_f1": r["dev_f1"], "loss": r["loss"], "lr": r["lr"]}
                 for r in records]
    f1_ax.set(xlabel="epoch", ylabel="dev F1 (%)", title="dev F1 after every epoch")
    loss_ax.set(xlabel="epoch", ylabel="main-task loss", title="training loss (the rule's input)", yscale="log")
    for ax in (f1_ax, loss_ax):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    with open(args.out.with_suffix(".csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["run", "epoch", "dev_f1", "loss", "lr"])
        writer.writeheader()
        writer.writerows(rows)
    print(args.out)


if __name__ == "__main__":
    main()
