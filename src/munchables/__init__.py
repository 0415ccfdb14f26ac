"""munchables: NER trained with several auxiliary corpora (MUNCHABLES)."""

__version__ = "0.1.0"
__all__ = ["Tagger"]


def __getattr__(name):
    if name == "Tagger":  # imported lazily so that `munch --help` does not load torch
        from .tagging.tagger import Tagger

        return Tagger
    raise AttributeError(name)
