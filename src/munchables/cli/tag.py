"""Using a trained model: `munch evaluate`, `munch tag` (alias `munch predict`), `munch serve`."""

from __future__ import annotations

import itertools
import json
import logging
from pathlib import Path

from ..util.checks import finite
from ..util.checks import threads as check_threads
from ..choices import ENGINES, INPUT_FORMATS, OFFSETS, OUTPUT_FORMATS, check
from ..errors import UserError
from .common import _add_data_dir, _add_document_args, _add_no_fetch, _add_tagging_args, _document_options, _set_threads

log = logging.getLogger("munchables")


def cmd_evaluate(args) -> int:
    from ..data.corpus import default_data_dir, load_corpus
    from ..tagging.tagger import Tagger, evaluate_tagger

    _set_threads(args)
    tagger = Tagger.load(args.model, args.device)
    # only the split it scores: a folder holding only a test file is enough
    corpus = load_corpus(args.corpus, default_data_dir(args.data_dir), fetch_missing=not args.no_fetch,
                         documents=_document_options(args), splits=(args.split,))
    result = evaluate_tagger(tagger, corpus, args.split, progress=False if args.quiet else None)
    head = result["head"]
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{corpus.name} {args.split} (head {head}): precision {result['precision']:.4f} "
              f"recall {result['recall']:.4f} F1 {result['f1']:.4f} (tp {result['tp']}, fp {result['fp']}, fn {result['fn']})")
    return 0


def model_files(models: list[str]) -> list[tuple[str, Path]]:
    """What each `--model DIR` reads (its files and folders, not what else lies beside them), for the output check."""
    return [("--model", p) for m in models for p in (sorted(Path(m).iterdir()) if Path(m).is_dir() else [Path(m)])]


def tag_settings(args, taggers) -> dict:
    """What decides an output's bytes besides its format: `--resume` continues a file only with the same."""
    return {"models": taggers.sha256, "heads": taggers.heads, "overlap": args.overlap,
            "input_format": args.input_format, "text_unit": args.text_unit, "offsets": args.offsets,
            "drop_existing": args.drop_existing}


def marker(models: list[str]) -> str | None:
    """What our entities are marked with: the model's folder name; with several models, the head
    names say which (MODEL:HEAD)."""
    return Path(models[0]).resolve().name if len(models) == 1 else None


def cmd_tag(args) -> int:
    from ..tagging.sidecar import lock_path, sidecar_path, writing
    from ..util.paths import refuse_outputs_on_inputs

    if args.batch_size < 1:
        raise UserError("--batch-size must be at least 1")
    inputs = [("--input", spec) for spec in args.input or ["-"]]
    if args.out is not None:  # before anything is loaded or opened: an output is never an input
        refuse_outputs_on_inputs([("--out", args.out), ("--out", sidecar_path(args.out)),
                                  ("--out", lock_path(args.out))], inputs + model_files(args.model))
    if args.jobs < 1:
        raise UserError(f"--jobs must be at least 1; got {args.jobs}")
    if args.out_dir is not None:
        return _tag_into_folder(args, inputs)
    if args.out is None:
        return _tag(args)
    with writing(args.out):  # one munch tag at a time into one output (checked before its sidecar is read)
        return _tag(args)


def _tag(args) -> int:
    """munch tag into --out FILE, a brat folder, or standard output."""
    from ..data.formats import FOLDER_OUTPUTS
    from ..tagging.collection import Output, one_document_entities, read_inputs, tag_collection
    from ..tagging.ensemble import TaggingPlan
    from ..tagging.fitness import unfit

    if args.engine == "ray":
        raise UserError("--engine ray spreads the files of a collection over a cluster: give --out-dir DIR "
                        "(one output per input file) instead of --out")
    _set_threads(args)
    plan = TaggingPlan(tuple(args.model), tuple(args.heads or ["target"]), args.overlap, args.batch_size, args.device)
    taggers = plan.load()
    for tagger, heads in zip(taggers.taggers, taggers.own_heads):  # heads trained only as helpers, scoring low
        warning = unfit(tagger.head_scores, heads, tagger.target)
        if warning:
            log.warning("munch %s: %s", args.command, warning)
    documents = read_inputs(args.input or ["-"], args.input_format, args.text_unit, args.offsets)
    if args.drop_existing:  # a clean slate: the input's own annotations and relations are not written
        documents = (d.without_annotations() for d in documents)
    first = next(documents, None)  # read (and checked) before --out is opened: a bad input leaves it untouched
    documents = itertools.chain([first] if first is not None else [], documents)
    if args.format == "json":  # one document's entities as one JSON array, offsets into the input as given
        found = one_document_entities(taggers.stream(documents, args.overlap, args.batch_size), args.offsets)
        print(json.dumps(found, ensure_ascii=False, indent=2))
        return 0
    if args.format in FOLDER_OUTPUTS:  # brat: a folder of .txt + .ann pairs
        output = FOLDER_OUTPUTS[args.format](args.out, args.resume, args.overwrite, model=marker(args.model))
    else:  # our entities marked with the model that found them (several: the head names MODEL:HEAD)
        output = Output(args.out, args.format, taggers.heads, taggers.types(), args.resume, args.overwrite,
                        tag_settings(args, taggers), model=marker(args.model), offsets=args.offsets)
    if args.jobs > 1:
        from ..tagging.parallel import Workers

        check_threads(args.threads)
        taggers = Workers(plan, args.jobs, args.threads or 1)
    tag_collection(taggers, documents, output, args.overlap, args.batch_size, args.quiet)
    return 0


