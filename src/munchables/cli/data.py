"""Corpora and unlabelled text: `munch corpora` (and `corpora fetch`), `text`, `vectors`, `vector-subset`, `charlm`."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from ..errors import UserError
from ..settings import CharLMConfig, CharLMTraining, FastTextConfig, add_flags, from_args
from ..util.paths import refuse_outputs_on_inputs
from .common import THREADS_HELP, _add_data_dir, _add_document_args, _add_no_fetch, _corpus_inputs, _csv, _document_options

log = logging.getLogger("munchables")


def cmd_corpora(args) -> int:
    from ..choices import SPLITS
    from ..data.corpus import available_corpora, corpus_stats, default_data_dir, format_table1, load_corpus, missing_paper_corpora
    from ..data.sources import SOURCES

    if args.corpora_command == "fetch":
        return cmd_corpora_fetch(args)
    from ..data.annotated import dropped_lines

    data_dir = default_data_dir(args.data_dir)
    rows = []
    converted = []  # (name, report) of the corpora read from documents
    for name in available_corpora(data_dir) + (args.corpus or []):
        corpus = load_corpus(name, data_dir, documents=_document_options(args))
        extra = {"documents": corpus.documents} if corpus.documents is not None else {}
        rows += [row | {"entity_types": corpus.entity_types} | extra for row in corpus_stats(corpus)]
        if corpus.documents is not None:
            converted.append((corpus.name, corpus.documents))
    if args.json:  # the missing Table 1 corpora too, marked, with the command that fetches each
        rows += [{"corpus": name, "split": split, "missing": True, "entity_types": list(SOURCES[name].entity_types),
                  "fetch": f"munch corpora fetch {name} --data-dir {data_dir}"}
                 for name in missing_paper_corpora(data_dir) for split in SPLITS]
    print(json.dumps(rows, indent=2) if args.json else format_table1(rows, data_dir))
    if converted and not args.json:  # what each document corpus's conversion kept and dropped, and why
        for name, report in converted:
            print(f"\n{name}: from documents {report['from']} ({report['how']}"
                  f"{', --types ' + report['types'] if report['types'] else ''})")
            print("\n".join(f"  {line}" for line in dropped_lines(report)))
    return 0


def cmd_corpora_fetch(args) -> int:
    from ..data.corpus import default_data_dir
    from ..data.fetch import fetch_corpora, print_urls

    if args.print_urls:
        print("\n".join(print_urls(args.names, args.mirror)))
        return 0
    fetch_corpora(args.names, default_data_dir(args.data_dir), args.mirror)
    return 0


def cmd_text(args) -> int:
    from ..data.text import write_text

    from ..util.rundir import refuse_existing

    refuse_outputs_on_inputs([("--out", args.out)], [("--raw", r) for r in args.raw or []]
                             + _corpus_inputs(_csv(args.corpora) or [], args.data_dir, "--corpora"))
    refuse_existing(Path(args.out), overwrite=args.overwrite)
    result = write_text(args.out, _csv(args.corpora) or [], args.raw or [], args.data_dir)
    log.info("%s sentences (%s characters) written to %s", f"{result['sentences']:,}", f"{result['characters']:,}", args.out)
    return 0


def cmd_vectors(args) -> int:
    from ..embeddings.fasttext import train_vectors
    from ..util.rundir import refuse_existing

    from ..util.threads import default_threads

    refuse_outputs_on_inputs([("--out", args.out)], [("--text", args.text)])
    refuse_existing(Path(args.out), overwrite=args.overwrite)
    config = from_args(FastTextConfig, args, threads=default_threads(args.threads))
    print(json.dumps(train_vectors(args.text, args.out, config)))
    return 0


def cmd_vector_subset(args) -> int:
    from ..data.corpus import default_data_dir, load_corpus
    from ..embeddings import published
    from ..embeddings.provenance import copy_sidecar
    from ..embeddings.word_vectors import VectorSubset, file_sha256, load_vectors
    from ..util.rundir import refuse_existing
    from ..data.vocab import normalise

    refuse_outputs_on_inputs([("--out", args.out)], [("--vectors", args.vectors)]
                             + _corpus_inputs(_csv(args.corpora) or [], args.data_dir, "--corpora"))
    refuse_existing(Path(args.out), overwrite=args.overwrite)
    if not args.out.endswith(".npz"):
        raise UserError(f"--out {args.out}: a vector subset is a .npz file; name it so")
    names = _csv(args.corpora) or []
    if not names:
        raise UserError("--corpora: name the corpora the subset is for (comma-separated)")
    data_dir = default_data_dir(args.data_dir)
    words = [w for name in names for split in ("train", "dev", "test")
             for s in load_corpus(name, data_dir, fetch_missing=not args.no_fetch).split(split) for w in s.tokens]
    args.vectors = published.local(args.vectors, published.WORDS)  # one of Flair's names: the file downloaded
    vectors = load_vectors(args.vectors, trust=args.trust)
    subset = VectorSubset.make(vectors, words, normalise, file_sha256(Path(args.vectors)), Path(args.vectors).name)
    subset.save(args.out)
    copy_sidecar(args.vectors, args.out, subset.source_sha256)  # where the vectors came from, if known
    log.info("%s vectors kept for the %s words of %s (the file lists %s words): %s; trials keyed as for %s",
             f"{len(subset.key_to_index):,}", f"{len(subset.asked):,}", ", ".join(names),
             f"{len(vectors.index_to_key):,}", args.out, args.vectors)
    return 0


def cmd_charlm(args) -> int:
    from ..embeddings.charlm import train_charlm
    from ..util.device import pick_device
    from ..util.threads import set_threads

    refuse_outputs_on_inputs([("--out", args.out)], [("--text", args.text)])
    set_threads(args.threads)
    config, training = from_args(CharLMConfig, args), from_args(CharLMTraining, args)
    history = train_charlm(args.text, args.out, config, training, pick_device(args.device), args.resume)
    if history:
        print(json.dumps(history[-1]))
    return 0


def register(sub) -> None:
    p = sub.add_parser("corpora", help="Table 1: sentences, tokens, mentions and entity types of every corpus found; "
                                       "`munch corpora fetch` downloads them")
    p.add_argument("--json", action="store_true", help="one object per corpus and split; missing corpora marked")
    p.add_argument("--corpus", action="append", metavar="PATH",
                   help="also this corpus: a column-file directory or annotated documents (a PubTator, BioC or JSONL "
                        "file, a brat folder, or train=PATH,dev=PATH,test=PATH), shown with what its conversion "
                        "kept and dropped (repeatable)")
    _add_document_args(p)
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
    add_flags(p, FastTextConfig, ["dim", "epochs", "min_count", "buckets"])
    p.add_argument("--threads", type=int, help="gensim worker " + THREADS_HELP.removeprefix("CPU "))
    add_flags(p, FastTextConfig, ["seed"])
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

    p = sub.add_parser("charlm", help="train a character language model for contextual string embeddings")
    p.add_argument("--text", required=True, help="one sentence per line (munch text); the last lines are held out")
    add_flags(p, CharLMConfig, ["direction"], direction={"required": True})
    p.add_argument("--out", required=True, help="the model file, also its checkpoint (see --resume)")
    add_flags(p, CharLMConfig, ["hidden", "layers"])
    add_flags(p, CharLMTraining, ["epochs", "batch_size", "bptt", "lr", "held_out", "max_minutes", "seed"])
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--resume", action="store_true", help="continue the training that --out holds")
    p.add_argument("--threads", type=int, help=THREADS_HELP)
    p.set_defaults(func=cmd_charlm)
