"""A run directory's claims: one run at a time (an exclusive lock), and no finished result replaced unasked.

`claim(out, resume, overwrite)` is held for the life of `munch train`: it refuses a directory that
already holds a model or a checkpoint unless the user said `--resume` (continue it) or
`--overwrite` (start again, removing the old run's files), and takes an exclusive `fcntl.flock`
on `out/.munch.lock`, so that a second run into the same directory stops at once with the first
one's process id instead of both writing the same files. The kernel drops the lock when the
process ends, however it ends, so a killed run never leaves a stale lock behind.

`exclusive(path)` is a lock that waits rather than refuses: `munch corpora fetch` holds one per
corpus, so a second fetch of it into the same directory waits and then finds it there.

`refuse_existing(path, flag)` is the same care for commands that write one file or folder
(`munch text`, `munch vectors`, `munch report`).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from pathlib import Path
from typing import Callable, Iterator

from ..errors import UserError

LOCK_FILE = ".munch.lock"
RESULTS = ("model.pt", "checkpoint.pt")  # what a finished or interrupted run leaves
RUN_FILES = (*RESULTS, "metrics.json", "log.jsonl", "config.json", "trace.jsonl")  # removed by --overwrite


@contextlib.contextmanager
def claim(out: Path, resume: bool = False, overwrite: bool = False, flag: str = "--out") -> Iterator[Path]:
    """Create `out`, lock it for this process, refuse (or clear, with overwrite) what it holds."""
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        handle = open(out / LOCK_FILE, "a+")
    except OSError as e:
        raise UserError(f"{flag} {out}: cannot write there ({e.strerror}); choose another {flag}") from None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno not in (errno.EWOULDBLOCK, errno.EACCES):
                raise
            handle.seek(0)
            pid = handle.read().strip() or "unknown"
            raise UserError(f"{flag} {out} is in use by another munch run (pid {pid}); "
                            f"wait for it to finish, or use another {flag}") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        held = [name for name in RESULTS if (out / name).exists()]
        if held and overwrite:
            for name in RUN_FILES:
                (out / name).unlink(missing_ok=True)
        elif held and not resume:
            raise UserError(f"{flag} {out} already holds a run ({', '.join(held)}); use --resume to continue it, "
                            f"--overwrite to replace it, or another {flag}")
        try:
            yield out
        finally:
            handle.seek(0)
            handle.truncate()  # the lock itself goes with the file handle


@contextlib.contextmanager
def exclusive(path: Path, waiting: Callable[[], None] | None = None) -> Iterator[None]:
    """Hold the lock file `path` (created, and removed on release) while the body runs: another
    process or thread taking it waits, calling `waiting` once first (claim, above, refuses
    instead). Written here: filelock would be a dependency for these twenty lines."""
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        except FileNotFoundError:  # the folder was removed by the holder tidying up: make it again
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if waiting is not None:
                    waiting()
                    waiting = None
                fcntl.flock(fd, fcntl.LOCK_EX)
            if os.path.exists(path) and os.stat(path).st_ino == os.fstat(fd).st_ino:
                break
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)  # its holder removed the file while this one waited: lock the new one
    try:
        yield
    finally:
        try:
            os.unlink(path)  # before the release: whoever waits on this file sees it gone and starts again
        except FileNotFoundError:
            pass
        os.close(fd)


def refuse_existing(path: Path, flag: str = "--out", overwrite: bool = False, kind: str = "file") -> None:
    """A one-line error when `path` exists and `overwrite` is not given, or when a file is to be
    written (`kind` "file") where a directory is; `kind` also names the thing in the message."""
    path = Path(path)
    if path.is_dir() and kind == "file":
        raise UserError(f"{flag} {path} is a directory; name the {kind} to write")
    if path.exists() and not overwrite:
        raise UserError(f"{flag} {path} already exists; add --overwrite to replace it, or choose another {flag}")
