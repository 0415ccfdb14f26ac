"""The `munch` command: argument parsing and messages only; each command calls one function elsewhere.

Each command imports what it runs inside its function: most of munchables loads torch, and
`munch --help` (and a mistyped flag) should answer at once. Only torch-free modules (choices,
checks, errors) are imported at the top.
"""

from __future__ import annotations

import argparse
import errno
import json
import logging
import sys
from pathlib import Path

from .. import __version__
from ..util.checks import finite
from ..util.checks import threads as check_threads
from ..choices import AUX_ORDERS, CACHES, DIRECTIONS, ITER_SWITCHES, LOSS_REDUCTIONS, METHODS, OUTPUT_FORMATS, PROTOCOL_METHODS
from ..errors import UserError

log = logging.getLogger("munchables")

# OSErrors about a path the user chose, not bugs: printed as one line like a UserError
USER_ERRNOS = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.ELOOP, errno.ENAMETOOLONG}


def _add_data_dir(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", help="directory holding the corpora (default: $MUNCHABLES_DATA, else ../shared/data, "
                                      "else ~/.cache/munchables/corpora)")


def _add_no_fetch(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-fetch", action="store_true",
                   help="never download: a named corpus missing from the data directory is an error "
                        "(default: fetched on first use, see munch corpora fetch)")




THREADS_HELP = ("torch CPU threads (default: 1 when other jobs already keep the cores busy, measured 5x faster "
                "there; else torch's one per core)")


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
    p.add_argument("--word-vectors", help="initialise word embeddings from word2vec text/binary, fastText .vec/.bin or gensim/Flair KeyedVectors")
    p.add_argument("--trust", action="store_true",
                   help="also load gensim pickles other than KeyedVectors (whole Word2Vec/FastText models) with gensim's loader, which can run code: only your own files")
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
        keep=getattr(args, "keep", "last"),
        train=TrainConfig(lr=args.lr, batch_size=args.batch_size, max_epochs=args.max_epochs, seed=args.seed,
                          loss_reduction=args.loss_reduction),
        model=ModelConfig(word_dim=args.word_dim, hidden=args.hidden, dropout=args.dropout,
                          word_vectors=args.word_vectors, **_embedding_options(args)),
        embedding_cache=args.embedding_cache, trust=getattr(args, "trust", False), fetch=not args.no_fetch,
    )


def _add_embedding_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("embeddings (README, Embeddings)")
    g.add_argument("--charlm-forward", metavar="PATH", help="forward character LM for contextual string embeddings: a munch charlm file or Flair's (pubmed-forward.pt)")
    g.add_argument("--charlm-backward", metavar="PATH", help="backward character LM; give both or neither")
    g.add_argument("--charlm-projection", type=int, default=0, metavar="K",
                   help="map the contextual string embeddings to K values before the BiLSTM (default 0: whole, as in the paper)")
    g.add_argument("--transformer", metavar="NAME_OR_DIR", help="Hugging Face model folder or hub id (fetched once into the usual cache): the shared encoder's token features")
    g.add_argument("--transformer-layers", type=int, default=4, metavar="N", help="last transformer layers concatenated (default 4)")
    g.add_argument("--fine-tune-transformer", action="store_true", help="train the transformer too (default: frozen)")
    g.add_argument("--no-lstm", action="store_true", help="no BiLSTM: the heads read the token features directly")
    g.add_argument("--embedding-cache", default="memory", metavar="WHERE", help=f"frozen features per sentence: {' | '.join(CACHES)}")


def _embedding_options(args: argparse.Namespace) -> dict:
    return {"charlm_forward": args.charlm_forward, "charlm_backward": args.charlm_backward,
            "charlm_projection": args.charlm_projection,
            "transformer": args.transformer, "transformer_layers": args.transformer_layers,
            "fine_tune_transformer": args.fine_tune_transformer, "lstm": not args.no_lstm}


