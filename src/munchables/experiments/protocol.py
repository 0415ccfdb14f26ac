"""The paper's protocol (section 4.1) as trials: grid, dev selection, final models, seeds.

For each target and method, every setting of the grid is trained on train and scored on dev (the
dev phase); the setting with the best target dev F1 is chosen and a final model with it is
trained on train + dev and scored on test (the final phase), once per seed.

- single-aux: a dev trial per auxiliary corpus and setting; the (setting, corpus) pair with the
  best dev F1 is chosen (section 4.1).
- iter, stack: the auxiliary corpora in a seeded random order in which corpora of one entity
  family are never neighbours (section 4.1); the same order for every setting and seed.
- iter-sort, stack-sort: ascending by the single-aux dev F1 of each corpus under the same setting
  (section 5.1), read from the store's single-aux dev trials and passed as aux_order "given".
- multi-task: one model per setting on every corpus found, serving every target; each target
  picks its setting by its own dev F1, and final models are trained for the settings picked.

`plan()` is a pure function of the finished trials: it returns the trials whose inputs are known
and says whether anything still waits on a trial not yet run. `driver.reproduce()` loops: plan,
submit what is ready to the engine, record each trial as it finishes, plan again.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from ..choices import GRIDS, LOSS_REDUCTIONS, check
from ..choices import PROTOCOL_METHODS as METHODS
from ..data.corpus import available_corpora, corpus_family, default_data_dir
from ..embeddings.provenance import read_sidecar
from ..embeddings.word_vectors import vectors_sha256
from ..errors import UserError
from ..ordering import random_order, sorted_order
from ..settings import ModelConfig, RunOptions, TrainConfig

BASE_METHOD = {m: m.removesuffix("-sort") for m in METHODS}  # what pipeline.train runs
PAPER_GRID = ((16, 0.05), (16, 0.1), (32, 0.05), (32, 0.1))  # (batch size, learning rate), section 4.1
ORDER_SEED = 1  # seeds the random order of iter and stack, the same for every setting and seed


@dataclass(frozen=True)
class Preset:
    """How long and how big every trial is."""

    max_epochs: int | None  # cap on epochs per stage; None: the paper's convergence rule alone
    train_limit: int | None  # first N training (and, in final models, dev) sentences per corpus
    hidden: int  # BiLSTM units per direction
    word_dim: int  # word embedding size
    grid: str  # the default grid: paper (4 settings) or fixed (--lr, --batch-size)
    lr: float = TrainConfig.lr  # the fixed grid's setting (default: munch train's)
    batch_size: int = TrainConfig.batch_size
    aux_whole: bool = RunOptions.aux_whole  # train_limit cuts the target only; auxiliary corpora stay whole
    final_on_dev: bool = True  # final models train on train + dev (section 4.1); False: on train only
    loss_reduction: str = TrainConfig.loss_reduction  # the update's loss over a batch: mean | sum (README, Training)


PRESETS = {
    # The whole protocol on a 2-core CPU in about an hour (75 min measured on a shared machine,
    # docs/results.md, "The hour"): 500 training sentences per corpus,
    # 3 epochs per stage, a small BiLSTM, one setting (lr 0.1, batch 16). A smoke test; the mean
    # loss, as when its committed results were run.
    "quick": Preset(max_epochs=3, train_limit=500, hidden=64, word_dim=50, grid="fixed", lr=0.1, batch_size=16),
    # The paper: full corpora, the convergence rule uncapped, BiLSTM 256, the 2 x 2 grid.
    "paper": Preset(max_epochs=None, train_limit=None, hidden=ModelConfig.hidden, word_dim=ModelConfig.word_dim,
                    grid="paper"),
    # Converged comparisons on a 2-core CPU (docs/results.md): the low-resource setting, the
    # target's first 1,000 training sentences and the auxiliary corpora whole; dev and test whole.
    # The paper's model (BiLSTM 256) at one setting, every stage capped at 60 epochs: the
    # paper's rule never halves the rate in that time (the training loss keeps falling), and the
    # single-task dev curves (docs/results.md) are flat from about epoch 50 (ncbi-disease) and 30
    # (s800). One setting, so there is nothing to select on dev: final models train on train
    # only and dev F1 stays an honest held-out figure (curves, single-aux selection). Use with
    # --word-vectors (fastText trained by `munch vectors`).
    "lowres-cpu": Preset(max_epochs=60, train_limit=1000, hidden=256, word_dim=100, grid="fixed", lr=0.1,
                         batch_size=32, aux_whole=True, final_on_dev=False, loss_reduction="sum"),
}


@dataclass(frozen=True)
class Trial:
    """One call of pipeline.train: everything it depends on goes into its key."""

    target: str
    method: str  # one of METHODS
    aux: tuple[str, ...]  # auxiliary corpora in training order
    lr: float
    batch_size: int
    seed: int
    phase: str  # dev | final
    preset: str
    max_epochs: int | None
    train_limit: int | None
    hidden: int
    word_dim: int
    # Fields added later: in the key only when they differ from their default, so the trials of
    # stores written before them keep their keys.
    loss_reduction: str = "mean"
    aux_whole: bool = False
    final_on_dev: bool = True  # a final trial trains on train + dev
    vectors_sha256: str | None = None  # the word vectors' content: a moved file is the same trial
    word_vectors: str | None = field(default=None, compare=False, metadata={"key": False})  # their path

    @property
    def setting(self) -> tuple[int, float]:
        return (self.batch_size, self.lr)

    @property
    def key(self) -> str:
        return hashlib.sha1(json.dumps(key_fields(self), sort_keys=True).encode()).hexdigest()[:16]

    @property
    def train_on_dev(self) -> bool:
        return self.phase == "final" and self.final_on_dev


_ORIGINAL = ("target", "method", "aux", "lr", "batch_size", "seed", "phase", "preset", "max_epochs",
             "train_limit", "hidden", "word_dim")


def key_fields(trial: Trial) -> dict:
    """What the key hashes: the original fields always, later ones when not at their default."""
    return {f.name: getattr(trial, f.name) for f in fields(trial)
            if f.metadata.get("key", True) and (f.name in _ORIGINAL or getattr(trial, f.name) != f.default)}


@dataclass
class Protocol:
    """What `munch reproduce` was asked to run."""

    targets: list[str]  # target corpora
    corpora: list[str]  # every corpus found (auxiliaries and multi-task's union)
    families: dict[str, str | None]
    methods: list[str]
    grid: list[tuple[int, float]]  # (batch size, learning rate)
    preset_name: str
    preset: Preset
    seeds: int = 1
    aux_pool: list[str] | None = None  # the auxiliary corpora of every target; None: every other corpus
    word_vectors: str | None = None  # path of the word vectors every trial starts from
    vectors_sha256: str | None = None
    vectors_source: dict | None = None  # their sidecar (embeddings.provenance): text hash, libraries

    def trial(self, target, method, aux, setting, phase, seed=1) -> Trial:
        p = self.preset
        return Trial(target, method, tuple(aux), setting[1], setting[0], seed, phase, self.preset_name,
                     p.max_epochs, p.train_limit, p.hidden, p.word_dim, p.loss_reduction, p.aux_whole,
                     p.final_on_dev, self.vectors_sha256, self.word_vectors)

    def aux_of(self, target: str) -> list[str]:
        return [c for c in (self.aux_pool or self.corpora) if c != target]

    @property
    def selects_on_dev(self) -> bool:
        """False when there is nothing to select (one setting, finals on train only): no dev phase."""
        return len(self.grid) > 1 or self.preset.final_on_dev


def make_protocol(targets=None, methods=None, grid=None, preset="quick", seeds=1, data_dir=None,
                  lr=None, batch_size=None, max_epochs=None, train_limit=None, hidden=None,
                  loss_reduction=None, aux=None, word_vectors=None) -> Protocol:
    """Validate the options once, with the fix in every message."""
    if preset not in PRESETS:
        raise UserError(f"unknown --preset {preset!r}; choose one of {', '.join(PRESETS)}")
    if loss_reduction is not None:
        check(loss_reduction, LOSS_REDUCTIONS, "--loss-reduction")
    p = PRESETS[preset]
    overrides = {k: v for k, v in dict(max_epochs=max_epochs, train_limit=train_limit, hidden=hidden,
                                         lr=lr, batch_size=batch_size, loss_reduction=loss_reduction).items()
                 if v is not None and v != getattr(p, k)}
    name = preset if not overrides else f"{preset}+" + ",".join(f"{k}={v}" for k, v in sorted(overrides.items()))
    p = Preset(**(asdict(p) | overrides))
    grid = grid or p.grid
    check(grid, GRIDS, "--grid")
    settings = list(PAPER_GRID) if grid == "paper" else [(p.batch_size, p.lr)]
    methods = methods or list(METHODS)
    bad = [m for m in methods if m not in METHODS]
    if bad:
        raise UserError(f"unknown method(s) {', '.join(bad)}; choose from {', '.join(METHODS)}")
    if seeds < 1:
        raise UserError(f"--seeds must be at least 1; got {seeds}")
    found = available_corpora(default_data_dir(data_dir))
    if len(found) < 2:
        raise UserError(f"reproduce needs at least two corpora; found {found or 'none'} (use --data-dir)")
    targets = targets or found
    missing = [name for name in [*targets, *(aux or [])] if name not in found]
    if missing:
        raise UserError(f"corpus {', '.join(missing)} not found among {', '.join(found)} (use --data-dir)")
    alone = [t for t in targets if not [a for a in (aux or found) if a != t]]
    if alone and set(methods) - {"single-task"}:
        raise UserError(f"--aux leaves {', '.join(alone)} without an auxiliary corpus (a target is never its "
                        "own); name another corpus in --aux, or use --methods single-task")
    families = {c: corpus_family(c) for c in found}
    sha = None
    if word_vectors is not None:
        from ..embeddings import published

        word_vectors = published.local(word_vectors, published.WORDS)  # Flair's names: the file downloaded
        if not Path(word_vectors).is_file():
            raise UserError(f"--word-vectors {word_vectors}: no such file (make one with `munch vectors`, or name one "
                            f"of Flair's: {published.names(published.WORDS)})")
        sha = vectors_sha256(Path(word_vectors))  # a subset counts as the file it came from
        word_vectors = str(Path(word_vectors).resolve())
    return Protocol(list(targets), found, families, list(methods), settings, name, p, seeds,
                    list(aux) if aux else None, word_vectors, sha, read_sidecar(word_vectors, sha) if sha else None)


# --- selection -------------------------------------------------------------------------------


def dev_f1(trial: dict, corpus: str) -> float:
    return trial["scores"][(corpus, "dev")]["f1"]


def best(candidates: dict) -> object:
    """The key with the highest dev F1; ties go to the first in the grid's order."""
    return max(candidates, key=lambda k: (candidates[k], -list(candidates).index(k)))


