"""The paper's published figures (F1 in percent), copied from its Tables 2, 3 and 4.

Columns follow the paper's order of targets (`TARGETS`); MA./MI. AVG. are the paper's macro and
micro averages over all eight targets (CHEMDNER included).
"""

from __future__ import annotations

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
