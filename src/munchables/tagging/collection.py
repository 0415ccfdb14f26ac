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
import inspect
import io
import logging
import os
import sys
import time
import zlib
from pathlib import Path
from typing import BinaryIO, Iterable, Iterator, Sequence

from ..choices import INPUT_FORMATS, OFFSETS
from ..data.brat import is_brat_folder
from ..data.detect import SNIFF_BYTES, choose
from ..data.documents import Document, mark
from ..data.formats import FOLDER_READERS, OUTPUT_FORMATS, READERS, STDIN
from ..data.offsets import CODE_POINTS, to_units
from ..errors import UserError
from ..util.progress import Progress
from .heads import Tagged
from .sidecar import Record, differences, read_record, sidecar_path, write_record

log = logging.getLogger("munchables")

MAX_DECOMPRESSED = 64 * 2**30  # bytes a gzip input may inflate to (a PubMed baseline file: about 0.2 GB)
GZIP_MAGIC = b"\x1f\x8b"


def input_format(path: Path | None, given: str, head: bytes = b"") -> str:
    """`given`, or with "auto" the format the input's first bytes or its name show (detect.py), else text
    (a folder holding .ann files is read as brat by read_inputs)."""
    if given != "auto":
        if given not in INPUT_FORMATS:
            raise UserError(f"--input-format {given}: expected auto or one of {', '.join(INPUT_FORMATS)}")
        return given
    return choose(path.name if path is not None else "", head)[0]


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


def _head(stream: io.BufferedReader) -> bytes:
    try:
        return stream.peek(SNIFF_BYTES)[:SNIFF_BYTES]
    except (OSError, EOFError) as e:  # a damaged gzip stream
        raise UserError(f"cannot read the input ({e})") from None


def read_one(path: Path, name: str, given_format: str = "auto", unit: str = "file",
             offsets: str = CODE_POINTS) -> Iterator[Document]:
    """The documents of one input file (gzip inflated as it is read, the format chosen by detect.py)."""
    try:
        raw = open(path, "rb", buffering=SNIFF_BYTES)  # peek sees the first SNIFF_BYTES
    except OSError as e:
        raise UserError(f"{path}: cannot read it ({e.strerror})") from None
    with raw:
        yield from _read(open_input(raw, name), name, path, given_format, unit, offsets)


def read_inputs(inputs: Sequence[str], given_format: str = "auto", unit: str = "file",
                offsets: str = CODE_POINTS) -> Iterator[Document]:
    """Documents of every input in order: "-" is standard input, a directory every file below it (sorted).

    Gzip input (by its first bytes) is inflated as it is read; with `given_format` "auto" each
    input's format is chosen by detect.py and named in a log line.
    """
    if offsets not in OFFSETS:
        raise UserError(f"--offsets {offsets}: expected one of {', '.join(OFFSETS)}")
    for spec in inputs or ["-"]:
        if spec == "-":
            yield from _read(open_input(_stdin_bytes(), "standard input"), STDIN, None, given_format, unit, offsets)
            continue
        if given_format in FOLDER_READERS or (given_format == "auto" and is_brat_folder(Path(spec))):
            yield from FOLDER_READERS["brat" if given_format == "auto" else given_format](Path(spec))
            continue
        for path, name in _files(spec):
            yield from read_one(path, name, given_format, unit, offsets)


