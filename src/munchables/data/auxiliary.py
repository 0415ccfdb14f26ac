"""`--aux auto`: the auxiliary corpora for a target, chosen from the corpora present by a rule grounded in docs/results.md.

The evidence (docs/results.md, section 1): with 1,000 target sentences, a pool of one corpus per
entity family, bc5cdr-disease (disease), bc2gm (gene/protein) and linnaeus (species), each whole,
made MUNCH-iter beat single-task by +3.04 test F1 points on ncbi-disease and +7.32 on s800, every
seed positive, and every corpus of that pool helped s800 alone (single-aux dev F1 +6.1 to +9.5),
including corpora of other families. The rule follows it:

1. One corpus per entity family of that pool, the evidence's own where present: disease
   (bc5cdr-disease, else ncbi-disease), gene/protein (bc2gm, else jnlpba), species (linnaeus,
   else s800); the target itself skipped (the next of its family taken).
2. Plus every corpus present that shares the target's entity family, known from the corpus id
   or from the target's entity type names (TYPE_WORDS: a type containing "disease" is of the
   disease family, "chemical" or "drug" chemical, "gene" or "protein" gene/protein, "species" or
   "organism" species). This is where a chemical target gets bc5cdr-chem: the evidence has no
   chemical target, and a corpus of the target's own kind is the closest auxiliary task there is.
3. Never a corpus that holds the target's test sentences: a candidate in which more than
   LEAK_FRACTION of the target's test sentences appear (token for token, any split) is the
   target in another form (NCBI-disease's PubTator release and its column files), and training
   on it would score the model on sentences it learnt; it is left out and said so.

The chosen corpora and the reason for each are logged; `munch train` prints them.
"""

from __future__ import annotations

import logging
from pathlib import Path

from .corpus import Corpus, available_corpora, corpus_family

log = logging.getLogger("munchables")

EVIDENCE_POOL: dict[str, tuple[str, ...]] = {  # family -> its corpora, the evidence's choice first
    "disease": ("bc5cdr-disease", "ncbi-disease"),
    "gene/protein": ("bc2gm", "jnlpba"),
    "species": ("linnaeus", "s800"),
}
TYPE_WORDS: dict[str, str] = {"disease": "disease", "chemical": "chemical", "drug": "chemical", "gene": "gene/protein",
                              "protein": "gene/protein", "species": "species", "organism": "species"}
LEAK_FRACTION = 0.2
EVIDENCE = "docs/results.md: iter +3.0 (ncbi-disease) and +7.3 (s800) points over single-task at 1,000 sentences"


def target_families(target: Corpus) -> set[str]:
    """The entity families of a target: its corpus id's, and those its type names speak of."""
    families = {target.family} if target.family else set()
    known = corpus_family(target.name)
    if known:
        families.add(known)
    for kind in target.entity_types:
        families |= {family for word, family in TYPE_WORDS.items() if word in kind.lower()}
    return families


def _leaks(target: Corpus, candidate: Corpus) -> float:
    """The fraction of the target's test sentences found, token for token, in the candidate."""
    test = {s.tokens for s in target.test}
    if not test:
        return 0.0
    seen = {s.tokens for split in (candidate.train, candidate.dev, candidate.test) for s in split}
    return len(test & seen) / len(test)


def choose_auxiliary(target: Corpus, data_dir: Path | None, load) -> list[tuple[str, str]]:
    """[(corpus id, why)] for `--aux auto`, by the rule of this module's docstring; `load(name)` loads a corpus."""
    present = available_corpora(data_dir)
    is_target = {name for name in present if name == target.name
                 or (Path(data_dir) / name).resolve() == target.path.resolve()}
    candidates: list[tuple[str, str]] = []
    for family, names in EVIDENCE_POOL.items():
        pick = next((n for n in names if n in present and n not in is_target), None)
        if pick is not None:
            candidates.append((pick, f"one per entity family ({family}), the pool of the evidence ({EVIDENCE})"))
    families = target_families(target)
    for name in present:
        family = corpus_family(name)
        if family in families and name not in is_target and name not in {n for n, _ in candidates}:
            candidates.append((name, f"shares the target's entity family ({family})"))
    chosen = []
    for name, why in candidates:
        share = _leaks(target, load(name))
        if share > LEAK_FRACTION:
            log.warning("--aux auto: left out %s: it holds %.0f%% of the target's test sentences (the target in "
                        "another form; training on it would test on seen sentences)", name, 100 * share)
            continue
        chosen.append((name, why))
    return chosen
