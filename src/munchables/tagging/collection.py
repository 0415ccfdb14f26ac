"""`munch tag` (alias `munch predict`) over collections: files, directories and standard input in; one streamed output that resumes.

Inputs are read lazily, document by document (formats.py), and each tagged document is written
and flushed as soon as it is tagged, so memory stays bounded by one group of sentences
(tagging.GROUP_SENTENCES) whatever the collection's size. An output file gets a sidecar
(sidecar.py: format, settings, a checkpoint of its bytes). `--resume` continues only a file whose
sidecar names the same format and settings and whose bytes still match the checkpoint; the input's
first documents must be the file's, in order (matched by position and id, so repeated ids are
kept); they are skipped, and the last document written after the checkpoint is cut off and tagged
again (a killed run may have written it only in part); the rest is appended. Anything else is a
one-line error, and the file is left as it was.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import logging
import os
import sys
import time
import zlib
from pathlib import Path
from typing import BinaryIO, Iterable, Iterator, Sequence

from tqdm import tqdm

from .documents import Document
from ..errors import UserError
from ..choices import INPUT_FORMATS
from .formats import OUTPUT_FORMATS, READERS, STDIN
from .heads import Tagged
from .sidecar import Record, differences, read_record, sidecar_path, write_record

log = logging.getLogger("munchables")

SUFFIXES = {".jsonl": "jsonl", ".pubtator": "pubtator", ".xml": "bioc-xml", ".json": "bioc-json"}  # else text


MAX_DECOMPRESSED = 64 * 2**30  # bytes a gzip input may inflate to (a PubMed baseline file: about 0.2 GB)
GZIP_MAGIC = b"\x1f\x8b"


def input_format(path: Path | None, given: str) -> str:
    """`given`, or with "auto" the format its suffix names (.jsonl .pubtator .xml .json, also before .gz), else text."""
    if given != "auto":
        if given not in INPUT_FORMATS:
            raise UserError(f"--input-format {given}: expected auto or one of {', '.join(INPUT_FORMATS)}")
        return given
    if path is None:
        return "text"
    suffix = Path(path.stem).suffix if path.suffix.lower() == ".gz" else path.suffix
    return SUFFIXES.get(suffix.lower(), "text")


def _stdin_bytes() -> BinaryIO:
    """Standard input as bytes: decoded strictly by the readers, never by the locale."""
    buffer = getattr(sys.stdin, "buffer", None)
    return buffer if buffer is not None else io.BytesIO(sys.stdin.read().encode("utf-8"))


class _Gunzip(io.RawIOBase):
    """A gzip stream inflated as it is read, never past `limit` bytes; its failures are one-line errors."""

    def __init__(self, stream: BinaryIO, name: str, limit: int):
        self.inner, self.name, self.limit, self.count = gzip.GzipFile(fileobj=stream, mode="rb"), name, limit, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        try:
            n = self.inner.readinto(buffer)
        except (OSError, EOFError, zlib.error) as e:
            raise UserError(f"{self.name}: broken gzip data ({e}); expected a whole .gz file") from None
        self.count += n
        if self.count > self.limit:
            raise UserError(f"{self.name}: inflates to more than {self.limit:,} bytes; split it, or give it "
                            f"uncompressed") from None
        return n


def open_input(stream: BinaryIO, name: str, limit: int | None = None) -> BinaryIO:
    """`stream`, inflated as it is read when it is gzip (recognised by its first bytes, not its name):
    files, pipes and standard input alike, in constant memory."""
    buffered = stream if hasattr(stream, "peek") else io.BufferedReader(stream)
    if buffered.peek(2)[:2] == GZIP_MAGIC:
        return io.BufferedReader(_Gunzip(buffered, name, limit or MAX_DECOMPRESSED), buffer_size=1 << 16)
    return buffered


def _files(spec: str) -> list[tuple[Path, str]]:
    path = Path(spec)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and not any(s.startswith(".") for s in p.relative_to(path).parts))
        if not files:
            raise UserError(f"--input {spec}: the directory holds no files")
        return [(p, str(p.relative_to(path))) for p in files]
    if not path.exists():  # a file, or a pipe: a FIFO, or bash's <(command) as /dev/fd/N
        raise UserError(f"--input {spec}: input file not found")
    return [(path, path.name)]


def input_files(inputs: Sequence[str]) -> list[tuple[Path, str]]:
    """Every file the inputs name, with its name below its --input directory (for --out-dir)."""
    if not inputs or "-" in inputs:
        raise UserError("--out-dir writes one output per input file: give --input FILE or DIR, not standard input")
    return [f for spec in inputs for f in _files(spec)]


def read_one(path: Path, name: str, given_format: str = "auto", unit: str = "file") -> Iterator[Document]:
    """The documents of one input file (gzip inflated as it is read)."""
    fmt = input_format(path, given_format)
    try:
        raw = open(path, "rb")
    except OSError as e:
        raise UserError(f"{path}: cannot read it ({e.strerror})") from None
    with raw:
        stream = open_input(raw, name)
        yield from READERS[fmt](*_reader_args(stream, name, given_format, unit, path))


def read_inputs(inputs: Sequence[str], given_format: str = "auto", unit: str = "file") -> Iterator[Document]:
    """Documents of every input in order: "-" is standard input, a directory every file below it (sorted);
    gzip inputs are inflated as they are read."""
    for spec in inputs or ["-"]:
        if spec == "-":
            stream = open_input(_stdin_bytes(), "standard input")
            yield from READERS[input_format(None, given_format)](*_reader_args(stream, STDIN, given_format, unit, None))
            continue
        for path, name in _files(spec):
            yield from read_one(path, name, given_format, unit)


def _reader_args(stream, name, given_format, unit, path):
    return (stream, name, unit) if input_format(path, given_format) == "text" else (stream, name)


CHECKPOINT_SECONDS = 5.0  # how often the sidecar records what the output holds


def _document_starts(path: Path, fmt: str, check: Record, footer_found: list) -> Iterator[tuple[int, str | None]]:
    """(byte offset, id) of every document's first line in an output file, then (offset, None): where
    its footer begins (footer_found gets True), or its end. Checks on the way that the file begins
    with the bytes the sidecar's checkpoint hashed, and held the documents it counted there."""
    spec = OUTPUT_FORMATS[fmt]
    footer = spec.footer.splitlines()[0] if spec.footer else None
    digest, offset, count, verified, end = hashlib.sha256(), 0, 0, False, None

    def verify() -> None:
        if digest.hexdigest() != check.sha256 or count != check.documents:
            raise UserError(f"--out {path} changed since munch tag wrote it (it no longer begins with what "
                            f"{sidecar_path(path).name} records); nothing was changed: use --overwrite to start again")

    with open(path, "rb") as f:
        for raw in f:
            if offset == check.bytes:
                verify()
                verified = True
            if offset < check.bytes:
                digest.update(raw[: check.bytes - offset])
            if end is None:
                line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
                if footer is not None and line == footer:  # a finished file: every document is whole
                    end = offset
                    footer_found.append(True)
                else:
                    doc_id = spec.doc_id(line)
                    if doc_id is not None:
                        yield offset, doc_id
                        count += offset < check.bytes
            offset += len(raw)
    if not verified:
        if offset != check.bytes:  # shorter than the checkpoint, or the checkpoint inside a line
            digest.update(b"\0")
        verify()
    yield (offset if end is None else end), None


