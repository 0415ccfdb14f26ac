"""Where a reproduction stands: every trial it will run, and which are done, running or left.

The trials a protocol runs depend on the results (the chosen setting, the sorted orders), so
the list is found the way `reproduce` finds it: `plan()` over the finished trials, and for
trials not yet run a stand-in result (dev F1 0 everywhere, so ties pick the grid's first
setting), planned again until nothing more is ready. Multi-task finals shared by targets that
pick one setting may make the real count smaller or larger by a few; the count is an estimate
until the dev trials are done.

A trial is running when its directory (`runs_dir/<key>`) holds a checkpoint or its metrics but
the store has no row for it yet (a live run, or a stopped one that `--resume`s from there).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict
from pathlib import Path

from ..util.progress import duration
from .protocol import BASE_METHOD, Protocol, Trial, plan


def _stand_in(trial: Trial, corpora: list[str]) -> dict:
    return asdict(trial) | {"key": trial.key, "aux": list(trial.aux), "seconds": None,
                            "scores": {(c, split): {"f1": 0.0} for c in corpora for split in ("dev", "test")}}


def all_trials(protocol: Protocol, done: list[dict]) -> list[Trial]:
    """Every trial the protocol will run, done ones included, in plan order."""
    by_key = {t["key"]: t for t in done}
    rows: list[dict] = []
    order: list[Trial] = []
    seen: set[str] = set()
    while True:  # plan from nothing, feeding each planned trial its real row or a stand-in
        ready, _ = plan(protocol, rows)
        new = [t for t in ready if t.key not in seen]
        if not new:
            return order
        for trial in new:
            seen.add(trial.key)
            order.append(trial)
            rows.append(by_key.get(trial.key) or _stand_in(trial, protocol.corpora))


def work(method: str, n_aux: int) -> int:
    """A trial's updates per epoch in single-task epochs: single-aux and conc add an auxiliary batch
    to every main one, iter passes over the target once per auxiliary corpus (Algorithm 3) and
    stack runs a stage per auxiliary corpus (Algorithm 4), each with auxiliary batches; multi-task
    passes over every corpus. Measured on the CPU: iter and stack trials took 2,005-2,168 s of
    training against 346-385 s for single-task with three auxiliary corpora (docs/results.md)."""
    base = BASE_METHOD.get(method, method)
    if base == "single-task":
        return 1
    if base in ("iter", "stack"):
        return 2 * max(1, n_aux)
    if base == "multi-task":
        return 1 + n_aux
    return 2


def status(protocol: Protocol, done: list[dict], runs_dir: Path, jobs: int = 1) -> dict:
    """{"rows": [{method, target, done, running, left}], "totals": {...}, "mean_seconds", "eta_seconds"}."""
    trials = all_trials(protocol, done)
    keys = [trial.key for trial in trials]  # a hash of the trial's fields, computed on every access
    done_keys = {t["key"] for t in done}
    counts: dict[tuple[str, str], Counter] = {}
    states: dict[str, str] = {}
    for trial, key in zip(trials, keys):
        if key in done_keys:
            state = "done"
        elif any((Path(runs_dir) / key / name).exists() for name in ("checkpoint.pt", "metrics.json")):
            state = "running"
        else:
            state = "left"
        states[key] = state
        counts.setdefault((trial.method, trial.target), Counter())[state] += 1
    rows = [{"method": m, "target": t, **{s: c[s] for s in ("done", "running", "left")}}
            for (m, t), c in counts.items()]
    totals = {s: sum(r[s] for r in rows) for s in ("done", "running", "left")}
    mean, eta = estimate(list(zip(trials, keys)), done, {k for k, s in states.items() if s == "running"}, jobs)
    return {"rows": rows, "totals": totals, "mean_seconds": mean, "eta_seconds": eta}


def estimate(trials: list[tuple[Trial, str]], done: list[dict], running: set[str], jobs: int) -> tuple:
    """(mean seconds of the finished trials, seconds left): the finished trials' time per unit of
    work times the work left (a running trial counted half done) shared by `jobs` workers; both
    None before a trial has finished. `trials` pairs each planned trial with its key."""
    planned = {key for _, key in trials}
    done_keys = {t["key"] for t in done}
    timed = [t for t in done if t.get("seconds") and t["key"] in planned]
    if not timed:
        return None, None
    unit = sum(t["seconds"] for t in timed) / sum(work(t["method"], len(t["aux"])) for t in timed)
    left = sum(work(trial.method, len(trial.aux)) * (0.5 if key in running else 1.0)
               for trial, key in trials if key not in done_keys)
    return sum(t["seconds"] for t in timed) / len(timed), unit * left / max(1, jobs)


def format_status(result: dict, store: str, jobs: int = 1) -> str:
    rows = result["rows"]
    w_m = max([len("method"), *(len(r["method"]) for r in rows)])
    w_t = max([len("target"), *(len(r["target"]) for r in rows)])
    lines = [f"{'method':<{w_m}}  {'target':<{w_t}}  {'done':>5}  {'running':>7}  {'left':>5}"]
    lines += [f"{r['method']:<{w_m}}  {r['target']:<{w_t}}  {r['done']:>5}  {r['running']:>7}  {r['left']:>5}" for r in rows]
    t = result["totals"]
    total = f"{t['done']} done, {t['running']} running, {t['left']} left of about {sum(t.values())} trials in {store}"
    if result["eta_seconds"] is not None and (t["left"] or t["running"]):
        total += (f"; about {duration(result['eta_seconds'])} to go with {jobs} job{'s' if jobs > 1 else ''} "
                  f"(finished trials took {duration(result['mean_seconds'])} on average; iter and stack count "
                  "as two single-task trials per auxiliary corpus)")
    elif t["left"] or t["running"]:
        total += "; no trial finished yet to estimate the time from"
    return "\n".join([*lines, total])
