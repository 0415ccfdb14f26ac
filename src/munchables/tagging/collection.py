"""`munch predict` over collections: files, directories and standard input in; one streamed output that resumes.

Inputs are read lazily, document by document (formats.py), and each tagged document is written
and flushed as soon as it is tagged, so memory stays bounded by one group of sentences
(tagging.GROUP_SENTENCES) whatever the collection's size. With `--resume` the output file is read
first: the documents it holds are skipped, except the last one, which is cut off from the file
and tagged again (a killed run may have written it only in part); the rest is appended.
"""

from __future__ import annotations

import io
import logging
import sys
import time
from pathlib import Path
from typing import BinaryIO, Iterable, Iterator, Sequence

from tqdm import tqdm

from .documents import Document
from ..errors import UserError
from ..choices import INPUT_FORMATS
from .formats import CONLL_COLUMNS, OUTPUT_FORMATS, READERS, STDIN
from .heads import Tagged

log = logging.getLogger("munchables")

SUFFIXES = {".jsonl": "jsonl", ".pubtator": "pubtator", ".xml": "bioc-xml", ".json": "bioc-json"}  # else text


def input_format(path: Path | None, given: str) -> str:
    """`given`, or with "auto" the format its suffix names (.jsonl .pubtator .xml .json), else text."""
    if given != "auto":
        if given not in INPUT_FORMATS:
            raise UserError(f"--input-format {given}: expected auto or one of {', '.join(INPUT_FORMATS)}")
        return given
    return SUFFIXES.get(path.suffix.lower(), "text") if path is not None else "text"


def _stdin_bytes() -> BinaryIO:
    """Standard input as bytes: decoded strictly by the readers, never by the locale."""
    buffer = getattr(sys.stdin, "buffer", None)
    return buffer if buffer is not None else io.BytesIO(sys.stdin.read().encode("utf-8"))


def _files(spec: str) -> list[tuple[Path, str]]:
    path = Path(spec)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and not any(s.startswith(".") for s in p.relative_to(path).parts))
        if not files:
            raise UserError(f"--input {spec}: the directory holds no files")
        return [(p, str(p.relative_to(path))) for p in files]
    if not path.is_file():
        raise UserError(f"--input {spec}: input file not found")
    return [(path, path.name)]


def read_inputs(inputs: Sequence[str], given_format: str = "auto", unit: str = "file") -> Iterator[Document]:
    """Documents of every input in order: "-" is standard input, a directory every file below it (sorted)."""
    for spec in inputs or ["-"]:
        if spec == "-":
            yield from READERS[input_format(None, given_format)](*_reader_args(_stdin_bytes(), STDIN, given_format, unit, None))
            continue
        for path, name in _files(spec):
            fmt = input_format(path, given_format)
            try:
                stream = open(path, "rb")
            except OSError as e:
                raise UserError(f"{path}: cannot read it ({e.strerror})") from None
            with stream:
                yield from READERS[fmt](*_reader_args(stream, name, given_format, unit, path))


def _reader_args(stream, name, given_format, unit, path):
    return (stream, name, unit) if input_format(path, given_format) == "text" else (stream, name)


def scan_output(path: Path, fmt: str) -> tuple[list[str], int]:
    """The ids of the complete documents in an output file, and the byte length to keep of it."""
    spec = OUTPUT_FORMATS[fmt]
    footer = spec.footer.splitlines()[0] if spec.footer else None
    starts: list[tuple[int, str]] = []  # (byte offset, id) of every document's first line
    offset = 0
    with open(path, "rb") as f:
        for raw in f:
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            if footer is not None and line == footer:  # a finished file: every document is whole
                return [i for _, i in starts], offset
            doc_id = spec.doc_id(line)
            if doc_id is not None:
                starts.append((offset, doc_id))
            offset += len(raw)
    if not starts:
        return [], 0
    return [i for _, i in starts[:-1]], starts[-1][0]  # the last one may be cut off: tag it again