class Output:
    """One output stream: header, documents as they come, footer. A file, or standard output (path None).

    Nothing is opened for writing until `start(documents)`: a file that `--resume` continues is
    checked first (its sidecar, its bytes, and that the input begins with the documents it
    holds, by position and id), so a refusal leaves it untouched. A file gets a sidecar
    (sidecar.py), checkpointed every CHECKPOINT_SECONDS and at the end.
    """

    def __init__(self, path: str | None, fmt: str, heads: Sequence[str], types: Sequence[str],
                 resume: bool = False, overwrite: bool = False, settings: dict | None = None,
                 stream: BinaryIO | None = None):
        if fmt not in OUTPUT_FORMATS:
            raise UserError(f"--format {fmt}: expected one of {', '.join(OUTPUT_FORMATS)}")
        self.spec, self.fmt, self.heads, self.types = OUTPUT_FORMATS[fmt], fmt, list(heads), list(types)
        self.settings = dict(settings or {})
        self.first, self.started, self.skipped = True, False, 0
        self.path: Path | None = None
        self.previous: Record | None = None  # the sidecar of the file --resume continues
        self.written = self.documents = 0
        self.digest = hashlib.sha256()
        if path is None:  # standard output, or a stream given (no sidecar, no resume)
            if resume:
                raise UserError("--resume needs --out FILE: the output it continues")
            self.file, self.close_file = stream if stream is not None else _stdout_bytes(), False
            return
        target = self.path = Path(path)
        if target.is_dir():
            raise UserError(f"--out {path}: is a directory; name a file")
        exists = target.exists() and target.stat().st_size > 0
        if exists and not (resume or overwrite):
            raise UserError(f"--out {path}: the file exists; --resume continues it, --overwrite replaces it")
        if exists and resume and not overwrite:
            self.previous = read_record(target)
            if self.previous is None:
                raise UserError(f"--out {path} was not written by munch tag (there is no {sidecar_path(target).name} "
                                f"beside it), so --resume will not touch it; use --overwrite to replace it, or another --out")
            if self.previous.format != fmt:
                raise UserError(f"--out {path} holds {self.previous.format}, not {fmt}; resume it with "
                                f"--format {self.previous.format}, or use --overwrite or another --out")
            changed = differences(self.previous.settings, self.settings)
            if changed:
                raise UserError(f"--out {path} was written with other settings ({'; '.join(changed)}); resume it with "
                                f"the same ones, or use --overwrite or another --out")
        self.file, self.close_file = None, True

    def start(self, documents: Iterable[Document]) -> Iterator[Document]:
        """Open the output and return the documents still to tag. Resuming, the input's first
        documents must be those the file holds, in the same order (repeated ids included): they
        are skipped; the last document of a file cut short is cut off and tagged again."""
        documents = iter(documents)
        keep = 0
        if self.previous is not None:
            footer: list = []
            starts = _document_starts(self.path, self.fmt, self.previous, footer)
            offset, doc_id = next(starts)
            while doc_id is not None:
                following = next(starts)
                if following[1] is None and not footer and offset >= self.previous.bytes:
                    keep = offset  # the last document, written after the checkpoint: perhaps cut off, tag it again
                    break
                doc = next(documents, None)
                self.skipped += 1
                if doc is None or doc.id != doc_id:
                    raise UserError(f"--out {self.path}: its document {self.skipped} is {doc_id!r} but the input's "
                                    + (f"is {doc.id!r}" if doc else "ends before it")
                                    + "; it was written from other input, so --resume will not continue it "
                                    "(nothing was changed): give the same input, or use --overwrite or another --out")
                offset, doc_id = following
            else:  # every document is whole: keep up to the footer, or to the checkpoint (past it: a torn write)
                keep = offset if footer else self.previous.bytes
            self.first = self.skipped == 0
        self._open(keep)
        return documents

    def _open(self, keep: int) -> None:
        self.started = True
        if self.path is None:
            self._write(self.spec.header(self.types))
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.file = open(self.path, "r+b" if keep else "wb")
        except OSError as e:
            raise UserError(f"--out {self.path}: cannot write it ({e.strerror})") from None
        if keep:
            with open(self.path, "rb") as f:  # the running hash of what stays
                left = keep
                while left:
                    block = f.read(min(left, 1 << 20))
                    self.digest.update(block)
                    left -= len(block)
        self.file.seek(keep)
        self.file.truncate()
        self.written, self.documents = keep, self.skipped
        if keep == 0:
            self._write(self.spec.header(self.types))
        self._checkpoint(complete=False)

    def _write(self, text: str) -> None:
        if text:
            data = text.encode("utf-8")
            self.file.write(data)
            self.file.flush()
            self.digest.update(data)
            self.written += len(data)

    def _checkpoint(self, complete: bool) -> None:
        if self.path is None:
            return
        os.fsync(self.file.fileno())
        write_record(self.path, Record(self.fmt, self.settings, self.documents, self.written,
                                       self.digest.hexdigest(), complete))
        self.last_checkpoint = time.monotonic()

    def write(self, tagged: Tagged) -> None:
        if not self.started:
            self._open(0)
        extra = {"types": self.types} if self.spec.needs_types else {}
        text = self.spec.document(tagged.document, tagged.entities, self.heads, **extra)
        self._write(("" if self.first else self.spec.separator) + text)
        self.first = False
        self.documents += 1
        if self.path is not None and time.monotonic() - self.last_checkpoint > CHECKPOINT_SECONDS:
            self._checkpoint(complete=False)

    def close(self) -> None:
        if not self.started:
            self._open(0)
        self._write(self.spec.footer)
        self._checkpoint(complete=True)
        if self.close_file:
            self.file.close()


def _size(path: Path) -> int:
    return path.stat().st_size


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


def one_document_entities(tagged: Iterable[Tagged]) -> list[dict]:
    """`--format json`: the entities of the one document tagged (offsets into the input as given)."""
    tagged = list(tagged)
    if len(tagged) > 1:
        raise UserError(f"--format json writes the entities of one document; the input holds {len(tagged)} "
                        f"(use --format jsonl for collections)")
    return tagged[0].entities if tagged else []


def tag_collection(taggers, documents: Iterable[Document], output: Output, overlap: str,
                   batch_size: int, quiet: bool = False) -> None:
    """`munch tag`: tag every document into `output`, skipping those it already holds (--resume)."""
    progress = Progress(quiet)
    for tagged in taggers.stream(output.start(documents), overlap, batch_size):
        output.write(tagged)
        progress.step(tagged)
    output.close()
    progress.close(output.skipped, overlap)
