"""`munch bench`: speed on this device."""

from __future__ import annotations

from ..settings import ModelConfig, RunOptions, TrainConfig
from .common import THREADS_HELP, _add_data_dir, _set_threads


def cmd_bench(args) -> int:
    _set_threads(args)
    if args.collection:
        from ..bench.collection import run_collection_bench

        run_collection_bench(args)
        return 0
    from ..bench.speed import run_bench

    run_bench(args)
    return 0


def register(sub) -> None:
    p = sub.add_parser("bench", help="training and tagging sentences per second on this device")
    p.add_argument("--corpus", default="bc5cdr-chem")
    p.add_argument("--batch-size", type=int, default=TrainConfig.batch_size)  # munch train's sizes: the paper's
    p.add_argument("--tag-batch-size", type=int, default=256)
    p.add_argument("--hidden", type=int, default=ModelConfig.hidden)
    p.add_argument("--sentences", type=int, default=2000, help="training sentences to time")
    p.add_argument("--device", default=RunOptions.device)
    p.add_argument("--threads", type=int, help=THREADS_HELP)
    p.add_argument("--json", action="store_true")
    g = p.add_argument_group("collection benchmark: raw text of every corpus, end to end, beside Flair")
    g.add_argument("--collection", action="store_true", help="run it instead of the training/tagging benchmark")
    g.add_argument("--limit", type=int, help="the first N lines of the shuffled text (default: all: 91,802 distinct sentences of the seven corpora)")
    g.add_argument("--model", help="a trained model (default: untrained, the paper's sizes, one head per corpus)")
    g.add_argument("--quantize", action="store_true", help="also time int8 dynamic quantisation of the LSTMs (Tagger.quantize; not offered by predict: docs/benchmarks.md)")
    g.add_argument("--flair-limit", type=int, help="Flair tags only the first N sentences (default: all)")
    g.add_argument("--no-flair", action="store_true", help="skip Flair even when it is installed")
    _add_data_dir(p)
    p.set_defaults(func=cmd_bench)
