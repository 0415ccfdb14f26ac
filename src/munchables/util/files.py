"""Writing a run's files: atomically, with the modes the user's umask asks for, and checking where.

Torch-free, so that the command line and the report can use it without loading torch.
"""

from __future__ import annotations

import gzip
import os
import shutil
import tempfile
import zlib
from pathlib import Path
from typing import Callable, Iterator

from ..errors import UserError


def _umask() -> int:
    """The process's umask (os.umask can only be read by setting it: set it back at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write(path: Path, write: Callable[[str], None]) -> None:
    """Write through a temporary file in the same directory, then rename: never a torn file.

    mkstemp creates the file 0600 whatever the umask; the finished file gets the mode an
    ordinary `open(path, "w")` would give it (0666 less the umask), so a shared model stays
    readable by those the user's umask lets read it.
    """
    path = Path(path)
    if path.exists() and not path.is_file():  # renaming over /dev/stdout would replace the device's entry
        raise UserError(f"{path}: not a regular file (a directory, device or pipe); name a file to write")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_folder(path: Path, write: Callable[[str], None]) -> None:
    """A folder written whole or not at all: `write` fills a temporary folder beside `path`, which
    then takes its place. A folder already there is moved aside first and removed after (rename
    cannot replace a folder that holds files), so a reader sees the old folder, none for a
    moment, or the new one, never a half-written one."""
    path = Path(path)
    tmp = tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    old = None
    try:
        write(tmp)
        os.chmod(tmp, 0o777 & ~_umask())
        if path.exists():
            old = tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".old")
            os.replace(path, old)  # onto the empty folder just made: allowed
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None and not path.exists():
            os.replace(old, path)  # put the old one back
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def out_file(path: str | Path, flag: str = "--out") -> Path:
    """A file a command is about to write: not a directory, in a directory that exists (made) and is writable."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{flag} {path}: is a directory; expected a file name")
    ensure_dir(path.absolute().parent, flag)
    return path


def ensure_dir(path: str | Path, flag: str, create: bool = True) -> Path:
    """Create the directory `path` (with its parents) for a command's output, or say in one line why not.

    Catches what mkdir would raise as a traceback: a file in the way, a dangling or looping
    symbolic link, a read-only parent. With `create` False only checks that it could be created
    (or exists and is writable), so that a run that fails before writing leaves nothing behind.
    """
    path = Path(path)
    for p in (path, *path.absolute().parents):
        try:
            if p.is_symlink() and not p.exists():
                raise UserError(f"{flag} {path}: {p} is a symbolic link to {os.readlink(p)}, which does not exist "
                                f"or loops; fix the link or give another {flag}")
            if not p.exists():
                continue
        except OSError as e:
            raise UserError(f"{flag} {path}: cannot look at {p} ({e.strerror}); give another {flag}") from None
        if not p.is_dir():
            raise UserError(f"{flag} {path}: {p} is a file; expected a directory")
        if not os.access(p, os.W_OK | os.X_OK):
            raise UserError(f"{flag} {path}: {p} is not writable; give a writable {flag}")
        break
    if create:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise UserError(f"{flag} {path}: cannot create the directory ({e.strerror}); give a writable {flag}") from None
    return path


def read_utf8(path: Path, expected: str) -> str:
    """The UTF-8 text of a file, gunzipped when it is gzip, without a leading BOM; every failure is
    one line naming the file (and the line of an undecodable byte) and `expected`, what it should be."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"{path}: no such file; expected {expected}") from None
    except IsADirectoryError:
        raise UserError(f"{path}: is a directory; expected {expected}") from None
    except OSError as e:  # permissions, a looping link, an I/O error
        raise UserError(f"{path}: cannot read the file ({e.strerror}); make it readable (chmod)") from None
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as err:
            raise UserError(f"{path}: broken gzip data ({err}); expected a whole .gz file") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise UserError(f"{path}:{line}: byte {data[err.start:err.start + 1]!r} is not UTF-8 ({err.reason}); "
                        f"expected UTF-8 text (convert it, e.g. iconv -f latin1 -t utf-8)") from None


def utf8_lines(path: Path, expected: str, limit: int, max_line: int | None = None) -> Iterator[str]:
    """The lines of a UTF-8 file (with their line breaks), gunzipped as they are read when it is gzip, at most
    `limit` bytes of them (after decompression: a small .gz can inflate to gigabytes) and, with `max_line`, at
    most that many bytes in one line (a file without line breaks is never held whole); read_utf8's one-line
    errors, and one for a file or line past its limit."""
    path = Path(path)
    try:
        raw = open(path, "rb")
    except FileNotFoundError:
        raise UserError(f"{path}: no such file; expected {expected}") from None
    except IsADirectoryError:
        raise UserError(f"{path}: is a directory; expected {expected}") from None
    except OSError as e:
        raise UserError(f"{path}: cannot read the file ({e.strerror}); make it readable (chmod)") from None
    with raw:
        zipped = raw.read(2) == b"\x1f\x8b"
        raw.seek(0)
        f = gzip.GzipFile(fileobj=raw) if zipped else raw
        size, number = 0, 0
        while True:
            try:
                line = f.readline(min(limit - size, max_line if max_line is not None else limit) + 1)
            except (OSError, EOFError, zlib.error) as err:
                raise UserError(f"{path}: broken gzip data ({err}); expected a whole .gz file") from None
            if not line:
                return
            size += len(line)
            number += 1
            if max_line is not None and len(line) > max_line and not line.endswith(b"\n"):
                raise UserError(f"{path}:{number}: a line longer than {max_line:,} bytes; expected {expected}")
            if size > limit:
                raise UserError(f"{path}: more than {limit:,} bytes{' once decompressed' if zipped else ''}, the "
                                f"limit for {expected}; is it the right file? (a larger one: set {ENV_MAX_MB} to its size in MB)")
            try:
                yield line.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as err:
                raise UserError(f"{path}:{number}: byte {line[err.start:err.start + 1]!r} is not UTF-8 ({err.reason}); "
                                f"expected UTF-8 text (convert it, e.g. iconv -f latin1 -t utf-8)") from None


ENV_MAX_MB = "MUNCHABLES_MAX_FILE_MB"  # raises the size limit of the files read line by line (utf8_lines)


def max_file_bytes(default_mb: int) -> int:
    """The size limit of an input file: $MUNCHABLES_MAX_FILE_MB when set, else `default_mb` MB."""
    value = os.environ.get(ENV_MAX_MB, "")
    if not value:
        return default_mb * 1_000_000
    try:
        mb = float(value)
    except ValueError:
        mb = -1.0
    if not mb > 0 or mb != mb or mb == float("inf"):
        raise UserError(f"{ENV_MAX_MB}={value!r}: expected a positive number of megabytes")
    return int(mb * 1_000_000)
