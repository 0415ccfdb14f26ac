"""From options to a trained model directory: load corpora, build the model, train, evaluate, save.

`train(options)` is what `munch train` runs; `schedule(options)` yields the same updates without
training (`munch schedule`).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
import shutil
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Iterator

import torch

from .choices import NEEDS_AUX
from .data.annotated import DocumentOptions
from .data.batching import Collator
from .data.corpus import Corpus, available_corpora, corpus_family, default_data_dir, load_corpus
from .data.vocab import Vocabularies, build_vocabularies, normalise
from .embeddings.features import build_features
from .embeddings.features import validate as validate_embeddings
from .embeddings.word_vectors import VectorSubset, check_finite, load_vectors, lookup, vector_words
from .errors import UserError
from .evaluate import Score, score, sentence_counts
from .methods import ITER_SWITCH, METHODS
from .model import MultiTaskTagger, init_word_embeddings
from .ordering import check_orderable, random_order, sorted_order
from .resume import check as check_resume
from .resume import differences, extends, given_options, saved_options
from .schedules import Schedule, Update
from .settings import RunOptions, check_settings
from .tagging.fitness import describe as describe_heads
from .tagging.fitness import unfit as unfit_heads
from .tagging.tagger import Tagger, decode
from .trainer import Trainer
from .util.device import pick_device
from .util.files import atomic_write_text, ensure_dir
from .util.rundir import claim
from .util.serialization import load_torch

log = logging.getLogger("munchables")



def validate(options: RunOptions) -> None:
    check_settings(options)  # each setting's choices and bounds (settings.py), the message naming its flag
    if options.keep == "best-dev" and options.train_on_dev:
        raise UserError("--keep best-dev selects by dev F1, but this run trains on dev; use --keep last")
    validate_embeddings(options.model)


def document_options(options: RunOptions) -> DocumentOptions:
    """How document corpora (target or auxiliary) become sentences: --types, --split, --split-seed."""
    return DocumentOptions(options.types, options.split, options.split_seed)


def load_target(options: RunOptions) -> Corpus:
    """The target corpus, a corpus id, a column-file directory or annotated documents."""
    data_dir = default_data_dir(options.data_dir)
    return _with_dev(options, load_corpus(options.target, data_dir, options.train_limit, options.fetch,
                                          document_options(options)), options.train_limit)


def resolve_aux(options: RunOptions, target: Corpus | None = None) -> RunOptions:
    """`options` with `--aux auto` replaced by the corpora data/auxiliary.py chooses, each logged with its reason."""
    if options.aux != ["auto"]:
        return options
    from .data.auxiliary import choose_auxiliary

    data_dir = default_data_dir(options.data_dir)
    target = target or load_target(options)
    chosen = choose_auxiliary(target, data_dir, lambda name: load_corpus(name, data_dir))
    if not chosen:
        raise UserError(f"--aux auto: no auxiliary corpus found in {data_dir} (fetch some with `munch corpora fetch`, "
                        f"or name them with --aux)")
    for name, why in chosen:
        log.info("--aux auto: %s: %s", name, why)
    return replace(options, aux=[name for name, _ in chosen])


def load_corpora(options: RunOptions) -> tuple[Corpus, list[Corpus]]:
    """The target corpus and the auxiliary corpora the method uses (all of them missing-checked)."""
    data_dir = default_data_dir(options.data_dir)
    target = load_target(options)
    check_corpus_name(target)
    if options.method not in NEEDS_AUX:
        return target, []
    options = resolve_aux(options, target)
    names = options.aux
    if names is None:
        names = [c for c in available_corpora(data_dir) if c != target.name]
    if not names:
        raise UserError(f"{options.method} needs at least one auxiliary corpus; got none (use --aux)")
    if options.method in ("iter", "stack") and options.aux_order == "random":  # before loading any of them
        check_orderable(names, {n: corpus_family(_corpus_name(n)) for n in names})
    aux_limit = None if options.aux_whole else options.train_limit
    aux = [_with_dev(options, load_corpus(n, data_dir, aux_limit, options.fetch, document_options(options)), aux_limit)
           for n in names]
    for a in aux:
        if a.name == target.name or a.path.resolve() == target.path.resolve():
            raise UserError(f"auxiliary corpus {a.name!r} is the target itself; leave it out of --aux")
    if len({a.name for a in aux}) != len(aux):
        raise UserError(f"--aux names a corpus twice: {', '.join(a.name for a in aux)}")
    for a in aux:
        check_corpus_name(a)
    return target, aux


def check_corpus_name(corpus: Corpus) -> None:
    """A corpus name becomes a head's name: `--heads a,b` must be able to name it (model._key escapes
    the rest: dots, `%`, names of ModuleDict attributes)."""
    if "," in corpus.name or corpus.name.strip() != corpus.name or not corpus.name:
        raise UserError(f"{corpus.path}: the corpus name {corpus.name!r} (its directory's name) cannot name a head "
                        "(a comma, or space at an end); rename the directory")


def _corpus_name(name_or_path: str) -> str:
    """The name load_corpus will give: a directory's own name, else the id as given."""
    given = Path(name_or_path).expanduser()
    return given.resolve().name if given.is_dir() else name_or_path