# How each method's trials order the target's auxiliary corpora, from (the corpora as listed, their
# seeded random order, the dev F1 of each one's SingleAux candidate). multi-task and single-aux
# are planned apart (one model over every corpus; the best candidate itself).
AUX_ORDER = {
    "single-task": lambda aux, shuffled, scores: [],
    "conc": lambda aux, shuffled, scores: aux,
    "iter": lambda aux, shuffled, scores: shuffled,
    "stack": lambda aux, shuffled, scores: shuffled,
    "iter-sort": lambda aux, shuffled, scores: sorted_order(scores),  # section 5.1: by the candidates' dev F1
    "stack-sort": lambda aux, shuffled, scores: sorted_order(scores),
}
NEEDS_CANDIDATES = ("single-aux", "iter-sort", "stack-sort")


def plan(protocol: Protocol, done: list[dict]) -> tuple[list[Trial], bool]:
    """(trials that can run now and are not done, whether other trials still wait for inputs)."""
    index = {t["key"]: t for t in done}
    ready: list[Trial] = []
    waiting = False

    def want(trial: Trial) -> dict | None:
        """The finished trial, or None after putting it on the ready list."""
        row = index.get(trial.key)
        if row is None and trial not in ready:
            ready.append(trial)
        return row

    def finals(target, method, aux, setting):
        for seed in range(1, protocol.seeds + 1):
            want(protocol.trial(target, method, aux, setting, "final", seed))

    P = protocol
    union = [c for c in P.corpora if c in P.targets or c in (P.aux_pool or P.corpora)]  # multi-task's corpora
    anchor, rest = union[0], union[1:]
    if "multi-task" in P.methods and not P.selects_on_dev:
        finals(anchor, "multi-task", rest, P.grid[0])
    elif "multi-task" in P.methods:  # one model per setting over every corpus, for every target
        dev = {s: want(P.trial(anchor, "multi-task", rest, s, "dev")) for s in P.grid}
        if all(dev.values()):
            for target in P.targets:
                chosen = best({s: dev_f1(row, target) for s, row in dev.items()})
                finals(anchor, "multi-task", rest, chosen)
        else:
            waiting = True
    for target in P.targets:
        aux = P.aux_of(target)
        shuffled = random_order(aux, {a: P.families[a] for a in aux}, ORDER_SEED)
        needs_candidates = any(m in P.methods for m in NEEDS_CANDIDATES)
        candidates = {(s, a): want(P.trial(target, "single-aux", [a], s, "dev")) for s in P.grid for a in aux} \
            if needs_candidates else {}
        have_candidates = needs_candidates and all(candidates.values())
        for method in P.methods:
            if method == "multi-task":
                continue
            if method == "single-aux":
                if not have_candidates:
                    waiting = True
                    continue
                s, a = best({k: dev_f1(row, target) for k, row in candidates.items()})
                finals(target, method, [a], s)
                continue
            orders = {}
            for s in P.grid:
                scores = ({a: dev_f1(candidates[(s, a)], target) for a in aux}
                          if needs_candidates and all(candidates[(s, a)] for a in aux) else None)
                if method.endswith("-sort") and scores is None:
                    continue  # its candidates are still to run
                orders[s] = AUX_ORDER[method](aux, shuffled, scores)
            if not P.selects_on_dev:  # one setting, finals on train only: the final models are all
                for s in orders:
                    finals(target, method, orders[s], s)
                waiting = waiting or len(orders) < len(P.grid)
                continue
            dev = {s: want(P.trial(target, method, orders[s], s, "dev")) for s in orders}
            if len(dev) < len(P.grid) or not all(dev.values()):
                waiting = True
                continue
            chosen = best({s: dev_f1(row, target) for s, row in dev.items()})
            finals(target, method, orders[chosen], chosen)
    return ready, waiting