def _tag_into_folder(args, inputs) -> int:
    """--out-dir DIR: one output per input file, by local workers or Ray tasks; a manifest to skip finished files."""
    from ..tagging.collection import input_files
    from ..tagging.parallel import MANIFEST, read_manifest
    from ..tagging.sidecar import writing
    from ..util.files import ensure_dir
    from ..util.paths import refuse_outputs_on_inputs

    if args.out is not None or args.format == "json":
        raise UserError("--out-dir writes one output file per input file: leave out --out, and give a --format "
                        "other than json")
    check(args.engine, ENGINES, "--engine")
    refuse_outputs_on_inputs([("--out-dir", args.out_dir)], inputs + model_files(args.model))
    out_dir = Path(args.out_dir)
    ensure_dir(out_dir, "--out-dir", create=False)
    files = input_files(args.input)
    check_threads(args.threads)
    with writing(out_dir, "--out-dir", inside=True):  # one munch tag at a time into a folder
        if read_manifest(out_dir) and not (args.resume or args.overwrite):
            raise UserError(f"--out-dir {out_dir} holds an earlier run's outputs ({MANIFEST}); --resume skips the "
                            f"files it finished, --overwrite tags every file again")
        return _tag_files(args, out_dir, files)


def _tag_files(args, out_dir: Path, files) -> int:
    from ..tagging.ensemble import TaggingPlan
    from ..tagging.parallel import Writing, tag_files

    _set_threads(args)
    plan = TaggingPlan(tuple(args.model), tuple(args.heads or ["target"]), args.overlap, args.batch_size, args.device)
    taggers = plan.load()  # here too: the heads, types and settings every file's output is written with
    writing = Writing(args.input_format, args.text_unit, args.offsets, args.drop_existing, marker(args.model))
    summary = tag_files(plan, files, out_dir, args.format, writing, taggers.heads, taggers.types(),
                        tag_settings(args, taggers), args.engine, args.jobs, args.threads or 1, args.ray_address,
                        args.overwrite, loaded=taggers)
    log.info("%d files tagged (%d finished before), %d documents in %.1f s: %.1f documents/s", summary["files"],
             summary["skipped_files"], summary["documents"], summary["seconds"], summary["documents_per_s"])
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
    _add_document_args(p, "--doc-split")
    _add_data_dir(p)
    _add_no_fetch(p)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("tag", aliases=["predict"],
                       help="tag raw text, or collections of documents, with a trained model (alias: predict)",
                       description="Tag raw text, or collections of documents, with a trained model. "
                                   "`munch predict` is an alias of `munch tag`: the same command and flags.")
    p.add_argument("--model", required=True, action="append", metavar="DIR",
                   help="a trained model; repeat it to tag with several in one pass (entities merged under --overlap)")
    p.add_argument("--input", action="append", metavar="PATH",
                   help="a file, a directory (every file below it) or - for standard input (default); repeatable")
    p.add_argument("--input-format", default="auto",
                   help="auto (by content, then by suffix: .jsonl, .pubtator, .xml BioC, .json BioC, .xml.gz MEDLINE; a folder with .ann files: brat; else "
                        f"text, quietly; any other choice is logged) | {' | '.join(INPUT_FORMATS)} (README, Input formats)")
    p.add_argument("--text-unit", default="file",
                   help="plain text: file (the whole input is one document, default) | line (one per line) | block (one per "
                        "blank-line-separated block) | paragraph (one document, a passage per paragraph; hard-wrapped "
                        "lines inside a paragraph are joined for sentence splitting, offsets stay those of the file)")
    p.add_argument("--offsets", default="code-points", choices=OFFSETS,
                   help="what offsets count, read and written: code-points (Python's, default) | utf16 (UTF-16 code "
                        "units, as Java and JavaScript BioC tools count)")
    p.add_argument("--drop-existing", action="store_true",
                   help="leave out the annotations and relations the input came with (default: kept untouched, ours "
                        "added beside them with fresh ids and the model's name)")
    p.add_argument("--format", default="conll",
                   choices=OUTPUT_FORMATS,
                   help="output: conll (default; a tag column per head), json (one document's entities), jsonl, pubtator, bioc-xml, bioc-json, html, brat (--out FOLDER: ID.txt + ID.ann per document)")
    p.add_argument("--out", help="output file (default: standard output); a folder for --format brat")
    p.add_argument("--resume", action="store_true", help="continue --out: skip the documents it already holds")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    p.add_argument("--heads", action="append", help="target (default) | all | CORPUS,CORPUS,...: the CRF heads that tag; "
                                                    "with several --model, once for all or once per model")
    p.add_argument("--overlap", default="all", help="overlapping entities of different heads: all (keep every one, default) | score | priority (the order of --heads)")
    p.add_argument("--batch-size", type=int, default=256, help="sentences per batch")
    p.add_argument("--device", default="cpu")
    p.add_argument("--jobs", type=int, default=1,
                   help="worker processes (default 1); the output is in input order, --resume as with one")
    p.add_argument("--out-dir", metavar="DIR",
                   help="one output per input file, DIR/<its path below --input>.<format>, each written whole; "
                        "DIR/munch-manifest.jsonl lets a rerun with --resume skip the files finished")
    p.add_argument("--engine", default="local",
                   help="with --out-dir: local (--jobs processes here, default) | ray (a Ray task per file)")
    p.add_argument("--ray-address", help="--engine ray: the cluster (default: a local Ray instance with --jobs CPUs)")
    _add_tagging_args(p)
    p.set_defaults(func=cmd_tag)

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