def _with_dev(options: RunOptions, corpus: Corpus, limit: int | None) -> Corpus:
    """With --train-on-dev, the corpus whose training split is train + dev (dev capped like train, by `limit`)."""
    if not options.train_on_dev:
        return corpus
    return replace(corpus, train=corpus.train + corpus.dev[:limit])


def build_model(options: RunOptions, corpora: list[Corpus]) -> tuple[MultiTaskTagger, Vocabularies]:
    """Vocabularies from the training data (plus vectors), then the model; seeded."""
    vectors = None
    extra: list[str] = []
    config = options.model
    if config.word_vectors:
        vectors = load_vectors(config.word_vectors, trust=options.trust)
        if isinstance(vectors, VectorSubset):
            for c in corpora:
                vectors.check_covers((w for split in (c.train, c.dev, c.test) for s in split for w in s.tokens), c.name)
        config = replace(config, word_dim=vectors.vector_size)  # a copy: options stay as given
        extra = vector_words(vectors, (w for c in corpora for s in c.dev + c.test for w in s.tokens))
    vocab = build_vocabularies(
        {c.name: c.train for c in corpora}, extra,
        {c.name: [s.tags for split in (c.train, c.dev, c.test) for s in split] for c in corpora},
    )
    torch.manual_seed(options.train.seed)
    features = build_features(config, options.embedding_cache, options.out)  # e.g. contextual string embeddings
    model = MultiTaskTagger(config, len(vocab.words), len(vocab.chars), {c: len(t) for c, t in vocab.tags.items()},
                            features)
    if vectors is not None:
        if isinstance(vectors, VectorSubset):
            vectors.check_covers(vocab.words.itos[2:], ", ".join(c.name for c in corpora))
        found = lookup(vectors, vocab.words.itos, normalise)
        check_finite(found, vocab.words.itos, config.word_vectors)
        init_word_embeddings(model.encoder.words, found)
    return model, vocab


def evaluate_corpus(model, vocab, corpus: Corpus, split: str, device, per_sentence: bool = False) -> dict:
    """Strict entity-level precision, recall and F1 of `corpus`'s head on one split.

    With `per_sentence`, also "sentences": [[tp, fp, fn], ...] in the split's order, which the
    report's paired bootstrap resamples.
    """
    sentences = corpus.split(split)
    pred = decode(model, Collator(vocab, {}), corpus.name, [s.tokens for s in sentences], device)
    gold = [s.tags for s in sentences]
    if not per_sentence:
        return score(gold, pred).as_dict()
    counts = sentence_counts(gold, pred)
    return sum((Score(*c) for c in counts), Score()).as_dict() | {"sentences": [list(c) for c in counts]}


