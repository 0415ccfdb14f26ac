"""Flags and helpers that several commands share."""

from __future__ import annotations

import argparse

from ..settings import DATA_DIR_HELP, NO_FETCH_HELP  # the run setting's help, written once


def _add_data_dir(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", help=DATA_DIR_HELP)


def _add_no_fetch(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-fetch", action="store_true", help=NO_FETCH_HELP)


THREADS_HELP = ("CPU threads (default, for every command: 1 when other jobs already keep the cores busy, measured "
                "5x faster there; else one per core; util/threads.py)")


def _add_tagging_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--threads", type=int, help=THREADS_HELP)


def _set_threads(args) -> None:
    """--threads N: torch CPU threads (default: util/threads.py's rule, as every command)."""
    from ..util.threads import set_threads  # loads torch: not at the top, for a quick `munch --help`

    set_threads(getattr(args, "threads", None))


def _csv(value: str | None) -> list[str] | None:
    return [v for v in value.split(",") if v] if value else None


DOCUMENTS = ("types", "split", "split_seed")  # how a corpus given as annotated documents becomes sentences


def _add_document_args(p: argparse.ArgumentParser, split_flag: str = "--split") -> None:
    """The document-corpus settings (settings.RunOptions; data/annotated.py) on a command; `munch evaluate`,
    whose --split names the split scored, calls the collection's split --doc-split."""
    from ..settings import RunOptions, add_flags

    g = p.add_argument_group("corpora given as annotated documents (PubTator, BioC, JSONL, brat; README, Your own corpus)")
    add_flags(g, RunOptions, DOCUMENTS, **({} if split_flag == "--split" else
                                           {"split": {"flag": split_flag, "dest": "document_split"}}))


def _document_options(args):
    from ..data.annotated import DocumentOptions

    split = args.document_split if hasattr(args, "document_split") else args.split
    return DocumentOptions(args.types, split, args.split_seed)


def _corpus_inputs(names, data_dir: str | None, flag: str) -> list[tuple[str, object]]:
    """The directories of the corpora a command reads (an id under the data directory, or a path), for
    util.paths.refuse_outputs_on_inputs; those not there yet are left out (nothing of theirs to lose)."""
    from pathlib import Path

    from ..data.corpus import default_data_dir

    base = default_data_dir(data_dir) if any(n and not Path(n).is_dir() for n in names) else None
    dirs = [Path(n) if Path(n).is_dir() else (base / n if base is not None else None) for n in names if n]
    return [(flag, d) for d in dirs if d is not None and d.is_dir()]
