"""The document route against the column-file route on the same test documents (docs/results.md, "Training on documents").

    python3 scripts/document_route.py DOCUMENT_RUN COLUMN_RUN TEST_DOCUMENTS [--types T=NEW,...] [--column-corpus ID]

DOCUMENT_RUN and COLUMN_RUN are `munch train --seeds N` run directories (the first seed in the
directory, the others in seed-S/). The two routes cut the same test documents into sentences
differently (the column files' sentence splits and document order are their own), so their
per-sentence counts cannot be paired sentence by sentence; they are paired by *document*
instead: each route's test sentences are matched to the test documents by their tokens (the same
token stream, document by document), the per-sentence counts [tp, fp, fn] summed per document,
and the paired bootstrap of experiments/stats.py resamples the documents.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

import numpy as np

from munchables.data.annotated import document_sentences, parse_types, read_documents
from munchables.data.corpus import load_corpus
from munchables.experiments.stats import paired_bootstrap


def seed_runs(run: Path) -> list[dict]:
    """metrics.json of the first seed (the directory) and of every seed-S/ below it, in seed order."""
    dirs = [run] + sorted((d for d in run.glob("seed-*") if (d / "metrics.json").exists()),
                          key=lambda p: int(p.name.split("-")[1]))
    return [json.loads((d / "metrics.json").read_text()) for d in dirs]


def per_document(sentences, counts, doc_tokens: list[tuple[str, ...]]) -> np.ndarray:
    """Sum the sentences' counts per document; sentences come in some document order, found by their tokens."""
    stream = [t for s in sentences for t in s.tokens]
    starts, at = [], 0
    for s in sentences:
        starts.append(at)
        at += len(s.tokens)
    first_token_of = {}  # token offset in the stream -> sentence index
    for i, a in enumerate(starts):
        first_token_of[a] = i
    out = np.zeros((len(doc_tokens), 3))
    used = set()
    for d, tokens in enumerate(doc_tokens):
        # the sentence starts where the document's tokens follow
        place = next(a for a in starts if a not in used and tuple(stream[a:a + len(tokens)]) == tokens)
        used.add(place)
        i = first_token_of[place]
        covered = 0
        while covered < len(tokens):
            out[d] += counts[i]
            covered += len(sentences[i].tokens)
            i += 1
        if covered != len(tokens):
            raise SystemExit(f"document {d}: its sentences do not end where it ends")
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("document_run", type=Path)
    p.add_argument("column_run", type=Path)
    p.add_argument("test_documents", type=Path)
    p.add_argument("--types")
    p.add_argument("--column-corpus", default="ncbi-disease")
    args = p.parse_args()
    docs = read_documents(args.test_documents)
    types = parse_types(args.types)
    doc_tokens = [tuple(t for s in document_sentences([d], types, Counter()) for t in s.tokens) for d in docs]
    columns = load_corpus(args.column_corpus).test
    mine = [s for d in docs for s in document_sentences([d], types, Counter())]
    a_runs, b_runs = seed_runs(args.document_run), seed_runs(args.column_run)
    a = [per_document(mine, r["test"]["sentences"], doc_tokens) for r in a_runs]
    b = [per_document(columns, r["test"]["sentences"], doc_tokens) for r in b_runs]
    for name, runs, per_doc in (("documents", a_runs, a), ("columns", b_runs, b)):
        f1 = [100 * r["test"]["f1"] for r in runs]
        pooled = [100 * 2 * x[:, 0].sum() / (2 * x[:, 0].sum() + x[:, 1].sum() + x[:, 2].sum()) for x in per_doc]
        print(f"{name}: test F1 per seed {', '.join(f'{x:.2f}' for x in f1)}; mean {np.mean(f1):.2f} ± "
              f"{np.std(f1, ddof=1) if len(f1) > 1 else 0:.2f} (regrouped by document: {', '.join(f'{x:.2f}' for x in pooled)})")
    c = paired_bootstrap([x.tolist() for x in a], [x.tolist() for x in b])
    per_seed = [100 * (x["test"]["f1"] - y["test"]["f1"]) for x, y in zip(a_runs, b_runs)]
    print(f"documents - columns: {100 * c.delta:+.2f}, 95% interval [{100 * c.low:+.2f}, {100 * c.high:+.2f}], p {c.p:.3f}, "
          f"per seed {', '.join(f'{x:+.2f}' for x in per_seed)}; paired bootstrap over {len(docs)} test documents, "
          f"{c.seeds} seeds, {c.resamples} resamples: {'within noise' if c.within_noise else 'outside noise'}")


if __name__ == "__main__":
    main()
