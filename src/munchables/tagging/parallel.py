"""Tagging on every core and on a Ray cluster (issue 26.9).

`--jobs N` into one output (a file or standard output): N worker processes, each loading the
models once (ensemble.TaggingPlan), tag chunks of `CHUNK` documents; the parent reads the input,
hands out chunks, and writes the results in input order, so the output and `--resume`
(collection.Output) are exactly those of one process. At most `2 * N` chunks are in flight:
memory stays flat whatever the collection's size.

`--out-dir DIR` (with `--engine local --jobs N`, or `--engine ray`): one output file per input
file, `DIR/<the input's path below its --input, suffix replaced by the format's>`. Each file is
tagged by one worker (a local process, or a Ray task anywhere on the cluster: inputs and DIR must
then be on a file system every node sees) and written atomically (a temporary file, renamed; for
brat a folder per input file). Each file is read and written as `--out` would write it (`Writing`:
--offsets, --drop-existing, the model marker).
The driver records each finished file in `DIR/munch-manifest.jsonl` (input, size, modification
time, output, documents, format and settings); a rerun skips the files recorded there with the
same size, time, format and settings whose output is still there, and refuses (one line) a DIR
written with other settings or holding files it did not write, unless `--overwrite`.
"""

from __future__ import annotations

import ctypes
import json
import logging
import multiprocessing
import os
import signal
import time
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from ..data.documents import Document
from ..errors import UserError
from .ensemble import CHUNK, TaggingPlan
from .heads import Tagged

log = logging.getLogger("munchables")

MANIFEST = "munch-manifest.jsonl"
SUFFIXES = {"jsonl": ".jsonl", "pubtator": ".pubtator", "conll": ".conll", "bioc-xml": ".xml", "bioc-json": ".json",
            "html": ".html", "brat": ""}  # brat: a folder named after the input, its suffix dropped
_loaded: dict = {}  # in a worker: TaggingPlan -> its loaded Taggers (a Ray worker process serves many tasks)


def _taggers(plan: TaggingPlan):
    if plan not in _loaded:
        _loaded.clear()
        _loaded[plan] = plan.load()
    return _loaded[plan]


