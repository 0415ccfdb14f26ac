"""The multi-task BiLSTM-CRF of the paper (section 2.1, Figure 1).

A shared encoder (word embeddings + a character BiLSTM, Lample et al. 2016, then a BiLSTM; Eqs.
1-3) feeds one head per corpus: a linear projection to that corpus's tags (Eq. 4) and a
linear-chain CRF (Eqs. 5-8). A batch may mix corpora: every sentence is scored by its own head.
"""

from __future__ import annotations

import re
from typing import Sequence

import numpy as np
import torch
from torch import nn

from .crf import CRF
from .data.batching import Batch
from .settings import ModelConfig  # the model's settings, with their flags (settings.py)


class Dropout(nn.Dropout):
    """`nn.Dropout` whose CPU mask comes from `rand_like`.

    On the CPU torch's dropout draws its mask with `bernoulli_`, three times slower than
    `rand_like` (10.9 against 3.7 ms for a (32, 60, 512) tensor, 2 threads): 16% of a training
    step. Same distribution, same scaling; on CUDA the stock kernel is used.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0 or x.is_cuda:
            return super().forward(x)
        keep = torch.rand_like(x) >= self.p
        return x * keep * (1.0 / (1.0 - self.p))


def reversal_index(mask: torch.Tensor) -> torch.Tensor:
    """(B, T) positions that reverse each row within its length and leave padding in place."""
    B, T = mask.shape
    steps = torch.arange(T, device=mask.device).expand(B, T)  # (B, T)
    rev = mask.sum(1, keepdim=True) - 1 - steps  # (B, T)
    return torch.where(rev >= 0, rev, steps)


def _take(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    return x.gather(1, index.unsqueeze(-1).expand(-1, -1, x.shape[-1]))  # (B, T, D)


class BiLSTM(nn.Module):
    """A bidirectional LSTM over right-padded sequences, as two one-way LSTMs.

    Why not `nn.LSTM(bidirectional=True)` on a packed sequence: on the CPU a packed sequence
    cannot use the oneDNN (MKL-DNN) LSTM kernels, and training ran 2.3 times slower that way
    (B=32, T=40, H=256, 2 threads). Padding at the end does not reach the real positions of a
    forward LSTM; the backward LSTM reads each sentence reversed within its length, so it too
    sees only real tokens before them. Outputs at padded positions are meaningless: mask them.
    """

    def __init__(self, in_dim: int, hidden: int, cpu_groups: int = 1):
        super().__init__()
        self.forward_lstm = nn.LSTM(in_dim, hidden, batch_first=True)
        self.backward_lstm = nn.LSTM(in_dim, hidden, batch_first=True)
        self.out_dim = 2 * hidden
        self.cpu_groups = cpu_groups  # on the CPU, padded batches run in this many length groups

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Outputs (B, T, 2H), and the backward LSTM's outputs in its own reading order (B, T, H).

        A random training batch is mostly padding (bc5cdr-chem: 36% of its B x T cells are
        tokens). On the CPU, with `cpu_groups` > 1, the rows are sorted by length and run in
        groups, each padded only to its own longest row: the same result, less work (three
        groups: bc5cdr-chem training 315 -> 370 sentences/s on 2 threads). On CUDA, and for
        batches with little padding (length-sorted tagging batches), one group.
        """
        B, T, _ = x.shape
        if x.is_cuda or self.cpu_groups < 2 or B < 2 * self.cpu_groups:
            return self._run(x, mask)
        lengths = mask.sum(1)  # (B,), on the CPU: reading it costs no synchronisation
        if int(lengths.sum()) > 0.6 * B * T:
            return self._run(x, mask)
        order = torch.argsort(lengths)
        outs, bwds = [], []
        for rows in order.chunk(self.cpu_groups):
            longest = int(lengths[rows].max())
            out, bwd = self._run(x[rows, :longest], mask[rows, :longest])  # (b, longest, 2H), (b, longest, H)
            outs.append(nn.functional.pad(out, (0, 0, 0, T - longest)))
            bwds.append(nn.functional.pad(bwd, (0, 0, 0, T - longest)))
        inverse = torch.argsort(order)
        return torch.cat(outs)[inverse], torch.cat(bwds)[inverse]  # (B, T, 2H), (B, T, H)

    def _run(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        rev = reversal_index(mask)  # (B, T)
        fwd, _ = self.forward_lstm(x)  # (B, T, H)
        bwd_rev, _ = self.backward_lstm(_take(x, rev))  # (B, T, H), reading right to left
        return torch.cat([fwd, _take(bwd_rev, rev)], dim=-1), bwd_rev


class CharEncoder(nn.Module):
    """A word's characters through a BiLSTM; the last states of both directions, concatenated."""

    def __init__(self, n_chars: int, dim: int, hidden: int):
        super().__init__()
        self.embed = nn.Embedding(n_chars, dim, padding_idx=0)
        self.lstm = BiLSTM(dim, hidden)
        self.out_dim = 2 * hidden

    def forward(self, chars: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        out, bwd_rev = self.lstm(self.embed(chars), mask)  # (U, L, 2Ch), (U, L, Ch)
        last = (mask.sum(1) - 1)[:, None]  # (U, 1): index of each word's last character
        h = out.shape[-1] // 2
        fwd_last = _take(out[..., :h], last)[:, 0]  # (U, Ch): forward state after the last char
        bwd_last = _take(bwd_rev, last)[:, 0]  # (U, Ch): backward state after the first char
        return torch.cat([fwd_last, bwd_last], dim=-1)  # (U, 2Ch)


class WordEmbeddings(nn.Embedding):
    """A token feature: learned word embeddings (Eq. 1), (B, T, Dw); index 0 is padding."""

    name = "words"  # its attribute of the Encoder, hence its state-dict keys (encoder.words.weight)

    def __init__(self, n_words: int, dim: int):
        super().__init__(n_words, dim, padding_idx=0)
        self.out_dim = dim

    def forward(self, batch: Batch) -> torch.Tensor:
        return super().forward(batch.words)  # (B, T, Dw)


CHAR_CELLS = 2 ** 16  # most padded character positions (words x characters) the character BiLSTM reads at once


class CharFeatures(CharEncoder):
    """A token feature: each word's character BiLSTM states (Lample et al. 2016), (B, T, 2Ch).

    Every distinct word of the batch (its type) is encoded once, then spread to its positions.
    Words are read as batching.char_view gives them (at most MAX_WORD_CHARS characters). When the
    batch's words x characters exceed CHAR_CELLS, they run in chunks sorted by length, each padded
    only to its own longest word: the same states (padding never reaches a word's characters),
    and memory bounded by CHAR_CELLS whatever the number of distinct words.
    """

    name = "chars"  # encoder.chars.*

    def forward(self, batch: Batch) -> torch.Tensor:
        chars = batch.type_chars  # (U, L)
        U, L = chars.shape
        if U * L <= CHAR_CELLS:
            per_type = super().forward(chars, chars > 0)  # (U, 2Ch)
        else:
            lengths = (chars > 0).sum(1)  # (U,)
            order = torch.argsort(lengths)
            parts = []
            for rows in order.split(max(1, CHAR_CELLS // L)):
                part = chars[rows, : int(lengths[rows].max())]  # (u, l): padded to the chunk's longest word
                parts.append(super().forward(part, part > 0))  # (u, 2Ch)
            per_type = torch.cat(parts)[torch.argsort(order)]  # (U, 2Ch)
        return per_type[batch.types]  # (B, T, 2Ch)


class Encoder(nn.Module):
    """Shared by every corpus: token features, then the BiLSTM (Eqs. 1-3).

    Built from parts by `build_encoder`; the encoder only runs them. Every feature is a module
    that maps a Batch to (B, T, D_f) and has `out_dim`; their outputs are concatenated in order.
    The `base` features (word embeddings, character BiLSTM) are built from the ModelConfig and
    kept under their `name`; the `extra` ones (contextual string embeddings, a transformer:
    embeddings/) come from files, save and restore themselves (`spec` / `from_spec`) and are kept
    in `features`. These attribute names are the saved models' state-dict keys. Without a BiLSTM
    (`lstm` None) the output is the token features after dropout.
    """

    def __init__(self, base: Sequence[nn.Module], extra: Sequence[nn.Module], dropout: nn.Module,
                 lstm: BiLSTM | None):
        super().__init__()
        self.features = nn.ModuleList(extra)
        for part in base:
            self.add_module(part.name, part)
        self.parts = [*base, *self.features]  # the order of concatenation (a list: registered above)
        self.dropout = dropout
        self.lstm = lstm
        self.out_dim = lstm.out_dim if lstm is not None else sum(p.out_dim for p in self.parts)

    def token_features(self, batch: Batch) -> torch.Tensor:
        return torch.cat([part(batch) for part in self.parts], dim=-1)  # (B, T, D)

    def forward(self, batch: Batch) -> torch.Tensor:
        x = self.dropout(self.token_features(batch))  # (B, T, D)
        if self.lstm is None:
            return x
        h, _ = self.lstm(x, batch.mask)  # (B, T, 2H)
        return self.dropout(h)


def build_encoder(config: ModelConfig, n_words: int, n_chars: int, extra: Sequence[nn.Module] = ()) -> Encoder:
    """The encoder `config` describes (torchtune's habit: a builder chooses the parts).

    A transformer's word vectors replace the word embeddings and the character BiLSTM; the
    extra features follow them. Parts are made in a fixed order (words, characters, BiLSTM), so
    a seeded run draws the same initial weights.
    """
    base = [] if config.transformer else [WordEmbeddings(n_words, config.word_dim),
                                          CharFeatures(n_chars, config.char_dim, config.char_hidden)]
    dim = sum(p.out_dim for p in [*base, *extra])
    lstm = BiLSTM(dim, config.hidden, cpu_groups=3) if config.lstm else None
    return Encoder(base, extra, Dropout(config.dropout), lstm)


class Head(nn.Module):
    """One corpus's output layer: W(e) of Eq. 4 and the CRF with transition matrix A."""

    def __init__(self, in_dim: int, n_tags: int):
        super().__init__()
        self.proj = nn.Linear(in_dim, n_tags)
        self.crf = CRF(n_tags)


_MODULE_DICT_NAMES = frozenset(dir(nn.ModuleDict()))  # what a head key may not shadow: methods and the
# attributes every instance sets (`training`, `_modules`, ...), which the class alone does not show


def _key(corpus: str) -> str:
    """The head's key in `nn.ModuleDict`: one key per corpus name, and a different one for each name.

    ModuleDict keys may not contain dots nor shadow an attribute of the dict (`train`, `keys`,
    ...). Percent-escaping `%` and `.` maps names injectively (`bc5.chem` and `bc5_chem` get two
    heads) and leaves every other name as it is; a name that is an attribute gets a leading `%`,
    which no escaped name starts with unless followed by two hexadecimal digits.
    """
    key = corpus.replace("%", "%25").replace(".", "%2E")
    return "%" + key if key in _MODULE_DICT_NAMES or key == "" else key


def _corpus(key: str) -> str:
    """The corpus name of a head key: `_key`'s inverse (so names and keys map one-to-one both ways)."""
    if key.startswith("%") and key[1:] in _MODULE_DICT_NAMES | {""}:
        key = key[1:]
    return re.sub("%(25|2E)", lambda m: "%" if m[1] == "25" else ".", key)


def head_keys(state_dict: dict) -> set[str]:
    """The head keys a state dict holds (`heads.<key>.proj.weight`, ...)."""
    return {name.split(".")[1] for name in state_dict if name.startswith("heads.")}


def legacy_head_keys(state_dict: dict, corpora) -> dict:
    """A state dict of munchables <= 0.1.0, whose head keys replaced `.` by `_`, with today's keys.

    A state dict that already holds today's key of every corpus (and no other head) is returned as
    it is: renaming it would move the head of `corp_a` onto `corp.a` when a model has both (the two
    names have one key in the old scheme, so no old model can hold both). So model.pt keeps format
    1: both schemes read back, told apart by their keys.
    """
    corpora = list(corpora)
    if head_keys(state_dict) == {_key(c) for c in corpora}:
        return state_dict
    renamed = {}
    for corpus in corpora:
        old, new = corpus.replace(".", "_"), _key(corpus)
        if old != new:
            renamed[f"heads.{old}."] = f"heads.{new}."
    out = {}
    for name, value in state_dict.items():
        prefix = next((p for p in renamed if name.startswith(p)), None)
        out[renamed[prefix] + name[len(prefix):] if prefix else name] = value
    return out


class MultiTaskTagger(nn.Module):
    """The shared encoder with `nn.ModuleDict({corpus: Head})`."""

    def __init__(self, config: ModelConfig, n_words: int, n_chars: int, tags: dict[str, int],
                 features: Sequence[nn.Module] = ()):  # extra token features, see Encoder
        super().__init__()
        self.config = config
        self.encoder = build_encoder(config, n_words, n_chars, features)
        self.heads = nn.ModuleDict({_key(c): Head(self.encoder.out_dim, k) for c, k in tags.items()})
        assert [_corpus(k) for k in self.heads] == list(tags), "head keys must map back to the corpus names"

    def head(self, corpus: str) -> Head:
        return self.heads[_key(corpus)]

    def loss(self, batch: Batch, reduction: str = "mean") -> torch.Tensor:
        """Negative log-likelihood (Eq. 8) of the batch's sentences, each under its own head.

        `reduction` as pytorch-crf's: "sum" of the sentences' losses (Eq. 8) or their "mean" (Flair
        <= 0.8, the default); the user's choice is checked once, by pipeline.validate.
        """
        if reduction not in ("mean", "sum"):
            raise ValueError(f"reduction must be 'mean' or 'sum'; got {reduction!r}")
        h = self.encoder(batch)  # (B, T, 2H)
        total = h.new_zeros(())
        for corpus, rows in batch.groups.items():
            head = self.head(corpus)
            emissions = head.proj(h[rows])  # (b, T, K)
            total = total + head.crf(emissions, batch.tags[rows], batch.mask[rows]).sum()
        return total if reduction == "sum" else total / len(batch)

    @torch.no_grad()
    def decode(self, batch: Batch) -> list[list[int]]:
        """The Viterbi path (Eq. 6) of every sentence under its own head, as tag indices."""
        h = self.encoder(batch)  # (B, T, 2H)
        paths: list[list[int]] = [[] for _ in range(len(batch))]
        lengths = batch.lengths.tolist()
        for corpus, rows in batch.groups.items():
            head = self.head(corpus)
            best = head.crf.decode(head.proj(h[rows]), batch.mask[rows]).cpu().numpy()  # (b, T)
            for r, path in zip(rows.tolist(), best):
                paths[r] = path[: lengths[r]].tolist()
        return paths


def init_word_embeddings(embedding: nn.Embedding, vectors: dict[int, np.ndarray]) -> None:
    """Copy pretrained vectors (vocabulary index -> vector) into the embedding matrix."""
    if not vectors:
        return
    index = torch.tensor(list(vectors), dtype=torch.long)
    values = torch.from_numpy(np.stack(list(vectors.values())).astype(np.float32))
    with torch.no_grad():
        embedding.weight[index] = values
