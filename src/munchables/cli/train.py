"""Training: `munch train` and `munch schedule`, and the run options they share."""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import replace
from pathlib import Path

from ..errors import UserError
from ..settings import RunOptions, add_flags, from_args, from_flat, help_of, is_free, names
from .common import THREADS_HELP, _add_document_args

log = logging.getLogger("munchables")


# Every flag below is a setting (settings.py: its default, help and check), listed here in the
# order --help shows them; the run's settings are built back from the parsed flags by name.
WHAT = ("method", "aux", "aux_order", "iter_switch", "lr", "batch_size", "loss_reduction", "max_epochs",
        "train_limit", "aux_whole", "seed", "hidden", "word_dim", "dropout", "cache_dir", "word_vectors", "trust")
EMBEDDINGS = ("charlm_forward", "charlm_backward", "charlm_projection", "transformer", "transformer_layers",
              "fine_tune_transformer", "lstm", "embedding_cache")
HOW = ("device", "resume", "overwrite", "keep", "keep_checkpoint")  # munch train's alone, before --threads


# The default method when --method is not given: the evidence's choice for a small target
METHOD_HELP = (help_of(RunOptions, "method") + ". Default: iter when --aux is given (the method the evidence favours "
               "for a small target: +3.0 and +7.3 test F1 points over single-task at 1,000 sentences, "
               "docs/results.md), else single-task")


def _add_train_args(p: argparse.ArgumentParser, target_required: bool = True) -> None:
    add_flags(p, RunOptions, ["target"], target={"required": True} if target_required else {
        "help": help_of(RunOptions, "target") + " (with --resume: the run's own)"})
    add_flags(p, RunOptions, WHAT, method={"default": None, "help": METHOD_HELP})
    add_flags(p.add_argument_group("embeddings (README, Embeddings)"), RunOptions, EMBEDDINGS)
    _add_document_args(p)
    add_flags(p, RunOptions, ["data_dir", "fetch"])


def default_method(args: argparse.Namespace) -> str:
    """--method, else iter when --aux is given (the evidence's best for a small target), else single-task."""
    if args.method is not None:
        return args.method
    return "iter" if args.aux is not None else "single-task"


def _run_options(args: argparse.Namespace) -> RunOptions:
    return from_args(RunOptions, args, method=default_method(args))


def cmd_train(args) -> int:
    from ..pipeline import train
    from ..resume import saved_options
    from ..util.threads import set_threads

    refuse_train_outputs_on_inputs(args)
    saved = saved_options(Path(args.out)) if args.resume else None
    if saved is not None:  # --resume alone: the run's own settings, and any flag given again on top
        options = _with_saved(_run_options(args), saved, args.explicit)
    elif args.target is None:
        raise UserError("the following argument is required: --target (or --resume with an --out that holds a run)")
    else:
        options = _run_options(args)
    options = replace(options, score_heads=True)  # at the end, every head's dev F1: which are fit to tag with
    if options.method == "single-task" and options.aux is not None:
        log.warning("--method single-task trains the target alone: --aux %s is not used", ",".join(options.aux))
    set_threads(args.threads)
    if args.compare is not None or args.seeds != 1:
        from ..experiments.comparison import train_compared

        result = train_compared(options, args.compare, args.seeds)
        print(json.dumps({k: v for k, v in result.items() if k != "sentence"}))
        if "sentence" in result:
            print(result["sentence"])
        return 0
    metrics = train(options)
    # the last line is the log's sentence ("single-task on ncbi-disease: dev F1 ..., test F1 ..."); with
    # --json the scores on standard output too (the per-sentence counts stay in metrics.json)
    if args.json:
        print(json.dumps({k: {m: v for m, v in metrics[k].items() if m != "sentences"} for k in ("dev", "test")}
                         | ({"heads": metrics["heads"]} if "heads" in metrics else {})))
    return 0


def refuse_train_outputs_on_inputs(args) -> None:
    """--out DIR is never an input, nor inside one, and the files a run writes there are none of its inputs
    (`--transformer DIR --out DIR --overwrite` would have removed the transformer's config.json)."""
    from ..util.paths import refuse_outputs_on_inputs
    from ..util.rundir import LOCK_FILE, RUN_FILES
    from .common import _corpus_inputs

    out = Path(args.out)
    names = [args.target, *(a for a in (args.aux or []) if a != "auto")] if args.target else []
    inputs = [(flag, getattr(args, name)) for flag, name in (
        ("--word-vectors", "word_vectors"), ("--charlm-forward", "charlm_forward"),
        ("--charlm-backward", "charlm_backward"), ("--transformer", "transformer"))]
    inputs += _corpus_inputs([n for n in names if n], args.data_dir, "--target/--aux")
    refuse_outputs_on_inputs([("--out", out), *(("--out", out / name) for name in (*RUN_FILES, LOCK_FILE))], inputs)


def _with_saved(options: RunOptions, saved: dict, explicit: set[str]) -> RunOptions:
    """`options` with every setting not given on the command line taken from the run's config.json.

    Free settings (how, not what, is trained: the device, --no-fetch) always come from the command
    line; names this version does not know (a newer or older config.json) are left out."""
    known = names(RunOptions)
    return from_flat(options, {name: value for name, value in saved.items()
                               if name in known and name not in explicit and not is_free(name)})


def cmd_schedule(args) -> int:
    from ..pipeline import schedule

    for record in schedule(_run_options(args)):
        print(json.dumps(record))
    return 0


def register(sub) -> None:
    p = sub.add_parser("train", help="train a tagger for a target corpus")
    _add_train_args(p, target_required=False)
    add_flags(p, RunOptions, ["out"], out={"required": True})
    add_flags(p, RunOptions, HOW)
    p.add_argument("--threads", type=int, help=THREADS_HELP)
    add_flags(p, RunOptions, ["trace"])
    p.add_argument("--compare", metavar="METHOD",
                   help="also train the target with METHOD (single-task: alone) under the same settings and seeds, "
                        "into OUT/compare/, and end with both test F1s, their difference and its 95%% interval "
                        "(the paired bootstrap of munch report)")
    p.add_argument("--seeds", type=int, default=1, metavar="N",
                   help="train N seeds (--seed, --seed+1, ...): the first into --out, the others into OUT/seed-S/ "
                        "(default 1; 3 make the interval cover seed noise too)")
    p.add_argument("--json", action="store_true", help="also print the dev and test scores (and each head's dev F1) "
                                                        "as one JSON line on standard output")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("schedule", help="print the updates `munch train` would perform, one JSON object per line; trains nothing")
    _add_train_args(p)
    p.set_defaults(func=cmd_schedule)
