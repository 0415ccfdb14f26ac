"""Word vectors from a user's file, read with gensim: word2vec text or binary, fastText .vec or .bin,
GloVe text (no 'COUNT DIM' first line), any of them gzip-, bzip2- or xz-compressed (gensim's
smart_open reads them), and gensim's own KeyedVectors files (what `save()` writes; Flair's word
embeddings), read without running code (keyed_vectors.py). The format is told by the content,
not the name: the field's files are named every way (GoogleNews-vectors-negative300.bin.gz,
BioWordVec_PubMed_MIMICIII_d200.vec.bin, glove.6B.100d.txt, Flair's suffix-less pickles).

A fastText .bin model also carries sub-word vectors, so every word of the corpora (dev and test
included) gets a vector; from the other formats only words the file lists get one.

A *subset* (`munch vector-subset`, a .npz of plain arrays) keeps, of such a file, exactly the
vectors that training on some corpora looks up: 39 MB instead of 214 for the evidence run's
fastText model, so it travels where the whole file cannot (a device machine's 64 MiB). A model
trained from the subset on those corpora starts from the same embedding matrix, bit for bit
(tests/test_vector_subset.py), so the trial key takes the source file's sha256; a corpus word the
subset was not made for is refused rather than silently given no vector.
"""

from __future__ import annotations

import codecs
import hashlib
import re
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from ..errors import UserError

SUBSET_SUFFIX = ".npz"
SUBSET_FORMAT = "munchables-vector-subset/1"
FILE_WORDS = 100_000  # vector_words adds the file's most frequent words, up to this many
FASTTEXT_MAGIC = (793712314).to_bytes(4, "little")  # what a fastText .bin starts with (fastText's FILEFORMAT_MAGIC)
HEADER = re.compile(rb"[ \t]*[0-9]+[ \t]+[0-9]+[ \t]*\r?")  # word2vec's first line: COUNT DIM
TEXT_BYTES = frozenset(range(0x20, 0x100)) | {0x09, 0x0A, 0x0D}  # what a UTF-8 text file's bytes may be
COMPRESSED = {".gz", ".bz2", ".xz", ".zst", ".lz4"}  # what smart_open decompresses by the name
FORMATS = {"fasttext": "a fastText .bin model", "word2vec-binary": "word2vec binary",
           "word2vec-text": "word2vec text ('COUNT DIM' first)", "glove-text": "GloVe text (no 'COUNT DIM' line)"}


def is_text(sample: bytes) -> bool:
    """Whether the bytes read as UTF-8 text (a character cut at the end allowed), no control bytes but tab and newline."""
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample)  # not final
    except UnicodeDecodeError:
        return False
    return set(sample) <= TEXT_BYTES


def sniff(path: Path) -> str:
    """The format of a (possibly compressed) non-pickle vector file, by its first bytes (a key of FORMATS)."""
    from gensim import utils  # smart_open: decompresses .gz, .bz2, .xz by their suffix, as gensim's loaders do

    with utils.open(str(path), "rb") as f:
        head = f.read(1 << 16)
    if not head:
        raise UserError(f"{path}: cannot read word vectors (the file is empty)")
    if head.startswith(FASTTEXT_MAGIC):
        if Path(path).suffix in COMPRESSED:  # gensim's fastText reader takes short reads of a stream for the end
            raise UserError(f"{path}: a compressed fastText model, which gensim cannot read as it is; decompress it "
                            f"first (e.g. `gunzip -k {path}` for .gz) and pass the .bin")
        return "fasttext"
    first, newline, rest = head.partition(b"\n")
    header = bool(newline and HEADER.fullmatch(first))
    # after a header, binary records are "word " and DIM raw float32s: bytes no text file holds
    text = is_text(rest[: 1 << 12] if header else head[: 1 << 12])
    if not header:
        if not text:
            raise UserError(f"{path}: cannot read word vectors (binary content with no 'COUNT DIM' first line: not "
                            "word2vec, GloVe or fastText); expected word2vec text or binary, fastText .vec or .bin, "
                            "GloVe text, or gensim KeyedVectors")
        return "glove-text"
    return "word2vec-text" if text else "word2vec-binary"


