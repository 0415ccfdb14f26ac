"""The reproduction of the paper's experiments: protocol, results store, engines, report.

`munch reproduce` calls `reproduce_command`, `munch report` calls `report.write_report`.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ..embeddings.provenance import sidecar_path
from ..errors import UserError
from ..util.files import ensure_dir
from . import mismatch
from .driver import reproduce
from .engines import make_engine, validate_trials
from .protocol import make_protocol
from .status import all_trials, format_status, status
from .store import Store, hold, holder

log = logging.getLogger("munchables")


def reproduce_command(store_path: str | Path, runs_dir: str | Path, engine: str = "local", jobs: int = 1,
                      ray_address: str | None = None, gpus_per_trial: float = 0, cpus_per_trial: float = 1,
                      device: str = "auto", data_dir: str | None = None, ray_init: dict | None = None,
                      threads: int | None = None, retrain: bool = False, **protocol_options):
    """Build the protocol, open the store (one run at a time) and the engine, run what is missing;
    the Summary. Refused before any training when the store holds trials of this preset made with
    other inputs, unless `retrain`."""
    protocol = make_protocol(data_dir=data_dir, **protocol_options)
    validate_trials(protocol, Path(runs_dir), data_dir, device)  # every setting, before any worker starts
    ensure_dir(runs_dir, "--runs-dir", create=False)
    with Store(store_path) as store, hold(store_path):
        done = store.trials()
        found = mismatch.find(protocol, all_trials(protocol, done), done)
        if found.groups and not retrain:
            raise UserError(mismatch.refusal(found, protocol.preset_name, str(store_path)))
        if protocol.vectors_source:  # trials recorded before the sidecar existed: where their vectors came from
            filled = store.fill_vectors_source(protocol.vectors_sha256, protocol.vectors_source)
            if filled:
                log.info("%d trials made with these vectors now record the text they came from (%s...), from %s",
                         filled, str(protocol.vectors_source.get("text_sha256"))[:8], sidecar_path(protocol.word_vectors))
        runner = make_engine(engine, jobs, ray_address, gpus_per_trial, cpus_per_trial, ray_init, threads)
        try:
            return reproduce(protocol, store, runner, Path(runs_dir), data_dir, device)
        finally:
            runner.close()


def status_command(store_path: str | Path, runs_dir: str | Path, jobs: int = 1, data_dir: str | None = None,
                   **protocol_options) -> str:
    """`munch reproduce --status`: done, running and left per method and target, with an estimate,
    and what differs where the store holds this preset's trials made otherwise."""
    protocol = make_protocol(data_dir=data_dir, **protocol_options)
    done = []
    if Path(store_path).is_file():
        with Store(store_path, readonly=True) as store:
            done = store.trials()
    result = status(protocol, done, Path(runs_dir), jobs)
    lines = [format_status(result, str(store_path), jobs)]
    lines += mismatch.describe(mismatch.find(protocol, all_trials(protocol, done), done), protocol.preset_name,
                               str(store_path))
    presets = sorted({t["preset"] for t in done})
    if done and protocol.preset_name not in presets:
        lines.append(f"{store_path} holds no {protocol.preset_name} trial; its trials are of preset "
                     f"{', '.join(presets)} (--preset, --max-epochs, --train-limit ... name the preset)")
    pid = holder(store_path)
    if pid:
        lines.append(f"a `munch reproduce` (pid {pid}) is running on {store_path} now")
    return "\n".join(lines)
