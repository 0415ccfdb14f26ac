"""Shared fixtures: tiny corpora written into tmp_path, small enough to train on in a second.

The sentences come from a few templates whose slots are filled with entity phrases that always
carry the same tag, so a small BiLSTM-CRF learns them in a handful of epochs:

    Chemical  aspirin, ibuprofen, caffeine, morphine, "acetylsalicylic acid", "nitric oxide"
    Disease   headache, fever, asthma, "heart failure", "lung cancer"

A corpus without one of the types fills that slot with an O phrase instead. Numbers appear in
some sentences (for the digit fallback of the vocabulary).

Importing this file sets torch to one CPU thread (see below).

Fixtures (function scope unless said otherwise)
    write_tiny_corpus  the factory behind the others:
                       write_tiny_corpus(directory, n_train, n_dev=4, n_test=4, seed=0,
                       types=("Chemical", "Disease")) -> directory, holding train.tsv, dev.tsv and
                       test.tsv (IOB2, TOKEN<TAB>TAG, blank line between sentences).
    tiny_corpus        Path of a corpus directory named "tiny": 24 train, 8 dev, 8 test sentences,
                       Chemical and Disease.
    tiny_corpora       TinyCorpora(data_dir, main, aux, sizes): a data directory holding four
                       corpora, "main" with 10 training sentences (Chemical) and the auxiliary
                       "aux3" (3, Disease), "aux7" (7, Chemical), "aux25" (25, both); 4 dev and 4
                       test sentences each. Pass data_dir as --data-dir / RunOptions.data_dir.
    tiny_train_args    the function train_args(corpus, epochs=12, *extra) -> `munch train`
                       arguments for a tiny model (hidden 16, word_dim 20, batch 8, lr 0.5, dropout
                       0.1, seed 3, cpu); append "--out", DIR. It fits tiny_corpus in about 10 epochs.
    tiny_run           (session) a finished 12-epoch `munch train` of a copy of tiny_corpus:
                       TinyRun(corpus, out, args), out holding model.pt, metrics.json, log.jsonl,
                       checkpoint.pt; args are the `munch` arguments it ran with, without --out.
                       Read only: copy it before changing anything.
"""

from __future__ import annotations

import os
import random
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from munchables.data.corpus import load_corpus
from munchables.data.vocab import build_vocabularies
from munchables.model import ModelConfig, MultiTaskTagger
from munchables.tagging.tagger import Tagger

# The suite's models are tiny: one CPU thread runs them faster than two (no OpenMP hand-offs) and
# far faster while other processes load the machine; the numbers they give are the same.
torch.set_num_threads(1)

# The tests never reach the internet: a named corpus fetched on first use (munch train, evaluate,
# reproduce) reads from this mirror directory, which does not exist, and fails at once; the fetch
# tests point --mirror or MUNCHABLES_MIRROR at their own server on 127.0.0.1.
os.environ["MUNCHABLES_MIRROR"] = os.path.join(tempfile.gettempdir(), "munchables-tests-have-no-mirror")

CHEMICALS = ["aspirin", "ibuprofen", "caffeine", "morphine", "acetylsalicylic acid", "nitric oxide"]
DISEASES = ["headache", "fever", "asthma", "heart failure", "lung cancer"]
PLAIN = ["symptoms", "the control group", "weight", "sleep"]  # O phrases for a missing type

# {C} a chemical slot, {D} a disease slot; everything else is O
TEMPLATES = [
    "Patients treated with {C} reported {D} .",
    "{C} reduced the risk of {D} in 12 mice .",
    "No {D} was seen after {C} .",
    "The {C} dose was 100 mg per day .",
    "We studied {D} in 45 patients .",
    "Treatment with {C} and {C} improved {D} .",
]


def tiny_sentences(n: int, seed: int = 0, types=("Chemical", "Disease")) -> list[list[tuple[str, str]]]:
    """`n` sentences of (token, IOB2 tag) from the templates, with entities of `types` only."""
    rng = random.Random(seed)
    slots = {"{C}": ("Chemical", CHEMICALS), "{D}": ("Disease", DISEASES)}
    sentences = []
    for _ in range(n):
        sentence = []
        for word in rng.choice(TEMPLATES).split():
            if word in slots:
                kind, phrases = slots[word]
                if kind in types:
                    tokens = rng.choice(phrases).split()
                    sentence += [(t, ("B-" if i == 0 else "I-") + kind) for i, t in enumerate(tokens)]
                else:
                    sentence += [(t, "O") for t in rng.choice(PLAIN).split()]
            else:
                sentence.append((word, "O"))
        sentences.append(sentence)
    return sentences