def load_vectors(path: str | Path, trust: bool = False):
    """A gensim `KeyedVectors` (or `FastTextKeyedVectors`) for the file, by its format.

    word2vec text and binary and fastText .vec and .bin are read as data (gensim parses them
    with struct and numpy; nothing is unpickled). gensim's own files are Python pickles, whatever
    their name: KeyedVectors are read by keyed_vectors.py without running code; any other
    pickle (a whole Word2Vec or FastText model) only with `trust=True` (`--trust`), for files the
    user made or trusts, by gensim's own loader, which runs whatever code the file holds.
    """
    from . import published

    path = Path(published.local(str(path), published.WORDS))  # Flair's names (pubmed, glove, ...): downloaded
    if not path.exists():
        raise UserError(f"{path}: word-vector file not found; expected word2vec text/binary, fastText .vec/.bin, "
                        f"GloVe text or gensim KeyedVectors, or one of Flair's names ({published.names(published.WORDS)})")
    if path.is_dir():
        raise UserError(f"{path}: is a directory; expected a word-vector file (word2vec text/binary or fastText .vec/.bin)")
    if path.suffix == SUBSET_SUFFIX:
        return VectorSubset.load(path)  # numpy alone: a machine without gensim can read it
    from gensim.models import KeyedVectors  # gensim loads scipy: only runs given --word-vectors pay it
    from gensim.models.fasttext import load_facebook_vectors
    from gensim.utils import SaveLoad

    from .keyed_vectors import is_pickle, load_keyed_vectors

    try:
        pickled = is_pickle(path)
    except OSError as e:
        raise UserError(f"{path}: cannot read word vectors ({e.strerror})") from None
    if pickled:
        try:
            return load_keyed_vectors(path)
        except UserError:
            if not trust:
                raise
    kind = None
    try:
        if pickled:  # trusted, and not KeyedVectors: see the docstring
            loaded = SaveLoad.load(str(path))
            return getattr(loaded, "wv", loaded)  # a whole model: its KeyedVectors
        kind = sniff(path)
        if kind == "fasttext":
            return load_facebook_vectors(str(path))  # sub-word vectors too
        vectors = KeyedVectors.load_word2vec_format(str(path), binary=kind == "word2vec-binary",
                                                    no_header=kind == "glove-text")
        if not len(vectors) or vectors.vector_size < 1:
            raise ValueError(f"{len(vectors)} words of {vectors.vector_size} values")
        return vectors
    except UserError:
        raise
    except Exception as e:
        read_as = f"read as {FORMATS[kind]}, by its content; " if kind else ""
        raise UserError(
            f"{path}: cannot read word vectors ({e.__class__.__name__}: {str(e)[:300]}); {read_as}expected word2vec "
            "text (first line 'COUNT DIM') or binary, fastText .vec or .bin, GloVe text, or gensim KeyedVectors"
        ) from None


def has_subwords(vectors) -> bool:
    """Whether unseen words get vectors: a fastText model with n-gram buckets (fastText -maxn 0 has none)."""
    return hasattr(vectors, "buckets_word") and getattr(vectors, "bucket", 0) > 0


def vector_words(vectors, corpus_words: Iterable[str], limit: int = FILE_WORDS) -> list[str]:
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


def check_finite(found: dict[int, np.ndarray], itos: list[str], path: str | Path) -> None:
    """Raise, naming the words, when a vector the model would start from holds NaN or infinity: training
    from it gives a NaN loss at once, which used to read as a learning rate too high."""
    bad = [itos[i] for i, v in found.items() if not np.isfinite(v).all()]
    if bad:
        shown = ", ".join(repr(w) for w in bad[:5]) + (f" and {len(bad) - 5:,} more" if len(bad) > 5 else "")
        raise UserError(f"{path}: the vectors of {len(bad):,} word(s) hold NaN or infinite values ({shown}); "
                        "drop or fix those rows of the file (or train the vectors again), then run again")


# --- subsets -------------------------------------------------------------------------------------


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def vectors_sha256(path: str | Path) -> str:
    """What a trial's vectors are: the file's sha256, or for a subset the sha256 of the file it came from."""
    path = Path(path)
    if path.suffix == SUBSET_SUFFIX:
        return VectorSubset.load(path, header_only=True).source_sha256  # the vectors are not needed for a key
    return file_sha256(path)


