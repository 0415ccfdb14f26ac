"""fastText word vectors (Bojanowski et al. 2017) trained from local text with gensim.

The text is read as one sentence per line, tokens separated by spaces (what `munch text`
writes). The vectors are saved in fastText's binary format, which keeps the character n-gram
vectors: `munch train --word-vectors FILE.bin` then gives every word of the corpora a vector,
words never seen in the text included (word_vectors.py).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import asdict
from pathlib import Path

from ..data.text import count_lines, text_lines
from ..errors import UserError
from ..settings import FastTextConfig
from ..util.files import atomic_write, out_file
from .provenance import write_sidecar
from .word_vectors import file_sha256

log = logging.getLogger("munchables")


class _Lines:
    """A restartable iterable of token lists, one per non-blank line, read from disk each pass."""

    def __init__(self, path: Path):
        self.path = path

    def __iter__(self):
        for line in text_lines(self.path):  # gzip inflated as read, one line at a time
            yield line.split()


class _GensimProgress(logging.Filter):
    """Of gensim's many INFO lines, only its training progress, at most one line every 30 s.

    gensim logs a line per second while training, and dozens about its vocabulary; the command
    line shows only messages of the munchables logger and warnings, so these pass through here,
    rewritten as our own line ("fastText epoch 2 of 5: 43% ...").
    """

    def __init__(self, every: float = 30.0):
        super().__init__()
        self.every, self.last = every, 0.0

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.levelno > logging.INFO:
            return True
        if "PROGRESS" in message and time.perf_counter() - self.last >= self.every:
            self.last = time.perf_counter()
            log.info("fastText %s", message.split(",")[0].replace("EPOCH", "epoch"))
        return False  # gensim's own line is never printed


def train_vectors(text: str | Path, out: str | Path, config: FastTextConfig) -> dict:
    """Train fastText vectors on a text file and write them to `out` (fastText .bin)."""
    from gensim.models import FastText  # gensim loads scipy: imported by the commands that use it only
    from gensim.models.fasttext import save_facebook_model

    out = Path(out)
    if out.suffix != ".bin":
        raise UserError(f"--out {out}: name the file .bin (fastText's binary format keeps the sub-word vectors)")
    if config.dim < 1 or config.epochs < 1 or config.min_count < 1 or config.buckets < 1 or not 1 <= config.min_n <= config.max_n:
        raise UserError("--dim, --epochs, --min-count and --buckets must be at least 1, and 1 <= min_n <= max_n")
    out_file(out)  # before the training: a directory or unwritable place in one line
    n_lines = count_lines(text)  # checks the file as it streams it: present, UTF-8, not empty
    started = time.perf_counter()
    model = FastText(
        vector_size=config.dim, window=config.window, min_count=config.min_count, min_n=config.min_n,
        max_n=config.max_n, bucket=config.buckets, sg=int(config.skipgram), seed=config.seed,
        workers=config.threads or os.cpu_count() or 1,
    )
    lines = _Lines(Path(text))
    progress, gensim_log = _GensimProgress(), logging.getLogger("gensim.models.word2vec")
    level = gensim_log.level
    gensim_log.addFilter(progress)
    gensim_log.setLevel(logging.INFO)
    try:  # the filter and the level go back however this ends (the "no word" error included)
        model.build_vocab(corpus_iterable=lines)
        if not model.wv.index_to_key:
            raise UserError(f"{text}: no word occurs {config.min_count} times; lower --min-count or give more text")
        model.train(corpus_iterable=lines, total_examples=model.corpus_count, epochs=config.epochs)
    finally:
        gensim_log.removeFilter(progress)
        gensim_log.setLevel(level)
    atomic_write(out, lambda tmp: save_facebook_model(model, tmp))
    sha = file_sha256(out)
    write_sidecar(out, sha, text, asdict(config))  # what made these bytes: the text's hash, the libraries
    result = {"out": str(out), "sha256": sha, "sentences": n_lines, "vocabulary": len(model.wv.index_to_key),
              "seconds": round(time.perf_counter() - started, 1), **asdict(config)}
    log.info("fastText: a vocabulary of %s words (seen at least %d times), %d dimensions, from %s sentences in %.1f s, saved to %s",
             f"{result['vocabulary']:,}", config.min_count, config.dim, f"{n_lines:,}", result["seconds"], out)
    return result