def _init_worker(plan: TaggingPlan, threads: int) -> None:
    """A local worker: dies with its parent (Linux), one torch thread unless told otherwise, the models loaded once."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle (it ends the workers)
    import torch

    torch.set_num_threads(threads)
    _taggers(plan)


def _tag_chunk(plan: TaggingPlan, documents: list[Document]) -> list[tuple[list[dict], int, int]]:
    return [(t.entities, t.sentences, t.dropped) for t in _taggers(plan).stream(documents, plan.overlap,
                                                                                 plan.batch_size)]


def _pool(plan: TaggingPlan, jobs: int, threads: int) -> ProcessPoolExecutor:
    # spawn, not fork: the parent may hold torch's thread pools, which a forked child inherits broken
    return ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"), initializer=_init_worker,
                               initargs=(plan, threads))


def _chunks(documents: Iterable[Document], size: int) -> Iterator[list[Document]]:
    chunk: list[Document] = []
    for doc in documents:
        chunk.append(doc)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _died() -> UserError:
    return UserError("a worker process died (killed from outside, or out of memory); what was written is whole: "
                     "run the same command with --resume to go on (fewer --jobs need less memory)")


def _stop(pool: ProcessPoolExecutor) -> None:
    """End the workers at once (an interrupted run must not go on in the background)."""
    workers = list((getattr(pool, "_processes", None) or {}).values())  # private, but no public handle
    pool.shutdown(wait=False, cancel_futures=True)
    for worker in workers:
        if worker.is_alive():
            worker.terminate()
    for worker in workers:
        worker.join(timeout=5)


def parallel_stream(plan: TaggingPlan, documents: Iterable[Document], jobs: int, threads: int = 1,
                    chunk: int = CHUNK) -> Iterator[Tagged]:
    """Tagged documents in input order from `jobs` worker processes; at most 2 * jobs chunks in flight."""
    pool = _pool(plan, jobs, threads)
    pending: deque = deque()
    try:
        for part in _chunks(documents, chunk):
            pending.append((part, pool.submit(_tag_chunk, plan, part)))
            if len(pending) >= 2 * jobs:
                yield from _results(*pending.popleft())
        while pending:
            yield from _results(*pending.popleft())
    except BrokenProcessPool:
        raise _died() from None
    finally:
        _stop(pool)


class Workers:
    """`jobs` worker processes that tag like `plan.load()` does (`stream`), for collection.tag_collection."""

    def __init__(self, plan: TaggingPlan, jobs: int, threads: int = 1):
        self.plan, self.jobs, self.threads = plan, jobs, threads

    def stream(self, documents: Iterable[Document], overlap: str, batch_size: int) -> Iterator[Tagged]:
        assert (overlap, batch_size) == (self.plan.overlap, self.plan.batch_size)
        return parallel_stream(self.plan, documents, self.jobs, self.threads)


def _results(part: list[Document], future) -> Iterator[Tagged]:
    for doc, (entities, sentences, dropped) in zip(part, future.result()):
        yield Tagged(doc, entities, sentences, dropped)


# ------------------------------------------------------------------------------ a file per input file
def output_name(relative: str, fmt: str) -> str:
    """`abstracts/pubmed25n0001.xml.gz` -> `abstracts/pubmed25n0001.pubtator` (for --format pubtator)."""
    path = Path(relative)
    if path.suffix.lower() == ".gz":
        path = path.with_suffix("")
    return str(path.with_suffix(SUFFIXES[fmt]) if path.suffix else path.with_name(path.name + SUFFIXES[fmt]))


@dataclass(frozen=True)
class Writing:
    """How each file is read and written, as `--out` would: offsets, --drop-existing, the model marker."""

    input_format: str = "auto"
    text_unit: str = "file"
    offsets: str = "code-points"
    drop_existing: bool = False
    model: str | None = None  # the name our entities are marked with (one --model), as collection.Output


def tag_file(plan: TaggingPlan, path: str, name: str, target: str, fmt: str, writing: Writing,
             heads: list[str], types: list[str]) -> dict:
    """Tag one input file into `target`, atomically (a temporary file or folder beside it, renamed);
    its counts. Runs in a worker: a local process or a Ray task."""
    from ..data.formats import FOLDER_OUTPUTS
    from ..util.files import atomic_write, atomic_write_folder
    from .collection import Output, read_one

    taggers = _taggers(plan)
    counts = {"documents": 0, "sentences": 0, "entities": 0, "dropped_by_overlap": 0}

    def tag(output) -> None:
        documents = read_one(Path(path), name, writing.input_format, writing.text_unit, writing.offsets)
        if writing.drop_existing:
            documents = (d.without_annotations() for d in documents)
        for tagged in taggers.stream(output.start(documents), plan.overlap, plan.batch_size):
            output.write(tagged)
            counts["documents"] += 1
            counts["sentences"] += tagged.sentences
            counts["entities"] += len(tagged.entities)
            counts["dropped_by_overlap"] += tagged.dropped
        output.close()

    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            tag(Output(None, fmt, heads, types, stream=f, model=writing.model, offsets=writing.offsets))

    Path(target).parent.mkdir(parents=True, exist_ok=True)
    if fmt in FOLDER_OUTPUTS:  # brat: a folder of .txt + .ann pairs per input file
        atomic_write_folder(Path(target), lambda tmp: tag(FOLDER_OUTPUTS[fmt](tmp, overwrite=True, model=writing.model)))
    else:
        atomic_write(Path(target), write)
    return counts


def _fingerprint(path: Path) -> dict:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def read_manifest(out_dir: Path) -> dict[str, dict]:
    """The finished files recorded in DIR's manifest: input name -> its record (the last one wins)."""
    path = out_dir / MANIFEST
    records: dict[str, dict] = {}
    if not path.exists():
        return records
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            try:
                record = json.loads(line)
                records[record["input"]] = record
            except (json.JSONDecodeError, KeyError, TypeError):
                if line.endswith("\n"):  # a torn last line (a killed run) is only skipped
                    raise UserError(f"{path}, line {number}: not a record munch tag writes; nothing was changed: "
                                    f"use --overwrite to tag every file again") from None
    return records


def plan_files(files: list[tuple[Path, str]], out_dir: Path, fmt: str, settings: dict,
               overwrite: bool) -> tuple[list[tuple[Path, str, Path]], int]:
    """The (input, name, output) of the files still to tag, and how many the manifest shows finished."""
    from ..util.paths import identity

    manifest = {} if overwrite else read_manifest(out_dir)
    todo, done, targets = [], 0, {}
    inputs = {identity(path): path for path, _ in files}
    for path, name in files:
        target = out_dir / output_name(name, fmt)
        if identity(target) in inputs:
            raise UserError(f"--out-dir {out_dir}: the output of {name} would be {target}, which is the input "
                            f"{inputs[identity(target)]}; an output must never be an input: nothing was written, "
                            f"choose another --out-dir")
        if str(target) in targets:
            raise UserError(f"--out-dir {out_dir}: {targets[str(target)]} and {name} would both be written to "
                            f"{target.name}; rename one, or tag them apart")
        targets[str(target)] = name
        record = manifest.get(name)
        if record is not None and (record.get("format"), record.get("settings")) != (fmt, settings):
            raise UserError(f"--out-dir {out_dir} was written with other settings ({MANIFEST}: format "
                            f"{record.get('format')}, {record.get('settings')}); give the same, or use --overwrite "
                            f"or another --out-dir")
        if record is not None and record.get("output") == output_name(name, fmt) and target.exists() \
                and {k: record.get(k) for k in ("size", "mtime_ns")} == _fingerprint(path):
            done += 1
            continue
        if target.exists() and not overwrite and record is None:
            raise UserError(f"--out-dir {out_dir}: {target} exists and is not in {MANIFEST}, so munch tag did not "
                            f"write it; use --overwrite to replace it, or another --out-dir")
        todo.append((path, name, target))
    return todo, done


