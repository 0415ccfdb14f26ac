"""How many CPU threads a command uses when `--threads` is not given: one rule for every command.

torch (and gensim's workers) take one thread per core. On a machine whose cores other jobs
already keep busy that is the slowest choice: a 10-sentence `munch train` took 47 s with torch's
default against 9 s with one thread on a 2-core machine running another training job (threads
wait on each other at every operation), and `munch bench` ran 7 minutes instead of 26 s. So when
the 1-minute load average says the cores are taken (at least the number of cores minus a half),
the default is one thread; on an idle machine it is one per core. Every command that computes
(train, charlm, reproduce's workers, evaluate, predict/tag, serve, bench, vectors) goes through
`default_threads` or `set_threads` here; `--threads N` always wins.
"""

from __future__ import annotations

import logging
import os

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


def default_threads(threads: int | None, flag: str = "--threads") -> int:
    """--threads N (checked) if given; else 1 on busy cores, else one per core."""
    if check_threads(threads, flag) is not None:
        return threads
    is_busy, load, cores = busy()
    if is_busy and cores > 1:
        log.debug("using 1 thread: other jobs keep the %d cores busy (load %.1f); --threads N to choose", cores, load)
        return 1
    return cores


def set_threads(threads: int | None, flag: str = "--threads") -> int:
    """Give torch the threads of `default_threads`; the number it now uses. The one place munchables sets them."""
    import torch  # here, not at the top: `munch vectors` needs no torch

    n = default_threads(threads, flag)
    if threads is None and n >= (os.cpu_count() or 1):
        return torch.get_num_threads()  # idle machine: torch's own choice (it may count cores differently)
    torch.set_num_threads(n)
    return n