def _read(stream: io.BufferedReader, name: str, path: Path | None, given: str, unit: str, offsets: str):
    if given == "auto":
        fmt, why = choose(path.name if path is not None else "", _head(stream))
        if fmt != "text":  # plain text is the default, chosen quietly; any other choice is said
            log.info("reading %s as %s (%s; --input-format chooses another)",
                     "standard input" if path is None else name, fmt, why)
    else:
        fmt = input_format(path, given)
    reader = READERS[fmt]
    options = {"unit": unit, "offsets": offsets}
    accepted = inspect.signature(reader).parameters
    if offsets != CODE_POINTS and "offsets" not in accepted:
        raise UserError(f"--offsets {offsets}: the {fmt} reader counts code points only; leave --offsets out")
    try:
        yield from reader(stream, name, **{k: v for k, v in options.items() if k in accepted})
    except (OSError, EOFError) as e:  # a truncated or damaged gzip file
        if isinstance(e, OSError) and e.errno is not None:
            raise
        raise UserError(f"{name}: cannot be read to the end ({e})") from None


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
                 stream: BinaryIO | None = None, model: str | None = None, offsets: str = CODE_POINTS):
        if fmt not in OUTPUT_FORMATS:
            raise UserError(f"--format {fmt}: expected one of {', '.join(OUTPUT_FORMATS)}")
        self.spec, self.fmt, self.heads, self.types = OUTPUT_FORMATS[fmt], fmt, list(heads), list(types)
        self.model, self.offsets = model, offsets  # our entities are marked with the model; offsets: offsets.py
        if offsets != CODE_POINTS and "offsets" not in inspect.signature(self.spec.document).parameters:
            raise UserError(f"--offsets {offsets}: --format {fmt} writes code points only; leave --offsets out")
        self.header_due = True  # written with the first document (BioC's header names its collection)
        self.settings = dict(settings or {})
        self.first, self.started, self.skipped = True, False, 0
        self.path: Path | None = None
        self.device = False  # --out names a device or pipe, not a file
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
        # a device or pipe (/dev/stdout, a FIFO): written as a stream, no sidecar, nothing to resume
        self.device = target.exists() and not target.is_file()
        if self.device and resume:
            raise UserError(f"--out {path} is not a file (a device or pipe), so there is nothing to --resume")
        exists = not self.device and target.exists() and target.stat().st_size > 0
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
            return  # the header goes out with the first document
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.file = open(self.path, "r+b" if keep else "wb")
        except OSError as e:
            raise UserError(f"--out {self.path}: cannot write it ({e.strerror})") from None
        if self.device:
            self.header_due = True
            return
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
        self.header_due = keep == 0
        self._checkpoint(complete=False)

    def _write(self, text: str) -> None:
        if text:
            data = text.encode("utf-8")
            self.file.write(data)
            self.file.flush()
            self.digest.update(data)
            self.written += len(data)

    def _checkpoint(self, complete: bool) -> None:
        if self.path is None or self.device:
            return
        os.fsync(self.file.fileno())
        write_record(self.path, Record(self.fmt, self.settings, self.documents, self.written,
                                       self.digest.hexdigest(), complete))
        self.last_checkpoint = time.monotonic()

    def _header(self, doc: Document | None) -> str:
        """The format's header, once, with what it can say: the input's collection (BioC), the heads (CoNLL's columns)."""
        if not self.header_due:
            return ""
        self.header_due = False
        return self.spec.head(self.types, self.heads, doc.collection if doc is not None else None)

    def write(self, tagged: Tagged) -> None:
        """The document with what came with it and our entities (fresh ids, marked with the model)."""
        if not self.started:
            self._open(0)
        extra = {"types": self.types} if self.spec.needs_types else {}
        if "offsets" in inspect.signature(self.spec.document).parameters:  # every writer that writes offsets
            extra["offsets"] = self.offsets
        found = mark(tagged.document, tagged.entities, self.model)
        text = self.spec.document(tagged.document, found, self.heads, **extra)
        self._write(self._header(tagged.document) + ("" if self.first else self.spec.separator) + text)
        self.first = False
        self.documents += 1
        if self.path is not None and not self.device and time.monotonic() - self.last_checkpoint > CHECKPOINT_SECONDS:
            self._checkpoint(complete=False)

    def close(self) -> None:
        if not self.started:
            self._open(0)
        self._write(self._header(None) + self.spec.footer)
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


class Tally:
    """What `munch predict` tagged, counted as it goes and summed up at the end; shown as a
    Progress (util/progress.py: a bar with documents and sentences/s on a terminal, else a log line
    now and then)."""

    def __init__(self, quiet: bool = False):
        self.bar = Progress(None, enabled=False if quiet else None, unit=" doc", label="tagging")
        self.start = time.perf_counter()
        self.documents = self.sentences = self.entities = self.dropped = 0

    def step(self, tagged: Tagged) -> None:
        self.documents += 1
        self.sentences += tagged.sentences
        self.entities += len(tagged.entities)
        self.dropped += tagged.dropped
        self.bar.step(note=f"{self.sentences / max(time.perf_counter() - self.start, 1e-9):,.0f} sentences/s")

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


def one_document_entities(tagged: Iterable[Tagged], offsets: str = CODE_POINTS) -> list[dict]:
    """`--format json`: the entities of the one document tagged (offsets into the input as given, in `offsets`)."""
    tagged = list(tagged)
    if len(tagged) > 1:
        raise UserError(f"--format json writes the entities of one document; the input holds {len(tagged)} "
                        f"(use --format jsonl for collections)")
    return to_units(tagged[0].document, tagged[0].entities, offsets)[1] if tagged else []


def tag_collection(taggers, documents: Iterable[Document], output: Output, overlap: str,
                   batch_size: int, quiet: bool = False) -> None:
    """`munch tag`: tag every document into `output`, skipping those it already holds (--resume)."""
    progress = Tally(quiet)
    for tagged in taggers.stream(output.start(documents), overlap, batch_size):
        output.write(tagged)
        progress.step(tagged)
    output.close()
    progress.close(output.skipped, overlap)