def _add_tagging_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice, one per core; 1 is faster when other jobs share the cores)")


def cmd_corpora(args) -> int:
    from ..choices import SPLITS
    from ..data.corpus import available_corpora, corpus_stats, default_data_dir, format_table1, load_corpus, missing_paper_corpora
    from ..data.sources import SOURCES

    if args.corpora_command == "fetch":
        return cmd_corpora_fetch(args)
    data_dir = default_data_dir(args.data_dir)
    rows = []
    for name in available_corpora(data_dir):
        corpus = load_corpus(name, data_dir)
        rows += [row | {"entity_types": corpus.entity_types} for row in corpus_stats(corpus)]
    if args.json:  # the missing Table 1 corpora too, marked, with the command that fetches each
        rows += [{"corpus": name, "split": split, "missing": True, "entity_types": list(SOURCES[name].entity_types),
                  "fetch": f"munch corpora fetch {name} --data-dir {data_dir}"}
                 for name in missing_paper_corpora(data_dir) for split in SPLITS]
    print(json.dumps(rows, indent=2) if args.json else format_table1(rows, data_dir))
    return 0


def cmd_corpora_fetch(args) -> int:
    from ..data.corpus import default_data_dir
    from ..data.fetch import fetch_corpora, print_urls

    if args.print_urls:
        print("\n".join(print_urls(args.names, args.mirror)))
        return 0
    fetch_corpora(args.names, default_data_dir(args.data_dir), args.mirror)
    return 0


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
    # the scores; the per-sentence counts (for the report's bootstrap) stay in metrics.json
    print(json.dumps({k: {m: v for m, v in metrics[k].items() if m != "sentences"} for k in ("dev", "test")}))
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


def _set_threads(args) -> None:
    """--threads N: torch CPU threads (default: torch's choice, one per core)."""
    from ..util.threads import set_threads  # loads torch: not at the top, for a quick `munch --help`

    set_threads(getattr(args, "threads", None), adapt=False)


def cmd_evaluate(args) -> int:
    from ..data.corpus import default_data_dir, load_corpus
    from ..tagging.tagger import Tagger, evaluate_tagger

    _set_threads(args)
    tagger = Tagger.load(args.model, args.device)
    corpus = load_corpus(args.corpus, default_data_dir(args.data_dir), fetch_missing=not args.no_fetch)
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
    from ..tagging.tagger import Tagger

    _set_threads(args)
    if args.batch_size < 1:
        raise UserError("--batch-size must be at least 1")
    tagger = Tagger.load(args.model, args.device)
    heads = tagger.heads(args.heads)
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


def cmd_bench(args) -> int:
    _set_threads(args)
    if args.collection:
        from ..bench.collection import run_collection_bench

        run_collection_bench(args)
        return 0
    from ..bench.speed import run_bench

    run_bench(args)
    return 0


def _csv(value: str | None) -> list[str] | None:
    return [v for v in value.split(",") if v] if value else None


