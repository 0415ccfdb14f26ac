"""Flags and helpers that several commands share."""

from __future__ import annotations

import argparse

from ..settings import DATA_DIR_HELP, NO_FETCH_HELP  # the run setting's help, written once


def _add_data_dir(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", help=DATA_DIR_HELP)


def _add_no_fetch(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-fetch", action="store_true", help=NO_FETCH_HELP)


THREADS_HELP = ("torch CPU threads (default: 1 when other jobs already keep the cores busy, measured 5x faster "
                "there; else torch's one per core)")


def _add_tagging_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice, one per core; 1 is faster when other jobs share the cores)")


def _set_threads(args) -> None:
    """--threads N: torch CPU threads (default: torch's choice, one per core)."""
    from ..util.threads import set_threads  # loads torch: not at the top, for a quick `munch --help`

    set_threads(getattr(args, "threads", None), adapt=False)


def _csv(value: str | None) -> list[str] | None:
    return [v for v in value.split(",") if v] if value else None