def tag_files(plan: TaggingPlan, files: list[tuple[Path, str]], out_dir: Path, fmt: str, writing: Writing,
              heads: list[str], types: list[str], settings: dict, engine: str = "local",
              jobs: int = 1, threads: int = 1, ray_address: str | None = None, overwrite: bool = False,
              loaded=None) -> dict:
    """Tag every file into its own output in `out_dir`, skipping those the manifest shows finished;
    `loaded`: the plan's taggers, already loaded here (used with --jobs 1)."""
    if loaded is not None:
        _loaded.clear()
        _loaded[plan] = loaded
    out_dir.mkdir(parents=True, exist_ok=True)
    if overwrite:
        (out_dir / MANIFEST).unlink(missing_ok=True)
    todo, done = plan_files(files, out_dir, fmt, settings, overwrite)
    log.info("%d files to tag into %s (%d finished before, skipped), engine %s", len(todo), out_dir, done, engine)
    start = time.perf_counter()
    totals = {"files": 0, "skipped_files": done, "documents": 0, "sentences": 0, "entities": 0, "dropped_by_overlap": 0}
    args = [(plan, str(path.resolve()), name, str(target.resolve()), fmt, writing, heads, types)
            for path, name, target in todo]
    with open(out_dir / MANIFEST, "a", encoding="utf-8") as manifest:
        for (path, name, _target), counts in _run(engine, args, jobs, threads, ray_address):
            record = {"input": name, **_fingerprint(path), "output": output_name(name, fmt), **counts, "format": fmt,
                      "settings": settings}
            manifest.write(json.dumps(record) + "\n")
            manifest.flush()
            os.fsync(manifest.fileno())
            totals["files"] += 1
            for k in counts:
                totals[k] += counts[k]
            seconds = time.perf_counter() - start
            log.info("%d/%d files: %s (%d documents); %.1f documents/s", totals["files"], len(todo), name,
                     counts["documents"], totals["documents"] / max(seconds, 1e-9))
    seconds = time.perf_counter() - start
    totals |= {"seconds": round(seconds, 2), "documents_per_s": round(totals["documents"] / max(seconds, 1e-9), 1)}
    return totals


def _run(engine: str, args: list[tuple], jobs: int, threads: int, ray_address: str | None) -> Iterator[tuple]:
    """((path, name, target), counts) of every finished file, as each finishes."""
    items = [(Path(a[1]), a[2], Path(a[3])) for a in args]
    if not args:
        return
    if engine == "ray":
        yield from _run_ray(args, items, jobs, threads, ray_address)
        return
    if jobs == 1:  # here, in this process: no worker to start
        for a, item in zip(args, items):
            yield item, tag_file(*a)
        return
    pool = _pool(args[0][0], jobs, threads)
    try:
        futures = {pool.submit(tag_file, *a): item for a, item in zip(args, items)}
        from concurrent.futures import as_completed

        for future in as_completed(futures):
            yield futures[future], future.result()
    except BrokenProcessPool:
        raise _died() from None
    finally:
        _stop(pool)


def _run_ray(args, items, jobs: int, threads: int, ray_address: str | None) -> Iterator[tuple]:
    from ..util.ray_cluster import connect

    init: dict = {} if ray_address else {"num_cpus": jobs, "include_dashboard": False}
    if not ray_address and os.environ.get("PYTHONPATH"):  # a local instance's workers import this munchables
        init["runtime_env"] = {"env_vars": {"PYTHONPATH": os.environ["PYTHONPATH"]}}
    ray = connect(ray_address, init)
    task = ray.remote(num_cpus=threads, max_retries=2)(_ray_tag_file)
    handles = {task.remote(threads, *a): item for a, item in zip(args, items)}
    waiting = list(handles)
    while waiting:
        done, waiting = ray.wait(waiting, num_returns=1)
        for handle in done:
            yield handles[handle], ray.get(handle)


def _ray_tag_file(threads: int, *args) -> dict:
    import torch

    torch.set_num_threads(threads)
    return tag_file(*args)