def cmd_reproduce(args) -> int:
    from ..data.corpus import default_data_dir
    from ..experiments import reproduce_command, status_command
    from ..data.fetch import ensure_corpora

    finite(lr=args.lr, gpus_per_trial=args.gpus_per_trial, cpus_per_trial=args.cpus_per_trial)
    if args.gpus_per_trial < 0 or args.cpus_per_trial <= 0:
        raise UserError("--gpus-per-trial must be at least 0 and --cpus-per-trial positive")
    if args.status:
        print(status_command(args.store, args.runs_dir, jobs=args.jobs, data_dir=args.data_dir,
                             targets=_csv(args.targets), methods=_csv(args.methods), grid=args.grid,
                             preset=args.preset, seeds=args.seeds, lr=args.lr, batch_size=args.batch_size,
                             max_epochs=args.max_epochs, train_limit=args.train_limit, hidden=args.hidden,
                             loss_reduction=args.loss_reduction, aux=_csv(args.aux), word_vectors=args.word_vectors))
        return 0
    if not args.no_fetch:
        ensure_corpora([*(_csv(args.targets) or []), *(_csv(args.aux) or [])], default_data_dir(args.data_dir))
    summary = reproduce_command(
        args.store, args.runs_dir, engine=args.engine, jobs=args.jobs, ray_address=args.ray_address,
        gpus_per_trial=args.gpus_per_trial, cpus_per_trial=args.cpus_per_trial, device=args.device,
        data_dir=args.data_dir, targets=_csv(args.targets), methods=_csv(args.methods), grid=args.grid,
        preset=args.preset, seeds=args.seeds, lr=args.lr, batch_size=args.batch_size,
        max_epochs=args.max_epochs, train_limit=args.train_limit, hidden=args.hidden, threads=args.threads,
        loss_reduction=args.loss_reduction, aux=_csv(args.aux), word_vectors=args.word_vectors,
    )
    print(f"munch reproduce: {summary.ran} trials run, {summary.skipped} found in {args.store}, "
          f"{len(summary.failed)} failed", file=sys.stderr)
    for failure in summary.failed:
        print(f"  failed: {failure}", file=sys.stderr)
    return 1 if summary.failed else 0


def cmd_report(args) -> int:
    from ..experiments.report import write_report

    path = write_report(args.store, args.out, target=args.target, curve_target=args.curve_target, preset=args.preset,
                        compare_preset=args.compare_preset, overwrite=args.overwrite)
    print(path)
    return 0


def cmd_text(args) -> int:
    from ..data.text import write_text

    from ..util.rundir import refuse_existing

    refuse_existing(Path(args.out), overwrite=args.overwrite)
    result = write_text(args.out, _csv(args.corpora) or [], args.raw or [], args.data_dir)
    log.info("%s sentences (%s characters) written to %s", f"{result['sentences']:,}", f"{result['characters']:,}", args.out)
    return 0


def cmd_vectors(args) -> int:
    from ..embeddings.fasttext import FastTextConfig, train_vectors
    from ..util.rundir import refuse_existing

    refuse_existing(Path(args.out), overwrite=args.overwrite)

    check_threads(args.threads)
    config = FastTextConfig(dim=args.dim, epochs=args.epochs, min_count=args.min_count, buckets=args.buckets,
                            threads=args.threads or 0, seed=args.seed)
    print(json.dumps(train_vectors(args.text, args.out, config)))
    return 0


def cmd_vector_subset(args) -> int:
    from ..data.corpus import default_data_dir, load_corpus
    from ..embeddings.word_vectors import VectorSubset, file_sha256, load_vectors
    from ..util.rundir import refuse_existing
    from ..data.vocab import normalise

    refuse_existing(Path(args.out), overwrite=args.overwrite)
    if not args.out.endswith(".npz"):
        raise UserError(f"--out {args.out}: a vector subset is a .npz file; name it so")
    names = _csv(args.corpora) or []
    if not names:
        raise UserError("--corpora: name the corpora the subset is for (comma-separated)")
    data_dir = default_data_dir(args.data_dir)
    words = [w for name in names for split in ("train", "dev", "test")
             for s in load_corpus(name, data_dir, fetch_missing=not args.no_fetch).split(split) for w in s.tokens]
    vectors = load_vectors(args.vectors, trust=args.trust)
    subset = VectorSubset.make(vectors, words, normalise, file_sha256(Path(args.vectors)), Path(args.vectors).name)
    subset.save(args.out)
    log.info("%s vectors kept for the %s words of %s (the file lists %s words): %s; trials keyed as for %s",
             f"{len(subset.key_to_index):,}", f"{len(subset.asked):,}", ", ".join(names),
             f"{len(vectors.index_to_key):,}", args.out, args.vectors)
    return 0


