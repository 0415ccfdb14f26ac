"""The `munch` command: argument parsing and messages only; each command calls one function elsewhere."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from .errors import UserError

log = logging.getLogger("munchables")


def _add_data_dir(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", help="directory holding the corpora (default: $MUNCHABLES_DATA, else ../shared/data)")


def _add_train_args(p: argparse.ArgumentParser) -> None:
    from .methods import ITER_SWITCH, METHODS
    from .pipeline import AUX_ORDERS

    p.add_argument("--target", required=True, help="target corpus: an id (e.g. ncbi-disease) or a directory")
    p.add_argument("--method", default="single-task", help=f"one of: {', '.join(METHODS)}")
    p.add_argument("--aux", help="auxiliary corpora, comma-separated (default: every other corpus found)")
    p.add_argument("--aux-order", default="random", help=f"order of auxiliary corpora for iter and stack: {', '.join(AUX_ORDERS)}")
    p.add_argument("--iter-switch", default="step-block", help=f"MUNCH-Iter reading: {', '.join(ITER_SWITCH)} (step-block is Algorithm 3)")
    p.add_argument("--lr", type=float, default=0.1, help="initial SGD learning rate")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--max-epochs", type=int, help="cap on epochs per stage (default: the paper's convergence rule alone)")
    p.add_argument("--train-limit", type=int, help="keep the first N training sentences of every corpus")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--hidden", type=int, default=256, help="BiLSTM units per direction")
    p.add_argument("--word-dim", type=int, default=100, help="word embedding size without --word-vectors")
    p.add_argument("--dropout", type=float, default=0.5)
    p.add_argument("--cache-dir", help="where SingleAux candidates are kept for reuse by --aux-order sorted (default: $MUNCHABLES_CACHE, else runs/cache)")
    p.add_argument("--word-vectors", help="initialise word embeddings from word2vec text/binary or fastText .vec/.bin")
    _add_data_dir(p)


def _run_options(args: argparse.Namespace, out: str | None):
    from .model import ModelConfig
    from .pipeline import RunOptions
    from .trainer import TrainConfig

    return RunOptions(
        target=args.target, out=Path(out) if out else None, method=args.method,
        aux=[a for a in args.aux.split(",") if a] if args.aux is not None else None,
        aux_order=args.aux_order, iter_switch=args.iter_switch, data_dir=args.data_dir,
        train_limit=args.train_limit, cache_dir=args.cache_dir, device=getattr(args, "device", "cpu"),
        resume=getattr(args, "resume", False), trace=getattr(args, "trace", False),
        train=TrainConfig(lr=args.lr, batch_size=args.batch_size, max_epochs=args.max_epochs, seed=args.seed),
        model=ModelConfig(word_dim=args.word_dim, hidden=args.hidden, dropout=args.dropout,
                          word_vectors=args.word_vectors),
    )


def cmd_corpora(args) -> int:
    from .corpus import available_corpora, corpus_stats, default_data_dir, format_table1, load_corpus

    data_dir = default_data_dir(args.data_dir)
    rows = [row for name in available_corpora(data_dir) for row in corpus_stats(load_corpus(name, data_dir))]
    print(json.dumps(rows, indent=2) if args.json else format_table1(rows))
    return 0


def cmd_train(args) -> int:
    from .pipeline import train

    metrics = train(_run_options(args, args.out))
    print(json.dumps({k: metrics[k] for k in ("dev", "test")}))
    return 0


def cmd_schedule(args) -> int:
    from .pipeline import schedule

    for record in schedule(_run_options(args, None)):
        print(json.dumps(record))
    return 0


def cmd_evaluate(args) -> int:
    from .corpus import default_data_dir, load_corpus
    from .pipeline import evaluate_corpus
    from .predict import Tagger

    tagger = Tagger.load(args.model, args.device)
    corpus = load_corpus(args.corpus, default_data_dir(args.data_dir))
    head = corpus.name if corpus.name in tagger.corpora else tagger.target
    result = evaluate_corpus(tagger.model, tagger.vocab, corpus, args.split, tagger.device) if head == corpus.name else None
    if result is None:  # a corpus the model has no head for: tag with the target head
        from .evaluate import score

        sentences = corpus.split(args.split)
        result = score([s.tags for s in sentences], tagger.tag([s.tokens for s in sentences])).as_dict()
    if args.json:
        print(json.dumps({"corpus": corpus.name, "split": args.split, "head": head, **result}))
    else:
        print(f"{corpus.name} {args.split} (head {head}): precision {result['precision']:.4f} "
              f"recall {result['recall']:.4f} F1 {result['f1']:.4f} (tp {result['tp']}, fp {result['fp']}, fn {result['fn']})")
    return 0


def cmd_predict(args) -> int:
    from .evaluate import entities
    from .predict import Tagger
    from .tokenize import tokenize

    tagger = Tagger.load(args.model, args.device)
    if args.input in (None, "-"):
        text = sys.stdin.read()
    else:
        path = Path(args.input)
        if not path.is_file():
            raise UserError(f"{path}: input file not found")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as e:
            raise UserError(f"{path}: not UTF-8 text (byte {e.start}); expected UTF-8") from None
    if args.format == "json":
        print(json.dumps(tagger.predict(text), ensure_ascii=False, indent=2))
        return 0
    sentences = tokenize(text)
    tags = tagger.tag([[t for t, _, _ in s] for s in sentences])
    for sentence, sentence_tags in zip(sentences, tags):
        for (token, _, _), tag in zip(sentence, sentence_tags):
            print(f"{token}\t{tag}")
        print()
    return 0


def cmd_bench(args) -> int:
    from .bench import run_bench

    run_bench(args)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="munch", description="NER with several auxiliary corpora (MUNCHABLES)")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("corpora", help="Table 1: sentences, tokens and mentions of every corpus found")
    p.add_argument("--json", action="store_true")
    _add_data_dir(p)
    p.set_defaults(func=cmd_corpora)

    p = sub.add_parser("train", help="train a tagger for a target corpus")
    _add_train_args(p)
    p.add_argument("--out", required=True, help="directory for the model, metrics.json, log.jsonl")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--resume", action="store_true", help="continue from DIR/checkpoint.pt")
    p.add_argument("--trace", action="store_true", help="write every update to DIR/trace.jsonl")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("schedule", help="print the updates `munch train` would perform, one JSON object per line; trains nothing")
    _add_train_args(p)
    p.set_defaults(func=cmd_schedule)

    p = sub.add_parser("evaluate", help="strict entity-level P/R/F1 of a trained model on a corpus split")
    p.add_argument("--model", required=True)
    p.add_argument("--corpus", required=True)
    p.add_argument("--split", default="test", choices=("train", "dev", "test"))
    p.add_argument("--json", action="store_true")
    p.add_argument("--device", default="cpu")
    _add_data_dir(p)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("predict", help="tag raw text with a trained model")
    p.add_argument("--model", required=True)
    p.add_argument("--input", help="a UTF-8 text file, or - for standard input (default)")
    p.add_argument("--format", default="conll", choices=("conll", "json"))
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("bench", help="training and tagging sentences per second on this device")
    p.add_argument("--corpus", default="bc5cdr-chem")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--tag-batch-size", type=int, default=256)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--sentences", type=int, default=2000, help="training sentences to time")
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--json", action="store_true")
    _add_data_dir(p)
    p.set_defaults(func=cmd_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(message)s", stream=sys.stderr)
    try:
        return args.func(args)
    except UserError as e:
        print(f"munch {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"munch {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
