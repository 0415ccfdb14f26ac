"""The paper's protocol: `munch reproduce`, `munch report`, `munch merge-stores`."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from ..choices import LOSS_REDUCTIONS, PROTOCOL_METHODS
from ..errors import UserError
from ..settings import RunOptions, add_flags
from ..util.checks import finite
from .common import _add_data_dir, _add_no_fetch, _csv

log = logging.getLogger("munchables")
# training settings a flag of munch reproduce sets over the preset's (each names the preset it makes)
PRESET_OVERRIDES = ("loss_reduction", "lr", "batch_size", "max_epochs", "train_limit", "hidden")


def cmd_reproduce(args) -> int:
    from ..data.corpus import default_data_dir
    from ..data.fetch import ensure_corpora
    from ..experiments import reproduce_command, status_command
    from ..util.paths import refuse_outputs_on_inputs
    from .common import _corpus_inputs

    finite(lr=args.lr, gpus_per_trial=args.gpus_per_trial, cpus_per_trial=args.cpus_per_trial)
    refuse_outputs_on_inputs([("--store", args.store), ("--runs-dir", args.runs_dir)],
                             [("--word-vectors", args.word_vectors)]
                             + _corpus_inputs([*(_csv(args.targets) or []), *(_csv(args.aux) or [])], args.data_dir,
                                              "--targets/--aux"))
    if args.gpus_per_trial < 0 or args.cpus_per_trial <= 0:
        raise UserError("--gpus-per-trial must be at least 0 and --cpus-per-trial positive")
    # what names the trials (protocol.make_protocol), the same for --status and the run
    protocol = dict(targets=_csv(args.targets), methods=_csv(args.methods), aux=_csv(args.aux), grid=args.grid,
                    preset=args.preset, seeds=args.seeds, word_vectors=args.word_vectors,
                    **{name: getattr(args, name) for name in PRESET_OVERRIDES})
    if args.status:
        print(status_command(args.store, args.runs_dir, jobs=args.jobs, data_dir=args.data_dir, **protocol))
        return 0
    if not args.no_fetch:
        ensure_corpora([*(_csv(args.targets) or []), *(_csv(args.aux) or [])], default_data_dir(args.data_dir))
    summary = reproduce_command(
        args.store, args.runs_dir, engine=args.engine, jobs=args.jobs, ray_address=args.ray_address,
        gpus_per_trial=args.gpus_per_trial, cpus_per_trial=args.cpus_per_trial, device=args.device,
        data_dir=args.data_dir, threads=args.threads, retrain=args.retrain, **protocol)
    print(f"munch reproduce: {summary.ran} trials run, {summary.skipped} found in {args.store}, "
          f"{len(summary.failed)} failed", file=sys.stderr)
    for failure in summary.failed:
        print(f"  failed: {failure}", file=sys.stderr)
    return 1 if summary.failed else 0


def cmd_report(args) -> int:
    from ..experiments.report import REPORT_FILES, write_report
    from ..util.paths import refuse_outputs_on_inputs

    refuse_outputs_on_inputs([("--out", Path(args.out) / name) for name in REPORT_FILES], [("--store", args.store)])
    path = write_report(args.store, args.out, target=args.target, curve_target=args.curve_target, preset=args.preset,
                        compare_preset=args.compare_preset, overwrite=args.overwrite)
    print(path)
    return 0


def cmd_merge_stores(args) -> int:
    from ..experiments.store import Store
    from ..util.paths import refuse_outputs_on_inputs

    # the same file by identity: a hard or symbolic link of the store too
    refuse_outputs_on_inputs([("--store", args.store)], [("STORE", other) for other in args.sources])
    with Store(args.store) as store:
        for other in args.sources:
            copied, present = store.merge_from(other)
            log.info("%s: %d trials copied into %s, %d already there", other, copied, args.store, present)
    return 0


def register(sub) -> None:
    p = sub.add_parser("reproduce", help="run the paper's protocol (section 4.1) into a resumable results store")
    p.add_argument("--targets", help="target corpora, comma-separated (default: every corpus found)")
    p.add_argument("--methods", help=f"comma-separated, from: {', '.join(PROTOCOL_METHODS)} (default: all)")
    p.add_argument("--preset", default="quick", help="quick (2-core CPU smoke test: 75 min measured on a shared 2-core machine, docs/results.md) | lowres-cpu (converged low-resource "
                                                     "comparisons on a CPU: target cut to 1,000 sentences, auxiliary corpora whole) | paper (full, uncapped)")
    p.add_argument("--aux", help="the auxiliary corpora of every target, comma-separated (default: every other corpus found)")
    # training settings (settings.py: flag and type) that override the preset's, so with their own help and no default
    preset = {"default": None}
    add_flags(p, RunOptions, ["word_vectors"], word_vectors={"help": "word vectors every trial starts from (munch "
                                                             "vectors); their sha256 goes into the trial key"})
    add_flags(p, RunOptions, ["loss_reduction"], loss_reduction=preset | {
        "help": f"override the preset's loss reduction: {' | '.join(LOSS_REDUCTIONS)}"})
    p.add_argument("--grid", help="paper (lr 0.05/0.1 x batch 16/32) | fixed (--lr, --batch-size); default: the preset's")
    add_flags(p, RunOptions, [n for n in PRESET_OVERRIDES if n != "loss_reduction"],
              lr=preset | {"help": "the fixed grid's learning rate (default: the preset's)"},
              batch_size=preset | {"help": "the fixed grid's batch size (default: the preset's)"},
              max_epochs=preset | {"help": "override the preset's cap on epochs per stage"},
              train_limit=preset | {"help": "override the preset's training sentences per corpus"},
              hidden=preset | {"help": "override the preset's BiLSTM size"})
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
    p.add_argument("--retrain", action="store_true", help="train again the trials the store holds for this preset made "
                                                          "with other inputs (other vectors, other --aux ...); refused without it")
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

    p = sub.add_parser("merge-stores", help="copy into a results store the trials another store holds (runs on other machines)")
    p.add_argument("--store", required=True, help="the store to add to (munch reproduce --store)")
    p.add_argument("sources", nargs="+", metavar="STORE", help="stores whose trials to copy in; trials already there are left alone")
    p.set_defaults(func=cmd_merge_stores)
