"""The reproduction of the paper's experiments: protocol, results store, engines, report.

`munch reproduce` calls `reproduce_command`, `munch report` calls `report.write_report`.
"""

from __future__ import annotations

from pathlib import Path


def reproduce_command(store_path: str | Path, runs_dir: str | Path, engine: str = "local", jobs: int = 1,
                      ray_address: str | None = None, gpus_per_trial: float = 0, cpus_per_trial: float = 1,
                      device: str = "auto", data_dir: str | None = None, ray_init: dict | None = None,
                      **protocol_options):
    """Build the protocol, open the store and the engine, run what is missing; the Summary."""
    from ..files import ensure_dir
    from .engines import make_engine, validate_trials
    from .protocol import make_protocol, reproduce
    from .store import Store

    protocol = make_protocol(data_dir=data_dir, **protocol_options)
    validate_trials(protocol, Path(runs_dir), data_dir, device)  # every setting, before any worker starts
    ensure_dir(runs_dir, "--runs-dir", create=False)
    with Store(store_path) as store:
        runner = make_engine(engine, jobs, ray_address, gpus_per_trial, cpus_per_trial, ray_init)
        try:
            return reproduce(protocol, store, runner, Path(runs_dir), data_dir, device)
        finally:
            runner.close()
