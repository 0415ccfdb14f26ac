"""Several taggers in one pass: `munch tag --model A --model B` (issue 26.7).

A disease tagger and a chemical tagger, each trained with MUNCH as the target, are combined into
one output: every document is tagged by each model with its own heads (`--heads` once for all
models, or once per model in the order of `--model`), and their entities are merged under the
same `--overlap` policy as the heads of one model (heads.resolve), the heads in the order given:
model A's, then model B's. With one model nothing changes; with several, an entity's `head`
names its model too, `MODEL:HEAD` (MODEL: the model directory's name), since two models often
share head names (both trained with the same corpora, each with its own target).

Documents go through in chunks of `CHUNK` documents, so memory stays bounded by a chunk and the
models' batches whatever the collection's size.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from ..choices import OVERLAPS
from ..data.documents import Document
from ..errors import UserError
from .heads import Tagged, resolve

CHUNK = 256  # documents tagged by every model before their entities are merged and written


@dataclass(frozen=True)
class TaggingPlan:
    """What to load and how to tag: plain values, so that worker processes and Ray tasks can load it themselves."""
    models: tuple[str, ...]
    heads: tuple[str, ...]  # one `--heads` value for every model, or one per model
    overlap: str = "all"
    batch_size: int = 256
    device: str = "cpu"

    def load(self) -> "Taggers":
        return Taggers.load(self.models, self.heads, self.device)


def model_names(models: Sequence[str]) -> list[str]:
    """Each model's label: its directory's name, made unique with #2, #3 ... where two share one."""
    names = []
    for m in models:
        path = Path(m).resolve()
        name = (path.parent.name if path.is_file() else path.name) or str(m)
        names.append(name if name not in names else f"{name}#{sum(n.split('#')[0] == name for n in names) + 1}")
    return names


class Taggers:
    """One or several loaded taggers, each with its chosen heads; `stream` tags with all of them."""

    def __init__(self, taggers: Sequence, names: Sequence[str], heads: Sequence[Sequence[str]]):
        self.taggers, self.names, self.own_heads = list(taggers), list(names), [list(h) for h in heads]

    @classmethod
    def load(cls, models: Sequence[str], heads: Sequence[str], device: str = "cpu") -> "Taggers":
        from .tagger import Tagger

        heads = list(heads) or ["target"]
        if len(heads) not in (1, len(models)):
            raise UserError(f"--heads given {len(heads)} times for {len(models)} models; give it once (for every "
                            f"model) or once per --model, in the same order")
        taggers = [Tagger.load(m, device) for m in models]
        per_model = heads if len(heads) == len(models) else heads * len(models)
        chosen = [t.heads(h) for t, h in zip(taggers, per_model)]
        return cls(taggers, model_names(models), chosen)

    @property
    def heads(self) -> list[str]:
        """Every head that tags, in priority order: a head's name alone with one model, MODEL:HEAD with several."""
        if len(self.taggers) == 1:
            return list(self.own_heads[0])
        return [f"{n}:{h}" for n, hs in zip(self.names, self.own_heads) for h in hs]

    def types(self) -> list[str]:
        return list(dict.fromkeys(t for tagger, hs in zip(self.taggers, self.own_heads) for t in tagger.types(hs)))

    @property
    def sha256(self) -> list[str | None]:
        return [t.sha256 for t in self.taggers]

    def stream(self, documents: Iterable[Document], overlap: str = "all", batch_size: int = 256) -> Iterator[Tagged]:
        """Tagged documents, in order: each model's entities merged under `overlap`."""
        if overlap not in OVERLAPS:
            raise UserError(f"--overlap {overlap}: expected one of {', '.join(OVERLAPS)}")
        if len(self.taggers) == 1:
            yield from self.taggers[0].stream(documents, self.own_heads[0], overlap, batch_size)
            return
        chunk: list[Document] = []
        for doc in documents:
            chunk.append(doc)
            if len(chunk) == CHUNK:
                yield from self._merged(chunk, overlap, batch_size)
                chunk = []
        yield from self._merged(chunk, overlap, batch_size)

    def _merged(self, chunk: list[Document], overlap: str, batch_size: int) -> Iterator[Tagged]:
        if not chunk:
            return
        per_model = [list(t.stream(chunk, hs, "all", batch_size)) for t, hs in zip(self.taggers, self.own_heads)]
        for doc, results in zip(chunk, zip(*per_model)):
            found = [e | {"head": f"{name}:{e['head']}", "model": name} for name, r in zip(self.names, results) for e in r.entities]
            kept, dropped = resolve(found, overlap, self.heads)
            yield Tagged(doc, kept, max(r.sentences for r in results), dropped)
