"""NER corpora: CoNLL-style column files read into IOB2 sentences, beside the paper's Table 1 (paper.py).

A corpus is a directory with a train, a dev (or devel) and a test file, one token per line with
its tag in the last column and a blank line between sentences, the layout of Crichton et al.
(2017) and of BioBERT's preprocessed NER data (Lee et al. 2020). Tags may be IOB1, IOB2 or IOBES
(Ramshaw & Marcus 1995; Tjong Kim Sang & Veenstra 1999; Ratinov & Roth 2009); every file is
converted to IOB2 on reading, so the rest of munchables sees one scheme only. Where an IOB2 file
starts an entity with I-X, it is read the way the CoNLL `conlleval` script reads it: as the start
of an entity. The corpora and their figures are described in ../shared/data/README.md.
"""

from __future__ import annotations

import functools
import logging
import os
import re
from pathlib import Path
from typing import Iterable, Sequence

from ..choices import SPLITS
from ..errors import UserError
from ..paper import PAPER_CORPORA
from ..util.files import max_file_bytes, utf8_lines
from . import fetch
from .annotated import DocumentOptions, is_document_corpus, load_document_corpus
from .sentences import EXTENSIONS, SPLIT_NAMES, Corpus, Sentence  # noqa: F401  (also this module's API)
from .sentences import split_candidates as _split_candidates
from .sources import SOURCES

log = logging.getLogger("munchables")

ENV_DATA = "MUNCHABLES_DATA"  # environment variable naming the data directory
CACHE_SUBDIR = ("munchables", "corpora")  # the default data directory under the user's cache directory
BARE_TYPE = "Entity"  # the type given to bare tags (B, I, E, S) as in BioBERT's files
TAG_FORMS = "O, B-TYPE, I-TYPE, E-TYPE, S-TYPE or a bare B/I/E/S"
LINE_FORM = "TOKEN<TAB>TAG lines (tag in the last column) with a blank line between sentences"


# Families of the ../shared/data-extra corpora (Crichton et al. 2017) that hold one kind of entity;
# the mixed-type ones (bionlp11id, bionlp13cg, bionlp13pc, craft) have no family.
EXTRA_FAMILIES: dict[str, str] = {
    "anatem": "anatomy",
    "bionlp09": "gene/protein",
    "bionlp11epi": "gene/protein",
    "bionlp13ge": "gene/protein",
    "ex-ptm": "gene/protein",
}

CHEMDNER_HINT = (
    "chemdner (BC4CHEMD): download "
    "data/BC4CHEMD/{{train,devel,test}}.tsv from the GitHub repository cambridgeltl/MTL-Bioinformatics-2016, "
    "drop the -DOCSTART- lines, rename devel.tsv to dev.tsv and put the files in {data}/chemdner/"
)


# ----------------------------------------------------------------------------- finding corpora


def default_data_dir(flag: str | os.PathLike | None = None) -> Path:
    """The data directory: the flag, else $MUNCHABLES_DATA, else ../shared/data beside the repository
    or the working directory where it exists, else the per-user cache $XDG_CACHE_HOME/munchables/corpora
    (~/.cache/munchables/corpora), where named corpora are fetched on first use."""
    if flag is not None:
        return _data_dir(Path(flag).expanduser(), "--data-dir")
    if os.environ.get(ENV_DATA):
        return _data_dir(Path(os.environ[ENV_DATA]).expanduser(), ENV_DATA)
    repo_root = Path(__file__).resolve().parents[3]
    for candidate in (repo_root / ".." / "shared" / "data", Path.cwd() / ".." / "shared" / "data"):
        if candidate.is_dir():
            return candidate.resolve()
    return user_cache_dir().joinpath(*CACHE_SUBDIR)


def user_cache_dir() -> Path:
    """$XDG_CACHE_HOME, else ~/.cache (the XDG base directory rule)."""
    xdg = os.environ.get("XDG_CACHE_HOME")
    return Path(xdg).expanduser() if xdg and os.path.isabs(os.path.expanduser(xdg)) else Path.home() / ".cache"


