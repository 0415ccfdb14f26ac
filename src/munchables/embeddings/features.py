"""The encoder's extra token features, from a ModelConfig and back from a saved tagger.

Two kinds: contextual string embeddings (two character LMs, contextual.py) and a transformer
(transformer.py). A saved tagger records each as a spec: the language models' shapes (their
weights are in the tagger's state dict) and the transformer's folder beside model.pt (its config
and tokenizer; the weights too are in the state dict). So a tagger moved to another machine tags
with exactly the features it was trained with, or fails naming the file it misses.
"""

from __future__ import annotations

import logging
from pathlib import Path

from torch import nn

from ..errors import UserError
from . import published
from .cache import make_cache
from .charlm import CharLM
from .contextual import ContextualStringEmbeddings
from .transformer import TransformerFeatures, check_name

log = logging.getLogger("munchables")


def validate(config) -> None:
    """Combinations of embedding options that cannot work, and files that are missing, before any work."""
    if bool(config.charlm_forward) != bool(config.charlm_backward):
        raise UserError("contextual string embeddings need both language models: give --charlm-forward "
                        "and --charlm-backward (train them with `munch charlm --direction forward|backward`)")
    for path, flag in ((config.charlm_forward, "--charlm-forward"), (config.charlm_backward, "--charlm-backward")):
        if path and not Path(path).is_file() and not published.is_name(path, published.LM):
            raise UserError(f"{flag} {path}: file not found; train one with `munch charlm --text FILE "
                            f"--direction {flag.rsplit('-', 1)[1]} --out {path}`, or name one of Flair's "
                            f"({published.names(published.LM)})")
    if config.charlm_projection < 0 or (config.charlm_projection and not config.charlm_forward):
        raise UserError("--charlm-projection K needs K >= 1 and the language models (--charlm-forward, --charlm-backward)")
    if config.fine_tune_transformer and not config.transformer:
        raise UserError("--fine-tune-transformer needs --transformer DIR")
    if config.transformer:
        check_name(config.transformer)
        if config.word_vectors:
            raise UserError("--word-vectors initialises the word embeddings, which --transformer replaces; "
                            "give one of the two")
        if config.transformer_layers < 1:
            raise UserError("--transformer-layers must be at least 1")


def build_features(config, cache: str = "memory", cache_folder: str | Path | None = None) -> list[nn.Module]:
    """The feature modules `config` names, loaded from their files (a fresh cache each)."""
    validate(config)
    features: list[nn.Module] = []
    if config.transformer:
        features.append(TransformerFeatures.from_folder(
            config.transformer, config.transformer_layers, config.fine_tune_transformer,
            make_cache(cache, cache_folder)))
    if config.charlm_forward:
        forward = CharLM.load(published.local(config.charlm_forward, published.LM), "forward character language model")
        backward = CharLM.load(published.local(config.charlm_backward, published.LM), "backward character language model")
        # Flair's own setting for its models (the paper's); munch charlm models keep what they computed
        with_whitespace = bool(forward.imported or backward.imported)
        log.info("contextual string embeddings: %s", "Flair's states with whitespace (after the space following "
                 "each word, forward; just before the word, backward)" if with_whitespace else
                 "states without whitespace (after each word's last character, forward; its first, backward)")
        features.append(ContextualStringEmbeddings(forward, backward, make_cache(cache, cache_folder),
                                                   config.charlm_projection, with_whitespace))
    return features


KINDS = {cls.kind: cls for cls in (ContextualStringEmbeddings, TransformerFeatures)}  # each saves and restores itself


def feature_specs(features, directory: str | Path) -> list[dict]:
    """What rebuilds each feature module at load time (files it needs are written into `directory`)."""
    return [f.spec(Path(directory)) for f in features]


def features_from_specs(specs: list[dict], directory: str | Path, cache: str = "none") -> list[nn.Module]:
    """Feature modules of the saved shapes (weights follow with the tagger's state dict)."""
    unknown = [spec["kind"] for spec in specs if spec["kind"] not in KINDS]
    if unknown:
        raise UserError(f"{directory}: the tagger uses token features of kind {unknown[0]!r}, "
                        "unknown to this version of munchables")
    return [KINDS[spec["kind"]].from_spec(spec, Path(directory), make_cache(cache)) for spec in specs]
