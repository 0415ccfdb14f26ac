"""`munch corpora fetch`: download the named corpora, verify every byte, convert, install atomically.

Each corpus is made from the pinned files of sources.SOURCES, fetched from raw.githubusercontent.com
(or a mirror laid out the same way: owner/repo/commit/path, as a local directory or an HTTP base URL).
The life of one corpus:

1. present: if data_dir/NAME exists, its files are checked against the stored sha256 and nothing
   is downloaded (a directory that differs is never overwritten);
2. download: each file goes to data_dir/.fetch/NAME/<blob>.part, resumed with an HTTP Range request
   after an interruption (in this run or a later one), then checked against its git blob id: a
   mismatch deletes it and stops with the file, the expected and the actual hash;
3. convert: `-DOCSTART-` lines and the blank lines around them dropped, one blank line between
   sentences, no trailing blank line, bare B/I tags typed (BioBERT's species files); written as
   train/dev/test.tsv into data_dir/.fetch/NAME.tmp and checked against the stored sha256;
4. install: that directory renamed to data_dir/NAME (atomic on one file system), so `munch train`
   sees a whole verified corpus or none.

Steps 2-4 hold the lock data_dir/.fetch/NAME.lock: a second `munch` fetching the same corpus into
the same directory (two users, or two commands' first use) waits, then finds it present.

The transport (resumed downloads, the ceiling on what a server may send) is util/download.py's.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from ..errors import UserError
from ..util.download import Hints, Unreachable
from ..util.download import download as fetch_file
from ..util.locks import waiting
from .sources import GROUPS, RAW_BASE, SOURCES, CorpusSource, SourceFile, git_blob_id, sha256

log = logging.getLogger("munchables")

ENV_MIRROR = "MUNCHABLES_MIRROR"  # environment variable: the default --mirror
ATTEMPTS = 3  # tries per file in one run, each resuming what the last one received
MAX_SOURCE_BYTES = 32_000_000  # the most a source file may be: the largest is 4.5 MB; a server sending more is refused
STAGING = ".fetch"  # under the data directory: partial downloads and the corpus being converted
MIRROR_HELP = ("--mirror DIR_OR_URL (a copy laid out as owner/repo/commit/path, e.g. made with "
               "`munch corpora fetch --print-urls` and `wget -x`)")


def resolve_names(names: list[str] | None) -> list[str]:
    """Corpus ids for the names given: `all` (Table 1's eight, the default), `extra`, or ids."""
    resolved: list[str] = []
    for name in names or ["all"]:
        for one in GROUPS.get(name, [name]):
            if one not in SOURCES:
                raise UserError(f"unknown corpus {one!r}; choose from all, extra, {', '.join(SOURCES)}")
            if one not in resolved:
                resolved.append(one)
    return resolved


def default_mirror(mirror: str | None) -> str:
    """The mirror flag, else $MUNCHABLES_MIRROR, else the GitHub raw-file host."""
    return mirror or os.environ.get(ENV_MIRROR) or RAW_BASE


def _is_url(mirror: str) -> bool:
    return mirror.startswith(("http://", "https://"))


def location(file: SourceFile, mirror: str | None = None) -> str:
    """Where `file` is fetched from: a URL under an HTTP mirror or a path under a mirror directory."""
    base = default_mirror(mirror)
    if _is_url(base):
        return f"{base.rstrip('/')}/{file.relative_url()}"
    return str(Path(base.removeprefix("file://")).expanduser() / file.relative_url())


def print_urls(names: list[str], mirror: str | None = None) -> list[str]:
    """One line per file: where it comes from, its git blob id, the corpus file it becomes."""
    return [f"{location(f, mirror)}\t{f.git_blob}\t{name}/{f.split}.tsv"
            for name in resolve_names(names) for f in SOURCES[name].files]


# ----------------------------------------------------------------------------- conversion


def convert(data: bytes, bare_type: str | None = None) -> bytes:
    """A source file as ../shared/data holds it: sentences separated by one blank line, no
    `-DOCSTART-` lines, no blank line at the end; bare B/I tags given `bare_type`."""
    sentences, lines = [], []
    for line in data.decode("utf-8").split("\n"):
        if not line.strip() or line.startswith("-DOCSTART-"):
            if lines:
                sentences.append("\n".join(lines))
                lines = []
            continue
        if bare_type is not None:
            token, tag = line.rsplit("\t", 1)
            line = f"{token}\t{tag}-{bare_type}" if tag in ("B", "I") else line
        lines.append(line)
    if lines:
        sentences.append("\n".join(lines))
    return ("\n\n".join(sentences) + "\n").encode("utf-8")


# ----------------------------------------------------------------------------- present corpora


def check_present(source: CorpusSource, corpus_dir: Path) -> None:
    """Raise unless `corpus_dir` holds the published corpus (every file with its stored sha256)."""
    for file in source.files:
        path = corpus_dir / f"{file.split}.tsv"
        if not path.is_file():
            raise UserError(f"{corpus_dir} exists but has no {path.name}, so it is not the published "
                            f"{source.name}; move it away and run `munch corpora fetch {source.name}` again, "
                            f"or fetch into another --data-dir")
        if file.converted_sha256 is None:
            continue  # chemdner: no published hash of the converted file (see sources.py)
        actual = sha256(path.read_bytes())
        if actual != file.converted_sha256:
            raise UserError(f"{path} differs from the published {source.name} (sha256 {actual}, expected "
                            f"{file.converted_sha256}); it was left alone: move {corpus_dir} away and fetch "
                            f"again, or fetch into another --data-dir")


# ----------------------------------------------------------------------------- downloads


def _read_mirror_file(file: SourceFile, path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"{path}: not in the mirror directory; expected {file.repo}'s {file.path} at commit "
                        f"{file.commit} there (layout owner/repo/commit/path)") from None
    except OSError as e:  # a directory in its place, no permission to read it
        raise UserError(f"{path}: cannot read it from the mirror directory ({e.strerror}); expected {file.repo}'s "
                        f"{file.path} at commit {file.commit} there, a readable file") from None


HINTS = Hints(
    moved=f"download it by hand (`munch corpora fetch --print-urls`) and use {MIRROR_HELP}",
    offline=f"use {MIRROR_HELP}",
    too_large="any corpus source file ({max_bytes:,} bytes at most); refused and deleted: check the mirror, or "
              f"download the file by hand and use {MIRROR_HELP}")


def download(url: str, part: Path, label: str) -> bytes:
    """The bytes at `url`, resumed from `part` (kept between runs) with HTTP Range requests."""
    fetch_file(url, part, label, MAX_SOURCE_BYTES, HINTS, ATTEMPTS)
    return part.read_bytes()


def obtain(source: CorpusSource, file: SourceFile, staging: Path, mirror: str | None) -> bytes:
    """The verified bytes of one source file: kept from an earlier run, read from a mirror directory
    or downloaded. A file whose git blob id differs is deleted and refused."""
    kept = staging / file.git_blob
    part = staging / f"{file.git_blob}.part"
    for path in (kept, part):
        _not_a_link(path)
    if kept.is_file() and git_blob_id(data := kept.read_bytes()) == file.git_blob:
        return data
    where = location(file, mirror)
    if _is_url(where):
        data = download(where, part, f"{source.name} {file.split}")
    else:
        data = _read_mirror_file(file, Path(where))
    actual = git_blob_id(data)
    if actual != file.git_blob:
        part.unlink(missing_ok=True)
        raise UserError(f"{where}: git blob {actual}, expected {file.git_blob} ({source.name} {file.split}, "
                        f"{file.repo}@{file.commit[:12]}); refused, nothing written to the data directory")
    if part.exists():
        part.rename(kept)  # verified: a later run that fails elsewhere need not download it again
    return data


def _not_a_link(path: Path) -> None:
    """munch writes only plain files and directories in its staging area: a symbolic link there (left by
    something else, or planted) would send the download elsewhere, so it is removed (never its target)."""
    if path.is_symlink():
        log.warning("%s: a symbolic link in the fetch staging area (to %s); removed", path, os.readlink(path))
        path.unlink()


# ----------------------------------------------------------------------------- one corpus


def _staging(data_dir: Path, name: str) -> Path:
    staging = data_dir / STAGING / name
    if data_dir.is_dir() and not data_dir.stat().st_mode & 0o222:  # read-only by its mode, even for root
        raise UserError(f"the data directory {data_dir} is read-only; pass --data-dir DIR with a writable directory")
    for path in (data_dir / STAGING, staging):
        if path.is_symlink() and not path.exists():  # a stale link where a directory belongs
            _not_a_link(path)
    _not_a_link(data_dir / STAGING / f"{name}.lock")
    try:
        staging.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UserError(f"cannot write to the data directory {data_dir} ({err.strerror}); "
                        f"pass --data-dir DIR with a writable directory") from None
    return staging


def _remove_empty_staging(data_dir: Path, name: str) -> None:
    for path in (data_dir / STAGING / name, data_dir / STAGING):
        try:
            path.rmdir()
        except FileNotFoundError:
            continue
        except OSError:
            return  # not empty: a partial download to resume, or another corpus's


def announce(source: CorpusSource) -> None:
    """The corpus's licence or terms, and how it differs from the paper's version, before it is fetched."""
    if source.name == "chemdner":
        log.warning("chemdner: licence: %s", source.licence)
    else:
        log.info("%s: licence: %s", source.name, source.licence)
    if source.note:
        log.info("%s: note: %s", source.name, source.note)


def fetch_corpus(source: CorpusSource, data_dir: Path, mirror: str | None = None) -> str:
    """Make data_dir/NAME the verified corpus; "present" when it already was, else "fetched"."""
    data_dir = Path(data_dir)
    target = data_dir / source.name
    if target.exists():
        check_present(source, target)
        return "present"
    staging = _staging(data_dir, source.name)
    try:
        with waiting(data_dir / STAGING / f"{source.name}.lock", lambda: log.warning(
                "%s: another munch is fetching it into %s; waiting for it", source.name, data_dir)):
            if target.exists():  # the one waited for fetched it
                check_present(source, target)
                return "present"
            _fetch_locked(source, data_dir, staging, mirror)
    finally:
        _remove_empty_staging(data_dir, source.name)
    return "fetched"


def _fetch_locked(source: CorpusSource, data_dir: Path, staging: Path, mirror: str | None) -> None:
    """Download, verify, convert and install one corpus; the caller holds its lock."""
    announce(source)
    raw = {f.split: obtain(source, f, staging, mirror) for f in source.files}
    converting = data_dir / STAGING / f"{source.name}.tmp"
    _not_a_link(converting)
    shutil.rmtree(converting, ignore_errors=True)  # left by a run killed while converting
    converting.mkdir(parents=True)
    try:
        for file in source.files:
            data = convert(raw[file.split], source.bare_type)
            if file.converted_sha256 is not None and sha256(data) != file.converted_sha256:
                raise UserError(f"converting {location(file, mirror)} gave sha256 {sha256(data)}, expected "
                                f"{file.converted_sha256} ({source.name} {file.split}); nothing written: "
                                f"please report this (the source file itself was verified)")
            (converting / f"{file.split}.tsv").write_bytes(data)
        os.rename(converting, data_dir / source.name)  # atomic: a reader sees the whole corpus or nothing
    except BaseException:
        shutil.rmtree(converting, ignore_errors=True)
        raise
    shutil.rmtree(staging, ignore_errors=True)  # the verified downloads


def fetch_corpora(names: list[str] | None, data_dir: Path, mirror: str | None = None) -> dict[str, str]:
    """`munch corpora fetch`: every named corpus fetched or found present; corpus -> what happened.
    A corpus that fails (a moved file, a bad hash) does not stop the others, an unreachable host does."""
    names = resolve_names(names)
    done, failed = {}, []
    for name in names:
        try:
            done[name] = fetch_corpus(SOURCES[name], Path(data_dir), mirror)
        except Unreachable:
            raise
        except UserError as err:
            if len(names) == 1:
                raise
            log.error("%s: not fetched: %s", name, err)
            failed.append(name)
            continue
        log.info("%s: %s in %s, verified", name, done[name], Path(data_dir) / name)
    if failed:
        raise UserError(f"{len(failed)} of {len(names)} corpora not fetched ({', '.join(failed)}; the reasons are "
                        f"above); the others are in {data_dir}, verified")
    return done


def ensure_corpora(names: list[str], data_dir: Path) -> None:
    """Fetch, with a message, each of `names` that is a known corpus id missing from `data_dir`
    (first use by train, evaluate and reproduce; --no-fetch skips this)."""
    for name in names:
        if name in SOURCES and not (Path(data_dir) / name).exists():
            log.warning("corpus %s is not in %s: fetching it (once; --no-fetch forbids this)", name, data_dir)
            fetch_corpus(SOURCES[name], Path(data_dir))