def _data_dir(path: Path, where: str) -> Path:
    """A data directory given by the user: a file there is a mistake to name, not a missing folder."""
    if path.exists() and not path.is_dir():
        raise UserError(f"{where} {path}: is a file; expected a directory with one sub-folder per corpus")
    return path


def corpus_family(name: str) -> str | None:
    """The entity family of a known corpus id (paper or extra); None for any other name."""
    key = name.lower()
    if key in PAPER_CORPORA:
        return PAPER_CORPORA[key].family
    return EXTRA_FAMILIES.get(key)


def find_corpus_dir(name_or_path: str, data_dir: Path | None, fetch_missing: bool = False) -> Path:
    """The directory of a corpus: an existing directory path as given, else `data_dir`/id; with
    `fetch_missing`, a named corpus (sources.SOURCES) absent from `data_dir` is fetched there first."""
    given = Path(name_or_path).expanduser()
    if given.is_dir():
        return given
    if given.exists():
        raise UserError(f"{given} is a file; expected a corpus directory holding train, dev and test files")
    if os.sep in name_or_path or name_or_path.startswith("."):
        raise UserError(f"{name_or_path}: no such directory; expected a corpus directory or a corpus id")
    if data_dir is None:
        raise UserError(f"corpus {name_or_path!r} not found: no data directory is set and no such directory "
                        f"exists; pass --data-dir DIR or set {ENV_DATA}")
    if fetch_missing:
        fetch.ensure_corpora([name_or_path], Path(data_dir))
    if not Path(data_dir).is_dir() and name_or_path in SOURCES:
        raise UserError(f"corpus {name_or_path!r} not found: data directory {data_dir} does not exist; "
                        f"{_missing_hint(name_or_path, Path(data_dir))}, or pass --data-dir DIR or set {ENV_DATA}")
    if not Path(data_dir).is_dir():
        raise UserError(f"corpus {name_or_path!r} not found: data directory {data_dir} does not exist; "
                        f"pass --data-dir DIR or set {ENV_DATA} to a folder with one sub-folder per corpus")
    corpus_dir = Path(data_dir) / name_or_path
    if corpus_dir.is_dir():
        return corpus_dir
    hint = _missing_hint(name_or_path, Path(data_dir))
    raise UserError(f"corpus {name_or_path!r} not found in {data_dir}; {hint}")


def _missing_hint(name: str, data_dir: Path) -> str:
    """What to do about a corpus missing from `data_dir`."""
    if name in SOURCES:
        get = f"get it with `munch corpora fetch {name} --data-dir {data_dir}`"
        return f"{get}, or by hand: {CHEMDNER_HINT.format(data=data_dir)}" if name == "chemdner" else get
    present = available_corpora(data_dir)
    listing = ", ".join(present) if present else "none"
    return f"available there: {listing} (or give the path of a corpus directory)"


def split_files(corpus_dir: Path, splits: tuple[str, ...] = SPLITS) -> dict[str, Path]:
    """The train, dev and test file of a corpus directory (or only `splits`); a missing or doubled split is an error."""
    files = {}
    for split in splits:
        found = _split_candidates(corpus_dir, split)
        if not found:
            stems = " or ".join(SPLIT_NAMES[split])
            raise UserError(f"{corpus_dir}: no {split} file; expected a file named {stems}, with or without "
                            f"an extension ({', '.join(e for e in EXTENSIONS if e)}) and optionally .gz")
        if len(found) > 1:
            raise UserError(f"{corpus_dir}: several {split} files ({', '.join(p.name for p in found)}); "
                            f"expected one (remove or rename the others)")
        files[split] = found[0]
    return files


