"""Lock files: one process at a time on a run directory, a results store, a tag output, a download.

Every lock here is an `fcntl.flock` on a small file that holds the holder's process id. The kernel
drops the lock when the process ends, however it ends, so a killed run never leaves a stale lock
behind. The file is removed on release, before the lock is let go; a process that opened it in
the meantime finds, once it holds the lock, that the file at that path is no longer the one it
locked, and starts again on the new one (checked by inode), so two holders can never both think
they hold it.

`refusing(path, busy)`: the second process stops at once with `busy(pid)` as a one-line error
(two trainings into one run directory, two reproductions on one store, two `munch tag` into one
file would each write the same files). `waiting(path)`: the second process waits for the first
(`munch corpora fetch` of the same corpus: the second then finds it fetched). `holder(path)`:
the pid holding it now, or None. Written here: filelock would be a dependency for these few lines
and has no pid in its error.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import Callable, Iterator

from ..errors import UserError


def _open(path: Path) -> int:
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except FileNotFoundError:  # the folder was removed (by a holder tidying up): make it again
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)


def _still_there(path: Path, fd: int) -> bool:
    """Whether the file at `path` is the one `fd` locked (its holder before us may have removed it)."""
    try:
        return os.stat(path).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False


def _pid(fd: int) -> str:
    return os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"


@contextlib.contextmanager
def _held(path: Path, fd: int) -> Iterator[None]:
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)  # before the release: a process waiting on this file sees it gone and starts again
        os.close(fd)


def _acquire(path: Path, busy: Callable[[int], None]) -> int:
    """Lock the file at `path` and return its descriptor; while another process holds it, `busy(fd)`
    raises (refusing) or blocks until it is free (waiting)."""
    while True:
        fd = _open(path)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                busy(fd)
        except BaseException:
            os.close(fd)
            raise
        if _still_there(path, fd):
            return fd
        os.close(fd)


@contextlib.contextmanager
def refusing(path: str | Path, busy: Callable[[str], str]) -> Iterator[None]:
    """Hold the lock file `path` while the body runs; if another process holds it, raise
    UserError(busy(its pid)) at once."""
    def refuse(fd: int) -> None:
        raise UserError(busy(_pid(fd))) from None

    path = Path(path)
    with _held(path, _acquire(path, refuse)):
        yield


@contextlib.contextmanager
def waiting(path: str | Path, on_wait: Callable[[], None] | None = None) -> Iterator[None]:
    """Hold the lock file `path` while the body runs; if another process holds it, call `on_wait`
    once and wait for it."""
    told = []

    def wait(fd: int) -> None:
        if on_wait is not None and not told:
            told.append(on_wait())
        fcntl.flock(fd, fcntl.LOCK_EX)

    path = Path(path)
    with _held(path, _acquire(path, wait)):
        yield


def holder(path: str | Path) -> str | None:
    """The pid of the process holding the lock file `path` now, or None."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return None
    except BlockingIOError:
        return _pid(fd)
    finally:
        os.close(fd)