def make_schedule(options: RunOptions, target: Corpus, aux: list[Corpus], listener=None) -> Iterator[Update]:
    """The method's updates over these corpora; with a `listener` (the trainer) the stages converge by its rule."""
    sizes = {c.name: len(c.train) for c in [target, *aux]}
    s = Schedule(target.name, sizes, options.train.batch_size, options.train.seed,
                 options.train.max_epochs, listener)
    method = ITER_SWITCH[options.iter_switch] if options.method == "iter" else METHODS[options.method]
    return method(s, [a.name for a in aux])


def _flat(record: dict) -> dict:
    """A config.json record with its train and model blocks flattened, named like the flags."""
    flat = {k: v for k, v in record.items() if k not in ("train", "model", "options")}
    return flat | record.get("train", {}) | record.get("model", {})


def epoch_size(options: RunOptions, target: Corpus, aux: list[Corpus]) -> int:
    """Updates in one epoch (the same in every epoch and stage): the first epoch of a dry run."""
    one = replace(options, train=replace(options.train, max_epochs=1))
    updates = make_schedule(one, target, aux)
    return sum(1 for _ in itertools.takewhile(lambda u: (u.stage, u.epoch) == (1, 1), updates))


def _check_resume(out: Path, record: dict, options: RunOptions) -> dict | None:
    """Refuse to resume with other settings, naming the flags; write config.json; the saved record."""
    path = out / "config.json"
    before = None
    if options.resume and path.exists():
        try:
            before = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, OSError) as e:
            raise UserError(f"{path}: cannot read the run's settings ({e}); remove the file to resume with the flags given") from None
        if not isinstance(before, dict):
            raise UserError(f"{path}: not the settings `munch train` writes; remove it to resume with the flags given")
    if before is not None:
        check_resume(out, before.get("options"), given_options(options))  # the flags as given
        changed = differences(_flat(before), _flat(record))  # what they resolved to (corpus paths, order)
        if changed:
            raise UserError(f"--out {out}: cannot resume with different settings ({', '.join(changed)}); "
                            "use the same flags, or another --out")
    atomic_write_text(path, json.dumps(record | {"options": given_options(options)}, indent=2, default=str) + "\n")
    return before


def train(options: RunOptions) -> dict:
    """Train as `options` say and write model.pt, metrics.json, log.jsonl to options.out.

    single-aux with several auxiliary corpora trains one model per corpus and keeps the one with
    the best target dev F1 (section 4.1); iter and stack first put their corpora in order.
    """
    validate(options)
    if options.out is None:
        raise UserError("train needs --out DIR")
    ensure_dir(options.out, "--out", create=False)  # a file, a broken link or a read-only parent: one line
    target, aux = load_corpora(options)
    with claim(Path(options.out), options.resume, options.overwrite):  # one run at a time; nothing replaced unasked
        if options.method == "single-aux" and len(aux) > 1:
            return _train_single_aux(options, target, aux)
        if options.method in ("iter", "stack"):
            aux = order_aux(options, target, aux)
        return _train_run(options, target, aux, Path(options.out))


def _finished(options: RunOptions, out: Path, before: dict | None) -> dict | None:
    """The metrics of a finished run that --resume asks nothing more of; None when there is training to do."""
    if before is None or not (out / "metrics.json").exists():
        return None
    raised = extends(before.get("train", {}).get("max_epochs"), options.train.max_epochs)
    if (out / "checkpoint.pt").exists():
        return None  # replayed: the checkpoint restores it, a raised cap trains on
    if raised:
        return None  # extended from model.pt and log.jsonl (finished_state)
    log.info("%s: the run has finished; nothing to resume", out)
    return json.loads((out / "metrics.json").read_text())


