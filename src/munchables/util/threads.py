"""How many CPU threads torch gets when `--threads` is not given.

torch takes one thread per core. On a machine whose cores other jobs already keep busy that is
the slowest choice: a 10-sentence `munch train` took 47 s with torch's default against 9 s with
one thread on a 2-core machine running another training job (threads wait on each other at
every operation). So when the 1-minute load average says the cores are taken (at least the
number of cores minus a half), the default is one thread; on an idle machine it is torch's.
"""

from __future__ import annotations

import logging
import os

import torch

from .checks import threads as check_threads

log = logging.getLogger("munchables")


def busy() -> tuple[bool, float, int]:
    """(whether other work already fills the cores, the 1-minute load, the cores)."""
    cores = os.cpu_count() or 1
    try:
        load = os.getloadavg()[0]
    except OSError:  # not available on this system
        return False, 0.0, cores
    return load >= cores - 0.5, load, cores


def set_threads(threads: int | None, flag: str = "--threads", adapt: bool = True) -> int:
    """Apply --threads (checked), else with `adapt` the default above (without: torch's choice);
    the number of threads torch now uses. The one place munchables sets torch's threads."""
    if check_threads(threads, flag) is not None:
        torch.set_num_threads(threads)
        return threads
    is_busy, load, cores = busy()
    if adapt and is_busy and torch.get_num_threads() > 1:
        torch.set_num_threads(1)
        log.debug("torch threads: 1, as other jobs keep the %d cores busy (load %.1f); --threads N to choose", cores, load)
    return torch.get_num_threads()
