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


def _add_document_args(p: argparse.ArgumentParser, split_flag: str = "--split") -> None:
    """How a corpus given as annotated documents becomes sentences (data/documents.py); `munch evaluate`,
    whose --split names the split scored, calls the collection's split --doc-split."""
    g = p.add_argument_group("corpora given as annotated documents (PubTator, BioC, JSONL, brat; README, Your own corpus)")
    g.add_argument("--types", metavar="T,T=NEW",
                   help="entity types kept, the others left out (counted): Disease,Chemical; TYPE=NEW keeps TYPE "
                        "renamed: SpecificDisease=Disease,Modifier=Disease (default: every type as it is)")
    g.add_argument(split_flag, dest="document_split", metavar="TRAIN,DEV,TEST",
                   help="percentages of one collection, split by document (default 80,10,10); or give the splits "
                        "as train=PATH,dev=PATH,test=PATH")
    g.add_argument("--split-seed", type=int, default=1, metavar="S",
                   help=f"the shuffle of documents before {split_flag} (default 1; not the training seed)")


def _document_options(args):
    from ..data.documents import DocumentOptions

    return DocumentOptions(args.types, args.document_split, args.split_seed)
