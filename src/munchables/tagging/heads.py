"""Tagging documents with one or several CRF heads: entities with offsets, scores and an overlap policy.

A model trained with several corpora has one CRF head per corpus (model.MultiTaskTagger); each
head knows its corpus's entity types. Here the shared encoder runs once per batch of sentences
and every chosen head decodes its output (Viterbi), so tagging with all heads costs one encoder
pass plus a projection and a CRF per head. Each entity gets the marginal probability of its
span under its head (crf.CRF.segment_log_prob: its B-X I-X ... tags, and no I-X right after).

Long sentences. A sentence of more than `MAX_TOKENS` tokens (a line without sentence
punctuation, a table flattened to one line) is cut into pieces of `MAX_TOKENS` tokens, tagged
as separate sentences; offsets stay exact, as every token carries its own. An entity cannot
cross a cut. This keeps tagging time linear in the input: the CRF's recursions step through at
most `MAX_TOKENS` positions per batch, for any number of pieces side by side.

Overlaps between heads (`OVERLAPS`):
    all       keep every entity of every head (default); spans of different heads may overlap
    score     where spans overlap, keep the one with the higher score (ties: head priority)
    priority  where spans overlap, keep the one whose head comes first in the heads given
              (ties: score); with --heads all the order is the target, then the others as saved
Resolved-away entities are counted (`Tagged.dropped`), never silently lost: the command line
reports their number.
"""

from __future__ import annotations

import bisect
import ctypes
from typing import Callable, Iterable, Iterator, NamedTuple, Sequence

import torch

from ..choices import OVERLAPS
from ..data.batching import Collator
from ..data.documents import Document, entity
from ..data.tokenize import tokenize
from ..evaluate import entities as iob2_entities
from ..model import MultiTaskTagger

MAX_TOKENS = 512  # longest piece of a sentence tagged at once
GROUP_SENTENCES = 2048  # documents are gathered until they hold this many sentences, then tagged together
BATCH_CELLS = 256 * 64  # most padded token positions in a batch: 256 sentences of 64 tokens, 32 of 512


def batches(token_lists: Sequence[Sequence], batch_size: int, max_cells: int = BATCH_CELLS) -> Iterator[list[int]]:
    """Indices of the non-empty lists, sorted by length, in batches of at most `batch_size` lists and
    `max_cells` padded positions (bounding memory: a batch of 256 pieces of 512 tokens took 1 GB)."""
    order = sorted((i for i in range(len(token_lists)) if token_lists[i]), key=lambda i: len(token_lists[i]))
    batch: list[int] = []
    for i in order:  # ascending lengths: the current list is the longest of the batch so far
        if batch and (len(batch) == batch_size or (len(batch) + 1) * len(token_lists[i]) > max_cells):
            yield batch
            batch = []
        batch.append(i)
    if batch:
        yield batch


class Cancelled(Exception):
    """Tagging stopped between two batches because its `cancelled()` said so (munch serve: the request timed out)."""


class Span(NamedTuple):
    head: str  # the corpus whose head found it
    type: str  # entity type, from the head's tag set
    start: int  # first token
    end: int  # one past the last token
    score: float  # marginal probability of the span under the head


class Tagged(NamedTuple):
    document: Document
    entities: list[dict]  # documents.entity dicts, in order of (start, end)
    sentences: int  # sentences (pieces) tagged
    dropped: int  # entities removed by the overlap policy


def split_long(token_lists: Sequence[Sequence], max_tokens: int | None = None) -> tuple[list, list[int]]:
    """Pieces of at most `max_tokens` (default MAX_TOKENS) items per list, and for each piece the index of its list."""
    max_tokens = max_tokens or MAX_TOKENS
    pieces, owner = [], []
    for i, tokens in enumerate(token_lists):
        for s in range(0, max(len(tokens), 1), max_tokens):
            pieces.append(tokens[s : s + max_tokens])
            owner.append(i)
    return pieces, owner


