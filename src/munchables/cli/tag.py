"""Using a trained model: `munch evaluate`, `munch predict`, `munch serve`."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from ..util.checks import finite
from ..util.checks import threads as check_threads
from ..choices import OUTPUT_FORMATS
from ..errors import UserError
from .common import _add_data_dir, _add_no_fetch, _add_tagging_args, _set_threads

log = logging.getLogger("munchables")


def cmd_evaluate(args) -> int:
    from ..data.corpus import default_data_dir, load_corpus
    from ..tagging.tagger import Tagger, evaluate_tagger

    _set_threads(args)
    tagger = Tagger.load(args.model, args.device)
    # only the split it scores: a folder holding only a test file is enough
    corpus = load_corpus(args.corpus, default_data_dir(args.data_dir), fetch_missing=not args.no_fetch, splits=(args.split,))
    result = evaluate_tagger(tagger, corpus, args.split, progress=False if args.quiet else None)
    head = result["head"]
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{corpus.name} {args.split} (head {head}): precision {result['precision']:.4f} "
              f"recall {result['recall']:.4f} F1 {result['f1']:.4f} (tp {result['tp']}, fp {result['fp']}, fn {result['fn']})")
    return 0


def cmd_predict(args) -> int:
    from ..tagging.collection import Output, one_document_entities, read_inputs, tag_collection
    from ..tagging.fitness import unfit
    from ..tagging.tagger import Tagger

    _set_threads(args)
    if args.batch_size < 1:
        raise UserError("--batch-size must be at least 1")
    tagger = Tagger.load(args.model, args.device)
    heads = tagger.heads(args.heads)
    warning = unfit(tagger.head_scores, heads, tagger.target)  # heads trained only as helpers, scoring low
    if warning:
        log.warning("munch %s: %s", args.command, warning)
    documents = read_inputs(args.input or ["-"], args.input_format, args.text_unit)
    if args.format == "json":  # one document's entities as one JSON array, offsets into the input as given
        found = one_document_entities(tagger.stream(documents, heads, args.overlap, args.batch_size))
        print(json.dumps(found, ensure_ascii=False, indent=2))
        return 0
    output = Output(args.out, args.format, heads, tagger.types(heads), args.resume, args.overwrite)
    tag_collection(tagger, documents, output, heads, args.overlap, args.batch_size, args.quiet)
    return 0


def cmd_serve(args) -> int:
    """munch serve: the tagging service and its page (serve.py); the model is loaded once, here."""
    try:
        import fastapi, fastapi_offline, uvicorn  # noqa: F401, E401  (optional: the serve extra)
    except ImportError as e:
        raise UserError(f"munch serve needs {e.name}: pip install 'munchables[serve]'") from None
    from ..tagging.tagger import Tagger
    from ..tagging.serve import Limits, serve

    check_threads(args.threads)
    finite(timeout=args.timeout)
    for flag, value in (("--port", args.port), ("--max-bytes", args.max_bytes), ("--max-documents", args.max_documents),
                        ("--timeout", args.timeout)):
        if value <= 0 or (flag == "--port" and value > 65535):
            raise UserError(f"{flag} must be {'1-65535' if flag == '--port' else 'positive'}; got {value}")
    tagger = Tagger.load(args.model, args.device)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("munch serve: listening on %s: anyone who can reach this machine can use the service", args.host)
    serve(tagger, args.host, args.port, Limits(args.max_bytes, args.max_documents, args.timeout), args.threads,
          Path(args.model).resolve().name)
    return 0


def register(sub) -> None:
    p = sub.add_parser("evaluate", help="strict entity-level P/R/F1 of a trained model on a corpus split")
    p.add_argument("--model", required=True)
    p.add_argument("--corpus", required=True)
    p.add_argument("--split", default="test", choices=("train", "dev", "test"))
    p.add_argument("--json", action="store_true")
    p.add_argument("--device", default="cpu")
    _add_tagging_args(p)
    _add_data_dir(p)
    _add_no_fetch(p)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("predict", help="tag raw text, or collections of documents, with a trained model")
    p.add_argument("--model", required=True)
    p.add_argument("--input", action="append", metavar="PATH",
                   help="a file, a directory (every file below it) or - for standard input (default); repeatable")
    p.add_argument("--input-format", default="auto",
                   help="auto (by suffix: .jsonl, .pubtator, .xml BioC, .json BioC; else text) | text | jsonl | pubtator | bioc-xml | bioc-json")
    p.add_argument("--text-unit", default="file",
                   help="plain text: file (the whole input is one document, default) | line (one per line) | block (one per blank-line-separated block)")
    p.add_argument("--format", default="conll",
                   choices=OUTPUT_FORMATS,
                   help="output: conll (default; a tag column per head), json (one document's entities), jsonl, pubtator, bioc-xml, bioc-json, html")
    p.add_argument("--out", help="output file (default: standard output)")
    p.add_argument("--resume", action="store_true", help="continue --out: skip the documents it already holds")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    p.add_argument("--heads", default="target", help="target (default) | all | CORPUS,CORPUS,...: the CRF heads that tag")
    p.add_argument("--overlap", default="all", help="overlapping entities of different heads: all (keep every one, default) | score | priority (the order of --heads)")
    p.add_argument("--batch-size", type=int, default=256, help="sentences per batch")
    p.add_argument("--device", default="cpu")
    _add_tagging_args(p)
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("serve", help="a tagging service over HTTP and a page to try it (pip install 'munchables[serve]')")
    p.add_argument("--model", required=True, help="the trained model's directory (loaded once, at start)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--max-bytes", type=int, default=1_000_000, help="largest request body (default 1 MB; larger: 413)")
    p.add_argument("--max-documents", type=int, default=100, help="documents per request (default 100; more: 413)")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds a request may wait to be tagged (default 60; then 504)")
    p.add_argument("--device", default="cpu")
    _add_tagging_args(p)
    p.set_defaults(func=cmd_serve)
