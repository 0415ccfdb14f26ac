"""The driver of `munch reproduce`: plan, submit what is ready to the engine, record each trial as
it finishes, plan again (protocol.plan is a pure function of the finished trials).

Apart from protocol.py so that status.py (the plan's done / running / left, and the estimate the
driver logs) imports the protocol without an import cycle.
"""

from __future__ import annotations

import logging
import subprocess
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from ..errors import UserError, WorkerDied
from ..util.progress import duration
from .protocol import Protocol, Trial, plan, store_record
from .status import all_trials, estimate
from .store import Store

log = logging.getLogger("munchables")


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                              text=True, timeout=10).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def twin_key(trial: Trial) -> str | None:
    """The key of the dev trial that trains the very model `trial` does, or None: a final trial
    trained on train alone (lowres-cpu's finals) is its dev-phase twin with another label (the
    seed-1 single-aux final repeats the chosen corpus's selection model)."""
    return replace(trial, phase="dev").key if trial.phase == "final" and not trial.train_on_dev else None


@dataclass
class Summary:
    ran: int = 0  # trials trained (or copied from their dev twin) by this call
    skipped: int = 0  # trials found in the store
    failed: list[str] = field(default_factory=list)


def reproduce(protocol: Protocol, store: Store, engine, runs_dir: Path, data_dir=None, device="auto") -> Summary:
    """Run every trial of the protocol not yet in the store, recording each as it finishes."""
    commit = git_commit()
    summary = Summary(skipped=len(store.done_keys()))
    running: dict = {}  # engine handle -> Trial
    failed: set[str] = set()
    recorded: set[str] = set()
    started = time.perf_counter()
    trials = all_trials(protocol, store.trials())  # the count is an estimate until the dev trials are done
    total, before = len(trials), len({t.key for t in trials} & store.done_keys())
    while True:
        ready, waiting = plan(protocol, store.trials())
        copied, done = False, store.done_keys()
        for trial in ready:  # in plan order: a target's finals before the next target's dev trials
            if len(running) >= engine.slots:
                break
            if trial.key in failed or any(t.key == trial.key for t in running.values()):
                continue
            if trial.key in recorded:  # recorded by this call, yet planned again: the store does not keep it
                raise UserError(f"--store {store.path}: trial {trial.key} was recorded but the store does not list "
                                "it; stopped rather than train it again")
            twin = twin_key(trial)
            if twin in done:  # the same model was trained already: record it, train nothing
                store.copy_trial(twin, trial.key, trial.phase, asdict(trial) | {"aux": list(trial.aux)})
                recorded.add(trial.key)
                summary.ran += 1
                log.info("trial %s: %s %s %s seed %d is the model of dev trial %s (same data, seed and settings); "
                         "its result recorded again, nothing trained", trial.key, trial.phase, trial.target,
                         trial.method, trial.seed, twin)
                copied = True
                continue
            log.info("trial %s (%d started of about %d): %s %s %s bs %d lr %g seed %d [%s]", trial.key,
                     before + summary.ran + len(running) + 1, total, trial.phase, trial.target,
                     trial.method, trial.batch_size, trial.lr, trial.seed, " -> ".join(trial.aux))
            running[engine.submit(trial, runs_dir, data_dir, device)] = trial
        if not running:
            if copied:  # what the copies finished may let more trials start
                continue
            break
        for handle in engine.wait(list(running)):
            trial = running.pop(handle)
            try:
                result = engine.result(handle)
            except WorkerDied:  # the pool is gone: nothing more can run
                raise
            except Exception as e:  # a failed trial is reported, never recorded
                log.error("trial %s (%s %s) failed: %s", trial.key, trial.target, trial.method, e)
                failed.add(trial.key)
                summary.failed.append(f"{trial.target} {trial.method} {trial.phase}: {e}")
                continue
            store.record(*store_record(trial, result, commit, protocol.vectors_source))
            if trial.key not in store.done_keys():  # record raises when a write fails; this is the last word
                raise UserError(f"--store {store.path}: trial {trial.key} finished but the store does not hold it "
                                "after recording; stopped (its results stay in its trial directory)")
            recorded.add(trial.key)
            summary.ran += 1
            rows = store.trials()
            trials = all_trials(protocol, rows)
            total = max(len(trials), before + summary.ran + len(running))
            # as `--status` estimates it: the finished trials' time per unit of work (iter and stack
            # weigh M times single-task), not this call's trials per hour (blind to running ones)
            _, eta = estimate([(t, t.key) for t in trials], rows, {t.key for t in running.values()},
                              min(engine.slots, len(running) + 1))
            scores = (f"test F1 {result['metrics']['test']['f1']:.4f}" if trial.train_on_dev  # dev F1 means nothing
                      else f"dev F1 {result['metrics']['dev']['f1']:.4f} test F1 {result['metrics']['test']['f1']:.4f}")
            log.info("trial %d of about %d done (%s, %s so far%s): %s %s %s %s", before + summary.ran, total, trial.key,
                     duration(time.perf_counter() - started),
                     f", about {duration(eta)} left" if eta and total > before + summary.ran else "",
                     trial.phase, trial.target, trial.method, scores)
    if waiting and not summary.failed:
        raise AssertionError("unreachable: trials wait on inputs though nothing runs")
    return summary