@torch.no_grad()
def tag_spans(model: MultiTaskTagger, collate: Collator, heads: Sequence[str], token_lists: Sequence[Sequence[str]],
              device: torch.device, batch_size: int = 256,
              cancelled: Callable[[], bool] | None = None) -> list[list[Span]]:
    """The entities of every head in every token list (each at most MAX_TOKENS long); one encoder pass per batch.

    `cancelled` is asked before every batch (of at most BATCH_CELLS tokens): True raises Cancelled."""
    model.eval()
    out: list[list[Span]] = [[] for _ in token_lists]
    inside = {h: {t[2:]: k for k, t in enumerate(collate.vocab.tags[h]) if t.startswith("I-")} for h in heads}
    for rows in batches(token_lists, batch_size):
        if cancelled is not None and cancelled():
            raise Cancelled()
        batch = collate.collate_tokens([token_lists[i] for i in rows], heads[0]).to(device)
        h = model.encoder(batch)  # (B, T, 2H): once for every head
        lengths = batch.lengths.tolist()
        for head_name in heads:
            head, names = model.head(head_name), collate.vocab.tags[head_name]
            emissions = head.proj(h).float()  # (B, T, K)
            paths = head.crf.decode(emissions, batch.mask)  # (B, T)
            found, seg = [], ([], [], [], [])  # (row in out, type, start, end); CRF rows, starts, ends, not-after
            for r, path in enumerate(paths.tolist()):
                for etype, s, e in iob2_entities([names[k] for k in path[: lengths[r]]]):
                    found.append((rows[r], etype, s, e))
                    for part, value in zip(seg, (r, s, e, inside[head_name].get(etype, -1))):
                        part.append(value)
            if not found:
                continue
            args = [torch.tensor(part, dtype=torch.long, device=emissions.device) for part in seg]
            scores = head.crf.segment_log_prob(emissions, batch.mask, paths, *args).exp().tolist()
            for (i, etype, s, e), score in zip(found, scores):
                out[i].append(Span(head_name, etype, s, e, score))
    return out


def resolve(found: list[dict], overlap: str, heads: Sequence[str]) -> tuple[list[dict], int]:
    """Apply the overlap policy to one document's entities; returns them by (start, end) and the number dropped."""
    rank = {h: i for i, h in enumerate(heads)}
    if overlap == "all":
        return sorted(found, key=lambda e: (e["start"], e["end"], rank.get(e["head"], 0))), 0
    if overlap == "score":
        key = lambda e: (-e["score"], rank.get(e["head"], 0), e["start"])  # noqa: E731
    elif overlap == "priority":
        key = lambda e: (rank.get(e["head"], 0), -e["score"], e["start"])  # noqa: E731
    else:
        raise ValueError(f"overlap must be one of {OVERLAPS}; got {overlap!r}")
    starts, ends, kept = [], [], []  # the kept spans, disjoint, sorted by start
    for e in sorted(found, key=key):
        i = bisect.bisect_left(starts, e["start"])
        if (i > 0 and ends[i - 1] > e["start"]) or (i < len(starts) and starts[i] < e["end"]):
            continue  # overlaps a kept span: the one before it or the one at/after it
        starts.insert(i, e["start"]), ends.insert(i, e["end"]), kept.insert(i, e)
    return kept, len(found) - len(kept)


def _malloc_trim():
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None


_TRIM = _malloc_trim()


def release_memory() -> None:
    """Give the memory freed by a group's tensors back to the system (glibc's malloc_trim; elsewhere nothing).

    Without it a long run's memory creeps up as glibc keeps what batches of changing shapes freed:
    2,000 abstracts in one process went from 433 MB to 553 MB, and from 287 MB to 325 MB with a
    trim after every 250 documents (docs/benchmarks.md, "Tagging on every core")."""
    if _TRIM is not None:
        _TRIM(0)


def tag_documents(model: MultiTaskTagger, collate: Collator, documents: Iterable[Document], heads: Sequence[str],
                  overlap: str, device: torch.device, batch_size: int = 256,
                  group_sentences: int = GROUP_SENTENCES, cancelled: Callable[[], bool] | None = None) -> Iterator[Tagged]:
    """Tag documents lazily, in order, batching sentences across documents; memory is bounded by the group.
    `cancelled`: see tag_spans."""
    if overlap not in OVERLAPS:
        raise ValueError(f"overlap must be one of {OVERLAPS}; got {overlap!r}")
    group: list[tuple[Document, list]] = []  # documents waiting, each with its (passage, sentence) pieces
    waiting = 0
    for doc in documents:
        pieces = [(p, piece) for p in doc.passages for piece in split_long(tokenize(p.splitting_text()))[0]]
        group.append((doc, pieces))
        waiting += len(pieces)
        if waiting >= group_sentences:
            yield from _tag_group(model, collate, group, heads, overlap, device, batch_size, cancelled)
            group, waiting = [], 0
            release_memory()
    yield from _tag_group(model, collate, group, heads, overlap, device, batch_size, cancelled)


def _tag_group(model, collate, group, heads, overlap, device, batch_size, cancelled=None) -> Iterator[Tagged]:
    spans = tag_spans(model, collate, heads, [[t for t, _, _ in s] for _, pieces in group for _, s in pieces],
                      device, batch_size, cancelled)
    at = 0
    for doc, pieces in group:
        found = []
        for (passage, sentence), sentence_spans in zip(pieces, spans[at : at + len(pieces)]):
            for span in sentence_spans:
                start, end = sentence[span.start][1], sentence[span.end - 1][2]
                found.append(entity(passage.text[start:end], span.type, passage.offset + start,
                                    passage.offset + end, span.head, round(span.score, 4)))
        at += len(pieces)
        kept, dropped = resolve(found, overlap, heads)
        yield Tagged(doc, kept, len(pieces), dropped)
