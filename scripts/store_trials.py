"""Print every trial of a results store as one Markdown table (docs/results.md, "Where it stands").

    python3 scripts/store_trials.py docs/results/lowres-cpu.sqlite

Rows sorted by preset, target, method, phase, seed; F1 in percent; "device" says where it ran.
"""

from __future__ import annotations

import sys

from munchables.experiments.store import Store


def main(path: str) -> None:
    with Store(path, readonly=True) as store:
        trials = store.trials()
    print("| preset | target | method | phase | auxiliary | seed | epochs | dev F1 | test F1 | device | wall s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for t in sorted(trials, key=lambda t: (t["preset"], t["target"], t["method"], t["phase"], t["seed"], t["aux"])):
        def f1(split, t=t):
            s = t["scores"].get((t["target"], split))
            return "" if s is None else f"{100 * s['f1']:.2f}"
        test = "(not used)" if t["phase"] == "dev" else f1("test")
        print(f"| {t['preset']} | {t['target']} | {t['method']} | {t['phase']} | {', '.join(t['aux']) or '–'} | "
              f"{t['seed']} | {t['epochs']} | {f1('dev')} | {test} | {t['device']} | {t['seconds']:.0f} |")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "docs/results/lowres-cpu.sqlite")
