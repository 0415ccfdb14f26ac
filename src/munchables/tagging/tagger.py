"""A trained tagger: saving, loading, tagging token lists, raw text and collections of documents.

`Tagger.load(DIR).predict(text)` tokenises raw text the way the corpora are tokenised and
returns each entity with its type, the head that found it, character offsets and a score;
`predict(texts, heads="all")` tags a list of texts or Documents with every head the model has
(tagging.py: overlaps, long sentences, scores); `stream(documents)` does so lazily for a
collection of any size, batching sentences across documents.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import torch

from .. import __version__
from ..choices import OVERLAPS
from ..data.batching import Collator
from ..data.corpus import Corpus
from ..data.documents import Document
from ..data.vocab import Vocabularies
from ..embeddings.features import feature_specs, features_from_specs
from ..errors import UserError
from ..evaluate import score
from ..model import ModelConfig, MultiTaskTagger, legacy_head_keys
from ..util.device import pick_device
from ..util.files import atomic_write
from ..util.progress import Progress
from ..util.serialization import check_format, load_torch, require_fields
from .heads import Tagged, batches, split_long, tag_documents

MODEL_FILE = "model.pt"
FORMAT = 1  # of model.pt; raise it when a change makes older munchables misread the file


def decode(
    model: MultiTaskTagger,
    collate: Collator,
    corpus: str,
    token_lists: Sequence[Sequence[str]],
    device: torch.device,
    batch_size: int = 256,
    progress: Progress | None = None,  # counts the sentences (pieces of long ones) as they are tagged
) -> list[list[str]]:
    """Tag strings for each token list under `corpus`'s head; batches sorted by length.

    Lists longer than tagging.MAX_TOKENS are tagged in pieces of that length (time stays linear).
    """
    pieces, owner = split_long(token_lists)
    if len(pieces) > len(token_lists):
        joined: list[list[str]] = [[] for _ in token_lists]
        for i, piece_tags in zip(owner, decode(model, collate, corpus, pieces, device, batch_size, progress)):
            joined[i] += piece_tags
        return joined
    tags = collate.vocab.tags[corpus]
    out: list[list[str]] = [[] for _ in token_lists]
    model.eval()
    progress = progress or Progress(None, enabled=False)
    progress.total = len(token_lists)
    for rows in batches(token_lists, batch_size):
        batch = collate.collate_tokens([token_lists[i] for i in rows], corpus).to(device)
        for i, path in zip(rows, model.decode(batch)):
            out[i] = [tags[k] for k in path]
        progress.step(n=len(rows))
    progress.close()
    return out


def check_tokens(token_lists: Sequence[Sequence[str]]) -> None:
    """Sentences are lists of non-empty strings: an empty token has no characters to encode."""
    for i, tokens in enumerate(token_lists):
        if isinstance(tokens, str):
            raise UserError(f"sentence {i} is a string ({tokens[:40]!r}); expected a list of tokens (or use predict(text))")
        for j, token in enumerate(tokens):
            if not isinstance(token, str) or not token:
                raise UserError(f"sentence {i}, token {j}: {token!r}; expected a non-empty string "
                                "(drop empty tokens, or use predict(text) on raw text)")


def evaluate_tagger(tagger: "Tagger", corpus: Corpus, split: str, progress: bool | None = False) -> dict:
    """`munch evaluate`: strict entity-level scores on one split of `corpus`, under the corpus's own
    head when the tagger has one, else the target's."""
    head = corpus.name if corpus.name in tagger.corpora else tagger.target
    sentences = corpus.split(split)
    # a bar (or a log line every 30 s): with contextual features a large split takes minutes on a CPU
    bar = Progress(len(sentences), progress, unit=" sentence", label=f"tagging {corpus.name} {split}")
    result = score([s.tags for s in sentences], tagger.tag([s.tokens for s in sentences], corpus=head,
                                                           progress=bar)).as_dict()
    return {"corpus": corpus.name, "split": split, "head": head, **result}


