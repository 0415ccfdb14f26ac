"""`munch predict` over collections: files, directories and standard input in; one streamed output that resumes.

Inputs are read lazily, document by document (formats.py), and each tagged document is written
and flushed as soon as it is tagged, so memory stays bounded by one group of sentences
(tagging.GROUP_SENTENCES) whatever the collection's size. With `--resume` the output file is read
first: the documents it holds are skipped, except the last one, which is cut off from the file
and tagged again (a killed run may have written it only in part); the rest is appended.
"""

from __future__ import annotations

import gzip
import inspect
import io
import logging
import sys
import time
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

log = logging.getLogger("munchables")

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


GZIP_MAGIC = b"\x1f\x8b"


def _peekable(stream: BinaryIO) -> io.BufferedReader:
    """A stream whose first bytes can be looked at without being used up; gzip opened transparently."""
    buffered = stream if isinstance(stream, io.BufferedReader) else io.BufferedReader(stream, SNIFF_BYTES)
    if buffered.peek(2)[:2] == GZIP_MAGIC:
        buffered = io.BufferedReader(gzip.GzipFile(fileobj=buffered, mode="rb"), SNIFF_BYTES)
    return buffered


def _head(stream: io.BufferedReader) -> bytes:
    try:
        return stream.peek(SNIFF_BYTES)[:SNIFF_BYTES]
    except (OSError, EOFError) as e:  # a damaged gzip stream
        raise UserError(f"cannot read the input ({e})") from None


def read_inputs(inputs: Sequence[str], given_format: str = "auto", unit: str = "file",
                offsets: str = CODE_POINTS) -> Iterator[Document]:
    """Documents of every input in order: "-" is standard input, a directory every file below it (sorted).

    Gzip input (``.gz``, by its first bytes) is read through gzip; with `given_format` "auto" each
    input's format is chosen by detect.py and named in a log line.
    """
    if offsets not in OFFSETS:
        raise UserError(f"--offsets {offsets}: expected one of {', '.join(OFFSETS)}")
    for spec in inputs or ["-"]:
        if spec == "-":
            yield from _read(_peekable(_stdin_bytes()), STDIN, None, given_format, unit, offsets)
            continue
        if given_format in FOLDER_READERS or (given_format == "auto" and is_brat_folder(Path(spec))):
            yield from FOLDER_READERS["brat" if given_format == "auto" else given_format](Path(spec))
            continue
        for path, name in _files(spec):
            try:
                raw = open(path, "rb", buffering=SNIFF_BYTES)  # peek sees the first SNIFF_BYTES
            except OSError as e:
                raise UserError(f"{path}: cannot read it ({e.strerror})") from None
            with raw:
                yield from _read(_peekable(raw), name, path, given_format, unit, offsets)


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


class Output:
    """One output stream: header, documents as they come, footer. A file, or standard output (path None)."""

    def __init__(self, path: str | None, fmt: str, heads: Sequence[str], types: Sequence[str],
                 resume: bool = False, overwrite: bool = False, model: str | None = None, offsets: str = CODE_POINTS):
        if fmt not in OUTPUT_FORMATS:
            raise UserError(f"--format {fmt}: expected one of {', '.join(OUTPUT_FORMATS)}")
        self.spec, self.heads, self.types = OUTPUT_FORMATS[fmt], list(heads), list(types)
        self.model, self.offsets = model, offsets  # our entities are marked with the model; offsets: offsets.py
        if offsets != CODE_POINTS and "offsets" not in inspect.signature(self.spec.document).parameters:
            raise UserError(f"--offsets {offsets}: --format {fmt} writes code points only; leave --offsets out")
        self.done: set[str] = set()
        self.first = True
        self.header_due = True  # written with the first document (BioC's header names its collection)
        if path is None:
            if resume:
                raise UserError("--resume needs --out FILE: the output it continues")
            self.file, self.close_file = _stdout_bytes(), False
            return
        target = Path(path)
        exists = target.exists() and target.stat().st_size > 0
        if target.is_dir():
            raise UserError(f"--out {path}: is a directory; name a file")
        if exists and not (resume or overwrite):
            raise UserError(f"--out {path}: the file exists; --resume continues it, --overwrite replaces it")
        keep = 0
        if exists and resume:
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
        self.header_due = keep == 0

    def _write(self, text: str) -> None:
        if text:
            self.file.write(text.encode("utf-8"))
            self.file.flush()

    def _header(self, doc: Document | None) -> str:
        if not self.header_due:
            return ""
        self.header_due = False
        if "collection" not in inspect.signature(self.spec.header).parameters:  # a writer without collections
            return self.spec.header(self.types)
        return self.spec.header(self.types, doc.collection if doc is not None else None)

    def write(self, tagged: Tagged) -> None:
        """The document with what came with it and our entities (fresh ids, marked with the model)."""
        extra = {"types": self.types} if self.spec.needs_types else {}
        if "offsets" in inspect.signature(self.spec.document).parameters:  # every writer that writes offsets
            extra["offsets"] = self.offsets
        found = mark(tagged.document, tagged.entities, self.model)
        text = self.spec.document(tagged.document, found, self.heads, **extra)
        self._write(self._header(tagged.document) + ("" if self.first else self.spec.separator) + text)
        self.first = False

    def close(self) -> None:
        self._write(self._header(None) + self.spec.footer)
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


def skip_done(documents: Iterable[Document], done: set[str], counter: list[int]) -> Iterator[Document]:
    """The documents whose ids are not in `done`; counter[0] counts the skipped ones."""
    for doc in documents:
        if doc.id in done:
            counter[0] += 1
            continue
        yield doc


def one_document_entities(tagged: Iterable[Tagged], offsets: str = CODE_POINTS) -> list[dict]:
    """`--format json`: the entities of the one document tagged (offsets into the input as given, in `offsets`)."""
    tagged = list(tagged)
    if len(tagged) > 1:
        raise UserError(f"--format json writes the entities of one document; the input holds {len(tagged)} "
                        f"(use --format jsonl for collections)")
    return to_units(tagged[0].document, tagged[0].entities, offsets)[1] if tagged else []


def tag_collection(tagger, documents: Iterable[Document], output: Output, heads: Sequence[str], overlap: str,
                   batch_size: int, quiet: bool = False) -> None:
    """`munch predict`: tag every document into `output`, skipping those it already holds (--resume)."""
    skipped = [0]
    progress = Tally(quiet)
    for tagged in tagger.stream(skip_done(documents, output.done, skipped), heads, overlap, batch_size):
        output.write(tagged)
        progress.step(tagged)
    output.close()
    progress.close(skipped[0], overlap)
