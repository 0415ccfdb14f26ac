"""Training: `munch train` and `munch schedule`, and the run options they share."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from ..choices import AUX_ORDERS, CACHES, ITER_SWITCHES, LOSS_REDUCTIONS, METHODS
from ..errors import UserError
from .common import _add_data_dir, _add_no_fetch, THREADS_HELP

log = logging.getLogger("munchables")


def _add_train_args(p: argparse.ArgumentParser, target_required: bool = True) -> None:
    p.add_argument("--target", required=target_required,
                   help="target corpus: an id (e.g. ncbi-disease) or a directory" + ("" if target_required else
                                                                                       " (with --resume: the run's own)"))
    p.add_argument("--method", default="single-task", help=f"one of: {', '.join(METHODS)}")
    p.add_argument("--aux", help="auxiliary corpora, comma-separated (default: every other corpus found)")
    p.add_argument("--aux-order", default="random", help=f"order of auxiliary corpora for iter and stack: {', '.join(AUX_ORDERS)}")
    p.add_argument("--iter-switch", default="step-block", help=f"MUNCH-Iter reading: {', '.join(ITER_SWITCHES)} (step-block is Algorithm 3)")
    p.add_argument("--lr", type=float, default=0.1, help="initial SGD learning rate")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--loss-reduction", default="mean", help=f"the update's loss: {' or '.join(LOSS_REDUCTIONS)} of the batch's sentence losses (default mean, as Flair <= 0.8; Eq. 8 sums. At convergence the sum won on NCBI-disease and the mean on S800: docs/results.md)")
    p.add_argument("--max-epochs", type=int, help="cap on epochs per stage (default: the paper's convergence rule alone)")
    p.add_argument("--train-limit", type=int, help="keep the first N training sentences of every corpus")
    p.add_argument("--aux-whole", action="store_true", help="with --train-limit, cut only the target's training set; auxiliary corpora stay whole (the low-resource setting)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--hidden", type=int, default=256, help="BiLSTM units per direction")
    p.add_argument("--word-dim", type=int, default=100, help="word embedding size without --word-vectors")
    p.add_argument("--dropout", type=float, default=0.5)
    p.add_argument("--cache-dir", help="where SingleAux candidates are kept for reuse by --aux-order sorted (default: $MUNCHABLES_CACHE, else runs/cache)")
    p.add_argument("--word-vectors", help="initialise word embeddings from word2vec text/binary or fastText .vec/.bin")
    p.add_argument("--trust", action="store_true",
                   help="also load gensim .kv/.model word vectors, which are Python pickles and can run code: only your own files")
    _add_embedding_args(p)
    _add_data_dir(p)
    _add_no_fetch(p)


def _run_options(args: argparse.Namespace, out: str | None):
    from ..model import ModelConfig
    from ..pipeline import RunOptions
    from ..trainer import TrainConfig

    return RunOptions(
        target=args.target, out=Path(out) if out else None, method=args.method,
        aux=[a for a in args.aux.split(",") if a] if args.aux is not None else None,
        aux_order=args.aux_order, iter_switch=args.iter_switch, data_dir=args.data_dir,
        train_limit=args.train_limit, aux_whole=args.aux_whole, cache_dir=args.cache_dir, device=getattr(args, "device", "cpu"),
        resume=getattr(args, "resume", False), trace=getattr(args, "trace", False),
        overwrite=getattr(args, "overwrite", False), keep_checkpoint=getattr(args, "keep_checkpoint", False),
        keep=getattr(args, "keep", "last"), score_heads=True,
        train=TrainConfig(lr=args.lr, batch_size=args.batch_size, max_epochs=args.max_epochs, seed=args.seed,
                          loss_reduction=args.loss_reduction),
        model=ModelConfig(word_dim=args.word_dim, hidden=args.hidden, dropout=args.dropout,
                          word_vectors=args.word_vectors, **_embedding_options(args)),
        embedding_cache=args.embedding_cache, trust=getattr(args, "trust", False), fetch=not args.no_fetch,
    )


def _add_embedding_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("embeddings (README, Embeddings)")
    g.add_argument("--charlm-forward", metavar="PATH", help="forward character LM (munch charlm) for contextual string embeddings")
    g.add_argument("--charlm-backward", metavar="PATH", help="backward character LM; give both or neither")
    g.add_argument("--charlm-projection", type=int, default=0, metavar="K",
                   help="map the contextual string embeddings to K values before the BiLSTM (default 0: whole, as in the paper)")
    g.add_argument("--transformer", metavar="DIR", help="local Hugging Face model folder: the shared encoder's token features")
    g.add_argument("--transformer-layers", type=int, default=4, metavar="N", help="last transformer layers concatenated (default 4)")
    g.add_argument("--fine-tune-transformer", action="store_true", help="train the transformer too (default: frozen)")
    g.add_argument("--no-lstm", action="store_true", help="no BiLSTM: the heads read the token features directly")
    g.add_argument("--embedding-cache", default="memory", metavar="WHERE", help=f"frozen features per sentence: {' | '.join(CACHES)}")


def _embedding_options(args: argparse.Namespace) -> dict:
    return {"charlm_forward": args.charlm_forward, "charlm_backward": args.charlm_backward,
            "charlm_projection": args.charlm_projection,
            "transformer": args.transformer, "transformer_layers": args.transformer_layers,
            "fine_tune_transformer": args.fine_tune_transformer, "lstm": not args.no_lstm}


def cmd_train(args) -> int:
    from ..pipeline import train
    from ..resume import saved_options
    from ..util.threads import set_threads

    saved = saved_options(Path(args.out)) if args.resume else None
    if saved is not None:  # --resume alone: the run's own settings, and any flag given again on top
        options = _with_saved(_run_options(args, args.out), saved, args.explicit)
    elif args.target is None:
        raise UserError("the following argument is required: --target (or --resume with an --out that holds a run)")
    else:
        options = _run_options(args, args.out)
    set_threads(args.threads)
    metrics = train(options)
    # the last line is the log's sentence ("single-task on ncbi-disease: dev F1 ..., test F1 ..."); with
    # --json the scores on standard output too (the per-sentence counts stay in metrics.json)
    if args.json:
        print(json.dumps({k: {m: v for m, v in metrics[k].items() if m != "sentences"} for k in ("dev", "test")}
                         | ({"heads": metrics["heads"]} if "heads" in metrics else {})))
    return 0


def _with_saved(options, saved: dict, explicit: set[str]):
    """`options` with every setting not given on the command line taken from the run's config.json."""
    from dataclasses import fields, replace

    from ..resume import FREE

    given = {"lstm" if name == "no_lstm" else name for name in explicit}
    parts = {"train": options.train, "model": options.model}
    top = {}
    for name, value in saved.items():
        if name in given or name in FREE:  # FREE: from the command line (older config.json files saved fetch)
            continue
        for key, part in parts.items():
            if name in {f.name for f in fields(part)}:
                parts[key] = replace(part, **{name: value})
                break
        else:
            if name in {f.name for f in fields(options)}:
                top[name] = value
    return replace(options, **top, **parts)


