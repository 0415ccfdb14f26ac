"""Flair's published embeddings by the names Flair gives them, fetched once into a per-user cache.

`--charlm-forward pubmed-forward --charlm-backward pubmed-backward --word-vectors pubmed` means
what `FlairEmbeddings("pubmed-forward")` and `WordEmbeddings("pubmed")` mean in Flair: the files
Flair publishes under those names (the URLs of Flair's own flair/embeddings/token.py), downloaded
on first use into $XDG_CACHE_HOME/munchables/flair (~/.cache/munchables/flair) and read from there
after, offline too. A path that exists always wins over a name. The files are read like any
other: without running code (charlm.py's and keyed_vectors.py's restricted unpicklers), so a
download is trusted no more than a file the user gave; Flair publishes no checksums, and a
download is whole when it has the length the server announced.

MUNCHABLES_FLAIR_URL names another base URL laid out as Flair's (a mirror; the tests' local
server).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from ..data.corpus import user_cache_dir
from ..errors import UserError
from ..util.download import Hints, download
from ..util.locks import waiting

log = logging.getLogger("munchables")

BASE = "https://flair.informatik.hu-berlin.de/resources/embeddings"
ENV_BASE = "MUNCHABLES_FLAIR_URL"
MAX_BYTES = 4 << 30  # the largest of these files, en-fasttext-crawl-300d-1M.vectors.npy, is 1.2 GB

# FlairEmbeddings(NAME): Flair's English and biomedical character language models
LANGUAGE_MODELS = {
    "pubmed-forward": "flair/pubmed-forward.pt",
    "pubmed-backward": "flair/pubmed-backward.pt",
    "pubmed-2015-forward": "flair/pubmed-2015-fw-lm.pt",
    "pubmed-2015-backward": "flair/pubmed-2015-bw-lm.pt",
    "news-forward": "flair/news-forward-0.4.1.pt",
    "news-backward": "flair/news-backward-0.4.1.pt",
    "en-forward": "flair/news-forward-0.4.1.pt",
    "en-backward": "flair/news-backward-0.4.1.pt",
    "news-forward-fast": "flair/lm-news-english-forward-1024-v0.2rc.pt",
    "news-backward-fast": "flair/lm-news-english-backward-1024-v0.2rc.pt",
    "mix-forward": "flair/lm-mix-english-forward-v0.2rc.pt",
    "mix-backward": "flair/lm-mix-english-backward-v0.2rc.pt",
    "es-clinical-forward": "flair/es-clinical-forward.pt",
    "es-clinical-backward": "flair/es-clinical-backward.pt",
}
# WordEmbeddings(NAME): gensim KeyedVectors, each with its array in a file beside it
WORD_EMBEDDINGS = {
    **dict.fromkeys(("pubmed", "en-pubmed"), "token/pubmed_pmc_wiki_sg_1M.gensim"),
    **dict.fromkeys(("glove", "en-glove"), "token/glove.gensim"),
    **dict.fromkeys(("crawl", "en-crawl"), "token/en-fasttext-crawl-300d-1M"),
    **dict.fromkeys(("news", "en-news", "en"), "token/en-fasttext-news-300d-1M"),
    **dict.fromkeys(("extvec", "en-extvec"), "token/extvec.gensim"),
    **dict.fromkeys(("turian", "en-turian"), "token/turian"),
    **dict.fromkeys(("twitter", "en-twitter"), "token/twitter.gensim"),
}
BESIDE = ".vectors.npy"  # gensim's save() writes the vectors array as NAME.vectors.npy
LM, WORDS = "language model", "word embeddings"  # the kinds callers name (and errors say)
KINDS = {LM: LANGUAGE_MODELS, WORDS: WORD_EMBEDDINGS}


def base_url() -> str:
    return os.environ.get(ENV_BASE, BASE).rstrip("/")


def cache_dir() -> Path:
    return user_cache_dir() / "munchables" / "flair"


def is_name(value: str | None, kind: str) -> bool:
    """Whether `value` names one of Flair's published files of this kind (and is no path that exists)."""
    return bool(value) and not Path(value).exists() and value.lower() in KINDS[kind]


def names(kind: str) -> str:
    return ", ".join(sorted(KINDS[kind]))


def local(value: str, kind: str) -> str:
    """The file to read for VALUE: VALUE itself unless it is one of Flair's names (is_name), else
    that published file, downloaded into the cache on first use."""
    if not is_name(value, kind):
        return value
    relative = KINDS[kind][value.lower()]
    files = [relative] + ([relative + BESIDE] if kind == WORDS else [])
    folder = cache_dir()
    wanted = [folder / Path(f).name for f in files]
    urls = [f"{base_url()}/{f}" for f in files]
    by_hand = (f"download {' and '.join(urls)} by hand (curl -LO; README, \"The paper's exact setting\"; the "
               f"files side by side) and pass the path of {wanted[0].name} instead of {value}")
    if all(p.is_file() for p in wanted):
        return str(wanted[0])
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with waiting(folder / f"{wanted[0].name}.lock", lambda: log.warning(
                "%s: another munch is downloading it into %s; waiting for it", value, folder)):
            for url, path in zip(urls, wanted):
                if not path.is_file():  # the one waited for may have fetched it
                    fetch(value, url, path, by_hand)
    except OSError as e:  # the cache folder is not writable, the disk is full
        raise UserError(f"{folder}: cannot keep Flair's {value} there ({e.strerror}); set XDG_CACHE_HOME to a "
                        f"writable folder, or {by_hand}") from None
    return str(wanted[0])


def fetch(name: str, url: str, path: Path, by_hand: str) -> None:
    """Download `url` into `path` (via PATH.part, resumed by a later run if this one breaks off)."""
    hints = Hints(moved=by_hand, offline=by_hand,
                  too_large="any of Flair's embedding files ({max_bytes:,} bytes at most); refused and deleted: "
                            f"check {ENV_BASE}, or {by_hand}")
    log.warning("%s: downloading Flair's %s into %s (once)", name, url, path.parent)
    part = path.with_name(path.name + ".part")
    download(url, part, path.name, MAX_BYTES, hints)
    os.replace(part, path)
