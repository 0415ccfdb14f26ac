"""Vocabularies: words, characters and one tag set per corpus.

Word lookup follows Lample et al. (2016): the exact form first, then a lower-cased form with
digits replaced by 0, then the unknown word. The vocabulary holds the training words of every
corpus the model learns from, plus the words of a word-vector file when one is given.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable, Sequence

PAD = "<pad>"
UNK = "<unk>"
_DIGITS = re.compile(r"\d")


def normalise(word: str) -> str:
    """The fallback form of a word: lower case, every digit replaced by 0."""
    return _DIGITS.sub("0", word.lower())


class Vocab:
    """A fixed mapping between items and indices; index 0 is padding, 1 the unknown item."""

    def __init__(self, items: Iterable[str] = ()):
        self.itos: list[str] = [PAD, UNK]
        self.stoi: dict[str, int] = {PAD: 0, UNK: 1}
        for item in items:
            self.add(item)

    def add(self, item: str) -> int:
        if item not in self.stoi:
            self.stoi[item] = len(self.itos)
            self.itos.append(item)
        return self.stoi[item]

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, item: str) -> bool:
        return item in self.stoi

    def get(self, item: str) -> int:
        return self.stoi.get(item, 1)


class WordVocab(Vocab):
    """Words with the Lample et al. fallback: exact form, then `normalise(word)`, then unknown."""

    def get(self, word: str) -> int:
        index = self.stoi.get(word)
        if index is None:
            index = self.stoi.get(normalise(word), 1)
        return index


@dataclass
class Vocabularies:
    """Everything that turns sentences into indices; saved with every model."""

    words: WordVocab
    chars: Vocab
    tags: dict[str, list[str]] = field(default_factory=dict)  # corpus -> its tag set, "O" first

    def tag_index(self, corpus: str) -> dict[str, int]:
        return {tag: i for i, tag in enumerate(self.tags[corpus])}

    def to_dict(self) -> dict:
        return {"words": self.words.itos, "chars": self.chars.itos, "tags": self.tags}

    @classmethod
    def from_dict(cls, data: dict) -> "Vocabularies":
        words, chars = WordVocab(), Vocab()
        for w in data["words"][2:]:
            words.add(w)
        for c in data["chars"][2:]:
            chars.add(c)
        return cls(words=words, chars=chars, tags={k: list(v) for k, v in data["tags"].items()})


def tag_set(tag_sequences: Iterable[Sequence[str]]) -> list[str]:
    """The tags of a corpus in a stable order: "O", then B-/I- pairs by entity type."""
    types = sorted({t[2:] for tags in tag_sequences for t in tags if t != "O"})
    return ["O"] + [f"{p}-{t}" for t in types for p in ("B", "I")]


def build_vocabularies(
    training: dict[str, Sequence],  # corpus -> its training sentences (objects with .tokens, .tags)
    extra_words: Iterable[str] = (),  # e.g. the words of a word-vector file
    all_tags: dict[str, Iterable[Sequence[str]]] | None = None,  # corpus -> tags of every split
) -> Vocabularies:
    """Vocabularies from the training sentences of every corpus (tags from all splits if given)."""
    counts: Counter[str] = Counter()
    chars: Counter[str] = Counter()
    for sentences in training.values():
        for sentence in sentences:
            counts.update(sentence.tokens)
            for token in sentence.tokens:
                chars.update(token)
    words = WordVocab()
    for word, _ in counts.most_common():
        words.add(word)
        words.add(normalise(word))
    for word in extra_words:
        words.add(word)
    tags = {
        name: tag_set((all_tags or {}).get(name, [s.tags for s in sentences]))
        for name, sentences in training.items()
    }
    return Vocabularies(words=words, chars=Vocab(c for c, _ in chars.most_common()), tags=tags)
