"""Shared by the tests/test_embeddings_*.py files: a tiny corpus and tiny language models.

(Named like a test module so that it sits with the embedding tests; it holds no test.)
"""

from __future__ import annotations

import random
from pathlib import Path

from munchables.cli import main

DISEASES = [["cancer"], ["asthma"], ["diabetes"], ["breast", "cancer"], ["influenza"], ["lung", "disease"]]
FRAMES = [
    ("Patients with", "were treated ."),
    ("The risk of", "rises with age ."),
    ("We studied", "in mice and men ."),
    ("Mutations in BRCA1 cause", "."),
]


def sentence(rng: random.Random) -> list[tuple[str, str]]:
    before, after = rng.choice(FRAMES)
    disease = rng.choice(DISEASES)
    tags = ["B-Disease"] + ["I-Disease"] * (len(disease) - 1)
    return ([(w, "O") for w in before.split()] + list(zip(disease, tags)) + [(w, "O") for w in after.split()])


def make_corpus(directory: Path, sizes=(24, 8, 8), seed: int = 0, name_of_test_word: str = "tumour") -> Path:
    """train/dev/test column files of template sentences; the test split alone holds `name_of_test_word`."""
    rng = random.Random(seed)
    directory.mkdir(parents=True, exist_ok=True)
    for split, n in zip(("train", "dev", "test"), sizes):
        lines = []
        for i in range(n):
            rows = sentence(rng)
            if split == "test" and i == 0:
                rows = [(name_of_test_word, "O")] + rows
            lines.append("".join(f"{w}\t{t}\n" for w, t in rows))
        (directory / f"{split}.tsv").write_text("\n".join(lines), encoding="utf-8")
    return directory


def write_text(directory: Path, corpus: Path) -> Path:
    out = directory / "text.txt"
    assert main(["-q", "text", "--corpora", str(corpus), "--out", str(out)]) == 0
    return out


def train_lm(text: Path, out: Path, direction: str, hidden: int = 16, epochs: int = 2, extra=()) -> Path:
    argv = ["-q", "charlm", "--text", str(text), "--direction", direction, "--out", str(out), "--hidden", str(hidden),
            "--epochs", str(epochs), "--batch-size", "4", "--bptt", "25", "--held-out", "0.2", "--device", "cpu", *extra]
    assert main(argv) == 0
    return out


def tiny_train_args(corpus: Path, out: Path, *extra: str) -> list[str]:
    return ["-q", "train", "--target", str(corpus), "--out", str(out), "--max-epochs", "2", "--hidden", "8",
            "--word-dim", "8", "--batch-size", "8", "--device", "cpu", *extra]