def finished_state(options: RunOptions, out: Path) -> dict:
    """The trainer's restore state of a finished run whose checkpoint.pt was removed, from model.pt and log.jsonl.

    Plain SGD keeps no state but its rate (no momentum), the rate and the plateau rule's state
    follow from the logged epoch losses (the trainer replays them), the batch streams from the seed,
    and model.pt holds the last epoch's weights and torch's random state at its end (for dropout).
    So a run extended from these trains on exactly as one that kept its checkpoint.
    """
    fix = "train with --keep-checkpoint to extend a run later, or start again with --overwrite"
    if options.keep != "last":
        raise UserError(f"--out {out}: this run finished and its checkpoint was removed, and its model.pt is the "
                        f"epoch of the best dev F1 (--keep {options.keep}), not the last, so it cannot be extended; {fix}")
    state = load_torch(out / "model.pt", "model", fix)
    rng = state.get("training", {}).get("torch_rng") if isinstance(state, dict) and isinstance(state.get("training"), dict) else None
    log_path = out / "log.jsonl"
    if rng is None or not log_path.exists():
        raise UserError(f"--out {out}: this run finished and its checkpoint was removed, and "
                        f"{'its model.pt predates extending from it' if rng is None else 'log.jsonl is missing'}, so it "
                        f"cannot be extended; {fix}")
    try:
        history = [json.loads(line) for line in log_path.read_text(encoding="utf-8").splitlines() if line.strip()]
        last = [r for r in history if r["event"] == "epoch"][-1]
        position = (last["stage"], last["epoch"])
    except (ValueError, KeyError, IndexError, TypeError) as e:
        raise UserError(f"{log_path}: not the epoch log munch train writes ({e.__class__.__name__}); {fix}") from None
    log.info("%s: extending the finished run from model.pt and log.jsonl (its checkpoint was removed)", out)
    return {"position": position, "model": state["state_dict"], "optimizer": None, "rule": None,
            "history": history, "torch_rng": rng}


def _train_run(options: RunOptions, target: Corpus, aux: list[Corpus], out: Path) -> dict:
    """One model, one run of the method's generator."""
    out.mkdir(parents=True, exist_ok=True)
    record = _settings(options, target) | {
        "method": options.method, "aux": [a.name for a in aux], "iter_switch": options.iter_switch,
    }
    if options.keep != "last":
        record["keep"] = options.keep  # absent when last: older run dirs still resume
    before = _check_resume(out, record, options)
    finished = _finished(options, out, before)
    if finished is not None:
        return finished
    raised = before is not None and extends(before["train"].get("max_epochs"), options.train.max_epochs)
    checkpoint, done = (out / "checkpoint.pt").exists(), (out / "metrics.json").exists()
    if raised and options.method == "stack" and (checkpoint or done):
        raise UserError("--max-epochs can be raised on resume for every method but stack, whose earlier stages "
                        "ended under the old cap; leave --max-epochs out, or train anew with another --out")
    finished = finished_state(options, out) if raised and done and not checkpoint else None  # extend it
    device = pick_device(options.device)
    started = time.perf_counter()
    model, vocab = build_model(options, [target, *aux])
    model.to(device)
    collate = Collator(vocab, {c.name: c.train for c in [target, *aux]})

    def target_metrics() -> dict:
        return {split: evaluate_corpus(model, vocab, target, split, device, per_sentence=True) for split in ("dev", "test")}

    trainer = Trainer(
        model, collate, options.train, out, device,
        # a model trained on dev has no dev F1 worth printing (final models of the protocol)
        dev_f1=None if options.train_on_dev else lambda: evaluate_corpus(model, vocab, target, "dev", device)["f1"],
        stage_metrics=target_metrics if options.method == "stack" else None,
        resume=options.resume, trace=options.trace, progress=options.progress,
        keep_best=options.keep == "best-dev", epoch_size=epoch_size(options, target, aux), finished=finished,
    )
    updates = make_schedule(options, target, aux, listener=trainer)
    history = trainer.fit(updates)
    stages = [r for r in history if r["event"] == "stage" and "dev" in r]
    if options.keep == "best-dev":
        kept = trainer.restore_best()
        log.info("kept the model of stage %d epoch %d (best target dev F1 %.4f)", kept["stage"], kept["epoch"], kept["dev_f1"])
        stages = []  # the stages' metrics were of their last epochs
    final = {k: stages[-1][k] for k in ("dev", "test")} if stages else target_metrics()  # last stage = final model
    metrics = {
        "target": target.name, "method": options.method, "aux": [a.name for a in aux], **final,
        "epochs": sum(1 for r in history if r["event"] == "epoch"),
        # this process's time and the earlier ones' up to the checkpoint it resumed from (their
        # time after it was lost work, done again here)
        "seconds": time.perf_counter() - started + trainer.resumed_seconds, "device": str(device),
    }
    if options.method == "multi-task":
        metrics["per_corpus"] = {target.name: final} | {
            c.name: {split: evaluate_corpus(model, vocab, c, split, device, per_sentence=True) for split in ("dev", "test")}
            for c in aux
        }
    heads = _head_scores(options, model, vocab, target, aux, metrics, device)
    if heads is not None:
        metrics["heads"] = heads
    Tagger(model, vocab, target.name, device).save(out, options=record, heads=heads,
                                                   training={"torch_rng": trainer.last_rng})  # to extend it later
    atomic_write_text(out / "metrics.json", json.dumps(metrics, indent=2) + "\n")
    if not options.keep_checkpoint:  # as large as the model; only needed to extend the run later
        trainer.checkpoint_path.unlink(missing_ok=True)
        (out / "best.pt").unlink(missing_ok=True)
    if heads is not None and len(heads) > 1:
        log.info("heads (each scored on its own corpus's dev set):\n%s", describe_heads(heads))
        warning = unfit_heads(heads, list(heads)[1:], target.name)
        if warning:
            log.warning("%s", warning)
    if options.train_on_dev:
        log.info("%s on %s: test F1 %.4f (trained on train + dev)", options.method, target.name, metrics["test"]["f1"])
    else:
        log.info("%s on %s: dev F1 %.4f, test F1 %.4f", options.method, target.name,
                 metrics["dev"]["f1"], metrics["test"]["f1"])
    return metrics


