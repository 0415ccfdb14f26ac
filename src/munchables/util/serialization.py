"""The one way munchables reads a torch file: no code runs, and every failure is one line.

Model, checkpoint and character-LM files hold only tensors, dicts, lists, strings and numbers,
so they are read with `torch.load(weights_only=True)`: torch's restricted unpickler, which
refuses any other object instead of constructing it. A file from someone else can therefore at
worst be refused, never run code here. (safetensors would also do, but these files carry
configurations, vocabularies and training histories beside the weights, which it does not hold.)

Each kind of file carries a format number; `check_format` says which munchables version a file
of a newer format needs.
"""

from __future__ import annotations

import pickle
import re
import warnings
from pathlib import Path

import torch

from .. import __version__
from ..errors import UserError


def load_torch(path: str | Path, what: str, fix: str = "") -> object:
    """The object in the torch file `path`, read without running code; `what` names it in errors."""
    path = Path(path)
    hint = f"; {fix}" if fix else ""
    if not path.exists():
        raise UserError(f"{path}: no such file; expected a {what}{hint}")
    if path.is_dir():
        raise UserError(f"{path}: is a directory; expected a {what} file{hint}")
    try:
        with warnings.catch_warnings():  # torch warns about the pickle protocol of foreign files
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        found = re.search(r"GLOBAL ([\w.]+)", str(e))
        if not found:  # pickle opcodes the safe loader does not know: not a torch file at all
            raise UserError(f"{path}: cannot read the {what} (not a file torch wrote){hint}") from None
        raise UserError(
            f"{path}: refused: the file holds Python objects ({found.group(1)}) that a "
            f"{what} never holds, and loading them could run code; it was not written by munchables or was "
            "tampered with, so do not use it") from None
    except PermissionError:
        raise UserError(f"{path}: permission denied; make the {what} readable (chmod)") from None
    except Exception as e:  # noqa: BLE001  torch raises RuntimeError, EOFError, IndexError... for foreign bytes
        detail = f"{e.__class__.__name__}: {str(e).splitlines()[0][:200]}" if str(e) else e.__class__.__name__
        raise UserError(f"{path}: cannot read the {what} ({detail}); it is damaged or of another kind{hint}") from None


def check_format(state: object, path: str | Path, what: str, key: str, supported: int, version_key: str = "munchables_version") -> int:
    """The format number `state[key]` of a loaded file, checked against the newest this version reads.

    Formats are whole numbers that grow when the file changes incompatibly (a string ending in
    `-N` counts as N, for files that name their kind in the field).
    """
    if not isinstance(state, dict) or key not in state:
        raise UserError(f"{path}: not a {what} (no {key!r} field); expected a file written by munchables")
    value = state[key]
    number = value if isinstance(value, int) else _trailing_number(value)
    if number is None:
        raise UserError(f"{path}: not a {what} (format {value!r}); expected a file written by munchables")
    if number > supported:
        writer = state.get(version_key)
        by = f"munchables {writer}" if writer else "a newer munchables"
        raise UserError(f"{path}: written by {by} in {what} format {number}; this munchables {__version__} reads "
                        f"formats up to {supported}: upgrade munchables (pip install -U munchables)")
    return number


def _trailing_number(value: object) -> int | None:
    match = re.fullmatch(r".*-(\d+)", value) if isinstance(value, str) else None
    return int(match.group(1)) if match else None


def require_fields(state: dict, path: str | Path, what: str, fields: tuple[str, ...]) -> None:
    """A loaded file must have every field it is read for: a missing one is named in one line."""
    if not isinstance(state, dict):
        raise UserError(f"{path}: a damaged or incomplete {what}: {type(state).__name__} where a dictionary belongs; "
                        "write it again with munchables")
    missing = [f for f in fields if f not in state]
    if missing:
        raise UserError(f"{path}: a damaged or incomplete {what}: no {', '.join(repr(f) for f in missing)} field; "
                        "write it again with munchables")
