"""A corpus given as annotated documents (PubTator, BioC, JSONL spans, brat) read into IOB2 sentences.

A corpus can be given as documents instead of a column-file directory (corpus.load_corpus sends
such a path here), in either form:

    PATH                         one collection, split by document into train, dev and test by
                                 `--split 80,10,10` (percentages, default) with `--split-seed S`
                                 (default 1; separate from the training seed, so every seed of a
                                 comparison sees the same split)
    train=PATH,dev=PATH,test=PATH   the three splits, each a file or folder the user names

PATH is a file or a folder of files in a format of data/formats.py, told apart by suffix and
then by content (`document_format`): PubTator (``.pubtator``, or any file whose first line is
``ID|t|...``), BioC XML (``.xml``, or a file starting with ``<``), BioC JSON (``.json`` holding a
collection), JSONL (``.jsonl``, or one JSON object per line), or brat standoff (a folder holding
``.ann`` files; data/brat.py).

Sentences and tokens come from data/tokenize.py, passage by passage, exactly as `munch tag`
splits documents (tagging/heads.py), so a model trained on documents sees at training time the
tokens it sees when tagging (tagging also cuts a sentence of more than heads.MAX_TOKENS = 512
tokens into pieces; training keeps it whole). Then every entity becomes the IOB2 tags of the tokens it covers,
by these rules, each counted in `Corpus.documents` (shown by `munch corpora`, logged by `munch
train`); nothing is dropped silently:

1. ``--types``: ``Disease,Chemical`` keeps those types and leaves out the others; ``A=B`` keeps
   type A under the name B (``SpecificDisease=Disease,Modifier=Disease``). No --types: all kept.
2. A discontinuous entity (brat fragments) is taken as its covering span, first fragment's start
   to last fragment's end (as NCBI-disease annotates composite mentions, "breast and ovarian
   cancer"); counted.
3. An entity whose offsets do not fall on token boundaries is *snapped* outward to the tokens it
   overlaps ("BRCA1" in "BRCA1-associated" is the token BRCA1 already; "cancer" inside
   "anticancer" becomes the token "anticancer"); counted. Snapping keeps the mention, which
   training needs more than its exact edges; evaluation then scores the snapped span.
4. An entity that covers no token (whitespace only), lies outside every passage, or crosses a
   passage or sentence boundary is dropped; counted by reason.
5. Overlapping entities (nested or crossing), which IOB2 cannot hold: the longer is kept, then
   the earlier; the other is dropped and counted. An exact duplicate (same span and type) is
   dropped and counted as a duplicate.
6. An entity whose text differs from the document's text at its offsets is kept by its offsets
   and counted.
"""

from __future__ import annotations

import bisect
import gzip
import json
import logging
import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError
from ..settings import corpus_list
from .sentences import Corpus, Sentence, split_candidates
from .tokenize import tokenize

log = logging.getLogger("munchables")

DEFAULT_SPLIT = "80,10,10"
SPLIT_KEYS = ("train", "dev", "test")
FORMS = "PubTator, BioC XML or JSON, JSONL, or a folder of brat .txt + .ann files"

# the counters of a conversion, in the order `munch corpora` shows them
KEPT = "kept"
TYPES_LEFT_OUT = "left out by --types"
SNAPPED = "snapped to token boundaries"
DISCONTINUOUS = "discontinuous, taken as their covering span"
TEXT_DIFFERS = "text differs from the document at its offsets (kept by offsets)"
DROPPED = {
    "sentence": "dropped: crosses a sentence boundary",
    "passage": "dropped: outside any passage or across passages",
    "empty": "dropped: covers no token",
    "overlap": "dropped: overlaps a longer (or earlier) entity",
    "duplicate": "dropped: duplicate of another entity",
}


@dataclass(frozen=True)
class DocumentOptions:
    """How documents become a corpus: the types kept (and renamed), and the split of one collection."""

    types: str | None = None  # "Disease,Chemical" or "Modifier=Disease,...": kept types, renamed with =
    split: str | None = None  # "80,10,10": train, dev, test percentages of one collection (default DEFAULT_SPLIT)
    split_seed: int = 1  # the shuffle of documents before the split


def is_document_corpus(name_or_path: str) -> bool:
    """Whether `name_or_path` names documents rather than a column-file corpus directory or a corpus id."""
    if "=" in name_or_path:
        return True
    path = Path(name_or_path).expanduser()
    if path.is_file():
        return True
    if path.is_dir():  # a column-file corpus has at least one split file (munch evaluate: test alone will do)
        return not any(split_candidates(path, split) for split in ("train", "dev", "test"))
    return False


def parse_types(spec: str | None) -> dict[str, str] | None:
    """``"A,B=C"`` -> {"A": "A", "B": "C"}; None keeps every type."""
    if spec is None or not spec.strip():
        return None
    mapping = {}
    for item in spec.split(","):
        source, _, name = item.strip().partition("=")
        source, name = source.strip(), (name.strip() if _ else source.strip())
        if not source or not name or any(c.isspace() for c in name):
            raise UserError(f"--types {spec}: {item!r} is not TYPE or TYPE=NEW_NAME (names without spaces); "
                            f"e.g. --types Disease,Chemical or --types Modifier=Disease")
        mapping[source] = name
    return mapping