def available_corpora(data_dir: Path | None) -> list[str]:
    """Corpus ids under `data_dir`: paper corpora in Table 1 order, then any other with a train file."""
    if data_dir is None or not Path(data_dir).is_dir():
        return []
    try:
        present = {p.name for p in Path(data_dir).iterdir() if p.is_dir() and _split_candidates(p, "train")}
    except OSError as e:
        raise UserError(f"{data_dir}: cannot list the data directory ({e.strerror}); make it readable (chmod)") from None
    paper = [name for name in PAPER_CORPORA if name in present]
    return paper + sorted(present - set(paper))


def missing_paper_corpora(data_dir: Path | None) -> list[str]:
    """The Table 1 corpus ids that `data_dir` lacks."""
    present = set(available_corpora(data_dir))
    return [name for name in PAPER_CORPORA if name not in present]


# ----------------------------------------------------------------------------- tags and schemes


_TAG_RE = re.compile(r"(?:O|([BIES])(?:-(.+))?)")
_TAG_CACHE: dict[str, tuple[str, str] | None] = {}  # raw tag -> (prefix, type); None when unknown


def _split_tag(tag: str) -> tuple[str, str] | None:
    """("B", "Disease") for "B-Disease", ("O", "") for "O", (prefix, "Entity") for a bare prefix."""
    if tag not in _TAG_CACHE:
        match = _TAG_RE.fullmatch(tag)
        _TAG_CACHE[tag] = None if match is None else (
            ("O", "") if match.group(1) is None else (match.group(1), match.group(2) or BARE_TYPE))
    return _TAG_CACHE[tag]


def _parse_tag(tag: str) -> tuple[str, str]:
    """`_split_tag` for tags that are not read from a file: an unknown form is an error."""
    parsed = _split_tag(tag)
    if parsed is None:
        raise UserError(f"unknown tag {tag!r}; expected {TAG_FORMS}")
    return parsed


def detect_scheme(tag_sequences: Iterable[Sequence[str]]) -> str:
    """The tagging scheme of a file's tag sequences: IOBES when any E- or S- tag occurs; IOB2 when
    a B-X opens an entity (after O or another type) or nothing tells the schemes apart; IOB1 when
    only I-X opens entities (Tjong Kim Sang & Veenstra 1999)."""
    b_opens = i_opens = False
    for tags in tag_sequences:
        current = None  # type of the entity the previous tag belongs to
        for tag in tags:
            prefix, kind = _parse_tag(tag)
            if prefix in "ES":
                return "IOBES"
            if prefix == "B" and current != kind:
                b_opens = True
            elif prefix == "I" and current != kind:
                i_opens = True
            current = None if prefix == "O" else kind
    return "IOB1" if i_opens and not b_opens else "IOB2"


def _to_iob2(tags: Sequence[str], scheme: str) -> tuple[tuple[str, ...], int]:
    """The IOB2 tags of one sentence, and how many entities began with I-X or E-X (conlleval's reading:
    such a tag starts an entity). IOBES: S-X -> B-X, E-X -> I-X. IOB1: B-X only splits two entities."""
    out = []
    opened_by_inside = 0
    current = None  # type of the open entity, None outside one
    for tag in tags:
        prefix, kind = _split_tag(tag)
        if prefix == "O":
            out.append("O")
            current = None
            continue
        starts = prefix in "BS" or current != kind
        if starts and prefix in "IE":
            opened_by_inside += 1
        out.append(("B-" if starts else "I-") + kind)
        current = None if scheme == "IOBES" and prefix in "ES" else kind
    return tuple(out), opened_by_inside


# ----------------------------------------------------------------------------- reading files


MAX_COLUMN_FILE_MB = 500  # largest column file read (decompressed); the largest of the paper's is 4.4 MB


