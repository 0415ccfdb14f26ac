"""The paper's published figures: Table 1 (the corpora) and Tables 2, 3 and 4 (F1 in percent).

Table 1 feeds `munch corpora` (the figures beside the measured ones, each corpus's family); the
results tables feed the reproduction report (experiments/report.py). Columns of Tables 2-4 follow
the paper's order of targets (`TARGETS`); MA./MI. AVG. are the paper's macro and micro averages
over all eight targets (CHEMDNER included).
"""

from __future__ import annotations

from dataclasses import dataclass

from .choices import SPLITS


@dataclass(frozen=True)
class PaperCorpus:
    """One row group of Table 1 of the MUNCHABLES paper."""

    family: str  # the entity family the paper groups the corpus under
    citation: str  # who published the corpus
    counts: dict[str, tuple[int, int, int]]  # split -> (sentences, words, mentions) in Table 1


def _counts(sentences, words, mentions) -> dict[str, tuple[int, int, int]]:
    """Table 1's train/dev/test figures, given as three (train, dev, test) triples."""
    return {split: (sentences[i], words[i], mentions[i]) for i, split in enumerate(SPLITS)}


# Table 1 of the paper, in its order; the figures are those of the BioBERT versions (Lee et al. 2020).
PAPER_CORPORA: dict[str, PaperCorpus] = {
    "ncbi-disease": PaperCorpus("disease", "Dogan et al. 2014", _counts(
        (5424, 923, 940), (135701, 23969, 24497), (5134, 787, 960))),
    "bc5cdr-disease": PaperCorpus("disease", "Li et al. 2016", _counts(
        (4560, 4581, 4797), (118170, 117453, 124750), (4182, 4246, 4424))),
    "bc5cdr-chem": PaperCorpus("chemical", "Li et al. 2016", _counts(
        (4560, 4581, 4797), (118170, 117453, 124750), (5203, 5347, 5385))),
    "chemdner": PaperCorpus("chemical", "Krallinger et al. 2015", _counts(
        (30682, 30639, 26364), (893685, 887805, 767636), (29478, 29486, 25346))),
    "bc2gm": PaperCorpus("gene/protein", "Smith et al. 2008", _counts(
        (12574, 2519, 5038), (355405, 71042, 143465), (15197, 3061, 6325))),
    "jnlpba": PaperCorpus("gene/protein", "Kim et al. 2004", _counts(
        (14690, 3856, 3856), (443653, 117213, 114709), (32178, 8575, 6241))),
    "linnaeus": PaperCorpus("species", "Gerner et al. 2010", _counts(
        (11935, 4078, 7142), (281273, 93877, 165095), (2119, 711, 1433))),
    "s800": PaperCorpus("species", "Pafilis et al. 2013", _counts(
        (5733, 830, 1630), (147291, 22217, 42298), (2557, 384, 767))),
}


TARGETS = ("ncbi-disease", "bc5cdr-disease", "bc5cdr-chem", "chemdner", "bc2gm", "jnlpba", "linnaeus", "s800")


def _row(*values: float) -> dict[str, float]:
    """Eight per-target figures, then the macro and micro averages."""
    assert len(values) == 10, values
    return dict(zip(TARGETS, values[:8])) | {"macro": values[8], "micro": values[9]}


# Table 2: test F1 (%) of the six methods
TABLE2: dict[str, dict[str, float]] = {
    "single-task": _row(87.56, 86.65, 94.12, 92.25, 83.63, 77.31, 88.06, 75.41, 85.62, 88.46),
    "multi-task": _row(87.72, 86.12, 94.53, 92.00, 83.44, 77.86, 89.06, 76.71, 85.93, 88.44),
    "single-aux": _row(88.41, 86.53, 94.27, 92.29, 83.24, 77.71, 88.88, 76.80, 86.02, 88.63),
    "conc": _row(89.14, 86.73, 94.23, 92.36, 82.57, 77.48, 89.46, 76.42, 86.05, 88.49),
    "iter": _row(88.33, 86.85, 94.52, 92.18, 82.90, 77.78, 88.98, 77.20, 86.09, 88.52),
    "stack": _row(87.69, 86.98, 94.33, 92.32, 83.80, 77.62, 89.42, 76.65, 86.10, 88.67),
}

# Table 4: iter and stack without (the Table 2 rows) and with sorting (section 5.1)
TABLE4: dict[str, dict[str, float]] = {
    "iter": TABLE2["iter"],
    "iter-sort": _row(88.50, 86.85, 94.33, 92.39, 83.59, 77.28, 88.82, 76.36, 86.02, 88.64),
    "stack": TABLE2["stack"],
    "stack-sort": _row(87.90, 86.86, 94.47, 92.35, 83.84, 77.21, 88.87, 76.46, 86.00, 88.64),
}

# Table 3: CHEMDNER dev F1 (%) of SingleAux per auxiliary corpus, and of the sorted variants,
# per setting (batch size, learning rate)
TABLE3_TARGET = "chemdner"
TABLE3_SETTINGS = ((16, 0.05), (16, 0.1), (32, 0.05), (32, 0.1))
TABLE3: dict[str, dict[tuple[int, float], float]] = {
    name: dict(zip(TABLE3_SETTINGS, values))
    for name, values in {
        "ncbi-disease": (89.98, 90.03, 89.69, 90.08),
        "bc5cdr-disease": (89.95, 90.08, 89.87, 89.93),
        "bc5cdr-chem": (90.05, 90.16, 90.00, 90.03),
        "bc2gm": (89.95, 89.92, 89.88, 89.91),
        "jnlpba": (89.90, 89.93, 89.88, 89.89),
        "linnaeus": (90.15, 90.02, 89.90, 90.04),
        "s800": (89.88, 90.01, 89.89, 89.94),
        "iter-sort": (90.04, 90.11, 90.03, 90.14),
        "stack-sort": (90.24, 90.07, 89.75, 90.14),
    }.items()
}