# --- the store's rows of a trial --------------------------------------------------------------


def store_record(trial: Trial, result: dict, commit: str, vectors_source: dict | None = None) -> tuple[dict, list[dict]]:
    """The store's trial row and score rows of a finished trial; with what it was made from: the
    vectors' sidecar (`vectors_source`) and the libraries of the worker that trained it."""
    metrics = result["metrics"]
    per_corpus = metrics.get("per_corpus") or {trial.target: {"dev": metrics["dev"], "test": metrics["test"]}}
    scores = [{"corpus": c, "split": split, **m[split]} for c, m in per_corpus.items() for split in ("dev", "test")]
    row = asdict(trial) | {
        "key": trial.key, "aux": list(trial.aux), "config": asdict(trial), "epochs": metrics["epochs"],
        "seconds": metrics["seconds"], "device": metrics["device"], "git_commit": commit,
        "curve": result["curve"],
        "vectors_sha256": trial.vectors_sha256, "text_sha256": (vectors_source or {}).get("text_sha256"),
        "vectors_made_with": {k: vectors_source[k] for k in ("settings", "versions") if k in vectors_source}
        if vectors_source else None,
        **{lib: (result.get("environment") or {}).get(lib) for lib in ("python", "torch", "numpy", "gensim")},
    }
    return row, scores