def _parse_columns(lines: Iterable[str], path: Path) -> list[tuple[list[str], list[str]]]:
    """(tokens, raw tags) per sentence, checking each line's columns and tag form."""
    sentences = []
    tokens, tags = [], []
    width, width_line = 0, 0  # column count of the file's first token line, and that line's number
    for number, line in enumerate(lines, 1):
        line = line.rstrip()
        # munch predict's CoNLL output reads back as a corpus (its last tag column): its comment lines
        # (tagging/formats.py) end sentences like -DOCSTART-
        if not line or line.startswith(("-DOCSTART-", "# document = ", "# columns = ")):
            if tokens:
                sentences.append((tokens, tags))
                tokens, tags = [], []
            continue
        fields = line.split("\t") if "\t" in line else line.split()
        if len(fields) != width:
            if len(fields) == 1:
                raise UserError(f"{path}:{number}: one column ({line!r}); expected a token and a tag "
                                f"column separated by a TAB")
            if width:
                raise UserError(f"{path}:{number}: {len(fields)} columns; expected {width} like line "
                                f"{width_line}, the first token line")
            width, width_line = len(fields), number
        tag = fields[-1]
        if _TAG_CACHE.get(tag) is None and _split_tag(tag) is None:
            raise UserError(f"{path}:{number}: unknown tag {tag!r}; expected {TAG_FORMS}")
        if not fields[0]:
            raise UserError(f"{path}:{number}: empty token; expected a token in the first column")
        tokens.append(fields[0])
        tags.append(tag)
    if tokens:
        sentences.append((tokens, tags))
    return sentences


@functools.lru_cache(maxsize=256)
def _read_cached(path: Path, mtime_ns: int, size: int) -> tuple[Sentence, ...]:
    """The sentences of one file; cached on (resolved path, mtime, size), so changed files are re-read."""
    # read line by line as it is decompressed, and at most MAX_COLUMN_FILE_MB of it: a train.tsv.gz
    # that inflates to gigabytes was read whole into memory (three copies: compressed, inflated, decoded)
    lines = utf8_lines(path, f"a column file with {LINE_FORM}", max_file_bytes(MAX_COLUMN_FILE_MB))
    raw = _parse_columns(lines, path)
    if not raw:
        raise UserError(f"{path}: no sentences; expected {LINE_FORM}")
    scheme = detect_scheme(tags for _, tags in raw)
    sentences, opened_by_inside = [], 0
    for tokens, tags in raw:
        iob2, n = _to_iob2(tags, scheme)
        opened_by_inside += n
        sentences.append(Sentence(tuple(tokens), iob2))
    if opened_by_inside and scheme != "IOB1":
        log.warning("%s: %d entity start(s) written as I- (or E-) in this %s file; read as B-, "
                    "as conlleval does", path, opened_by_inside, scheme)
    return tuple(sentences)


def read_column_file(path: Path) -> list[Sentence]:
    """The sentences of a CoNLL-style column file (token first, tag last), tags converted to IOB2."""
    path = Path(path).expanduser().resolve()
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise UserError(f"{path}: no such file; expected a column file with {LINE_FORM}") from None
    return list(_read_cached(path, stat.st_mtime_ns, stat.st_size))


# ----------------------------------------------------------------------------- corpora


def load_corpus(name_or_path: str, data_dir: Path | None = None, train_limit: int | None = None,
                fetch_missing: bool = False, documents: DocumentOptions | None = None,
                splits: tuple[str, ...] = SPLITS) -> Corpus:
    """A corpus by id (looked up under `data_dir`, default `default_data_dir()`) or by directory path;
    `train_limit` keeps the first N training sentences; `fetch_missing` fetches a named corpus that
    `data_dir` lacks (find_corpus_dir). Annotated documents (a PubTator/BioC/JSONL file, a brat folder,
    or ``train=PATH,dev=PATH,test=PATH``) are read by data/annotated.py, with `documents`' types and split.
    `splits`: the column-file splits read (and required); the others are empty (`munch evaluate` reads
    only the split it scores, so a folder with only a test file will do)."""
    if train_limit is not None and (isinstance(train_limit, bool) or not isinstance(train_limit, int)
                                    or train_limit < 1):
        raise UserError(f"train limit must be a positive number of sentences; got {train_limit!r} "
                        f"(use --train-limit N with N >= 1)")
    if is_document_corpus(name_or_path):  # PubTator, BioC, JSONL or brat: data/annotated.py
        return load_document_corpus(name_or_path, documents, train_limit)
    corpus_dir = find_corpus_dir(name_or_path, data_dir if data_dir is not None else default_data_dir(), fetch_missing)
    files = split_files(corpus_dir, splits)
    splits = {split: [] for split in SPLITS} | {split: read_column_file(path) for split, path in files.items()}
    if train_limit is not None:
        splits["train"] = splits["train"][:train_limit]
    name = corpus_dir.resolve().name
    return Corpus(name=name, family=corpus_family(name), path=corpus_dir.resolve(), **splits)