class Output:
    """One output stream: header, documents as they come, footer. A file, or standard output (path None)."""

    def __init__(self, path: str | None, fmt: str, heads: Sequence[str], types: Sequence[str],
                 resume: bool = False, overwrite: bool = False):
        if fmt not in OUTPUT_FORMATS:
            raise UserError(f"--format {fmt}: expected one of {', '.join(OUTPUT_FORMATS)}")
        self.spec, self.heads, self.types = OUTPUT_FORMATS[fmt], list(heads), list(types)
        self.done: set[str] = set()
        self.first = True
        if path is None:
            if resume:
                raise UserError("--resume needs --out FILE: the output it continues")
            self.file, self.close_file = _stdout_bytes(), False
            self._write(self.spec.header(self.types, self.heads))
            return
        target = Path(path)
        exists = target.exists() and target.stat().st_size > 0
        if target.is_dir():
            raise UserError(f"--out {path}: is a directory; name a file")
        if exists and not (resume or overwrite):
            raise UserError(f"--out {path}: the file exists; --resume continues it, --overwrite replaces it")
        keep = 0
        if exists and resume:
            self._check_columns(target)
            done, keep = scan_output(target, fmt)
            self.done, self.first = set(done), not done
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            self.file = open(target, "r+b" if keep else "wb")
        except OSError as e:
            raise UserError(f"--out {path}: cannot write it ({e.strerror})") from None
        self.close_file = True
        self.file.seek(keep)
        self.file.truncate()
        if keep == 0:
            self._write(self.spec.header(self.types, self.heads))

    def _check_columns(self, target: Path) -> None:
        """A CoNLL file continued with other heads would mix columns: its header must be this run's."""
        with open(target, "rb") as f:
            first = f.readline().decode("utf-8", errors="replace")
        wanted = self.spec.header(self.types, self.heads)
        if first.startswith(CONLL_COLUMNS) and first != wanted:
            raise UserError(f"--out {target}: its columns are {first[len(CONLL_COLUMNS):].strip()}, this run's would be "
                            f"{wanted[len(CONLL_COLUMNS):].strip()}; resume with the --heads it was written with, "
                            "or --overwrite")

    def _write(self, text: str) -> None:
        if text:
            self.file.write(text.encode("utf-8"))
            self.file.flush()

    def write(self, tagged: Tagged) -> None:
        extra = {"types": self.types} if self.spec.needs_types else {}
        text = self.spec.document(tagged.document, tagged.entities, self.heads, **extra)
        self._write(("" if self.first else self.spec.separator) + text)
        self.first = False

    def close(self) -> None:
        self._write(self.spec.footer)
        if self.close_file:
            self.file.close()


def _stdout_bytes():
    sys.stdout.flush()
    buffer = getattr(sys.stdout, "buffer", None)
    return buffer if buffer is not None else _TextAsBytes(sys.stdout)


class _TextAsBytes:
    """Standard output replaced by a text stream (as tests do): bytes written are decoded back."""

    def __init__(self, stream):
        self.stream = stream

    def write(self, data: bytes) -> None:
        self.stream.write(data.decode("utf-8"))

    def flush(self) -> None:
        self.stream.flush()


class Progress:
    """A progress bar on standard error with documents/s and sentences/s, and the totals at the end."""

    def __init__(self, quiet: bool = False):
        self.bar = tqdm(unit=" docs", disable=True if quiet else None, file=sys.stderr, dynamic_ncols=True)
        self.start = time.perf_counter()
        self.documents = self.sentences = self.entities = self.dropped = 0

    def step(self, tagged: Tagged) -> None:
        self.documents += 1
        self.sentences += tagged.sentences
        self.entities += len(tagged.entities)
        self.dropped += tagged.dropped
        self.bar.update(1)
        self.bar.set_postfix_str(f"{self.sentences / max(time.perf_counter() - self.start, 1e-9):,.0f} sentences/s",
                                 refresh=False)

    def close(self, skipped: int, overlap: str) -> dict:
        self.bar.close()
        seconds = time.perf_counter() - self.start
        summary = {"documents": self.documents, "skipped": skipped, "sentences": self.sentences,
                   "entities": self.entities, "dropped_by_overlap": self.dropped, "seconds": round(seconds, 2),
                   "documents_per_s": round(self.documents / max(seconds, 1e-9), 1),
                   "sentences_per_s": round(self.sentences / max(seconds, 1e-9), 1)}
        log.info("%d documents tagged (%d already in the output), %d sentences, %d entities in %.1f s: "
                 "%.1f documents/s, %.1f sentences/s%s", self.documents, skipped, self.sentences, self.entities,
                 seconds, summary["documents_per_s"], summary["sentences_per_s"],
                 f"; --overlap {overlap} removed {self.dropped} overlapping entities" if self.dropped else "")
        return summary


def skip_done(documents: Iterable[Document], done: set[str], counter: list[int]) -> Iterator[Document]:
    """The documents whose ids are not in `done`; counter[0] counts the skipped ones."""
    for doc in documents:
        if doc.id in done:
            counter[0] += 1
            continue
        yield doc


def one_document_entities(tagged: Iterable[Tagged]) -> list[dict]:
    """`--format json`: the entities of the one document tagged (offsets into the input as given)."""
    tagged = list(tagged)
    if len(tagged) > 1:
        raise UserError(f"--format json writes the entities of one document; the input holds {len(tagged)} "
                        f"(use --format jsonl for collections)")
    return tagged[0].entities if tagged else []


def tag_collection(tagger, documents: Iterable[Document], output: Output, heads: Sequence[str], overlap: str,
                   batch_size: int, quiet: bool = False) -> None:
    """`munch predict`: tag every document into `output`, skipping those it already holds (--resume)."""
    skipped = [0]
    progress = Progress(quiet)
    for tagged in tagger.stream(skip_done(documents, output.done, skipped), heads, overlap, batch_size):
        output.write(tagged)
        progress.step(tagged)
    output.close()
    progress.close(skipped[0], overlap)
