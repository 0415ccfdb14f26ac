"""Where trials run: `local` (processes on this machine) or `ray` (tasks on a Ray cluster).

Both run `run_trial` on a worker and hand its result back to the driver, which alone writes the
store. An engine has `slots` (how many trials the driver keeps submitted), `submit`, `wait`
(the handles that finished) and `result`.
"""

from __future__ import annotations

import ctypes
import json
import multiprocessing
import os
import signal
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict
from pathlib import Path

from ..choices import ENGINES, check
from ..errors import UserError, WorkerDied
from ..util.checks import threads as check_threads
from ..util.ray_cluster import connect
from ..util.versions import library_versions
from .protocol import BASE_METHOD


def trial_options(trial: dict, runs_dir: Path, data_dir, device: str):
    """The pipeline's RunOptions for one trial; its directory is runs_dir/<key>.

    A trial's fields are named as the run's settings (settings.py), so the settings it holds
    (lr, batch_size, seed, hidden, ...) are taken by name; a field a store row lacks (written
    before it existed) is at the setting's default, as it was when the trial ran."""
    from ..settings import RunOptions, build, names

    return build(RunOptions, {k: v for k, v in trial.items() if k in names(RunOptions)} | dict(
        out=Path(runs_dir) / trial["key"], method=BASE_METHOD[trial["method"]], aux=list(trial["aux"]) or None,
        aux_order="given", data_dir=data_dir, device=device, resume=True, progress=False,
        train_on_dev=trial["phase"] == "final" and trial.get("final_on_dev", True)))


def validate_trials(protocol, runs_dir: Path, data_dir, device: str) -> None:
    """Check the options of every trial the protocol can run (each method, setting and phase) as
    pipeline.train would, so that a bad setting is one line from the driver, not a failed worker."""
    from ..pipeline import validate
    from ..util.device import pick_device  # torch, as in trial_options

    pick_device(device)
    for method in protocol.methods:
        for setting in protocol.grid:
            for phase in ("dev", "final"):
                trial = protocol.trial(protocol.targets[0], method, [], setting, phase)
                payload = asdict(trial) | {"key": trial.key}
                options = trial_options(payload, runs_dir, data_dir, device)
                if BASE_METHOD[method] != "single-task":
                    options.aux = [c for c in protocol.corpora if c != trial.target][:1]
                validate(options)


def run_trial(trial: dict, runs_dir: str, data_dir, device: str, threads: int | None = None) -> dict:
    """Train one trial (resuming its checkpoint if any); {"metrics": metrics.json, "curve": [...]}.

    A trial whose metrics.json exists finished before the driver could record it: it is read,
    not trained again.
    """
    from ..pipeline import train  # torch: loaded in the worker only, the driver stays light
    from ..util.threads import set_threads

    set_threads(threads or None)
    options = trial_options(trial, Path(runs_dir), data_dir, device)
    out = Path(options.out)
    metrics_path = out / "metrics.json"
    metrics = json.loads(metrics_path.read_text()) if metrics_path.exists() else train(options)
    log_path = out / "log.jsonl"
    records = [json.loads(line) for line in log_path.read_text().splitlines()] if log_path.exists() else []
    curve = [{k: r.get(k) for k in ("stage", "epoch", "loss", "dev_f1")} for r in records if r["event"] == "epoch"]
    # the libraries of this worker (a Ray worker's may differ from the driver's)
    return {"metrics": metrics, "curve": curve, "environment": library_versions()}


def _init_worker(threads: int) -> None:
    """Worker processes die with the driver (Linux), so a killed run leaves no trial training on."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    os.environ["OMP_NUM_THREADS"] = str(threads)


class LocalEngine:
    """`jobs` worker processes on this machine, each with one torch thread unless told otherwise.

    One thread per worker, measured: a quick-preset trial took 517 s with the two threads that
    cpu_count / jobs gave one worker on a busy 2-core machine, against about 66 s with one;
    small models gain little from a second thread and lose much when the cores are shared.
    """

    def __init__(self, jobs: int = 1, threads: int | None = None):
        if jobs < 1:
            raise UserError(f"--jobs must be at least 1; got {jobs}")
        self.slots = jobs
        self.threads = check_threads(threads) or 1
        self.pool = ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"),
                                        initializer=_init_worker, initargs=(self.threads,))

    def submit(self, trial, runs_dir, data_dir, device):
        payload = asdict(trial) | {"key": trial.key}
        return self.pool.submit(run_trial, payload, str(runs_dir), data_dir, device, self.threads)

    def wait(self, handles):
        return list(wait(handles, return_when=FIRST_COMPLETED).done)

    def result(self, handle):
        try:
            return handle.result()
        except BrokenProcessPool:
            raise WorkerDied("a worker process died (killed from outside, or out of memory); the finished trials "
                             "are in the store and the unfinished ones keep their checkpoints: run the same "
                             "command again to go on") from None

    def close(self):
        """Stop at once: cancel what has not started and end the workers (an interrupted run must not
        go on training in the background; each trial resumes from its last epoch's checkpoint)."""
        workers = list((getattr(self.pool, "_processes", None) or {}).values())  # private, but no public handle
        self.pool.shutdown(wait=False, cancel_futures=True)
        for worker in workers:
            if worker.is_alive():
                worker.terminate()
        for worker in workers:
            worker.join(timeout=5)
            if worker.is_alive():  # SIGTERM not acted on (e.g. blocked inside a C call): SIGKILL
                worker.kill()
                worker.join()  # SIGKILL cannot be ignored: only the wait for the kernel (seconds on a loaded machine)


class RayEngine:
    """Every trial a Ray task with one GPU (or `cpus` CPUs); Ray schedules, places and retries them."""

    def __init__(self, address: str | None = None, gpus: float = 0, cpus: float = 1, retries: int = 2,
                 init_kwargs: dict | None = None):
        self.ray = connect(address, init_kwargs)
        self.slots = 1 << 30  # submit everything ready: Ray's scheduler queues it
        self.threads = max(1, int(cpus))
        self.task = self.ray.remote(num_gpus=gpus, num_cpus=cpus, max_retries=retries)(run_trial)

    def submit(self, trial, runs_dir, data_dir, device):
        payload = asdict(trial) | {"key": trial.key}
        return self.task.remote(payload, str(Path(runs_dir).resolve()), data_dir, device, self.threads)

    def wait(self, handles):
        done, _ = self.ray.wait(handles, num_returns=1)
        return done

    def result(self, handle):
        return self.ray.get(handle)

    def close(self):
        pass


def make_engine(name: str, jobs: int = 1, address: str | None = None, gpus: float = 0, cpus: float = 1,
                init_kwargs: dict | None = None, threads: int | None = None):
    check(name, ENGINES, "--engine")
    if name == "local":
        return LocalEngine(jobs, threads)
    return RayEngine(address, gpus, cpus, init_kwargs=init_kwargs)
