"""The reproduction of the paper's experiments: protocol, results store, engines, report.

`munch reproduce` calls `reproduce_command`, `munch report` calls `report.write_report`.
"""

from __future__ import annotations

from pathlib import Path

from ..util.files import ensure_dir
from .driver import reproduce
from .engines import make_engine, validate_trials
from .protocol import make_protocol
from .status import format_status, status
from .store import Store


def reproduce_command(store_path: str | Path, runs_dir: str | Path, engine: str = "local", jobs: int = 1,
                      ray_address: str | None = None, gpus_per_trial: float = 0, cpus_per_trial: float = 1,
                      device: str = "auto", data_dir: str | None = None, ray_init: dict | None = None,
                      threads: int | None = None, **protocol_options):
    """Build the protocol, open the store and the engine, run what is missing; the Summary."""
    protocol = make_protocol(data_dir=data_dir, **protocol_options)
    validate_trials(protocol, Path(runs_dir), data_dir, device)  # every setting, before any worker starts
    ensure_dir(runs_dir, "--runs-dir", create=False)
    with Store(store_path) as store:
        runner = make_engine(engine, jobs, ray_address, gpus_per_trial, cpus_per_trial, ray_init, threads)
        try:
            return reproduce(protocol, store, runner, Path(runs_dir), data_dir, device)
        finally:
            runner.close()


def status_command(store_path: str | Path, runs_dir: str | Path, jobs: int = 1, data_dir: str | None = None,
                   **protocol_options) -> str:
    """`munch reproduce --status`: done, running and left per method and target, with an estimate."""
    protocol = make_protocol(data_dir=data_dir, **protocol_options)
    done = []
    if Path(store_path).is_file():
        with Store(store_path, readonly=True) as store:
            done = store.trials()
    return format_status(status(protocol, done, Path(runs_dir), jobs), str(store_path), jobs)
