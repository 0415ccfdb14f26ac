"""Contextual string embeddings (Akbik et al. 2018): a word's vector from two character LMs.

A sentence is read as one string, its tokens joined by single spaces, as Flair's
`FlairEmbeddings` reads it: the forward LM reads `D + "tok1 tok2 ... tokn" + " "` left to right,
the backward LM reads `D + "tokn ... tok2 tok1"[reversed characters] + " "`, where D is the LM's
delimiter (a line break: what separates sentences in its training text, text.py; Flair's
`document_delimiter`) and the final space is Flair's end marker. Each word takes one state of
each LM, concatenated, (Hf + Hb) per word, at one of two places (Flair's `with_whitespace`):

- with whitespace (Flair's default, the paper's setting, used for LMs imported from Flair): the
  forward state after the space that follows the word (the end marker for the last word), the
  backward state after the space that precedes it, i.e. just before the word in reading order;
- without (what taggers built on `munch charlm` models compute, since before Flair files were
  read, and still do): the forward state after the word's last character, the backward state
  after its first, so that neither has read the space beside the word.

A tagger saves which in its feature spec; one saved before the choice existed computes without.

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
from .charlm import CharLM

END = " "  # after every sentence (Flair's end marker)


def lm_string(lm: CharLM, tokens: Sequence[str]) -> str:
    """The string `lm` is given for a sentence; `lm.encode_text` reverses it for a backward LM, which
    therefore reads its delimiter first, as Flair's `get_representation` arranges."""
    text = " ".join(tokens)
    if lm.config.direction == "forward":
        return lm.config.delimiter + text + END
    return END + text + lm.config.delimiter[::-1]  # read reversed: the delimiter as it is, then the text


def word_positions(tokens: Sequence[str]) -> tuple[list[int], list[int]]:
    """For each token, the index in `" ".join(tokens)` of its first and of its last character."""
    firsts, lasts, at = [], [], 0
    for token in tokens:
        firsts.append(at)
        lasts.append(at + len(token) - 1)
        at += len(token) + 1  # the token and the space after it
    return firsts, lasts


def state_indices(lm: CharLM, tokens: Sequence[str], with_whitespace: bool) -> torch.Tensor:
    """(n,): for each token, the index in `lm`'s output over `lm_string` of the state the word takes."""
    firsts, lasts = word_positions(tokens)
    n_text, d = sum(len(t) for t in tokens) + len(tokens) - 1, len(lm.config.delimiter)
    if lm.config.direction == "forward":  # after the last character (+1: after the space that follows)
        at = [d + last for last in lasts]
    else:  # the first character, read backwards (+1: the space before it, read after the word)
        at = [d + n_text - 1 - first for first in firsts]
    return torch.tensor(at, dtype=torch.long) + int(with_whitespace)


class ContextualStringEmbeddings(nn.Module):
    """Token features (B, T, Hf + Hb) from a frozen forward and backward character LM."""

    kind = "contextual-string"  # in a saved tagger's feature specs

    def __init__(self, forward_lm: CharLM, backward_lm: CharLM, cache: FeatureCache | None = None,
                 projection: int = 0, with_whitespace: bool = False):
        super().__init__()
        for lm, direction, flag in ((forward_lm, "forward", "--charlm-forward"), (backward_lm, "backward", "--charlm-backward")):
            if lm.config.direction != direction:
                raise UserError(f"{flag} needs a {direction} language model; the one given reads "
                                f"{lm.config.direction} (swap the two files?)")
        self.forward_lm, self.backward_lm = forward_lm.eval(), backward_lm.eval()  # frozen from the start
        self.with_whitespace = with_whitespace  # which state each word takes (module docstring)
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
                "projection": self.projection.out_features if self.projection is not None else 0,
                "with_whitespace": self.with_whitespace}

    @classmethod
    def from_spec(cls, spec: dict, directory: Path, cache: FeatureCache | None = None) -> "ContextualStringEmbeddings":
        return cls(CharLM.from_spec(spec["forward"]), CharLM.from_spec(spec["backward"]), cache,
                   spec.get("projection", 0), bool(spec.get("with_whitespace", False)))  # saved before: without

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
        # Flair's strings and the states its words take (lm_string, state_indices), read in bounded windows
        fwd = lm_states(self.forward_lm, [lm_string(self.forward_lm, s) for s in sentences],
                        [state_indices(self.forward_lm, s, self.with_whitespace) for s in sentences])
        bwd = lm_states(self.backward_lm, [lm_string(self.backward_lm, s) for s in sentences],
                        [state_indices(self.backward_lm, s, self.with_whitespace) for s in sentences])
        return [torch.cat([f, b], dim=-1) for f, b in zip(fwd, bwd)]  # (n, Hf + Hb) each


LM_WINDOW = 512  # characters of each string one LSTM call reads; the state is carried to the next window
LM_CELLS = 2 ** 15  # strings x characters one LSTM call reads (its output: LM_CELLS x H floats, 128 MB at H = 1024)


@torch.no_grad()
def lm_states(lm: CharLM, strings: list[str], wanted: list[torch.Tensor]) -> list[torch.Tensor]:
    """For each string, the output states (n, H) of `lm` at the positions `wanted` (n,), counted in
    the LM's reading order.

    Memory is bounded whatever the text: the strings run in groups sorted by length, each group
    read in windows of LM_WINDOW characters with the LSTM state carried from window to window
    (the states of reading each string in one pass), and only the wanted states are kept. A
    sentence holding a 10,000-letter word is 10,000 positions of 4 KiB each at H = 1024; read whole
    beside 255 others, padded to its length, it asked for 10 GB.
    """
    device = lm.proj.weight.device
    ids = [lm.encode_text(s) for s in strings]
    out: list[torch.Tensor | None] = [None] * len(wanted)  # (n, H) each, H the LM's output size
    order = sorted(range(len(strings)), key=lambda i: len(ids[i]))
    start = 0
    while start < len(order):
        longest_window = min(LM_WINDOW, len(ids[order[start]]))
        rows = [order[start]]  # ascending lengths: add strings while the group's padded window fits LM_CELLS
        while start + len(rows) < len(order):
            longest_window = min(LM_WINDOW, len(ids[order[start + len(rows)]]))
            if (len(rows) + 1) * longest_window > LM_CELLS:
                break
            rows.append(order[start + len(rows)])
        start += len(rows)
        padded = nn.utils.rnn.pad_sequence([ids[i] for i in rows], batch_first=True).to(device)  # (b, L); padding after the end
        state = None
        for w0 in range(0, padded.shape[1], LM_WINDOW):
            states, state = lm(padded[:, w0 : w0 + LM_WINDOW], state)  # (b, W, H)
            for r, i in enumerate(rows):
                if out[i] is None:
                    out[i] = torch.zeros(len(wanted[i]), states.shape[-1])
                inside = (wanted[i] >= w0) & (wanted[i] < w0 + states.shape[1])
                if inside.any():
                    out[i][inside] = states[r, wanted[i][inside] - w0].float().cpu()
    return out