def parse_split(spec: str | None) -> tuple[float, float, float]:
    """``"80,10,10"`` -> the three proportions of train, dev and test."""
    spec = spec or DEFAULT_SPLIT
    try:
        parts = [float(x) for x in spec.split(",")]
    except ValueError:
        parts = []
    if len(parts) != 3 or any(p <= 0 for p in parts):
        raise UserError(f"--split {spec}: expected three positive numbers, train,dev,test percentages (e.g. 80,10,10)")
    total = sum(parts)
    return parts[0] / total, parts[1] / total, parts[2] / total


def parse_spec(spec: str) -> dict[str, Path] | Path:
    """``train=A,dev=B,test=C`` -> {split: path}; anything else is one collection's path."""
    if "=" not in spec:
        return Path(spec).expanduser()
    named: dict[str, Path] = {}
    for item in spec.split(","):
        key, _, value = item.partition("=")
        if key not in SPLIT_KEYS or not value:
            raise UserError(f"{spec}: {item!r} is not train=PATH, dev=PATH or test=PATH; name the three splits "
                            f"as train=PATH,dev=PATH,test=PATH, or give one collection and --split")
        if key in named:
            raise UserError(f"{spec}: {key}= given twice")
        named[key] = Path(value).expanduser()
    missing = [k for k in SPLIT_KEYS if k not in named]
    if missing:
        raise UserError(f"{spec}: no {' or '.join(missing)}=PATH; name all three splits, or give one collection "
                        f"and --split 80,10,10")
    return named


split_corpus_list = corpus_list  # settings.py owns how --aux is cut into corpora



# ------------------------------------------------------------------------------------------ reading


def _opener(path: Path):
    """gzip.open for a gzip file (told by its first two bytes, whatever its name), else open."""
    with open(path, "rb") as f:
        return gzip.open if f.read(2) == b"\x1f\x8b" else open


def document_format(path: Path) -> str:
    """The format of one document file, told as `munch tag` tells it (detect.py: by content, then by
    name); plain text holds no annotations, so it is refused here."""
    from .brat import is_brat_folder
    from .detect import SNIFF_BYTES, choose

    if is_brat_folder(path):
        return "brat"
    try:
        with open(path, "rb") as f:
            head = f.read(SNIFF_BYTES)
    except OSError as e:
        raise UserError(f"{path}: cannot read it ({e.strerror})") from None
    if _opener(path) is gzip.open:
        with gzip.open(path, "rb") as f:
            head = f.read(SNIFF_BYTES)
    fmt, _ = choose(path.name.removesuffix(".gz"), head)
    if fmt == "text":
        first = next((line.strip() for line in head.decode("utf-8", "replace").splitlines() if line.strip()), "")
        raise UserError(f"{path}: cannot tell its format ({first[:40]!r}); expected {FORMS}")
    return fmt


def read_documents(path: Path) -> list:
    """Every document of a file, or of every file below a folder (sorted; a folder with .ann files is brat)."""
    from .brat import is_brat_folder, read_brat
    from .formats import READERS

    if not path.exists():
        raise UserError(f"{path}: no such file or folder; expected {FORMS}")
    if is_brat_folder(path):
        return list(read_brat(path))
    files = [path] if path.is_file() else sorted(
        p for p in path.rglob("*") if p.is_file() and not any(s.startswith(".") for s in p.relative_to(path).parts))
    if not files:
        raise UserError(f"{path}: the folder holds no files; expected {FORMS}")
    docs = []
    for f in files:
        fmt = document_format(f)
        with _opener(f)(f, "rb") as stream:
            docs += list(READERS[fmt](stream, str(f)))
    if not docs:
        raise UserError(f"{path}: no documents read; expected {FORMS}")
    return docs


# ------------------------------------------------------------------------------------------ converting