def _head_scores(options: RunOptions, model, vocab, target: Corpus, aux: list[Corpus], metrics: dict,
                 device) -> dict | None:
    """{head: {"dev_f1", "role"}}, the target first (tagging/fitness.py); None for a model trained on dev."""
    if options.train_on_dev:
        return None
    heads = {target.name: {"dev_f1": metrics["dev"]["f1"], "role": "target"}}
    for c in aux:
        if options.method == "multi-task":
            heads[c.name] = {"dev_f1": metrics["per_corpus"][c.name]["dev"]["f1"], "role": "multi-task"}
        elif options.score_heads:  # a decoding of every auxiliary dev set: munch train asks, reproduce's trials not
            heads[c.name] = {"dev_f1": evaluate_corpus(model, vocab, c, "dev", device)["f1"], "role": "auxiliary"}
    return heads


# --- SingleAux candidates, shared by single-aux and the sorted order ------------------------------


def _settings(options: RunOptions, target: Corpus) -> dict:
    """What makes two runs the same run, apart from method and auxiliary corpora."""
    return {
        "target": target.name, "target_path": str(target.path.resolve()),
        "train": asdict(options.train), "model": asdict(options.model),
        "train_limit": options.train_limit,
    } | ({"train_on_dev": True} if options.train_on_dev else {}) | (  # absent when off: old run dirs still resume
        {"aux_whole": True} if options.aux_whole else {}) | (
        {"documents": {"types": options.types, "split": options.split, "split_seed": options.split_seed}}
        if target.documents is not None else {})


def candidate_dir(options: RunOptions, target: Corpus, aux: Corpus) -> Path:
    """Where the SingleAux model of `target` with `aux` under these settings lives (or will)."""
    key = json.dumps(_settings(options, target) | {"aux_path": str(aux.path.resolve())}, sort_keys=True)
    digest = hashlib.sha1(key.encode()).hexdigest()[:12]
    return cache_dir(options) / "single-aux" / target.name / digest / aux.name


def cache_dir(options: RunOptions) -> Path:
    return Path(options.cache_dir or os.environ.get("MUNCHABLES_CACHE") or "runs/cache")


