"""A run directory's claims: one run at a time (an exclusive lock), and no finished result replaced unasked.

`claim(out, resume, overwrite)` is held for the life of `munch train`: it refuses a directory that
already holds a model or a checkpoint unless the user said `--resume` (continue it) or
`--overwrite` (start again, removing the old run's files), and takes an exclusive `fcntl.flock`
on `out/.munch.lock`, so that a second run into the same directory stops at once with the first
one's process id instead of both writing the same files. The kernel drops the lock when the
process ends, however it ends, so a killed run never leaves a stale lock behind.

The lock itself is util/locks.py's, shared with the results store and `munch tag --out`.

`refuse_existing(path, flag)` is the same care for commands that write one file or folder
(`munch text`, `munch vectors`, `munch report`).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator

from ..errors import UserError
from . import locks

LOCK_FILE = ".munch.lock"
RESULTS = ("model.pt", "checkpoint.pt")  # what a finished or interrupted run leaves
RUN_FILES = (*RESULTS, "metrics.json", "log.jsonl", "config.json", "trace.jsonl")  # removed by --overwrite


@contextlib.contextmanager
def claim(out: Path, resume: bool = False, overwrite: bool = False, flag: str = "--out") -> Iterator[Path]:
    """Create `out`, lock it for this process, refuse (or clear, with overwrite) what it holds."""
    out = Path(out)
    with contextlib.ExitStack() as stack:
        try:
            out.mkdir(parents=True, exist_ok=True)
            stack.enter_context(locks.refusing(out / LOCK_FILE, lambda pid: (
                f"{flag} {out} is in use by another munch run (pid {pid}); wait for it to finish, or use another {flag}")))
        except OSError as e:
            raise UserError(f"{flag} {out}: cannot write there ({e.strerror}); choose another {flag}") from None
        held = [name for name in RESULTS if (out / name).exists()]
        if held and overwrite:
            for name in RUN_FILES:
                (out / name).unlink(missing_ok=True)
        elif held and not resume:
            raise UserError(f"{flag} {out} already holds a run ({', '.join(held)}); use --resume to continue it, "
                            f"--overwrite to replace it, or another {flag}")
        yield out


def refuse_existing(path: Path, flag: str = "--out", overwrite: bool = False, kind: str = "file") -> None:
    """A one-line error when `path` exists and `overwrite` is not given, or when a file is to be
    written (`kind` "file") where a directory is; `kind` also names the thing in the message."""
    path = Path(path)
    if path.is_dir() and kind == "file":
        raise UserError(f"{flag} {path} is a directory; name the {kind} to write")
    if path.exists() and not overwrite:
        raise UserError(f"{flag} {path} already exists; add --overwrite to replace it, or choose another {flag}")
