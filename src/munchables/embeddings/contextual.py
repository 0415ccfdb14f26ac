"""Contextual string embeddings (Akbik et al. 2018): a word's vector from two character LMs.

A sentence is read as one string, its tokens joined by single spaces between two line breaks
(the line break that separates sentences in the language models' training text, text.py):
`s = "\\n" + "tok1 tok2 ... tokn" + "\\n"`. The forward LM reads `s` left to right and gives each
word its output state after the word's last character; the backward LM reads `s` right to left
and gives each word its output state after reading the word's first character, i.e. the state
at the position just before the word, having read the rest of the sentence and then the word
backwards. Both are concatenated, (2H) per word. This is Flair's `FlairEmbeddings` with
`with_whitespace=False`: neither state has yet read the space that separates the word from the
next one.

The language models are frozen: kept in eval mode, without gradients, so a sentence always gets
the same vectors, and a `FeatureCache` computes them once per sentence (epoch 1) and reads them
back later (every later epoch, and the development set after every epoch).

With `projection` K > 0 a learned linear map (no bias) takes the cached (2H) vectors to K
values before the BiLSTM. Not in the paper: it trades the BiLSTM's cost of reading 2H more
inputs per token (on the CPU the dearest part of a cached epoch, docs/benchmarks.md) for a
low-rank input weight.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch
from torch import nn

from ..errors import UserError
from .cache import FeatureCache, pad
from .charlm import NEWLINE, CharLM


def sentence_string(tokens: Sequence[str]) -> str:
    """The string both language models read for a sentence."""
    return NEWLINE + " ".join(tokens) + NEWLINE


def word_positions(tokens: Sequence[str]) -> tuple[list[int], list[int]]:
    """For each token, the index in `sentence_string` of its first and of its last character."""
    firsts, lasts, at = [], [], 1  # after the leading line break
    for token in tokens:
        firsts.append(at)
        lasts.append(at + len(token) - 1)
        at += len(token) + 1  # the token and the space after it
    return firsts, lasts


class ContextualStringEmbeddings(nn.Module):
    """Token features (B, T, Hf + Hb) from a frozen forward and backward character LM."""

    kind = "contextual-string"  # in a saved tagger's feature specs

    def __init__(self, forward_lm: CharLM, backward_lm: CharLM, cache: FeatureCache | None = None,
                 projection: int = 0):
        super().__init__()
        for lm, direction, flag in ((forward_lm, "forward", "--charlm-forward"), (backward_lm, "backward", "--charlm-backward")):
            if lm.config.direction != direction:
                raise UserError(f"{flag} needs a {direction} language model; the one given reads "
                                f"{lm.config.direction} (swap the two files?)")
        self.forward_lm, self.backward_lm = forward_lm, backward_lm
        self.requires_grad_(False)  # the language models; the projection below trains
        self.cache = cache
        self.out_dim = forward_lm.hidden + backward_lm.hidden
        self.projection = nn.Linear(self.out_dim, projection, bias=False) if projection else None
        self.out_dim = projection or self.out_dim
        self.lm_calls = 0  # how many times the language models ran (the cache avoids most)

    def spec(self, directory: Path) -> dict:
        """What rebuilds this module at load time: the language models' shapes (the weights are in
        the tagger's state dict) and the projection's size."""
        return {"kind": self.kind, "forward": self.forward_lm.spec(), "backward": self.backward_lm.spec(),
                "projection": self.projection.out_features if self.projection is not None else 0}

    @classmethod
    def from_spec(cls, spec: dict, directory: Path, cache: FeatureCache | None = None) -> "ContextualStringEmbeddings":
        return cls(CharLM.from_spec(spec["forward"]), CharLM.from_spec(spec["backward"]), cache,
                   spec.get("projection", 0))

    def train(self, mode: bool = True) -> "ContextualStringEmbeddings":
        super().train(mode)
        self.forward_lm.eval()  # frozen: no dropout, the same vectors every time
        self.backward_lm.eval()
        return self

    def forward(self, batch) -> torch.Tensor:
        """The batch's contextual string embeddings (B, T, Hf + Hb), zero on padding."""
        sentences = batch.tokens
        feats = self.embed(sentences) if self.cache is None else self.cache.get_many(sentences, self.embed)
        x = pad(feats, batch.mask.device)  # (B, T, Hf + Hb)
        return x if self.projection is None else self.projection(x)  # (B, T, D)

    @torch.no_grad()
    def embed(self, sentences: Sequence[Sequence[str]]) -> list[torch.Tensor]:
        """Each sentence's (n, Hf + Hb) embeddings, computed by the two language models."""
        self.lm_calls += 1
        strings = [sentence_string(s) for s in sentences]
        fwd = self._states(self.forward_lm, strings)  # (B, L, Hf), position i: after reading s[i]
        bwd = self._states(self.backward_lm, strings)  # (B, L, Hb), position j: after reading s[-1-j]
        out = []
        for b, (tokens, s) in enumerate(zip(sentences, strings)):
            firsts, lasts = word_positions(tokens)
            after_last = torch.tensor(lasts)  # (n,)
            after_first = len(s) - 1 - torch.tensor(firsts)  # (n,): s[first] read backwards
            out.append(torch.cat([fwd[b, after_last], bwd[b, after_first]], dim=-1))  # (n, Hf + Hb)
        return out

    @staticmethod
    def _states(lm: CharLM, strings: list[str]) -> torch.Tensor:
        """Output states (B, L, H) of `lm` over the strings, each read in the LM's direction."""
        device = lm.proj.weight.device
        ids = [lm.encode_text(s) for s in strings]
        padded = nn.utils.rnn.pad_sequence(ids, batch_first=True).to(device)  # (B, L); padding after the end
        out, _ = lm(padded)  # (B, L, H)
        return out.float().cpu()
