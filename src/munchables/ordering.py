"""The order of the auxiliary corpora D(1), ..., D(M) for MUNCH-Iter and MUNCH-Stack.

- random (section 4.1): a random order in which two corpora of the same entity family are never
  neighbours;
- sorted (section 5.1): ascending by the target's dev F1 of a SingleAux model trained with each
  auxiliary corpus, so the most helpful corpus comes last;
- given: the order the user wrote.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from .errors import UserError


def random_order(names: Sequence[str], families: Mapping[str, str | None], seed: int) -> list[str]:
    """A seeded random order with no two neighbours of the same family (None: a family of its own).

    Randomised backtracking: candidates are tried in a random order at every position, so every
    valid order can come out; fails with a clear message when none exists.
    """
    rng = np.random.default_rng(seed)
    names = list(names)

    def family(name: str) -> str:
        return _family(families, name)

    def feasible(left: list[str], last: str | None) -> bool:
        return _feasible(families, left, last)

    def extend(order: list[str], left: list[str]) -> list[str]:
        if not left:
            return order
        for i in rng.permutation(len(left)):
            candidate, rest = left[i], left[:i] + left[i + 1 :]
            if order and family(order[-1]) == family(candidate):
                continue
            if feasible(rest, family(candidate)):
                return extend(order + [candidate], rest)
        raise AssertionError("unreachable: feasibility was checked")

    check_orderable(names, families)
    return extend([], names)


def check_orderable(names: Sequence[str], families: Mapping[str, str | None]) -> None:
    """Refuse, naming the corpora and the fix, when no order keeps two of one family apart.

    Needs only the names (a corpus's family comes from its id), so `munch train` asks before it
    loads any corpus.
    """
    names = list(names)
    if _feasible(families, names, None):
        return
    counts = _counts(_family(families, n) for n in names)
    worst = max(counts, key=counts.get)
    same = [n for n in names if _family(families, n) == worst]
    others = [n for n in names if _family(families, n) != worst]
    raise UserError(
        f"--aux-order random: no order of {', '.join(names)} keeps corpora of the same entity family apart "
        f"({len(same)} of {len(names)} are {worst}: {', '.join(same)}); either choose the order yourself with "
        f"--aux-order given (D(1) first, e.g. --aux {','.join(_interleave(same, others))}), or add corpora of "
        "other families to put between them"
    )


def _interleave(same: list[str], others: list[str]) -> list[str]:
    """same[0], others[0], same[1], ...: as far apart as the others allow."""
    out: list[str] = []
    for i, name in enumerate(same):
        out.append(name)
        if i < len(others):
            out.append(others[i])
    return out + others[len(same):]


def _family(families: Mapping[str, str | None], name: str) -> str:
    return families.get(name) or f"<own:{name}>"


def _feasible(families: Mapping[str, str | None], left: list[str], last: str | None) -> bool:
    """Whether `left` can follow a corpus of family `last`: no family may take more than
    every other place, and `last`'s family not the first place either."""
    counts = _counts(_family(families, n) for n in left)
    m = len(left)
    return max(counts.values(), default=0) <= (m + 1) // 2 and counts.get(last, 0) <= m // 2


def _counts(items) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in items:
        counts[item] = counts.get(item, 0) + 1
    return counts


def sorted_order(dev_f1: Mapping[str, float]) -> list[str]:
    """Ascending by SingleAux dev F1 (section 5.1): the most helpful corpus is learnt from last."""
    return sorted(dev_f1, key=lambda name: (dev_f1[name], name))
