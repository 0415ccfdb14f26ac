"""`OUT.munch.json`, beside every file `munch tag --out OUT` writes: what wrote it, so that `--resume`
extends only its own output.

Issue 22.1: `--resume` rewrote whatever file it was pointed at (a notes file; a JSONL output
resumed as PubTator). The sidecar says which format and settings (models, heads, overlap
policy, input reading: `settings`, a plain dict the command line fills) wrote the file, and, at
the last checkpoint, how many whole documents and bytes it held and the SHA-256 of those bytes.
`--resume` continues a file only when its sidecar is there, names the same format and
settings, and the file still begins with exactly the bytes the checkpoint hashed; anything else
is a one-line error and nothing is touched. A sidecar rather than a header line: JSONL,
PubTator and CoNLL have no place for a comment that their other readers would skip.

`OUT.munch.lock` is held while `munch tag` writes OUT (a file or a brat folder) or into an
`--out-dir`: a second `munch tag` into the same output stops at once, naming the first one's pid,
instead of both truncating and appending the same file.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .. import __version__
from ..errors import UserError
from ..util import locks
from ..util.files import atomic_write_text

SUFFIX = ".munch.json"
LOCK_SUFFIX = ".munch.lock"
KIND = "munch tag output"


def sidecar_path(out: str | Path) -> Path:
    return Path(os.fspath(out) + SUFFIX)


def lock_path(out: str | Path) -> Path:
    return Path(os.fspath(out).rstrip("/") + LOCK_SUFFIX)


@contextlib.contextmanager
def writing(out: str | Path, flag: str = "--out", inside: bool = False):
    """Hold OUT's lock (util/locks.py) while munch tag writes it, OUT.munch.lock beside it or, with
    `inside` (an --out-dir), OUT/.munch.lock; another holder is a one-line error, and so is a place
    where the lock cannot be made. A device or pipe (`--out /dev/stdout`) is written unlocked:
    there is no file to protect, and nowhere beside it to put a lock."""
    path = Path(out)
    if path.exists() and not (path.is_file() or path.is_dir()):
        yield
        return
    lock = path / LOCK_SUFFIX if inside else lock_path(out)
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(locks.refusing(lock, lambda pid: (
                f"{flag} {out} is being written by another munch tag (pid {pid}); wait for it to finish, or "
                f"choose another {flag}")))
        except OSError as e:
            raise UserError(f"{flag} {out}: cannot write there ({e.strerror}); choose another {flag}") from None
        yield


@dataclass
class Record:
    format: str  # the output format (formats.OUTPUT_FORMATS)
    settings: dict  # what else decides the output's bytes: models, heads, overlap, input reading
    documents: int = 0  # whole documents in the file at the last checkpoint
    bytes: int = 0  # the file's length at the last checkpoint
    sha256: str = ""  # of those bytes
    complete: bool = False  # the footer was written: the run finished
    kind: str = KIND
    munchables: str = field(default=__version__)


def read_record(out: Path) -> Record | None:
    """The sidecar of `out`, or None when there is none; a sidecar that is not one is a user error."""
    path = sidecar_path(out)
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("kind") != KIND:
            raise ValueError("not a munch tag sidecar")
        return Record(**{k: data[k] for k in ("format", "settings", "documents", "bytes", "sha256", "complete",
                                               "kind", "munchables")})
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise UserError(f"{path}: not the record munch tag keeps beside its output ({e.__class__.__name__}); "
                        f"nothing was changed: use --overwrite to start the output again") from None


def write_record(out: Path, record: Record) -> None:
    atomic_write_text(sidecar_path(out), json.dumps(asdict(record), indent=1) + "\n")


def differences(saved: dict, given: dict) -> list[str]:
    """`key: saved -> given` for every setting that differs."""
    return [f"{k}: {saved.get(k)!r} then, {given.get(k)!r} now" for k in sorted(set(saved) | set(given))
            if saved.get(k) != given.get(k)]
