"""Save an untrained tagger of the paper's sizes (BiLSTM 256 per direction, one head per corpus named)
for the tagging scale benchmark: tagging speed does not depend on the weights.

    python3 scripts/bench_model.py --data-dir ../shared/data --corpora bc5cdr-disease --out /tmp/bench-model
"""

import argparse

import torch

from munchables.data.corpus import default_data_dir, load_corpus
from munchables.model import ModelConfig
from munchables.pipeline import RunOptions, build_model
from munchables.tagging.tagger import Tagger


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir")
    p.add_argument("--corpora", default="bc5cdr-disease", help="comma-separated; the first is the target")
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--out", required=True)
    args = p.parse_args()
    data_dir = default_data_dir(args.data_dir)
    corpora = [load_corpus(name, data_dir) for name in args.corpora.split(",")]
    torch.manual_seed(0)
    model, vocab = build_model(RunOptions(target=corpora[0].name, model=ModelConfig(hidden=args.hidden)), corpora)
    print(Tagger(model, vocab, corpora[0].name, torch.device("cpu")).save(args.out))


if __name__ == "__main__":
    main()
