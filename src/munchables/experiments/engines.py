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
import socket
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict
from pathlib import Path

from ..util.checks import threads as check_threads
from ..choices import ENGINES, check
from ..errors import UserError, WorkerDied
from .protocol import BASE_METHOD



def trial_options(trial: dict, runs_dir: Path, data_dir, device: str):
    """The pipeline's RunOptions for one trial; its directory is runs_dir/<key>."""
    # torch-loading modules imported where a trial is built or run, so that `munch reproduce
    # --status` and munch report (which import this package) stay light
    from ..model import ModelConfig
    from ..pipeline import RunOptions
    from ..trainer import TrainConfig

    return RunOptions(
        target=trial["target"], out=Path(runs_dir) / trial["key"], method=BASE_METHOD[trial["method"]],
        aux=list(trial["aux"]) or None, aux_order="given", data_dir=data_dir,
        train_limit=trial["train_limit"], aux_whole=trial.get("aux_whole", False), device=device, resume=True,
        progress=False, train_on_dev=trial["phase"] == "final" and trial.get("final_on_dev", True),
        train=TrainConfig(lr=trial["lr"], batch_size=trial["batch_size"], max_epochs=trial["max_epochs"],
                          seed=trial["seed"], loss_reduction=trial.get("loss_reduction", "mean")),
        model=ModelConfig(word_dim=trial["word_dim"], hidden=trial["hidden"], word_vectors=trial.get("word_vectors")),
    )


def validate_trials(protocol, runs_dir: Path, data_dir, device: str) -> None:
    """Check the options of every trial the protocol can run (each method, setting and phase) as
    pipeline.train would, so that a bad setting is one line from the driver, not a failed worker."""
    from ..util.device import pick_device  # torch, as in trial_options
    from ..pipeline import validate

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
    return {"metrics": metrics, "curve": curve}


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
                worker.join(timeout=5)


def _unreachable(address: str) -> str | None:
    """Why nothing listens at a Ray address `[ray://]host:port`, or None (also for `auto` and other forms)."""
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit() or not host:
        return None  # "auto", "local" ...: Ray resolves them itself
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()
    except OSError as e:
        return e.strerror or str(e) or e.__class__.__name__
    return None


class RayEngine:
    """Every trial a Ray task with one GPU (or `cpus` CPUs); Ray schedules, places and retries them."""

    def __init__(self, address: str | None = None, gpus: float = 0, cpus: float = 1, retries: int = 2,
                 init_kwargs: dict | None = None):
        try:
            import ray
        except ImportError:
            raise UserError("--engine ray needs Ray: pip install 'munchables[ray]'") from None
        self.ray = ray
        if not ray.is_initialized():
            unreachable = address and _unreachable(address)
            if unreachable:  # ray.init would retry for about two minutes before saying so
                raise UserError(f"--ray-address {address}: nothing answers there ({unreachable}); start a cluster "
                                "with `ray start --head`, or leave --ray-address out to run a local Ray instance")
            try:
                ray.init(address=address, **(init_kwargs or {}))
            except (ConnectionError, RuntimeError, ValueError) as e:  # no cluster there: one line, not Ray's traceback
                first = (str(e).strip().splitlines() or [e.__class__.__name__])[0]
                raise UserError(f"--ray-address {address}: cannot connect to a Ray cluster ({first}); start one "
                                "with `ray start --head`, or leave --ray-address out to run a local Ray instance") from None
        self.slots = 1 << 30  # submit everything ready: Ray's scheduler queues it
        self.threads = max(1, int(cpus))
        self.task = ray.remote(num_gpus=gpus, num_cpus=cpus, max_retries=retries)(run_trial)

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