def column_text(sentences) -> str:
    return "\n".join("".join(f"{tok}\t{tag}\n" for tok, tag in s) for s in sentences)


def _write_tiny_corpus(directory, n_train, n_dev=4, n_test=4, seed=0, types=("Chemical", "Disease")) -> Path:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for i, (split, n) in enumerate((("train", n_train), ("dev", n_dev), ("test", n_test))):
        text = column_text(tiny_sentences(n, seed=1000 * seed + i, types=types))
        (directory / f"{split}.tsv").write_text(text, encoding="utf-8")
    return directory


@pytest.fixture
def write_tiny_corpus():
    """The factory: write_tiny_corpus(directory, n_train, n_dev=4, n_test=4, seed=0, types=...) -> Path."""
    return _write_tiny_corpus


@pytest.fixture
def tiny_corpus(tmp_path) -> Path:
    """A corpus directory "tiny": 24 train, 8 dev, 8 test sentences with Chemical and Disease."""
    return _write_tiny_corpus(tmp_path / "tiny", 24, 8, 8)


@pytest.fixture
def three_head_tagger(tiny_corpus):
    """An untrained three-head tagger ("tiny", "chem", "dis") with large random weights: varied paths, many entities."""
    corpus = load_corpus(str(tiny_corpus))
    chem = [s for s in corpus.train if "B-Chemical" in s.tags and "B-Disease" not in s.tags]
    vocab = build_vocabularies({corpus.name: corpus.train, "chem": chem, "dis": corpus.train[:3]})
    torch.manual_seed(1)
    config = ModelConfig(word_dim=10, char_dim=5, char_hidden=4, hidden=8)
    model = MultiTaskTagger(config, len(vocab.words), len(vocab.chars), {c: len(t) for c, t in vocab.tags.items()})
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(3)
    return Tagger(model, vocab, corpus.name, torch.device("cpu"))


@dataclass
class TinyCorpora:
    data_dir: Path  # the directory holding one sub-directory per corpus
    main: str  # the target corpus id
    aux: list[str]  # the auxiliary corpus ids, smallest first
    sizes: dict[str, int]  # corpus id -> number of training sentences


TINY_CORPORA = {  # id -> (training sentences, entity types)
    "main": (10, ("Chemical",)),
    "aux3": (3, ("Disease",)),
    "aux7": (7, ("Chemical",)),
    "aux25": (25, ("Chemical", "Disease")),
}


@pytest.fixture
def tiny_corpora(tmp_path) -> TinyCorpora:
    """Four corpora in tmp_path/"data": main (10 training sentences), aux3, aux7, aux25."""
    data_dir = tmp_path / "data"
    for seed, (name, (n, types)) in enumerate(TINY_CORPORA.items()):
        _write_tiny_corpus(data_dir / name, n, 4, 4, seed=seed, types=types)
    return TinyCorpora(data_dir, "main", ["aux3", "aux7", "aux25"], {k: n for k, (n, _) in TINY_CORPORA.items()})


@dataclass
class TinyRun:
    corpus: Path  # the corpus directory it was trained on (named "tiny")
    out: Path  # the run directory
    args: list[str]  # `munch` arguments that trained it, without --out


def train_args(corpus: Path, epochs: int = 12, *extra: str) -> list[str]:
    """`munch train` arguments for a tiny model on `corpus` (append --out DIR)."""
    return ["-q", "train", "--target", str(corpus), "--max-epochs", str(epochs), "--hidden", "16",
            "--word-dim", "20", "--batch-size", "8", "--lr", "0.5", "--dropout", "0.1",
            "--device", "cpu", "--seed", "3", *extra]


@pytest.fixture
def tiny_train_args():
    """train_args(corpus, epochs=12, *extra): `munch train` arguments for a tiny model (append --out)."""
    return train_args


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> TinyRun:
    """A finished 12-epoch `munch train` on a tiny corpus (shared: treat it as read-only)."""
    from munchables.cli import main

    root = tmp_path_factory.mktemp("tiny_run")
    corpus = _write_tiny_corpus(root / "tiny", 24, 8, 8)
    args = train_args(corpus)
    assert main([*args, "--out", str(root / "run")]) == 0
    return TinyRun(corpus, root / "run", args)
