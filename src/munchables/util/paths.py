"""An output is never an input: the one check every command that writes a file makes before it writes.

Issue 22.1: `munch predict --input docs.jsonl --out docs.jsonl --overwrite` emptied its own input,
and an `--out` inside an input directory was read back as input until the disk was full. Before a
command opens anything for writing it calls `refuse_outputs_on_inputs(outputs, inputs)` with every
path it will write (files, or directories it writes into) and every path it reads (files or
directories). Files are compared by identity (device and inode, following symbolic links), so a
hard link, a symbolic link or a path spelt differently (`./a/../docs.jsonl`) is caught as well
as the same name; an output is refused when it, or any directory above it, is an input directory.

Torch-free: the command line calls it before loading a model.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Iterable

from ..errors import UserError

Named = tuple[str, "str | os.PathLike | None"]  # (the flag that named it, the path); None: not given


def identity(path: str | os.PathLike) -> tuple[int, int] | None:
    """(device, inode) of what `path` names, following links ("-": standard input, which may be a
    file redirected with <); None when nothing is there."""
    try:
        st = os.fstat(sys.stdin.fileno()) if str(path) == "-" else os.stat(path)
    except (OSError, ValueError, AttributeError):  # nothing there; standard input closed or replaced
        return None
    return st.st_dev, st.st_ino


def _resolved(path) -> Path:
    try:
        return Path(os.path.abspath(path)).resolve(strict=False)
    except (RuntimeError, OSError):  # a link loop: the command's own check of --out says so in its words
        return Path(os.path.abspath(path))


def _ancestors(path: Path) -> Iterable[Path]:
    """`path` and every directory above it, with the links of the parts that exist resolved."""
    yield (resolved := _resolved(path))
    yield from resolved.parents


def clash(output: str | os.PathLike, input: str | os.PathLike) -> str | None:
    """Why writing `output` would write onto `input` (a file or a directory), else None."""
    inside = identity(input)
    if inside is None:
        return None
    if str(input) != "-" and os.path.isdir(input):
        for above in _ancestors(Path(output)):
            if identity(above) == inside:
                return "is" if above == _resolved(output) else "lies inside"
        return None
    return "is" if identity(output) == inside else None


def refuse_outputs_on_inputs(outputs: Iterable[Named], inputs: Iterable[Named]) -> None:
    """A one-line error (exit 2), before anything is written, when an output is one of the inputs
    (the same file by identity: hard and symbolic links too) or lies inside an input directory."""
    inputs = [(flag, p) for flag, p in inputs if p is not None]
    for out_flag, out in outputs:
        if out is None or str(out) == "-":
            continue
        for in_flag, given in inputs:
            why = clash(out, given)
            if why is None:
                continue
            what = "directory" if why == "lies inside" or os.path.isdir(given) else "file"
            given = "(standard input)" if str(given) == "-" else given
            place = (f"is the input {what} {in_flag} {given}" + (" (the same file)" if what == "file" else "")
                     if why == "is" else f"lies inside the input directory {in_flag} {given}")
            raise UserError(f"{out_flag} {out} {place}; an output must never be an input: nothing was written, "
                            f"choose another {out_flag}")
