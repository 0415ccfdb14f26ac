"""`munch train --compare METHOD --seeds N`: the run, the same run with another method, and the answer with its interval.

Both systems train under the same settings, on the same target and split, with the same seeds
(--seed, --seed + 1, ...). The run asked for keeps --out for its first seed (the model to tag
with) and OUT/seed-S/ for the others; the comparison's runs go to OUT/compare/METHOD-seed-S/.
Each is an ordinary run directory, so --resume continues whichever was cut short.

The answer is the paired bootstrap over the target's test sentences of munch report
(experiments/stats.py): the difference of the seed-averaged test F1 and its 95% interval, one
line, also written to OUT/comparison.json.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path

from ..choices import METHODS, NEEDS_AUX, check
from ..errors import UserError
from ..pipeline import RunOptions, resolve_aux, train
from ..util.files import atomic_write_text
from .stats import paired_bootstrap

log = logging.getLogger("munchables")


def run_dirs(out: Path, seeds: list[int], method: str | None) -> list[Path]:
    """Where each seed's run goes: OUT and OUT/seed-S for the run asked for, OUT/compare/METHOD-seed-S for the other."""
    if method is None:
        return [out if k == 0 else out / f"seed-{s}" for k, s in enumerate(seeds)]
    return [out / "compare" / f"{method}-seed-{s}" for s in seeds]


def train_compared(options: RunOptions, compare: str | None, seeds: int) -> dict:
    """Train `seeds` seeds of `options` and, with `compare`, of the same with method `compare`; the comparison."""
    if seeds < 1:
        raise UserError(f"--seeds must be at least 1; got {seeds}")
    if compare is not None:
        check(compare, METHODS, "--compare")
        if compare == options.method:
            raise UserError(f"--compare {compare} is the run's own method; compare with another (e.g. single-task)")
    if options.out is None:
        raise UserError("train needs --out DIR")
    if options.method in NEEDS_AUX:
        options = resolve_aux(options)  # --aux auto chosen once, for every seed
    out = Path(options.out)
    seed_list = [options.train.seed + k for k in range(seeds)]
    runs = []
    for seed, directory in zip(seed_list, run_dirs(out, seed_list, None)):
        log.info("%s, seed %d -> %s", options.method, seed, directory)
        runs.append(train(replace(options, out=directory, train=replace(options.train, seed=seed))))
    result = {"method": options.method, "aux": runs[0].get("aux", []), "seeds": seed_list,
              "test_f1": [r["test"]["f1"] for r in runs]}
    if compare is None:
        return result
    other = []
    for seed, directory in zip(seed_list, run_dirs(out, seed_list, compare)):
        log.info("%s, seed %d -> %s", compare, seed, directory)
        other.append(train(replace(options, out=directory, method=compare, train=replace(options.train, seed=seed))))
    c = paired_bootstrap([r["test"]["sentences"] for r in runs], [r["test"]["sentences"] for r in other])
    result |= {"compare": compare, "compare_test_f1": [r["test"]["f1"] for r in other],
               "bootstrap": c.as_dict(), "sentence": sentence(options.method, result["aux"], compare, c)}
    atomic_write_text(out / "comparison.json", json.dumps(result, indent=2) + "\n")
    return result


def sentence(method: str, aux: list[str], compare: str, c) -> str:
    """The answer: "with auxiliary corpora X, Y, Z: test F1 a; alone: b; difference d, 95% interval [l, u] over N seeds"."""
    mine = f"with auxiliary corpora {', '.join(aux)} ({method})" if aux else method
    theirs = "alone" if compare == "single-task" else f"with {compare}"
    reading = "within noise" if c.within_noise else ("better" if c.delta > 0 else "worse")
    return (f"{mine}: test F1 {100 * c.a:.2f}; {theirs}: {100 * c.b:.2f}; difference {100 * c.delta:+.2f}, "
            f"95% interval [{100 * c.low:+.2f}, {100 * c.high:+.2f}] over {c.seeds} seed{'s' if c.seeds != 1 else ''} "
            f"({reading}; paired bootstrap over the test sentences, {c.resamples} resamples)")
