"""A trained tagger: saving, loading, tagging token lists and raw text.

`Tagger.load(DIR).predict(text)` tokenises raw text the way the corpora are tokenised and
returns each entity with its type and character offsets.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Sequence

import torch

from .batching import Collator
from .errors import UserError
from .evaluate import entities
from . import __version__
from .model import ModelConfig, MultiTaskTagger, legacy_head_keys
from .serialization import check_format, load_torch, require_fields
from .tokenize import tokenize
from .vocab import Vocabularies

MODEL_FILE = "model.pt"
FORMAT = 1  # of model.pt; raise it when a change makes older munchables misread the file


def pick_device(name: str = "auto") -> torch.device:
    """`auto` is CUDA when available, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        if torch.version.cuda is None:  # the pinned CPU wheel: no driver would help
            raise UserError(f"--device {name}: no CUDA device is available here: this torch {torch.__version__} is a "
                            "CPU-only build; install a CUDA build (README, Installing torch: pip install torch "
                            "--index-url https://download.pytorch.org/whl/cu124), or use --device cpu")
        raise UserError(f"--device {name}: no CUDA device is available here; use --device cpu")
    return torch.device(name)


def decode(
    model: MultiTaskTagger,
    collate: Collator,
    corpus: str,
    token_lists: Sequence[Sequence[str]],
    device: torch.device,
    batch_size: int = 256,
) -> list[list[str]]:
    """Tag strings for each token list under `corpus`'s head; batches sorted by length."""
    tags = collate.vocab.tags[corpus]
    order = sorted(range(len(token_lists)), key=lambda i: len(token_lists[i]))
    out: list[list[str]] = [[] for _ in token_lists]
    model.eval()
    for start in range(0, len(order), batch_size):
        rows = [i for i in order[start : start + batch_size] if token_lists[i]]
        if not rows:
            continue
        batch = collate.collate_tokens([token_lists[i] for i in rows], corpus).to(device)
        for i, path in zip(rows, model.decode(batch)):
            out[i] = [tags[k] for k in path]
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


class Tagger:
    """A model, its vocabularies and the corpus whose head it tags with."""

    def __init__(self, model: MultiTaskTagger, vocab: Vocabularies, target: str, device: torch.device):
        self.model, self.vocab, self.target, self.device = model.to(device), vocab, target, device
        self.collate = Collator(vocab, {})

    @property
    def corpora(self) -> list[str]:
        return list(self.vocab.tags)

    def save(self, directory: str | Path, **extra) -> Path:
        from .embeddings.features import feature_specs
        from .files import atomic_write

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
        from .embeddings.features import features_from_specs

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
        return cls(model, vocab, state["target"], dev)

    def tag(self, token_lists: Sequence[Sequence[str]], corpus: str | None = None, batch_size: int = 256) -> list[list[str]]:
        """IOB2 tags for tokenised sentences, from the target head (or another corpus's head)."""
        corpus = corpus or self.target
        if corpus not in self.vocab.tags:
            raise UserError(f"this model has no head for {corpus!r}; it has {', '.join(self.corpora)}")
        check_tokens(token_lists)
        return decode(self.model, self.collate, corpus, token_lists, self.device, batch_size)

    def predict(self, text: str) -> list[dict]:
        """Entities in raw text: [{"text", "type", "start", "end"}] with character offsets."""
        sentences = tokenize(text)
        tags = self.tag([[tok for tok, _, _ in s] for s in sentences])
        found = []
        for sentence, sentence_tags in zip(sentences, tags):
            for etype, i, j in entities(sentence_tags):
                start, end = sentence[i][1], sentence[j - 1][2]
                found.append({"text": text[start:end], "type": etype, "start": start, "end": end})
        return found
