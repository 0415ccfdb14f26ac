"""A run's settings, each written once: its default, its flag, the flag's help and its check.

One `RunOptions` (with its `TrainConfig` and `ModelConfig`) describes a run. A field that the
command line sets carries its flag in `dataclasses.field(metadata=...)` (built by `setting`):

- `add_flags(parser, RunOptions, names)` puts those settings' flags on an argparse parser, each
  flag's destination being the field's name, so that
- `from_args(RunOptions, namespace)` builds the settings back with no hand mapping, and
- `flat(options)` / `from_flat(options, values)` name them the same way (`lr`, not `train.lr`)
  for config.json's "options", `--resume`'s comparison (resume.py) and the trials of `munch
  reproduce` (experiments/engines.py).

`check_settings` validates every setting: its choices (choices.py), its check, finite floats.
Torch-free (only choices and errors are imported), so that `munch --help` shows the defaults
without loading torch.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import MISSING, dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from .choices import AUX_ORDERS, CACHES, DIRECTIONS, ITER_SWITCHES, KEEP, LOSS_REDUCTIONS, METHODS, check
from .errors import UserError

DATA_DIR_HELP = ("directory holding the corpora (default: $MUNCHABLES_DATA, else ../shared/data, "
                 "else ~/.cache/munchables/corpora)")
NO_FETCH_HELP = ("never download: a named corpus missing from the data directory is an error "
                 "(default: fetched on first use, see munch corpora fetch)")


def comma_list(value: str) -> list[str]:
    """`--aux a,b` -> ["a", "b"]; empty items dropped."""
    return [v for v in value.split(",") if v]


def corpus_list(value: str) -> list[str]:
    """`--aux a,b,train=X,dev=Y,test=Z` -> ["a", "b", "train=X,dev=Y,test=Z"]: a corpus given as named
    files (data/annotated.py) stays one item, its ``dev=``/``test=`` joining the ``train=`` before it."""
    out: list[str] = []
    for item in comma_list(value):
        if item.startswith(("dev=", "test=")) and out and out[-1].startswith("train="):
            out[-1] += "," + item
        else:
            out.append(item)
    return out


def at_least(low: float) -> Callable[[Any], str | None]:
    return lambda value: None if value is None or value >= low else f"must be at least {low}"


def positive(value) -> str | None:
    return None if value is None or value > 0 else "must be positive"


def fraction(value) -> str | None:
    return None if 0 <= value < 1 else "must be at least 0 and below 1"


def setting(default: Any = MISSING, *, help: str | None = None, flag: str | None = None,
            type: Callable[[str], Any] | None = None, choices: Sequence[str] | None = None,
            check: Callable[[Any], str | None] | None = None, negate: bool = False, free: bool = False,
            metavar: str | None = None, cli: bool = True, default_factory: Any = MISSING):
    """A dataclass field with its command-line flag.

    flag: the flag (default: `--` and the name with dashes); type: what parses the flag's value
    (default: none, the string as given); choices: the allowed values; check: what else a value
    must be (None when it is fine, else the problem: "must be at least 1"); `check_settings`
    checks both, naming the flag; negate: a `--no-...` flag that sets a True-by-default field to
    False; free: how, not what, is trained: `--resume` lets it change (resume.py); cli: False for
    a setting no flag sets (the library's, e.g. progress).
    """
    meta = {"help": help, "flag": flag, "type": type, "choices": choices, "check": check, "negate": negate,
            "free": free, "metavar": metavar, "cli": cli}
    return field(default=default, default_factory=default_factory, metadata={"setting": meta})


def _meta(f) -> dict:
    return f.metadata.get("setting", {"cli": False, "free": False, "negate": False, "choices": None, "check": None,
                                      "flag": None})


@dataclass
class TrainConfig:
    # reset at the start of every stage
    lr: float = setting(0.1, type=float, check=positive, help="initial SGD learning rate")
    batch_size: int = setting(32, type=int, check=at_least(1))  # sentences per batch, auxiliary and main alike
    max_epochs: int | None = setting(None, type=int, check=at_least(1), help=(
        "cap on epochs per stage (default: the paper's convergence rule alone)"))
    clip: float = 5.0  # gradient norm clipping
    patience: int = 4  # epochs without a better main loss before the rate is halved
    min_lr: float = 1e-4  # a stage ends when the rate falls below this
    seed: int = setting(1, type=int)  # seeds the model's initialisation, dropout and every batch stream
    # "mean" of the batch's sentence NLLs (Flair <= 0.8) or their "sum" (Eq. 8, later Flair)
    loss_reduction: str = setting("mean", choices=LOSS_REDUCTIONS, help=(
        f"the update's loss: {' or '.join(LOSS_REDUCTIONS)} of the batch's sentence losses (default mean, as "
        "Flair <= 0.8; Eq. 8 sums. At convergence the sum won on NCBI-disease and the mean on S800: "
        "docs/results.md)"))


@dataclass
class ModelConfig:
    # word embedding size; taken from the vector file when one is given
    word_dim: int = setting(100, type=int, check=at_least(1), help="word embedding size without --word-vectors")
    char_dim: int = 25  # character embedding size
    char_hidden: int = 25  # character BiLSTM units per direction (Lample et al. 2016)
    hidden: int = setting(256, type=int, check=at_least(1), help="BiLSTM units per direction")  # of the shared BiLSTM
    dropout: float = setting(0.5, type=float, check=fraction)  # on the token features and on the BiLSTM output
    # the file the word embeddings started from
    word_vectors: str | None = setting(None, metavar="FILE_OR_NAME", help="initialise word embeddings from word2vec text/binary, fastText "
                                                  ".vec/.bin, GloVe text (compressed too) or gensim/Flair KeyedVectors; "
                                                  "or one of Flair's names (pubmed, glove, ...), downloaded once")
    # forward character LM for contextual string embeddings (Akbik et al. 2018)
    charlm_forward: str | None = setting(None, metavar="FILE_OR_NAME", help="forward character LM for contextual string "
                                                                     "embeddings: a munch charlm file, Flair's file, "
                                                                     "or Flair's name (pubmed-forward: downloaded once)")
    charlm_backward: str | None = setting(None, metavar="FILE_OR_NAME", help="backward character LM (pubmed-backward); "
                                                                             "give both or neither")
    # 0: the embeddings enter the BiLSTM whole (the paper); K: a learned linear map to K first
    charlm_projection: int = setting(0, type=int, metavar="K", help="map the contextual string embeddings to K "
                                     "values before the BiLSTM (default 0: whole, as in the paper)")
    # local Hugging Face model folder: its word vectors replace word + char features
    transformer: str | None = setting(None, metavar="NAME_OR_DIR", help="Hugging Face model folder or hub id "
                                                                        "(fetched once into the usual cache): the "
                                                                        "shared encoder's token features")
    # last transformer layers concatenated (Devlin et al. 2019, feature-based NER)
    transformer_layers: int = setting(4, type=int, metavar="N", help="last transformer layers concatenated "
                                                                     "(default 4)")
    # train the transformer with the tagger; False: frozen, features cached
    fine_tune_transformer: bool = setting(False, help="train the transformer too (default: frozen)")
    # the shared BiLSTM over the token features; False: the heads read the features directly
    lstm: bool = setting(True, flag="--no-lstm", negate=True, help="no BiLSTM: the heads read the token features "
                                                                     "directly")


@dataclass
class RunOptions:
    target: str = setting(help="target corpus: an id (e.g. ncbi-disease), a column-file directory, or annotated "
                               "documents: a PubTator, BioC or JSONL file, a folder of them or of brat .txt + .ann "
                               "pairs, or train=PATH,dev=PATH,test=PATH")  # corpus id, directory or documents
    out: Path | None = setting(None, type=Path, free=True, help="directory for the model, metrics.json, "
                                                                "log.jsonl")
    method: str = setting("single-task", choices=METHODS, help=f"one of: {', '.join(METHODS)}")
    # auxiliary corpora; None: every other corpus found
    aux: list[str] | None = setting(None, type=corpus_list, help=(
        "auxiliary corpora, comma-separated: ids, directories or documents; `auto` chooses them from the corpora "
        "present and says why (one per entity family, plus those of the target's family; data/auxiliary.py). "
        "Default: every other corpus found"))
    aux_order: str = setting("random", choices=AUX_ORDERS, help="order of auxiliary corpora for iter and stack: "
                                                                f"{', '.join(AUX_ORDERS)}")
    # step-block (Algorithm 3) | epoch (the text of section 3.2)
    iter_switch: str = setting("step-block", choices=ITER_SWITCHES, help=(
        f"MUNCH-Iter reading: {', '.join(ITER_SWITCHES)} (step-block is Algorithm 3)"))
    data_dir: str | None = setting(None, help=DATA_DIR_HELP)  # where named corpora live (corpus.default_data_dir)
    train_limit: int | None = setting(None, type=int, check=at_least(1),
                                      help="keep the first N training sentences of every corpus")
    aux_whole: bool = setting(False, help="with --train-limit, cut only the target's training set; auxiliary "
                                          "corpora stay whole (the low-resource setting)")
    device: str = setting("auto", free=True, help="auto | cpu | cuda | cuda:N")
    resume: bool = setting(False, free=True, help="continue the run in --out with its own settings "
                                                   "(config.json); a raised --max-epochs extends it")
    trace: bool = setting(False, free=True, help="write every update to DIR/trace.jsonl")
    progress: bool | None = setting(None, free=True, cli=False)  # None: a bar on a terminal, else log lines
    embedding_cache: str = setting("memory", choices=CACHES, free=True, metavar="WHERE",
                                   help=f"frozen features per sentence: {' | '.join(CACHES)}")
    cache_dir: str | None = setting(None, help="where SingleAux candidates are kept for reuse by --aux-order "
                                               "sorted (default: $MUNCHABLES_CACHE, else runs/cache)")
    trust: bool = setting(False, help="also load gensim pickles other than KeyedVectors (whole Word2Vec/FastText "
                                      "models) with gensim's loader, which can run code: only your own files")
    # the library does not download unasked; the command line does unless --no-fetch (the flag's default)
    fetch: bool = setting(False, flag="--no-fetch", negate=True, free=True, help=NO_FETCH_HELP)
    # final models: every corpus's dev split (first train_limit sentences) joins its training data
    # (section 4.1); dev F1 then selects nothing. Set by munch reproduce.
    train_on_dev: bool = setting(False, cli=False)
    overwrite: bool = setting(False, free=True, help="replace the run --out already holds (else refused)")
    keep_checkpoint: bool = setting(False, free=True, help="keep checkpoint.pt after the run finishes (as large "
                                                            "as the model); a finished run extends (--resume "
                                                            "--max-epochs N) from model.pt and log.jsonl without "
                                                            "it, except a --keep best-dev run")
    # at the end, score every auxiliary head on its own dev set (munch train; tagging/fitness.py)
    score_heads: bool = setting(False, free=True, cli=False)
    keep: str = setting("last", choices=KEEP, help="the model kept: last (the last epoch's, as the paper) | best-dev "
                                                   "(the epoch of the best target dev F1)")
    # corpora given as annotated documents (data/annotated.py): the same for the target and every auxiliary
    types: str | None = setting(None, metavar="T,T=NEW", help=(
        "entity types kept, the others left out (counted): Disease,Chemical; TYPE=NEW keeps TYPE renamed: "
        "SpecificDisease=Disease,Modifier=Disease (default: every type as it is)"))
    split: str | None = setting(None, metavar="TRAIN,DEV,TEST", help=(
        "percentages of one collection, split by document (default 80,10,10); or give the splits as "
        "train=PATH,dev=PATH,test=PATH"))
    split_seed: int = setting(1, type=int, metavar="S", help="the shuffle of documents before the split (default 1; "
                                                             "not the training seed)")
    train: TrainConfig = field(default_factory=TrainConfig)
    model: ModelConfig = field(default_factory=ModelConfig)


# --- the settings as one flat namespace ---------------------------------------------------------


def _nested(f) -> bool:
    return f.default_factory is not MISSING and is_dataclass(f.default_factory)


def leaves(cls_or_options) -> Iterator[tuple[str, Any, tuple[str, ...]]]:
    """(name, field, path) of every setting, nested configs flattened: ("lr", <field>, ("train", "lr"))."""
    for f in fields(cls_or_options):
        if _nested(f):
            for name, sub, path in leaves(f.default_factory):
                yield name, sub, (f.name, *path)
        else:
            yield f.name, f, (f.name,)


def _field(cls, name: str):
    for n, f, path in leaves(cls):
        if n == name:
            return f, path
    raise KeyError(f"{cls.__name__} has no setting {name!r}")


def names(cls) -> set[str]:
    return {name for name, _, _ in leaves(cls)}


def is_free(name: str) -> bool:
    """How, not what, is trained (the device, the feature cache, tracing): --resume lets it change."""
    try:
        return _meta(_field(RunOptions, name)[0])["free"]
    except KeyError:
        return False


def flag(name: str) -> str:
    """The flag that sets a setting: --no-lstm for lstm, --max-epochs for max_epochs."""
    try:
        given = _meta(_field(RunOptions, name)[0])["flag"]
    except KeyError:
        given = None
    return given or "--" + name.replace("_", "-")


def negated(name: str) -> bool:
    try:
        return _meta(_field(RunOptions, name)[0])["negate"]
    except KeyError:
        return False


def flat(options, skip_free: bool = False) -> dict:
    """The settings as a flat JSON-able dict named like the flags' destinations (train.lr -> lr)."""
    out = {}
    for name, f, path in leaves(options):
        if skip_free and _meta(f)["free"]:
            continue
        value = options
        for part in path:
            value = getattr(value, part)
        out[name] = str(value) if isinstance(value, Path) else value
    return out


def from_flat(options, values: dict):
    """`options` (an instance) with the named settings replaced; nested configs rebuilt. Unknown
    names are refused (a typo would otherwise be a setting silently left at its default)."""
    unknown = set(values) - names(type(options))
    if unknown:
        raise KeyError(f"{type(options).__name__} has no setting {', '.join(sorted(unknown))}")
    top, nested = {}, {}
    for name, value in values.items():
        path = _field(type(options), name)[1]
        if len(path) == 1:
            top[name] = value
        else:
            nested.setdefault(path[0], {})[path[1]] = value
    for part, changes in nested.items():
        top[part] = replace(getattr(options, part), **changes)
    return replace(options, **top)


# --- the command line ---------------------------------------------------------------------------


def add_flags(parser, cls, names: Sequence[str], **overrides: dict) -> None:
    """Add the flags of the named settings of `cls` to `parser` (or an argument group), in that order.

    overrides: per name, argparse keywords that differ on this command (e.g. `out={"required": True}`),
    and "flag" for another flag name (munch evaluate's --doc-split, whose --split names the split scored).
    """
    for name in names:
        f, _ = _field(cls, name)
        m = _meta(f)
        if not m["cli"]:
            raise KeyError(f"setting {name!r} has no flag")
        kw: dict[str, Any] = {"dest": name}
        default = f.default if f.default is not MISSING else None
        if isinstance(default, bool):
            kw["action"] = "store_false" if m["negate"] else "store_true"
        else:
            kw["default"] = default
            if m["type"] is not None:
                kw["type"] = m["type"]
            if m["metavar"] is not None:
                kw["metavar"] = m["metavar"]
        if m["help"] is not None:
            kw["help"] = m["help"]
        kw |= overrides.get(name, {})
        parser.add_argument(kw.pop("flag", None) or m["flag"] or "--" + name.replace("_", "-"), **kw)


def help_of(cls, name: str) -> str | None:
    return _meta(_field(cls, name)[0])["help"]


def build(cls, values: dict):
    """`cls` with the named settings (flat names), every other one at its default."""
    unknown = set(values) - names(cls)
    if unknown:
        raise KeyError(f"{cls.__name__} has no setting {', '.join(sorted(unknown))}")
    return _build(cls, values)


def _build(cls, values: dict):
    kwargs = {}
    for f in fields(cls):
        if _nested(f):
            kwargs[f.name] = _build(f.default_factory, values)
        elif f.name in values:
            kwargs[f.name] = values[f.name]
    return cls(**kwargs)


def from_args(cls, args: argparse.Namespace, **values):
    """`cls` built from the parsed flags (each under its setting's name), `values` on top; settings
    without a flag on this command keep their defaults."""
    return build(cls, {name: getattr(args, name) for name in names(cls) if hasattr(args, name)} | values)


def check_settings(options) -> None:
    """Every setting against its choices and its check, and every float for being finite (`nan`
    and `inf` parse as floats but are never meant); a UserError naming the flag."""
    values = flat(options)
    for name, f, _ in leaves(options):
        m, value = _meta(f), values[name]
        if m["choices"] is not None:
            check(value, m["choices"], flag(name))
        if isinstance(value, float) and not math.isfinite(value):
            raise UserError(f"{flag(name)} must be a finite number; got {value}")
        problem = m["check"](value) if m["check"] is not None else None
        if problem:
            raise UserError(f"{flag(name)} {problem}; got {value}")


# --- the embeddings this project trains: `munch charlm` (embeddings/charlm.py), `munch vectors` (fasttext.py)


def _held_out(value) -> str | None:
    return None if 0 < value < 1 else "must be above 0 and below 1"


# `munch charlm`'s flags are these settings (settings.py: default, flag, help and check once)
@dataclass
class CharLMConfig:
    direction: str = setting("forward", choices=DIRECTIONS, help=" | ".join(DIRECTIONS))  # backward: right to left
    hidden: int = setting(1024, type=int, check=at_least(1), help="LSTM units")  # Akbik et al. 2018: 2048; PubMed: 1150
    layers: int = setting(1, type=int, check=at_least(1), help="stacked LSTM layers")
    char_dim: int = 100  # character embedding size (Akbik et al. 2018)
    dropout: float = 0.1  # on the character embeddings and the LSTM output, while the LM trains
    nout: int = 0  # a linear map of the LSTM output to this many values (Flair's `nout`); 0: none
    delimiter: str = "\n"  # what precedes every sentence the LM reads (Flair's `document_delimiter`)


@dataclass
class CharLMTraining:
    epochs: int = setting(10, type=int, check=at_least(1), help="passes over the text")
    batch_size: int = setting(100, type=int, check=at_least(1), help="parallel character streams")  # Flair: 100
    bptt: int = setting(250, type=int, check=at_least(1),
                        help="characters per truncated-backpropagation window")  # Flair: 250
    lr: float = setting(20.0, type=float, check=positive, help="initial SGD learning rate, halved when held-out "
                                                                "bits/char stop falling")  # Flair's LM trainer
    clip: float = 0.25  # gradient norm clipping (Flair)
    held_out: float = setting(0.01, type=float, check=_held_out,
                              help="fraction of lines, at the end, scored after every epoch")
    seed: int = setting(1, type=int)  # seeds the initialisation and dropout
    checkpoint_minutes: float = 10.0  # also checkpoint within an epoch this often
    max_minutes: float | None = setting(None, type=float, check=positive,
                                        help="stop after this long, checkpointed (continue with --resume)")


@dataclass
class FastTextConfig:
    dim: int = setting(300, type=int, check=at_least(1), help="vector size (with the default buckets, 300 needs "
                       "about 2.4 GB)")  # the paper's FastText vectors from Flair: 300
    epochs: int = setting(5, type=int, check=at_least(1))  # passes over the text (fastText's default)
    window: int = 5  # context words on each side
    min_count: int = setting(5, type=int, check=at_least(1), help="words seen fewer times get only n-gram vectors")
    min_n: int = 3  # shortest character n-gram (Bojanowski et al. 2017)
    max_n: int = 6  # longest character n-gram
    buckets: int = setting(2_000_000, type=int, check=at_least(1),
                           help="n-gram hash buckets (memory: buckets x dim x 4 bytes)")  # fastText's default
    skipgram: bool = True  # skip-gram (Bojanowski et al. 2017); False: CBOW
    threads: int = 0  # worker threads; 0: one per CPU core (the flag: cli/data.py, the one thread rule)
    seed: int = setting(1, type=int)
