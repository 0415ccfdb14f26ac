"""Word vectors from a user's file, read with gensim: word2vec text or binary, fastText .vec or .bin.

A fastText .bin model also carries sub-word vectors, so every word of the corpora (dev and test
included) gets a vector; from the other formats only words the file lists get one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import numpy as np

from ..errors import UserError


PICKLE_SUFFIXES = (".kv", ".model")  # gensim's own formats: Python pickles


def load_vectors(path: str | Path, trust: bool = False):
    """A gensim `KeyedVectors` (or `FastTextKeyedVectors`) for the file, by its format.

    word2vec text and binary and fastText .vec and .bin are read as data (gensim parses them
    with struct and numpy; nothing is unpickled). gensim's own .kv and .model files are Python
    pickles, and unpickling runs whatever code the file holds: they are read only with
    `trust=True` (`--trust`), for files the user made or trusts.
    """
    from gensim.models import KeyedVectors  # gensim loads scipy: only runs given --word-vectors pay it
    from gensim.models.fasttext import load_facebook_vectors

    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: word-vector file not found; expected word2vec text/binary or fastText .vec/.bin")
    if path.is_dir():
        raise UserError(f"{path}: is a directory; expected a word-vector file (word2vec text/binary or fastText .vec/.bin)")
    if path.suffix in PICKLE_SUFFIXES and not trust:
        raise UserError(
            f"{path}: a gensim {path.suffix} file is a Python pickle, and loading it runs any code it holds; "
            "refused. Use word2vec text/binary or fastText .vec/.bin instead, or add --trust if you made this "
            "file yourself or trust where it came from")
    try:
        if path.suffix == ".bin":
            try:
                return load_facebook_vectors(str(path))  # fastText binary: sub-word vectors
            except Exception:
                return KeyedVectors.load_word2vec_format(str(path), binary=True)
        if path.suffix in PICKLE_SUFFIXES:  # trusted: see the docstring
            return KeyedVectors.load(str(path))
        return KeyedVectors.load_word2vec_format(str(path), binary=False)
    except UserError:
        raise
    except Exception as e:
        raise UserError(
            f"{path}: cannot read word vectors ({e.__class__.__name__}: {e}); expected word2vec text "
            "(first line 'COUNT DIM'), word2vec binary, fastText .vec or .bin (or, with --trust, a gensim .kv file)"
        ) from None


def has_subwords(vectors) -> bool:
    """Whether unseen words get vectors: a fastText model with n-gram buckets (fastText -maxn 0 has none)."""
    return hasattr(vectors, "buckets_word") and getattr(vectors, "bucket", 0) > 0


def vector_words(vectors, corpus_words: Iterable[str], limit: int = 100_000) -> list[str]:
    """Words to add to the vocabulary: the corpora's words the vectors cover, then the file's most frequent."""
    words = [w for w in dict.fromkeys(corpus_words) if has_subwords(vectors) or w in vectors.key_to_index]
    return words + list(vectors.index_to_key[:limit])


def lookup(vectors, itos: list[str], normalise) -> dict[int, np.ndarray]:
    """Vocabulary index -> vector, for every vocabulary word the vectors know (exact, then normalised)."""
    found: dict[int, np.ndarray] = {}
    subwords = has_subwords(vectors)
    for i, word in enumerate(itos[2:], start=2):
        for form in (word, word.lower(), normalise(word)):
            if form in vectors.key_to_index:
                found[i] = vectors[form]
                break
        else:
            if subwords:
                found[i] = vectors[word]
    return found
