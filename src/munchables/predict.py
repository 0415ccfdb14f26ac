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
from .model import ModelConfig, MultiTaskTagger
from .tokenize import tokenize
from .vocab import Vocabularies

MODEL_FILE = "model.pt"
FORMAT = 1


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
        from .trainer import atomic_write

        path = Path(directory) / MODEL_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        state = {
            "format": FORMAT,
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
        path = Path(directory)
        path = path / MODEL_FILE if path.is_dir() else path
        if not path.exists():
            raise UserError(f"{path}: no trained model here; expected the {MODEL_FILE} that `munch train --out DIR` writes")
        try:
            state = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as e:  # a torn or foreign file is a user problem, not a crash
            raise UserError(f"{path}: cannot read the model ({e.__class__.__name__}: {e})") from None
        if not isinstance(state, dict) or state.get("format") != FORMAT:
            raise UserError(f"{path}: not a munchables model of format {FORMAT}")
        vocab = Vocabularies.from_dict(state["vocab"])
        config = ModelConfig(**state["config"])
        from .embeddings.features import features_from_specs

        features = features_from_specs(state.get("features", []), path.parent)
        model = MultiTaskTagger(config, len(vocab.words), len(vocab.chars), {c: len(t) for c, t in vocab.tags.items()},
                                features)
        try:
            model.load_state_dict(state["state_dict"])
        except RuntimeError as e:
            raise UserError(f"{path}: the weights do not fit the model they describe ({str(e).splitlines()[0]})") from None
        dev = device if isinstance(device, torch.device) else pick_device(device)
        return cls(model, vocab, state["target"], dev)

    def tag(self, token_lists: Sequence[Sequence[str]], corpus: str | None = None, batch_size: int = 256) -> list[list[str]]:
        """IOB2 tags for tokenised sentences, from the target head (or another corpus's head)."""
        corpus = corpus or self.target
        if corpus not in self.vocab.tags:
            raise UserError(f"this model has no head for {corpus!r}; it has {', '.join(self.corpora)}")
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
