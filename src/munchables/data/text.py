"""Unlabelled text for the embeddings: one tokenised sentence per line.

`munch text` writes the sentences of the train and dev splits of named corpora (never test: the
embeddings must not have read the text the tagger is scored on), and may add a user's raw text,
tokenised the way the corpora are (tokenize.py). fastText (`munch vectors`) and the character
language models (`munch charlm`) read such a file; any plain-text file works as well, but text
tokenised as the taggers see it makes the language models' contexts match at tagging time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Iterator

from ..errors import UserError
from ..util.files import atomic_write, out_file, utf8_lines
from .corpus import default_data_dir, load_corpus
from .tokenize import tokenize

TEXT_SPLITS = ("train", "dev")  # never "test"
MAX_LINE_BYTES = 16_000_000  # a longer line is no sentence (a text file is streamed; no line is held past this)
RAW_BLOCK = 1_000_000  # characters of raw text tokenised at a time (cut at the line break after them)


def corpus_lines(names: Iterable[str], data_dir: str | None = None) -> Iterator[str]:
    """The train and dev sentences of each corpus, tokens joined by single spaces."""
    data = default_data_dir(data_dir)
    for name in names:
        corpus = load_corpus(name, data)
        for split in TEXT_SPLITS:
            for sentence in corpus.split(split):
                yield " ".join(sentence.tokens)


def raw_lines(path: str | Path) -> Iterator[str]:
    """The sentences of a raw UTF-8 text file, tokenised the way the corpora are. Read as it is
    tokenised, a paragraph (lines up to a blank one) at a time, a paragraph cut after RAW_BLOCK
    characters: memory stays bounded whatever the file."""
    block: list[str] = []
    size = 0

    def sentences() -> Iterator[str]:
        for sentence in tokenize("".join(block)):
            yield " ".join(token for token, _, _ in sentence)

    for line in _lines(path, "UTF-8 text"):
        block.append(line)
        size += len(line)
        if not line.strip() or size >= RAW_BLOCK:
            yield from sentences()
            block, size = [], 0
    yield from sentences()


def text_lines(path: str | Path) -> Iterator[str]:
    """The non-blank lines of a text file, stripped, read one at a time (bounded memory); a missing,
    binary or empty file is the user's to fix."""
    empty = True
    for read in _lines(path, "UTF-8 text, one sentence per line"):
        for line in read.splitlines():  # every line break str.splitlines knows (\r, \u2028, ...), as the tokenizer
            line = line.strip()
            if line:
                empty = False
                yield line
    if empty:
        raise UserError(f"{path}: no text in the file; expected one sentence per line")


def count_lines(path: str | Path) -> int:
    """How many non-blank lines `text_lines` gives (the file checked on the way)."""
    return sum(1 for _ in text_lines(path))


def _lines(path: str | Path, expected: str) -> Iterator[str]:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: text file not found; write one with `munch text --corpora ID,... --out FILE`")
    return utf8_lines(path, expected, limit=1 << 62, max_line=MAX_LINE_BYTES)


def write_text(out: str | Path, corpora: Iterable[str] = (), raw: Iterable[str | Path] = (),
               data_dir: str | None = None) -> dict:
    """Write corpus sentences, then raw-text sentences, one per line, each distinct line once; returns counts."""
    corpora, raw = list(corpora), list(raw)
    if not corpora and not raw:
        raise UserError("munch text needs some text: --corpora ID,ID,... and/or --raw FILE")
    out = out_file(out)
    lines = chars = 0
    seen: set[int] = set()  # hashes of the lines written: corpora that share abstracts (BC5CDR) give them once

    def write(tmp: str) -> None:
        nonlocal lines, chars
        with open(tmp, "w", encoding="utf-8") as f:
            for source in (corpus_lines(corpora, data_dir), *(raw_lines(p) for p in raw)):
                for line in source:
                    if hash(line) in seen:
                        continue
                    seen.add(hash(line))
                    f.write(line + "\n")
                    lines += 1
                    chars += len(line) + 1

    atomic_write(out, write)
    return {"out": str(out), "sentences": lines, "characters": chars, "corpora": corpora,
            "raw": [str(p) for p in raw]}
