"""Sentences to tensors, and the streams of batches that the training Algorithms draw from.

A batch is first a list of `Item`s (corpus, sentence index): that is what the methods yield and
what the schedule trace prints. `Collator` turns such a list into a `Batch` of tensors only when
the trainer needs one. Character features are computed once per word type in a batch, so the
batch carries the distinct word types and, per token, an index into them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Sequence

import numpy as np
import torch

from .vocab import Vocabularies

MAX_WORD_CHARS = 64  # characters of a word the character model sees (the corpora's longest word: 48)


def char_view(word: str) -> str:
    """What the character model reads of a word: the whole word up to MAX_WORD_CHARS characters, else
    its first and last MAX_WORD_CHARS / 2 (the forward LSTM's state ends on the word's end, the
    backward one's on its start, so both ends are kept).

    Why a cap: the character BiLSTM pads every distinct word of a batch to the longest one, so
    one 10,000-letter word (a DNA sequence in an abstract) beside 3,000 others asked for 2 GB at
    once. Words up to the cap (every word of the paper's corpora) are read exactly as before.
    """
    if len(word) <= MAX_WORD_CHARS:
        return word
    half = MAX_WORD_CHARS // 2
    return word[:half] + word[-half:]


class Item(NamedTuple):
    corpus: str  # corpus id: which head scores this sentence
    index: int  # position of the sentence in that corpus's split


@dataclass
class Batch:
    """Padded tensors for B sentences of at most T tokens; U distinct word types of at most L chars."""

    words: torch.Tensor  # (B, T) long, word indices, 0 = padding
    mask: torch.Tensor  # (B, T) bool, True on real tokens (a prefix of each row)
    lengths: torch.Tensor  # (B,) long, kept on the CPU: decoding reads it without a device synchronisation
    types: torch.Tensor  # (B, T) long, index of each token's word type in `type_chars`
    type_chars: torch.Tensor  # (U, L) long, character indices of each distinct word type (char_view: L <= MAX_WORD_CHARS)
    tags: torch.Tensor  # (B, T) long, tag indices in each sentence's own corpus tag set
    corpora: list[str]  # (B,) corpus id of each sentence
    tokens: list[Sequence[str]]  # (B,) the sentences' tokens (for features computed from text)
    groups: dict[str, torch.Tensor]  # corpus -> (b,) long, rows of the batch from that corpus

    def to(self, device: torch.device) -> "Batch":
        move = lambda t: t.to(device, non_blocking=True)  # noqa: E731
        return Batch(
            words=move(self.words), mask=move(self.mask), lengths=self.lengths,
            types=move(self.types), type_chars=move(self.type_chars),
            tags=move(self.tags), corpora=self.corpora, tokens=self.tokens,
            groups={k: move(v) for k, v in self.groups.items()},
        )

    def __len__(self) -> int:
        return len(self.corpora)


CHAR_CACHE_WORDS = 1 << 18  # distinct words whose character ids are kept (a training corpus has fewer)


class Collator:
    """Turns items (or raw token lists) into `Batch`es; each corpus's split is encoded once."""

    def __init__(self, vocab: Vocabularies, sentences: dict[str, Sequence]):
        self.vocab = vocab
        self.sentences = sentences  # corpus -> list of Sentence (the split being iterated)
        self._char_cache: dict[str, list[int]] = {}
        self._encoded: dict[str, list[tuple[list[int], list[int]]]] = {}

    def _encode_corpus(self, corpus: str) -> list[tuple[list[int], list[int]]]:
        if corpus not in self._encoded:
            tag_index = self.vocab.tag_index(corpus)
            words = self.vocab.words
            self._encoded[corpus] = [
                ([words.get(w) for w in s.tokens], [tag_index.get(t, 0) for t in s.tags])
                for s in self.sentences[corpus]
            ]
        return self._encoded[corpus]

    def chars(self, word: str) -> list[int]:
        """The character ids the character model reads for `word` (char_view), cached: a long-running
        service sees words without end, so the cache starts afresh past CHAR_CACHE_WORDS words."""
        view = char_view(word)  # the key too: a cache of whole words would keep megabyte-long ones
        ids = self._char_cache.get(view)
        if ids is None:
            if len(self._char_cache) >= CHAR_CACHE_WORDS:
                self._char_cache.clear()
            ids = self._char_cache[view] = [self.vocab.chars.get(c) for c in view]
        return ids

    def tokens(self, item: Item) -> Sequence[str]:
        return self.sentences[item.corpus][item.index].tokens

    def __call__(self, items: Sequence[Item]) -> Batch:
        rows = [self._encode_corpus(item.corpus)[item.index] for item in items]
        tokens = [self.tokens(item) for item in items]
        return self.collate(tokens, rows, [item.corpus for item in items])

    def collate_tokens(self, sentences: Sequence[Sequence[str]], corpus: str) -> Batch:
        """A batch of raw token lists, all scored by `corpus`'s head (tags all 0)."""
        words = self.vocab.words
        rows = [([words.get(w) for w in s], [0] * len(s)) for s in sentences]
        return self.collate(sentences, rows, [corpus] * len(sentences))

    def collate(self, tokens, rows, corpora) -> Batch:
        B, T = len(rows), max(len(r[0]) for r in rows)
        word_ids = np.zeros((B, T), dtype=np.int64)
        tag_ids = np.zeros((B, T), dtype=np.int64)
        type_ids = np.zeros((B, T), dtype=np.int64)
        lengths = np.zeros(B, dtype=np.int64)
        type_index: dict[str, int] = {}
        for b, ((w, t), toks) in enumerate(zip(rows, tokens)):
            n = len(w)
            lengths[b] = n
            word_ids[b, :n] = w
            tag_ids[b, :n] = t
            type_ids[b, :n] = [type_index.setdefault(tok, len(type_index)) for tok in toks]
        type_ids_chars = [self.chars(word) for word in type_index]
        type_chars = np.zeros((len(type_ids_chars), max(map(len, type_ids_chars))), dtype=np.int64)  # (U, L <= MAX_WORD_CHARS)
        for u, ids in enumerate(type_ids_chars):
            type_chars[u, : len(ids)] = ids
        lengths_t = torch.from_numpy(lengths)
        groups: dict[str, list[int]] = {}
        for b, corpus in enumerate(corpora):
            groups.setdefault(corpus, []).append(b)
        return Batch(
            words=torch.from_numpy(word_ids),
            mask=torch.arange(T)[None, :] < lengths_t[:, None],
            lengths=lengths_t,
            types=torch.from_numpy(type_ids),
            type_chars=torch.from_numpy(type_chars),
            tags=torch.from_numpy(tag_ids),
            corpora=list(corpora),
            tokens=list(tokens),
            groups={k: torch.tensor(v, dtype=torch.long) for k, v in groups.items()},
        )


# --- The streams of the Algorithms ---------------------------------------------------------------


class ShuffledPass:
    """extract(D_main, BatchSize) over one epoch: a fresh permutation cut into batches."""

    def __init__(self, items: Sequence[Item], batch_size: int, rng: np.random.Generator):
        self.items, self.batch_size, self.rng = list(items), batch_size, rng

    def epoch(self) -> list[list[Item]]:
        order = self.rng.permutation(len(self.items))
        bs = self.batch_size
        return [[self.items[i] for i in order[s : s + bs]] for s in range(0, len(order), bs)]

    def __len__(self) -> int:
        return len(self.items)


class RestartingStream:
    """extract(D_aux, BatchSize): batches from a shuffled pass that restarts, reshuffled, when spent.

    The last batch of a pass may be shorter; no batch repeats a sentence. So an auxiliary corpus
    of any size, smaller or larger than the main corpus, serves any number of steps.
    """

    def __init__(self, items: Sequence[Item], batch_size: int, rng: np.random.Generator):
        if not items:
            raise ValueError("an auxiliary stream needs at least one sentence")
        self.items, self.batch_size, self.rng = list(items), batch_size, rng
        self._order: np.ndarray = np.empty(0, dtype=np.int64)
        self._pos = 0

    def next(self) -> list[Item]:
        if self._pos >= len(self._order):
            self._order, self._pos = self.rng.permutation(len(self.items)), 0
        chunk = self._order[self._pos : self._pos + self.batch_size]
        self._pos += len(chunk)
        return [self.items[i] for i in chunk]


def items_of(corpus: str, n: int) -> list[Item]:
    return [Item(corpus, i) for i in range(n)]