class Tagger:
    """A model, its vocabularies and the corpus whose head it tags with."""

    def __init__(self, model: MultiTaskTagger, vocab: Vocabularies, target: str, device: torch.device):
        self.model, self.vocab, self.target, self.device = model.to(device), vocab, target, device
        self.collate = Collator(vocab, {})
        self.sha256: str | None = None  # of the model file it was loaded from (outputs record it: sidecar.py)
        self.head_scores: dict[str, dict] = {}  # {head: {"dev_f1", "role"}} as munch train scored them (tagging/fitness.py)

    @property
    def corpora(self) -> list[str]:
        return list(self.vocab.tags)

    def save(self, directory: str | Path, **extra) -> Path:
        path = Path(directory) / MODEL_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        state = {
            "format": FORMAT,
            "munchables_version": __version__,  # named in the error of a munchables too old to read it
            "config": asdict(self.model.config),
            "vocab": self.vocab.to_dict(),
            "target": self.target,
            "state_dict": self.model.state_dict(),
            "features": feature_specs(self.model.encoder.features, path.parent),  # extra token features, see embeddings/features.py
            **extra,
        }
        atomic_write(path, lambda tmp: torch.save(state, tmp))
        return path

    @classmethod
    def load(cls, directory: str | Path, device: str | torch.device = "cpu") -> "Tagger":
        """The tagger in DIR/model.pt (or the file itself), read without running code (serialization.py)."""
        path = Path(directory)
        path = path / MODEL_FILE if path.is_dir() else path
        if not path.exists():
            raise UserError(f"{path}: no trained model here; expected the {MODEL_FILE} that `munch train --out DIR` writes")
        state = load_torch(path, "model", f"expected the {MODEL_FILE} that `munch train --out DIR` writes")
        check_format(state, path, "munchables model", "format", FORMAT)
        require_fields(state, path, "munchables model", ("config", "vocab", "target", "state_dict"))
        try:
            vocab = Vocabularies.from_dict(state["vocab"])
            config = ModelConfig(**state["config"])
        except (TypeError, KeyError, ValueError, AttributeError) as e:
            raise UserError(f"{path}: the model's settings or vocabularies cannot be read ({e.__class__.__name__}: {e}); "
                            "it was written by another version of munchables or is damaged") from None
        if state["target"] not in vocab.tags:
            raise UserError(f"{path}: a damaged munchables model: its target {state['target']!r} has no head")
        try:
            features = features_from_specs(state.get("features", []), path.parent)
        except (TypeError, KeyError, AttributeError) as e:
            raise UserError(f"{path}: the model's token features cannot be read ({e.__class__.__name__}: {e}); "
                            "it was written by another version of munchables or is damaged") from None
        model = MultiTaskTagger(config, len(vocab.words), len(vocab.chars), {c: len(t) for c, t in vocab.tags.items()},
                                features)
        try:
            model.load_state_dict(legacy_head_keys(state["state_dict"], vocab.tags))
        except (RuntimeError, TypeError, AttributeError) as e:
            raise UserError(f"{path}: the weights do not fit the model they describe ({str(e).splitlines()[0]})") from None
        dev = device if isinstance(device, torch.device) else pick_device(device)
        tagger = cls(model, vocab, state["target"], dev)
        tagger.sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
        scores = state.get("heads")  # absent in models written before munch train scored every head
        if isinstance(scores, dict):
            tagger.head_scores = {h: s for h, s in scores.items()
                                  if isinstance(s, dict) and isinstance(s.get("dev_f1"), (int, float)) and h in vocab.tags}
        return tagger

    def tag(self, token_lists: Sequence[Sequence[str]], corpus: str | None = None, batch_size: int = 256,
            progress: Progress | None = None) -> list[list[str]]:
        """IOB2 tags for tokenised sentences, from the target head (or another corpus's head)."""
        corpus = corpus or self.target
        if corpus not in self.vocab.tags:
            raise UserError(f"this model has no head for {corpus!r}; it has {', '.join(self.corpora)}")
        check_tokens(token_lists)
        return decode(self.model, self.collate, corpus, token_lists, self.device, batch_size, progress)

    def heads(self, heads: str | Sequence[str] = "target") -> list[str]:
        """The heads named by "target", "all" (the target first) or a list / comma-separated string of corpora."""
        if heads == "target":
            return [self.target]
        if heads == "all":
            return [self.target] + [c for c in self.corpora if c != self.target]
        names = [h for h in heads.split(",") if h] if isinstance(heads, str) else list(heads)
        unknown = [h for h in names if h not in self.vocab.tags]
        if unknown or not names:
            raise UserError(f"--heads {','.join(names) or repr(heads)}: this model has no head for "
                            f"{', '.join(map(repr, unknown)) or 'nothing'}; use target, all or some of {','.join(self.corpora)}")
        return list(dict.fromkeys(names))

    def types(self, heads: str | Sequence[str] = "target") -> list[str]:
        """The entity types the chosen heads can output, in order of first appearance."""
        return list(dict.fromkeys(t[2:] for h in self.heads(heads) for t in self.vocab.tags[h] if t[:2] in ("B-", "I-")))

    def stream(self, documents: Iterable[Document | str], heads: str | Sequence[str] = "target", overlap: str = "all",
               batch_size: int = 256, cancelled: Callable[[], bool] | None = None) -> Iterator[Tagged]:
        """Tag documents (or strings, given ids "1", "2", ...) lazily and in order; sentences batched across documents.
        `cancelled()`, asked between batches, stops the work by raising heads.Cancelled."""
        if overlap not in OVERLAPS:
            raise UserError(f"--overlap {overlap}: expected one of {', '.join(OVERLAPS)}")
        docs = (d if isinstance(d, Document) else Document.of_text(d, str(i)) for i, d in enumerate(documents, 1))
        return tag_documents(self.model, self.collate, docs, self.heads(heads), overlap, self.device, batch_size,
                             cancelled=cancelled)

    def predict(self, texts: str | Document | Iterable[str | Document], heads: str | Sequence[str] = "target",
                overlap: str = "all", batch_size: int = 256) -> list:
        """Entities of one text (a list of dicts) or of each of many (a list of such lists).

        Each entity is {"text", "type", "head", "start", "end", "score"}: character offsets into
        the text (the document for a Document), the corpus whose head found it, and the marginal
        probability of the span under that head. `heads`: "target", "all" or corpora;
        `overlap`: all | score | priority (tagging.py).
        """
        if isinstance(texts, (str, Document)):
            return next(iter(self.stream([texts], heads, overlap, batch_size))).entities
        return [tagged.entities for tagged in self.stream(texts, heads, overlap, batch_size)]

    def quantize(self) -> "Tagger":
        """int8 dynamic quantisation of the LSTMs (CPU only; torch.ao.quantization.quantize_dynamic).

        Experimental, for `munch bench --collection --quantize`: on the CPU it changed speed by -3% and +9% in two runs and
        moved test F1 by up to 0.3 points (docs/benchmarks.md), so predict and evaluate do not offer it.
        """
        if self.device.type != "cpu":
            raise UserError("--quantize runs on the CPU only; use --device cpu")
        with warnings.catch_warnings():  # torch 2.13 marks torch.ao.quantization deprecated (torchao replaces it)
            warnings.simplefilter("ignore")
            self.model = torch.ao.quantization.quantize_dynamic(self.model, {torch.nn.LSTM}, dtype=torch.qint8)
        return self