def single_aux_dev_f1(options: RunOptions, target: Corpus, aux: list[Corpus], train_missing: bool = True) -> dict[str, float]:
    """Target dev F1 of a SingleAux model per auxiliary corpus: read when it exists, else trained."""
    scores = {}
    for a in aux:
        directory = candidate_dir(options, target, a)
        metrics = directory / "metrics.json"
        if not metrics.exists():
            if not train_missing:
                raise UserError(
                    f"--aux-order sorted needs SingleAux results for {target.name} with {a.name} under "
                    f"these settings ({directory}); run `munch train --method single-aux` with the same flags first"
                )
            log.info("single-aux candidate %s -> %s", a.name, directory)
            run = replace(options, method="single-aux", resume=True, overwrite=False)
            with claim(directory, resume=True, flag="candidate directory"):
                _train_run(run, target, [a], directory)
        scores[a.name] = json.loads(metrics.read_text())["dev"]["f1"]
    return scores


def _train_single_aux(options: RunOptions, target: Corpus, aux: list[Corpus]) -> dict:
    """SingleAux as in section 4.1: one model per auxiliary corpus, the best target dev F1 kept."""
    out = Path(options.out)
    given = given_options(options)
    if options.resume:
        check_resume(out, saved_options(out), given)
    if not options.resume or not (out / "config.json").exists():  # so that --resume alone finds the flags
        atomic_write_text(out / "config.json", json.dumps({"options": given}, indent=2) + "\n")
    scores = single_aux_dev_f1(options, target, aux)
    # the best target dev F1; among equal scores the corpus whose name sorts last (any fixed rule would do)
    chosen = max(scores, key=lambda name: (scores[name], name))
    if sum(1 for v in scores.values() if v == scores[chosen]) > 1:
        log.info("single-aux: %s tie at dev F1 %.4f; the tie goes to the name that sorts last, %s",
                 ", ".join(sorted(n for n, v in scores.items() if v == scores[chosen])), scores[chosen], chosen)
    source = candidate_dir(options, target, next(a for a in aux if a.name == chosen))
    out.mkdir(parents=True, exist_ok=True)
    for name in ("model.pt", "log.jsonl", "trace.jsonl"):
        if (source / name).exists():
            shutil.copyfile(source / name, out / name)
    config = json.loads((source / "config.json").read_text()) | {"options": given}  # this run's flags, not the candidate's
    atomic_write_text(out / "config.json", json.dumps(config, indent=2, default=str) + "\n")
    metrics = json.loads((source / "metrics.json").read_text())
    metrics |= {"candidates": scores, "chosen": chosen, "candidate_dirs": {a.name: str(candidate_dir(options, target, a)) for a in aux}}
    atomic_write_text(out / "metrics.json", json.dumps(metrics, indent=2) + "\n")
    log.info("single-aux on %s: chose %s (dev F1 %.4f) among %d", target.name, chosen, scores[chosen], len(scores))
    return metrics


def order_aux(options: RunOptions, target: Corpus, aux: list[Corpus], train_missing: bool = True) -> list[Corpus]:
    """D(1), ..., D(M) for iter and stack, by --aux-order."""
    by_name = {a.name: a for a in aux}
    if options.aux_order == "given":
        return aux
    if options.aux_order == "random":
        names = random_order(list(by_name), {n: a.family for n, a in by_name.items()}, options.train.seed)
    else:
        names = sorted_order(single_aux_dev_f1(options, target, aux, train_missing))
    log.info("auxiliary order (%s): %s", options.aux_order, " -> ".join(names))
    return [by_name[n] for n in names]


def schedule(options: RunOptions) -> Iterator[dict]:
    """The trace records the trainer would write, without training (`munch schedule`)."""
    validate(options)
    if options.train.max_epochs is None:
        raise UserError("schedule needs --max-epochs: without training, convergence cannot be known")
    target, aux = load_corpora(options)
    if options.method == "single-aux" and len(aux) > 1:
        for a in aux:
            updates = make_schedule(options, target, [a])
            yield from ({"candidate": a.name} | u.record() for u in updates)
        return
    if options.method in ("iter", "stack"):
        aux = order_aux(options, target, aux, train_missing=False)
    updates = make_schedule(options, target, aux)
    for update in updates:
        yield update.record()