def cmd_merge_stores(args) -> int:
    from ..experiments.store import Store

    with Store(args.store) as store:
        for other in args.sources:
            if Path(other).resolve() == Path(args.store).resolve():
                raise UserError(f"{other}: is --store itself; name the other machine's store")
            copied, present = store.merge_from(other)
            log.info("%s: %d trials copied into %s, %d already there", other, copied, args.store, present)
    return 0


def cmd_charlm(args) -> int:
    from ..embeddings.charlm import CharLMConfig, CharLMTraining, train_charlm
    from ..util.device import pick_device
    from ..util.threads import set_threads

    set_threads(args.threads)
    config = CharLMConfig(direction=args.direction, hidden=args.hidden, layers=args.layers)
    training = CharLMTraining(epochs=args.epochs, batch_size=args.batch_size, bptt=args.bptt, lr=args.lr,
                              held_out=args.held_out, seed=args.seed, max_minutes=args.max_minutes)
    history = train_charlm(args.text, args.out, config, training, pick_device(args.device), args.resume)
    if history:
        print(json.dumps(history[-1]))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="munch", description="NER with several auxiliary corpora (MUNCHABLES)")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    parser.add_argument("--version", action="version", version=f"munch (munchables) {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("corpora", help="Table 1: sentences, tokens, mentions and entity types of every corpus found; "
                                       "`munch corpora fetch` downloads them")
    p.add_argument("--json", action="store_true", help="one object per corpus and split; missing corpora marked")
    _add_data_dir(p)
    p.set_defaults(func=cmd_corpora, corpora_command=None)
    fetch = p.add_subparsers(dest="corpora_command").add_parser(
        "fetch", help="download, verify and install named corpora (README, Data)",
        description="Download the pinned source files of each corpus, check every file against its git blob id, "
                    "convert them as ../shared/data was, and install the corpus atomically. Present corpora "
                    "are verified and skipped. Licences are printed.")
    fetch.add_argument("names", nargs="*", metavar="NAME",
                       help="corpus ids, `all` (the paper's eight, the default) or `extra` (nine more)")
    fetch.add_argument("--data-dir", default=argparse.SUPPRESS,  # SUPPRESS: `corpora --data-dir X fetch` keeps X
                       help="where to put them (default: the data directory, as for munch corpora)")
    fetch.add_argument("--mirror", metavar="DIR_OR_URL",
                       help="a local directory or an HTTP base URL laid out as owner/repo/commit/path "
                            "(default: $MUNCHABLES_MIRROR, else https://raw.githubusercontent.com)")
    fetch.add_argument("--print-urls", action="store_true",
                       help="print each file's URL, git blob id and destination, for manual download; fetch nothing")

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
                   help="keep checkpoint.pt after the run finishes (as large as the model), to extend it later with --resume")
    p.add_argument("--threads", type=int, help=THREADS_HELP)
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

    p = sub.add_parser("bench", help="training and tagging sentences per second on this device")
    p.add_argument("--corpus", default="bc5cdr-chem")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--tag-batch-size", type=int, default=256)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--sentences", type=int, default=2000, help="training sentences to time")
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
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

    p = sub.add_parser("reproduce", help="run the paper's protocol (section 4.1) into a resumable results store")
    p.add_argument("--targets", help="target corpora, comma-separated (default: every corpus found)")
    p.add_argument("--methods", help=f"comma-separated, from: {', '.join(PROTOCOL_METHODS)} (default: all)")
    p.add_argument("--preset", default="quick", help="quick (2-core CPU smoke test, under an hour) | lowres-cpu (converged low-resource "
                                                     "comparisons on a CPU: target cut to 1,000 sentences, auxiliary corpora whole) | paper (full, uncapped)")
    p.add_argument("--aux", help="the auxiliary corpora of every target, comma-separated (default: every other corpus found)")
    p.add_argument("--word-vectors", help="word vectors every trial starts from (munch vectors); their sha256 goes into the trial key")
    p.add_argument("--loss-reduction", help=f"override the preset's loss reduction: {' | '.join(LOSS_REDUCTIONS)}")
    p.add_argument("--grid", help="paper (lr 0.05/0.1 x batch 16/32) | fixed (--lr, --batch-size); default: the preset's")
    p.add_argument("--lr", type=float, help="the fixed grid's learning rate (default: the preset's)")
    p.add_argument("--batch-size", type=int, help="the fixed grid's batch size (default: the preset's)")
    p.add_argument("--max-epochs", type=int, help="override the preset's cap on epochs per stage")
    p.add_argument("--train-limit", type=int, help="override the preset's training sentences per corpus")
    p.add_argument("--hidden", type=int, help="override the preset's BiLSTM size")
    p.add_argument("--seeds", type=int, default=1, help="final models per method and target, seeds 1..N")
    p.add_argument("--store", default="runs/results.sqlite", help="the SQLite results store")
    p.add_argument("--runs-dir", default="runs/trials", help="one directory per trial (checkpoints, logs)")
    p.add_argument("--engine", default="local", help="local (processes here) | ray (tasks on a Ray cluster)")
    p.add_argument("--jobs", type=int, default=1, help="local engine: trials in parallel")
    p.add_argument("--ray-address", help="ray engine: the cluster (default: a local Ray instance)")
    p.add_argument("--gpus-per-trial", type=float, default=0, help="ray engine: GPUs per trial (fractions share one)")
    p.add_argument("--cpus-per-trial", type=float, default=1, help="ray engine: CPUs per trial")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--threads", type=int, help="local engine: torch threads per job (default 1: measured 66 s a quick "
                                               "trial against 517 s with 2 threads on a busy 2-core machine)")
    p.add_argument("--status", action="store_true", help="print done / running / left per method and target with "
                                                         "an estimate of the time to go (same flags as the run); runs nothing")
    _add_data_dir(p)
    _add_no_fetch(p)
    p.set_defaults(func=cmd_reproduce)

    p = sub.add_parser("report", help="Tables 2, 3, 4, the gain matrix and plots from the results store")
    p.add_argument("--store", default="runs/results.sqlite")
    p.add_argument("--out", required=True, help="directory for report.md, CSV files and PNG plots")
    p.add_argument("--target", help="Table 3's target (default: chemdner if present, else the first target)")
    p.add_argument("--curve-target", help="the target of the dev F1 curves (default: Table 3's)")
    p.add_argument("--preset", help="only trials of this preset (needed when the store holds several)")
    p.add_argument("--compare-preset", metavar="PRESET", help="also compare the final models with this preset's, paired by seed (e.g. lowres-cpu+loss_reduction=mean)")
    p.add_argument("--overwrite", action="store_true", help="replace the report --out already holds")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("text", help="unlabelled text for the embeddings: train and dev sentences (never test), one per line")
    p.add_argument("--corpora", help="corpora whose train and dev sentences to write, comma-separated")
    p.add_argument("--raw", action="append", metavar="FILE", help="also a raw UTF-8 text file, tokenised like the corpora (repeatable)")
    p.add_argument("--out", required=True, help="the text file to write")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    _add_data_dir(p)
    p.set_defaults(func=cmd_text)

    p = sub.add_parser("vectors", help="train fastText sub-word vectors (gensim) on a text file, for train --word-vectors")
    p.add_argument("--text", required=True, help="one sentence per line, tokens separated by spaces (munch text)")
    p.add_argument("--out", required=True, help="the vector file, fastText binary (.bin)")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    p.add_argument("--dim", type=int, default=300, help="vector size (with the default buckets, 300 needs about 2.4 GB)")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--min-count", type=int, default=5, help="words seen fewer times get only n-gram vectors")
    p.add_argument("--buckets", type=int, default=2_000_000, help="n-gram hash buckets (memory: buckets x dim x 4 bytes)")
    p.add_argument("--threads", type=int, help="worker threads (default: one per core)")
    p.add_argument("--seed", type=int, default=1)
    p.set_defaults(func=cmd_vectors)

    p = sub.add_parser("vector-subset", help="keep only the vectors some corpora use: a small .npz that trains the same models")
    p.add_argument("--vectors", required=True, help="the whole vector file (as for --word-vectors)")
    p.add_argument("--corpora", required=True, help="every corpus the runs will use, comma-separated (all three splits are read)")
    p.add_argument("--out", required=True, help="the subset, a .npz of plain arrays; --word-vectors takes it")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    p.add_argument("--trust", action="store_true", help="as for train: also read gensim pickles other than KeyedVectors")
    _add_no_fetch(p)
    _add_data_dir(p)
    p.set_defaults(func=cmd_vector_subset)

    p = sub.add_parser("merge-stores", help="copy into a results store the trials another store holds (runs on other machines)")
    p.add_argument("--store", required=True, help="the store to add to (munch reproduce --store)")
    p.add_argument("sources", nargs="+", metavar="STORE", help="stores whose trials to copy in; trials already there are left alone")
    p.set_defaults(func=cmd_merge_stores)

    p = sub.add_parser("charlm", help="train a character language model for contextual string embeddings")
    p.add_argument("--text", required=True, help="one sentence per line (munch text); the last lines are held out")
    p.add_argument("--direction", required=True, help=" | ".join(DIRECTIONS))
    p.add_argument("--out", required=True, help="the model file, also its checkpoint (see --resume)")
    p.add_argument("--hidden", type=int, default=1024, help="LSTM units")
    p.add_argument("--layers", type=int, default=1)
    p.add_argument("--epochs", type=int, default=10, help="passes over the text")
    p.add_argument("--batch-size", type=int, default=100, help="parallel character streams")
    p.add_argument("--bptt", type=int, default=250, help="characters per truncated-backpropagation window")
    p.add_argument("--lr", type=float, default=20.0, help="initial SGD learning rate, halved when held-out bits/char stop falling")
    p.add_argument("--held-out", type=float, default=0.01, help="fraction of lines, at the end, scored after every epoch")
    p.add_argument("--max-minutes", type=float, help="stop after this long, checkpointed (continue with --resume)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--resume", action="store_true", help="continue the training that --out holds")
    p.add_argument("--threads", type=int, help=THREADS_HELP)
    p.set_defaults(func=cmd_charlm)
    parser.subcommands = sub.choices  # for a subcommand's own usage on a bad flag
    return parser


