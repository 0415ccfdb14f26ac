"""Every string option's choices, owned once; torch-free so that `munch --help` can show them.

The command line builds its help from these tuples and the library checks values with `check`,
so a choice is added in one place. methods.py maps METHODS and ITER_SWITCHES to their functions
and checks at import that it names the same ones.
"""

from __future__ import annotations

from typing import Sequence

from .errors import UserError

SPLITS = ("train", "dev", "test")  # of every corpus
METHODS = ("single-task", "multi-task", "single-aux", "conc", "iter", "stack")  # the paper's, Table 2's order
NEEDS_AUX = METHODS[1:]  # every method but single-task trains with auxiliary corpora
PROTOCOL_METHODS = (*METHODS, "iter-sort", "stack-sort")  # munch reproduce: iter and stack with --aux-order sorted too
ITER_SWITCHES = ("step-block", "epoch")  # MUNCH-Iter readings; step-block is Algorithm 3
AUX_ORDERS = ("random", "sorted", "given")  # order of the auxiliary corpora for iter and stack
LOSS_REDUCTIONS = ("mean", "sum")  # of the batch's sentence losses, like pytorch-crf's `reduction`
KEEP = ("last", "best-dev")  # which model a run keeps: the last epoch's (the paper) or the best target dev F1's
CACHES = ("memory", "disk", "none")  # where frozen token features are kept
ENGINES = ("local", "ray")  # what runs munch reproduce's trials
GRIDS = ("paper", "fixed")  # munch reproduce's hyper-parameter grid
OVERLAPS = ("all", "score", "priority")  # what predict does where the heads' entities overlap (tagging.py)
OUTPUT_FORMATS = ("conll", "json", "jsonl", "pubtator", "bioc-xml", "bioc-json", "html", "brat")  # json: one document's entities
# data/formats.py; brat: a folder of .txt + .ann
INPUT_FORMATS = ("text", "jsonl", "label-studio", "pubtator", "bioc-xml", "bioc-json", "medline", "brat")
OFFSETS = ("code-points", "utf16")  # what an offset counts in input and output files (data/offsets.py)
TEXT_UNITS = ("file", "line", "block", "paragraph")  # what one document (or passage) of plain text is
DIRECTIONS = ("forward", "backward")  # a character language model's reading direction


def check(value: str, allowed: Sequence[str], flag: str) -> str:
    """`value` when it is one of `allowed`; else a UserError naming the flag and the choices."""
    if value not in allowed:
        raise UserError(f"unknown {flag} {value!r}; choose one of {', '.join(allowed)}")
    return value