class VectorSubset:
    """The vectors of a bigger file that some corpora look up; read like gensim's KeyedVectors.

    Every word it was made for (`asked`) is a key whose vector is what `lookup` gave for it from
    the whole file (sub-word vectors included), or, for a file without sub-words, the first form
    `lookup` would find there; `index_to_key` is the whole file's most frequent words in order.
    So `vector_words` and `lookup` give the same answers as the whole file, for those words.
    """

    def __init__(self, words: list[str], vectors: np.ndarray, top: int, asked: Iterable[str],
                 source_sha256: str, source_name: str = ""):
        self.key_to_index = {w: i for i, w in enumerate(words)}
        self.index_to_key = list(words[:top])
        self.vectors = vectors
        self.vector_size = int(vectors.shape[1])
        self.asked = frozenset(asked)
        self.source_sha256 = source_sha256
        self.source_name = source_name

    def __getitem__(self, word: str) -> np.ndarray:
        return self.vectors[self.key_to_index[word]]

    def check_covers(self, words: Iterable[str], where: str) -> None:
        """Raise unless every word was one this subset was made for (else vectors would silently be missing)."""
        missing = [w for w in dict.fromkeys(words) if w not in self.asked]
        if missing:
            raise UserError(
                f"the vector subset (of {self.source_name or self.source_sha256[:12]}) was not made for {where}: "
                f"{len(missing):,} of its words are not in it (first: {missing[0]!r}); make it again with "
                "`munch vector-subset` naming every corpus the run uses")

    @classmethod
    def make(cls, vectors, words: Iterable[str], normalise: Callable[[str], str], source_sha256: str,
             source_name: str = "") -> "VectorSubset":
        top = list(vectors.index_to_key[:FILE_WORDS])
        # The vocabulary also holds each training word's fallback forms (vocab.py): ask for those too.
        asked = list(dict.fromkeys([*top, *(form for w in words for form in (w, w.lower(), normalise(w)))]))
        subwords = has_subwords(vectors)
        chosen: dict[str, np.ndarray] = {w: vectors[w] for w in top}  # the file's words first, in order
        for word in asked:
            for form in (word, word.lower(), normalise(word)):
                if form in vectors.key_to_index:
                    # With sub-words every asked word is its own key, so that no other word's key can
                    # answer for it first; without, the form the whole file would answer with.
                    chosen.setdefault(word if subwords else form, vectors[form])
                    break
            else:
                if subwords:
                    chosen.setdefault(word, vectors[word])
        keys = list(chosen)
        matrix = np.stack([np.asarray(chosen[k], dtype=np.float32) for k in keys]) if keys else \
            np.zeros((0, vectors.vector_size), np.float32)
        return cls(keys, matrix, len(top), asked, source_sha256, source_name)

    def save(self, path: str | Path) -> None:
        from ..util.files import atomic_write

        keys = list(self.key_to_index)
        arrays = dict(format=np.array(SUBSET_FORMAT), words=_pack(keys), vectors=self.vectors,
                      top=np.array(len(self.index_to_key)), asked=_pack(sorted(self.asked - set(keys))),
                      source_sha256=np.array(self.source_sha256), source_name=np.array(self.source_name))

        def write(tmp: str) -> None:
            with open(tmp, "wb") as f:  # a file object: np.savez would add .npz to a name
                np.savez(f, **arrays)

        atomic_write(Path(path), write)

    @classmethod
    def load(cls, path: str | Path, header_only: bool = False) -> "VectorSubset":
        """The subset in `path`; with `header_only`, only its source's name and sha256 (no words or vectors)."""
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as data:  # plain arrays only: nothing is unpickled
                if "format" not in data or str(data["format"]) != SUBSET_FORMAT:
                    raise UserError(f"{path}: not a munchables vector subset (make one with `munch vector-subset`)")
                if header_only:  # np.load reads an .npz member only when it is asked for
                    return cls([], np.zeros((0, 0), np.float32), 0, [], str(data["source_sha256"]), str(data["source_name"]))
                words, vectors, top = _unpack(data["words"]), data["vectors"], int(data["top"])
                if vectors.ndim != 2 or len(vectors) != len(words) or not 0 <= top <= len(words):
                    raise UserError(f"{path}: a damaged vector subset: {len(words):,} words but vectors of shape "
                                    f"{tuple(vectors.shape)} (one row per word expected; {top:,} most frequent); "
                                    "make it again with `munch vector-subset`")
                return cls(words, vectors.astype(np.float32, copy=False), top,
                           [*words, *_unpack(data["asked"])], str(data["source_sha256"]), str(data["source_name"]))
        except UserError:
            raise
        except (OSError, ValueError, KeyError) as e:
            raise UserError(f"{path}: cannot read a vector subset ({e.__class__.__name__}: {e})") from None


def _pack(words: list[str]) -> np.ndarray:
    """Words as one UTF-8 byte array, newline-separated (a token never holds a newline); numpy's
    fixed-width strings would take the longest word's width, times four, for every word."""
    return np.frombuffer("\n".join(words).encode("utf-8"), dtype=np.uint8)


def _unpack(packed: np.ndarray) -> list[str]:
    text = packed.tobytes().decode("utf-8")
    return text.split("\n") if text else []