def _explicit(argv: list[str] | None) -> set[str]:
    """The options given on the command line (not defaults): parsed again with every default suppressed."""
    parser = build_parser()
    for p in parser.subcommands.values():
        for action in p._actions:
            action.default, action.required = argparse.SUPPRESS, False
    args, _ = parser.parse_known_args(argv)
    return set(vars(args))


def _resume_hint(args) -> str:
    if args.command == "train":
        return f"; continue with: munch train --out {args.out} --resume"
    if args.command == "charlm":
        return "; continue with the same command and --resume"
    if args.command == "reproduce":
        return "; run the same command again to go on (finished trials are kept)"
    return ""


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # the subcommand's usage, not the top level's
        parser.subcommands[args.command].error(f"unrecognized arguments: {' '.join(extra)}")
    args.explicit = _explicit(argv) if getattr(args, "resume", False) else set()
    # our messages at INFO, other libraries' (gensim's flood of INFO lines) only from WARNING
    logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stderr)
    log.setLevel(logging.WARNING if args.quiet else logging.INFO)
    try:
        return args.func(args)
    except UserError as e:
        print(f"munch {args.command}: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # the file system refused (permissions, read-only, full, link loops): the user's to fix
        if e.errno not in USER_ERRNOS or not e.filename:
            raise
        print(f"munch {args.command}: error: {e.filename}: {e.strerror}; check the path and its permissions "
              "or free space", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"munch {args.command}: interrupted{_resume_hint(args)}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
