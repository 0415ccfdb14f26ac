"""Progress a person can read: a bar with a total and an ETA on a terminal, one line now and then in a log.

`Progress` counts the updates of a training run, one `step(stage, epoch)` call per update from
the trainer's loop (never inside the step itself), the sentences `munch evaluate` tags, and the
documents `munch predict` tags (tagging/collection.py: no total, a rate as a note). On a
terminal it draws a tqdm bar per epoch with the epoch's total and the time left; when stderr is
not a terminal (a log file, a batch job) it logs one line every `every` seconds instead ("stage 1
epoch 3: 120/400 updates, 41 s, about 95 s left"), since a bar's carriage returns make no sense in a file.
"""

from __future__ import annotations

import logging
import sys
import time

from tqdm import tqdm

log = logging.getLogger("munchables")

LOG_EVERY = 30.0  # seconds between progress lines in a log


def on_terminal() -> bool:
    return sys.stderr.isatty()


def eta(done: int, total: int | None, seconds: float) -> str:
    """'about 95 s left' (or minutes, hours) from the rate so far; '' when it cannot be known."""
    if not total or done <= 0 or done >= total:
        return ""
    return f"about {duration((total - done) * seconds / done)} left"


def duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


class Progress:
    """Updates of the current epoch: a bar (terminal), periodic log lines (otherwise) or nothing."""

    def __init__(self, total: int | None, enabled: bool | None = None, every: float | None = None,
                 unit: str = "update", label: str | None = None):
        # label: one task rather than a run's epochs ("tagging ncbi-disease test"), named so in the bar and log
        # every: seconds between log lines (default LOG_EVERY, read now so that a test can lower it)
        self.total, self.unit, self.label = total, unit, label
        self.every = LOG_EVERY if every is None else every
        self.mode = "off" if enabled is False else ("bar" if on_terminal() else "log")
        self._key = None
        self._bar = None
        self._done = 0
        self._t0 = self._last = 0.0

    def step(self, stage: int = 1, epoch: int = 1, n: int = 1, note: str | None = None) -> None:
        """`n` more done; `note` (e.g. "1,200 sentences/s") is shown beside the count."""
        if self.mode == "off":
            return
        if (stage, epoch) != self._key:
            self._open(stage, epoch)
        self._done += n
        if self._bar is not None:
            self._bar.update(n)
            if note:
                self._bar.set_postfix_str(note, refresh=False)
            return
        now = time.perf_counter()
        if now - self._last >= self.every:
            self._last = now
            left = eta(self._done, self.total, now - self._t0)
            of = f"/{self.total}" if self.total else ""
            where = self.label or f"stage {stage} epoch {epoch}"
            log.info("%s: %d%s %ss, %.0f s%s%s", where, self._done, of, self.unit.strip(), now - self._t0,
                     f", {left}" if left else "", f", {note}" if note else "")

    def _open(self, stage: int, epoch: int) -> None:
        self.close()
        self._key, self._done = (stage, epoch), 0
        self._t0 = self._last = time.perf_counter()
        if self.mode == "bar":
            desc = self.label or (f"stage {stage} epoch {epoch}" if stage > 1 else f"epoch {epoch}")
            self._bar = tqdm(total=self.total, desc=desc,
                             unit=self.unit, leave=False, dynamic_ncols=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        self._bar, self._key = None, None