def document_sentences(docs, types: dict[str, str] | None, counts: Counter) -> list:
    """The IOB2 sentences of `docs`, passage by passage, by the rules of this module's docstring;
    `counts` gathers what happened to every entity."""

    sentences = []
    for doc in docs:
        counts["documents"] += 1
        # tokens per sentence with document offsets, passage by passage (as tagging/heads.py)
        spans = []  # (passage index, sentence tokens with document offsets)
        for i, p in enumerate(doc.passages):
            for sentence in tokenize(p.text):
                spans.append((i, [(t, p.offset + a, p.offset + b) for t, a, b in sentence]))
        flat = sorted((a, b, s, k) for s, (_, toks) in enumerate(spans) for k, (_, a, b) in enumerate(toks))
        ends = [b for _, b, _, _ in flat]  # sorted too: tokens do not overlap
        chosen: dict[int, list[tuple[int, int, str]]] = {}  # sentence index -> (first token, last token + 1, type)
        for e in doc.entities:
            counts["entities"] += 1
            kind = e["type"] if types is None else types.get(e["type"])
            if kind is None:
                counts[TYPES_LEFT_OUT] += 1
                continue
            if e.get("fragments"):
                counts[DISCONTINUOUS] += 1
            start, end = e["start"], e["end"]
            home = [i for i, p in enumerate(doc.passages) if p.offset <= start and end <= p.offset + len(p.text)]
            if not home or end <= start:
                counts[DROPPED["passage"]] += 1
                continue
            p = doc.passages[home[0]]
            if e.get("text") and not e.get("fragments") and p.text[start - p.offset:end - p.offset] != e["text"]:
                counts[TEXT_DIFFERS] += 1
            # the tokens it overlaps: the first whose end lies past its start, on while they start before its end
            hits = []
            for j in range(bisect.bisect_right(ends, start), len(flat)):
                a, b, s, k = flat[j]
                if a >= end:
                    break
                if spans[s][0] == home[0]:
                    hits.append((s, k))
            if not hits:
                counts[DROPPED["empty"]] += 1
                continue
            if len({s for s, _ in hits}) > 1:
                counts[DROPPED["sentence"]] += 1
                continue
            s, toks = hits[0][0], spans[hits[0][0]][1]
            first, last = hits[0][1], hits[-1][1]
            if toks[first][1] != start or toks[last][2] != end:
                counts[SNAPPED] += 1
            chosen.setdefault(s, []).append((first, last + 1, kind))
        for s, (_, toks) in enumerate(spans):
            tags = ["O"] * len(toks)
            taken: set[tuple[int, int, str]] = set()
            for a, b, kind in sorted(chosen.get(s, []), key=lambda m: (-(m[1] - m[0]), m[0])):
                if (a, b, kind) in taken:
                    counts[DROPPED["duplicate"]] += 1
                elif any(t != "O" for t in tags[a:b]):
                    counts[DROPPED["overlap"]] += 1
                else:
                    taken.add((a, b, kind))
                    tags[a:b] = ["B-" + kind] + ["I-" + kind] * (b - a - 1)
                    counts[KEPT] += 1
            sentences.append(Sentence(tuple(t for t, _, _ in toks), tuple(tags)))
    return sentences


def split_documents(docs: list, proportions: tuple[float, float, float], seed: int, where: str) -> dict[str, list]:
    """Shuffle the documents with `seed` and cut them into train, dev and test by `proportions`."""
    order = list(docs)
    random.Random(seed).shuffle(order)
    n = len(order)
    n_dev, n_test = round(n * proportions[1]), round(n * proportions[2])
    if n - n_dev - n_test < 1 or n_dev < 1 or n_test < 1:
        raise UserError(f"{where}: {n} document(s) cannot be split {'/'.join(f'{100 * p:g}' for p in proportions)} "
                        f"with every split non-empty; give more documents, or name train=,dev=,test= files")
    return {"train": order[: n - n_dev - n_test], "dev": order[n - n_dev - n_test: n - n_test], "test": order[n - n_test:]}


def load_document_corpus(spec: str, options: DocumentOptions | None = None, train_limit: int | None = None):
    """A corpus.Corpus from documents (see the module docstring); its `documents` field says what the
    conversion read, kept and dropped, per split."""

    options = options or DocumentOptions()
    types = parse_types(options.types)
    parsed = parse_spec(spec)
    if isinstance(parsed, dict):
        docs = {split: read_documents(path) for split, path in parsed.items()}
        home = parsed["train"]
        how = "named files"
    else:
        docs = split_documents(read_documents(parsed), parse_split(options.split), options.split_seed, str(parsed))
        home = parsed
        how = f"split {options.split or DEFAULT_SPLIT} by document, seed {options.split_seed}"
    splits, report = {}, {"from": spec, "how": how, "types": options.types}
    for split in SPLIT_KEYS:
        counts: Counter = Counter()
        splits[split] = document_sentences(docs[split], types, counts)
        if not splits[split]:
            raise UserError(f"{spec}: the {split} documents hold no sentences; expected {FORMS} with text")
        report[split] = dict(counts)
    if train_limit is not None:
        splits["train"] = splits["train"][:train_limit]
    path = home.resolve()
    name = (path.parent.name if path.is_file() and isinstance(parsed, dict) else path.stem) or "documents"
    _log_report(name, report)
    return Corpus(name=name, family=None, path=path, documents=report, **splits)


def dropped_lines(report: dict) -> list[str]:
    """One line per split: documents, entities read, kept, and every other count."""
    lines = []
    for split in SPLIT_KEYS:
        c = report.get(split, {})
        rest = [f"{n} {what}" for what, n in c.items() if what not in ("documents", "entities", KEPT) and n]
        lines.append(f"{split}: {c.get('documents', 0)} documents, {c.get('entities', 0)} entities, "
                     f"{c.get(KEPT, 0)} kept" + (f"; {', '.join(rest)}" if rest else ""))
    return lines


_LOGGED: set[str] = set()  # reports already logged by this process (a comparison loads its target once per run)


def _log_report(name: str, report: dict) -> None:
    key = json.dumps(report, sort_keys=True)
    if key in _LOGGED:
        return
    _LOGGED.add(key)
    for line in dropped_lines(report):
        log.info("%s (documents, %s) %s", name, report["how"], line)