def cmd_schedule(args) -> int:
    from ..pipeline import schedule

    for record in schedule(_run_options(args, None)):
        print(json.dumps(record))
    return 0


def register(sub) -> None:
    p = sub.add_parser("train", help="train a tagger for a target corpus")
    _add_train_args(p, target_required=False)
    p.add_argument("--out", required=True, help="directory for the model, metrics.json, log.jsonl")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out with its own settings (config.json); a raised --max-epochs extends it")
    p.add_argument("--overwrite", action="store_true", help="replace the run --out already holds (else refused)")
    p.add_argument("--keep", default="last", help="the model kept: last (the last epoch's, as the paper) | best-dev "
                                                  "(the epoch of the best target dev F1)")
    p.add_argument("--keep-checkpoint", action="store_true",
                   help="keep checkpoint.pt after the run finishes (as large as the model); a finished run extends "
                        "(--resume --max-epochs N) from model.pt and log.jsonl without it, except a --keep best-dev run")
    p.add_argument("--threads", type=int, help=THREADS_HELP)
    p.add_argument("--trace", action="store_true", help="write every update to DIR/trace.jsonl")
    p.add_argument("--json", action="store_true", help="also print the dev and test scores (and each head's dev F1) "
                                                        "as one JSON line on standard output")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("schedule", help="print the updates `munch train` would perform, one JSON object per line; trains nothing")
    _add_train_args(p)
    p.set_defaults(func=cmd_schedule)