def corpus_stats(corpus: Corpus) -> list[dict]:
    """Sentences, tokens and mentions (entities after IOB2 conversion) of each split."""
    rows = []
    for split in SPLITS:
        sentences = corpus.split(split)
        rows.append({
            "corpus": corpus.name,
            "split": split,
            "sentences": len(sentences),
            "tokens": sum(len(s.tokens) for s in sentences),
            "mentions": sum(tag.startswith("B-") for s in sentences for tag in s.tags),
        })
    return rows


def format_table1(rows: list[dict], data_dir: Path | None = None) -> str:
    """Our figures beside Table 1's, one line per corpus and split; '*' marks a paper figure that
    differs from ours, and each Table 1 corpus absent from `rows` gets lines saying "missing". Below:
    each corpus's entity types (from its rows' "entity_types", else sources.SOURCES) and the command
    that fetches the missing ones."""
    header = (f"{'corpus':<16}{'family':<14}{'split':<7}{'sentences':>10}{'tokens':>10}{'mentions':>10}"
              f"   | paper:{'sentences':>10}{'words':>10}{'mentions':>10}")
    lines = [header, "-" * len(header)]
    by_corpus: dict[str, list[dict]] = {}
    for row in rows:
        by_corpus.setdefault(row["corpus"], []).append(row)
    names = list(PAPER_CORPORA) + [name for name in by_corpus if name not in PAPER_CORPORA]
    differs = False
    for name in names:
        family = corpus_family(name) or "-"
        paper = PAPER_CORPORA.get(name)
        for row in by_corpus.get(name) or [{"split": split, "missing": True} for split in SPLITS]:
            if row.get("missing"):
                ours = f"{'missing':>10}{'':>20}"
                ours_counts = None
            else:
                ours_counts = (row["sentences"], row["tokens"], row["mentions"])
                ours = "".join(f"{n:>10,}" for n in ours_counts)
            line = f"{name + ' ':<16}{family:<14}{row['split']:<7}{ours}   |"
            if paper is not None and row["split"] in paper.counts:
                figures = paper.counts[row["split"]]
                marks = ["*" if ours_counts is not None and ours_counts[i] != n else " "
                         for i, n in enumerate(figures)]
                differs = differs or "*" in marks
                line += " " * 6 + "".join(f"{n:>9,}{m}" for n, m in zip(figures, marks))
            lines.append(line.rstrip())
    if differs:
        lines.append("* differs from our figure")
    lines += ["", "entity types:"]
    for name in names:
        kinds = next((row["entity_types"] for row in by_corpus.get(name, []) if "entity_types" in row), None)
        if kinds is None and name in SOURCES:
            kinds = [", ".join(SOURCES[name].entity_types) + " (expected; not fetched)"]
        lines.append(f"  {name + ' ':<16}{', '.join(kinds or ['-'])}")
    missing = [name for name in names if name not in by_corpus]
    if missing:
        where = f" --data-dir {data_dir}" if data_dir is not None else ""
        lines.append(f"missing: {', '.join(missing)}; fetch with `munch corpora fetch {' '.join(missing)}{where}`")
    return "\n".join(lines)
