"""What a corpus is once read: its sentences in IOB2 and its three splits, and the file names a split
may have in a corpus directory. Apart from corpus.py (column files) so that documents.py (annotated
documents) builds the same Corpus without importing the reader that dispatches to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..choices import SPLITS
from ..errors import UserError

SPLIT_NAMES = {"train": ("train",), "dev": ("dev", "devel"), "test": ("test",)}  # file stems
EXTENSIONS = ("", ".tsv", ".txt", ".conll", ".iob", ".iob2", ".bio", ".iobes", ".bioes")  # + ".gz"


@dataclass(frozen=True)
class Sentence:
    """One sentence: its tokens and their IOB2 tags, of equal length."""

    tokens: tuple[str, ...]  # the first column of each line
    tags: tuple[str, ...]  # always IOB2: "O", "B-Type", "I-Type"


@dataclass
class Corpus:
    """The three splits of one corpus, read from one directory."""

    name: str  # corpus id ("ncbi-disease") or the directory name when loaded from a path
    family: str | None  # entity family ("disease", "chemical", ...); None when unknown or mixed
    path: Path  # the corpus directory, resolved
    train: list[Sentence]  # training sentences (the first N when a train limit was given)
    dev: list[Sentence]  # development sentences
    test: list[Sentence]  # test sentences
    documents: dict | None = None  # read from documents (data/annotated.py): what was read, kept and dropped, per split

    def split(self, name: str) -> list[Sentence]:
        """The sentences of split `name` ("train", "dev" or "test")."""
        if name not in SPLITS:
            raise UserError(f"unknown split {name!r}; expected one of {', '.join(SPLITS)}")
        return getattr(self, name)

    @property
    def entity_types(self) -> list[str]:
        """The entity types seen in any split, sorted."""
        tags = set().union(*(s.tags for split in SPLITS for s in self.split(split)))
        return sorted(tag[2:] for tag in tags if tag.startswith("B-"))


def split_candidates(corpus_dir: Path, split: str) -> list[Path]:
    """The files of `corpus_dir` that may hold `split`: train, train.tsv, train.tsv.gz, ..."""
    names = {stem + ext + gz for stem in SPLIT_NAMES[split] for ext in EXTENSIONS for gz in ("", ".gz")}
    try:
        return sorted(p for p in corpus_dir.iterdir() if p.name in names and p.is_file())
    except OSError as e:  # unreadable (permissions) or vanished
        raise UserError(f"{corpus_dir}: cannot list the corpus directory ({e.strerror}); make it readable (chmod)") from None
