"""gensim's KeyedVectors files (`.save()`, and Flair's word-embedding files) read without running code.

gensim's `SaveLoad.save` pickles the object, its large arrays left out and written beside it as
`NAME.ATTRIBUTE.npy`; `SaveLoad.load` unpickles it (which runs whatever the file asks) and then
reads those arrays, unpickles the scipy matrices named in `__scipys` and calls `_load_specials`
on the objects named in `__recursive_saveloads`. Flair publishes its word embeddings (the
paper's PubMed vectors among them) in this format, under names without a fixed suffix.

Here the pickle is read by serialization.py's restricted unpickler: the KeyedVectors classes
(gensim 4's, and gensim 3's older names, which Flair's files use) become plain stand-ins that
only receive attributes, and numpy arrays inside the pickle are rebuilt by numpy's own
`_reconstruct`; any other global is refused. What would make gensim's loader run code is refused
too: `__scipys`, `__recursive_saveloads`, arrays of Python objects. The arrays beside the file are
read with `numpy.load(allow_pickle=False)`, memory-mapped. The attributes are then given to a new
gensim object, whose `_load_specials` (with nothing left to load) up-converts gensim 3 layouts
and recomputes a fastText model's word vectors, as `KeyedVectors.load` would.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..util.serialization import Refused, restricted_pickle

PICKLE_START = re.compile(rb"\x80[\x02-\x05]")  # PROTO opcode: protocols 2 to 5
SPECIALS = ("__numpys", "__scipys", "__ignoreds", "__recursive_saveloads")


class StandIn:
    """Receives a gensim object's attributes while it is unpickled; `real` names its gensim class."""

    real = ""


def _stand_in(real: str) -> type:
    return type(real.rsplit(".", 1)[1], (StandIn,), {"real": real})


KV, FT = "gensim.models.keyedvectors.KeyedVectors", "gensim.models.fasttext.FastTextKeyedVectors"
VOCAB = _stand_in("gensim.models.keyedvectors.Vocab")  # gensim 3's per-word entry (index, count)
CLASSES = {  # the names under which gensim 3 and 4 pickle KeyedVectors -> the gensim 4 class read
    ("gensim.models.keyedvectors", "KeyedVectors"): _stand_in(KV),
    ("gensim.models.keyedvectors", "Word2VecKeyedVectors"): _stand_in(KV),
    ("gensim.models.keyedvectors", "EuclideanKeyedVectors"): _stand_in(KV),
    ("gensim.models.keyedvectors", "FastTextKeyedVectors"): _stand_in(FT),
    ("gensim.models.fasttext", "FastTextKeyedVectors"): _stand_in(FT),
    ("gensim.models.keyedvectors", "Vocab"): VOCAB,
    ("gensim.models.keyedvectors", "CompatVocab"): VOCAB,
}


def _numpy_globals() -> dict[tuple[str, str], object]:
    """numpy's pickling of arrays, dtypes and scalars, under numpy 1's and numpy 2's module names."""
    from numpy._core import multiarray

    table = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype}
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        table[(module, "_reconstruct")] = multiarray._reconstruct
        table[(module, "scalar")] = multiarray.scalar
    return table


def is_pickle(path: Path) -> bool:
    """Whether the file starts as a pickle of protocol 2 to 5 does (gensim writes 2 or 4)."""
    with open(path, "rb") as f:
        return bool(PICKLE_START.match(f.read(2)))


def load_keyed_vectors(path: str | Path):
    """The gensim KeyedVectors (or FastTextKeyedVectors) in a file gensim's `save()` wrote."""
    import gensim.models.fasttext
    import gensim.models.keyedvectors
    from gensim.utils import SaveLoad

    path = Path(path)
    pickle = restricted_pickle({**CLASSES, **_numpy_globals()})
    try:
        with open(path, "rb") as f:
            obj = pickle.load(f, encoding="latin1")  # gensim 3 under Python 2 wrote str as bytes
    except Refused as e:
        name = str(e).split()[1]
        raise UserError(f"{path}: refused: a pickle holding {name}, not gensim KeyedVectors; reading it could run "
                        "code. Save the model's KeyedVectors (model.wv.save(FILE)) or use word2vec/fastText formats, "
                        "or add --trust if you made this file yourself") from None
    except Exception as e:  # noqa: BLE001  the unpickler raises many kinds for foreign bytes
        raise UserError(f"{path}: cannot read gensim KeyedVectors ({e.__class__.__name__}: {str(e)[:200]}); "
                        "the file is damaged or of another kind") from None
    kind = type(obj).real if isinstance(obj, StandIn) else ""  # the class's, never an attribute the file set
    if kind not in (KV, FT):
        raise UserError(f"{path}: a pickle of {type(obj).__name__}, not gensim KeyedVectors")
    state = vars(obj)
    for key in ("__scipys", "__recursive_saveloads"):
        if state.get(key):
            raise UserError(f"{path}: refused: it names {key} {state[key]!r}, which gensim would load by "
                            "unpickling further files (that can run code); KeyedVectors never need them")
    for attrib in state.get("__numpys") or []:
        state[attrib] = _read_beside(path, attrib)
    for attrib in state.get("__ignoreds") or []:
        state[attrib] = None
    for key in SPECIALS:
        state[key] = []
    _check_arrays(state, path)
    real = gensim.models.fasttext.FastTextKeyedVectors if kind == FT else gensim.models.keyedvectors.KeyedVectors
    kv = real.__new__(real)
    kv.__dict__.update(state)
    try:
        compress, subname = SaveLoad._adapt_by_suffix(str(path))
        kv._load_specials(str(path), None, compress, subname)  # up-conversions only: nothing is left to load
        if not kv.index_to_key or kv.vectors is None or len(kv.vectors) != len(kv.index_to_key):
            raise ValueError(f"{len(kv.index_to_key or [])} words and "
                             f"{'no' if kv.vectors is None else len(kv.vectors)} vectors")
    except Exception as e:  # noqa: BLE001  gensim's up-conversion meets whatever the attributes are
        raise UserError(f"{path}: damaged gensim KeyedVectors ({e.__class__.__name__}: {str(e)[:200]})") from None
    return kv


def _read_beside(path: Path, attrib: str) -> np.ndarray:
    """The array gensim stored beside `path` for `attrib`, as plain numbers (no pickle), memory-mapped."""
    if not re.fullmatch(r"[A-Za-z_]\w*", str(attrib)):
        raise UserError(f"{path}: names a stored array {attrib!r}, which is not an attribute name; refused")
    beside = path.with_name(f"{path.name}.{attrib}.npy")
    if not beside.is_file():
        raise UserError(f"{beside}: missing; gensim stored the {attrib!r} array of {path.name} in it: "
                        "keep the two files together")
    try:
        return np.load(beside, mmap_mode="r", allow_pickle=False)
    except ValueError as e:
        raise UserError(f"{beside}: refused: not an array of plain numbers ({e}); reading it could run code") from None
    except OSError as e:
        raise UserError(f"{beside}: cannot read it ({e})") from None


def _check_arrays(state: dict, path: Path) -> None:
    """No array of Python objects anywhere among the attributes (gensim would hand them on as they are)."""
    todo = list(state.items())
    while todo:
        key, value = todo.pop()
        if isinstance(value, np.ndarray) and value.dtype.hasobject:
            raise UserError(f"{path}: refused: its {key!r} is an array of Python objects, which KeyedVectors never hold")
        if isinstance(value, dict):
            todo.extend((f"{key}.{k}", v) for k, v in value.items())
