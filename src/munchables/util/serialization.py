"""The one way munchables reads a torch file: no code runs, and every failure is one line.

Model, checkpoint and character-LM files hold only tensors, dicts, lists, strings and numbers,
so they are read with `torch.load(weights_only=True)`: torch's restricted unpickler, which
refuses any other object instead of constructing it. A file from someone else can therefore at
worst be refused, never run code here. (safetensors would also do, but these files carry
configurations, vocabularies and training histories beside the weights, which it does not hold.)

Files other programs wrote hold a few classes of their own (Flair's `Dictionary` in its language
models, gensim's `KeyedVectors`), which torch's restricted loader refuses (and it refuses the
pickle protocol 4 Flair writes). They are read with `restricted_pickle`: an unpickler whose
`find_class` answers only from an explicit table, mapping each foreign class to a plain stand-in
that only receives attributes. Every other global (a function to call, a class to build) is
refused before anything is constructed, so such a file too can at worst be refused.

Each kind of file carries a format number; `check_format` says which munchables version a file
of a newer format needs.
"""

from __future__ import annotations

import _compat_pickle
import pickle
import re
import types
import warnings
from pathlib import Path
from typing import Mapping

import torch

from .. import __version__
from ..errors import UserError


class Refused(pickle.UnpicklingError):
    """A global outside the table: its message names it as `GLOBAL module.name` (what load_torch reports)."""


def restricted_pickle(allowed: Mapping[tuple[str, str], object]) -> types.ModuleType:
    """A pickle module (for `torch.load(pickle_module=...)` or on its own) whose unpickler gives the
    objects `allowed` names, `(module, name) -> object`, and refuses every other global.

    Names in pickles written by Python 2 (`__builtin__`, `copy_reg`) are read under their
    Python 3 names first, as pickle's own find_class does.
    """

    class Unpickler(pickle.Unpickler):
        def find_class(self, module: str, name: str):
            # Python 2 names, as pickle.Unpickler.find_class maps them (for protocols 0-2; no
            # Python 3 module bears such a name, and the result must still be in the table)
            module, name = _compat_pickle.NAME_MAPPING.get((module, name), (module, name))
            module = _compat_pickle.IMPORT_MAPPING.get(module, module)
            found = allowed.get((module, name))
            if found is None:
                raise Refused(f"GLOBAL {module}.{name} was not an allowed global")
            return found

    module = types.ModuleType("munchables_restricted_pickle")
    module.Unpickler = Unpickler
    module.load = lambda file, **kwargs: Unpickler(file, **kwargs).load()
    module.loads = lambda data, **kwargs: Unpickler(__import__("io").BytesIO(data), **kwargs).load()
    module.UnpicklingError = pickle.UnpicklingError
    return module


def _tensor_globals() -> dict[tuple[str, str], object]:
    """What a torch file of tensors in dicts needs beyond its storages (which torch maps itself)."""
    import _codecs
    import collections

    import torch._utils

    return {("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
            ("torch._utils", "_rebuild_tensor"): torch._utils._rebuild_tensor,  # files of torch before 0.4
            ("torch._utils", "_rebuild_parameter"): torch._utils._rebuild_parameter,
            ("collections", "OrderedDict"): collections.OrderedDict,
            ("_codecs", "encode"): _codecs.encode,  # bytes in protocol 2 pickles: encode(str, "latin1")
            ("torch", "Size"): torch.Size}


def tensor_globals(extra: Mapping[tuple[str, str], object] | None = None) -> dict[tuple[str, str], object]:
    """The table for `load_torch(allowed=...)`: tensors, OrderedDicts and bytes, plus `extra`."""
    return {**_tensor_globals(), **(extra or {})}


def load_torch(path: str | Path, what: str, fix: str = "",
               allowed: Mapping[tuple[str, str], object] | None = None) -> object:
    """The object in the torch file `path`, read without running code; `what` names it in errors.

    With `allowed` (a `tensor_globals` table), the file is read through `restricted_pickle`
    instead of torch's own restricted loader: for files other programs wrote (Flair's language
    models), in torch's zip format or its older plain-pickle one.
    """
    path = Path(path)
    hint = f"; {fix}" if fix else ""
    if not path.exists():
        raise UserError(f"{path}: no such file; expected a {what}{hint}")
    if path.is_dir():
        raise UserError(f"{path}: is a directory; expected a {what} file{hint}")
    try:
        with warnings.catch_warnings():  # torch warns about the pickle protocol of foreign files
            warnings.simplefilter("ignore")
            if allowed is None:
                return torch.load(path, map_location="cpu", weights_only=True)
            return torch.load(path, map_location="cpu", weights_only=False, pickle_module=restricted_pickle(allowed))
    except pickle.UnpicklingError as e:
        found = re.search(r"GLOBAL ([\w.]+)", str(e))
        if not found:  # pickle opcodes the safe loader does not know: not a torch file at all
            raise UserError(f"{path}: cannot read the {what} (not a file torch wrote){hint}") from None
        raise UserError(
            f"{path}: refused: the file holds Python objects ({found.group(1)}) that a "
            f"{what} never holds, and loading them could run code; it was not written by "
            f"{'munchables' if allowed is None else 'the program it claims'} or was tampered with, so do not use it") from None
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
