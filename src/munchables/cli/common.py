"""Flags and helpers that several commands share."""

from __future__ import annotations

import argparse


def _add_data_dir(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", help="directory holding the corpora (default: $MUNCHABLES_DATA, else ../shared/data, "
                                      "else ~/.cache/munchables/corpora)")


def _add_no_fetch(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-fetch", action="store_true",
                   help="never download: a named corpus missing from the data directory is an error "
                        "(default: fetched on first use, see munch corpora fetch)")


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
