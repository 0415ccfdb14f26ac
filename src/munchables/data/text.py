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
from ..util.files import atomic_write, out_file, read_utf8
from .corpus import default_data_dir, load_corpus
from .tokenize import tokenize

TEXT_SPLITS = ("train", "dev")  # never "test"


def corpus_lines(names: Iterable[str], data_dir: str | None = None) -> Iterator[str]:
    """The train and dev sentences of each corpus, tokens joined by single spaces."""
    data = default_data_dir(data_dir)
    for name in names:
        corpus = load_corpus(name, data)
        for split in TEXT_SPLITS:
            for sentence in corpus.split(split):
                yield " ".join(sentence.tokens)


def raw_lines(path: str | Path) -> Iterator[str]:
    """The sentences of a raw UTF-8 text file, tokenised the way the corpora are."""
    text = read_text(path)
    for sentence in tokenize(text):
        yield " ".join(token for token, _, _ in sentence)


def read_text(path: str | Path) -> str:
    """A UTF-8 text file's content; a missing or binary file is the user's to fix."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: text file not found; write one with `munch text --corpora ID,... --out FILE`")
    return read_utf8(path, "UTF-8 text, one sentence per line")


def read_lines(path: str | Path) -> list[str]:
    """The non-blank lines of a text file, without their line breaks."""
    lines = [line.strip() for line in read_text(path).splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        raise UserError(f"{path}: no text in the file; expected one sentence per line")
    return lines


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
