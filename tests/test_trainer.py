"""The shared trainer: it performs exactly the schedule, follows the learning-rate rule, resumes."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch

from munchables import pipeline
from munchables.data.corpus import load_corpus
from munchables.evaluate import score, sentence_counts
from munchables.model import ModelConfig
from munchables.pipeline import RunOptions, schedule, train
from munchables.schedules import PlateauRule
from munchables.tagging.tagger import Tagger
from munchables.trainer import TrainConfig, Trainer

TINY_MODEL = ModelConfig(word_dim=8, char_dim=4, char_hidden=4, hidden=8, dropout=0.1)


def options(tiny, tmp_path, method, **kw):
    train_kw = kw.pop("train", {})
    kw.setdefault("aux", tiny.aux)
    return RunOptions(
        target=tiny.main, out=tmp_path / f"run-{method}", method=method, aux_order="given", data_dir=str(tiny.data_dir),
        device="cpu", progress=False,
        cache_dir=str(tmp_path / "cache"), model=replace(TINY_MODEL),
        train=TrainConfig(batch_size=4, max_epochs=2, **train_kw), **kw,
    )


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize("method", ["single-task", "multi-task", "single-aux", "conc", "iter", "stack"])
def test_trainer_performs_exactly_the_schedule(tiny_corpora, tmp_path, method):
    opts = options(tiny_corpora, tmp_path, method, trace=True,
                   aux=tiny_corpora.aux[:1] if method == "single-aux" else tiny_corpora.aux)
    metrics = train(opts)
    assert read_jsonl(opts.out / "trace.jsonl") == list(schedule(opts))
    for split in ("dev", "test"):
        assert 0.0 <= metrics[split]["f1"] <= 1.0
    if method == "multi-task":
        assert set(metrics["per_corpus"]) == {"main", *tiny_corpora.aux}


def test_stack_resets_the_rate_and_stops_each_stage_by_the_rule(tiny_corpora, tmp_path):
    # patience 1, min_lr just under the initial rate: a stage ends at its first epoch whose loss
    # does not beat the stage's best, and the next stage starts again from lr 0.1
    opts = options(tiny_corpora, tmp_path, "stack", train={"patience": 1, "min_lr": 0.09})
    opts.train.max_epochs = 6
    metrics = train(opts)
    log = read_jsonl(opts.out / "log.jsonl")
    epochs = [r for r in log if r["event"] == "epoch"]
    for stage in (1, 2, 3):
        mine = [r for r in epochs if r["stage"] == stage]
        assert mine[0]["lr"] == 0.1
        rule = PlateauRule(0.1, patience=1, min_lr=0.09)
        stops = [rule.step(r["loss"]) for r in mine]
        expected = stops.index(True) + 1 if True in stops else 6
        assert len(mine) == expected
        assert [r for r in log if r["event"] == "stage" and r["stage"] == stage][0]["epochs"] == expected
    stage_ends = [r for r in log if r["event"] == "stage"]
    assert [r["aux"] for r in stage_ends] == [[a] for a in tiny_corpora.aux]
    assert all(0 <= r["dev"]["f1"] <= 1 and 0 <= r["test"]["f1"] <= 1 for r in stage_ends)
    final = Tagger.load(opts.out)  # the last stage's model is the final one: same scores
    corpus = load_corpus("main", tiny_corpora.data_dir)
    counts = sentence_counts([s.tags for s in corpus.test], final.tag([s.tokens for s in corpus.test]))
    assert metrics["test"] == stage_ends[-1]["test"] == score(
        [s.tags for s in corpus.test], final.tag([s.tokens for s in corpus.test])).as_dict() | {
        "sentences": [list(c) for c in counts]}


class Interrupt(Exception):
    pass


def test_a_run_killed_mid_stage_resumes_to_the_same_result(tiny_corpora, tmp_path, monkeypatch):
    """Kill a stack run inside stage 2, resume: same log and metrics as an uninterrupted run."""
    full = options(tiny_corpora, tmp_path, "stack", trace=True)
    expected = train(full)

    broken = replace(full, out=tmp_path / "broken")
    real_step, calls = Trainer._step, {"n": 0}

    def step_then_die(self, update):
        if update.stage == 2 and update.epoch == 2:
            raise Interrupt()
        calls["n"] += 1
        return real_step(self, update)

    monkeypatch.setattr(Trainer, "_step", step_then_die)
    with pytest.raises(Interrupt):
        train(broken)
    monkeypatch.setattr(Trainer, "_step", real_step)
    assert not (broken.out / "metrics.json").exists()
    resumed = train(replace(broken, resume=True))

    for key in ("dev", "test"):
        assert resumed[key] == expected[key]
    strip = lambda log: [{k: v for k, v in r.items() if k not in ("seconds", "sentences_per_s")} for r in log]  # noqa: E731
    assert strip(read_jsonl(broken.out / "log.jsonl")) == strip(read_jsonl(full.out / "log.jsonl"))
    assert read_jsonl(broken.out / "trace.jsonl") == read_jsonl(full.out / "trace.jsonl")


def test_a_resumed_run_counts_the_time_of_the_process_it_resumes(tiny_corpora, tmp_path, monkeypatch):
    """metrics.json's seconds (the store's wall time of a trial) include the killed process's work."""
    import time

    opts = options(tiny_corpora, tmp_path, "single-task")
    real_step = Trainer._step

    def slow_then_die(self, update):
        if update.epoch == 2:
            raise Interrupt()
        if not getattr(self, "_slept", False):
            self._slept = True
            time.sleep(2.0)  # epoch 1, kept by its checkpoint
        return real_step(self, update)

    monkeypatch.setattr(Trainer, "_step", slow_then_die)
    with pytest.raises(Interrupt):
        train(opts)
    monkeypatch.setattr(Trainer, "_step", real_step)
    started = time.perf_counter()
    resumed = train(replace(opts, resume=True))
    own = time.perf_counter() - started
    assert resumed["seconds"] - own >= 1.9


def test_resume_refuses_other_settings(tiny_corpora, tmp_path):
    from munchables.errors import UserError

    opts = options(tiny_corpora, tmp_path, "single-task")
    train(opts)
    with pytest.raises(UserError, match="cannot resume with --lr 0.05 was 0.1"):
        train(replace(opts, resume=True, train=replace(opts.train, lr=0.05)))


def test_single_aux_keeps_the_best_candidate_and_sorted_order_reuses_it(tiny_corpora, tmp_path, monkeypatch):
    opts = options(tiny_corpora, tmp_path, "single-aux")
    metrics = train(opts)
    scores = metrics["candidates"]
    assert set(scores) == set(tiny_corpora.aux)
    assert metrics["chosen"] == max(scores, key=lambda n: (scores[n], n))
    assert metrics["dev"]["f1"] == scores[metrics["chosen"]]

    trained = []
    real = pipeline._train_run
    monkeypatch.setattr(pipeline, "_train_run", lambda o, t, a, out: trained.append(o.method) or real(o, t, a, out))
    stack = replace(opts, method="stack", aux_order="sorted", out=tmp_path / "sorted")
    train(stack)
    assert trained == ["stack"]  # the SingleAux results were read back, not retrained
    order = json.loads((stack.out / "metrics.json").read_text())["aux"]
    assert order == sorted(scores, key=lambda n: (scores[n], n))
    assert [r["corpora"][0] for r in schedule(stack) if r["update"] == "aux" and r["epoch"] == 1 and r["step"] == 1] == order


def test_sum_reduction_takes_batch_size_times_the_mean_step(tiny_corpora, tmp_path):
    """--loss-reduction sum: Eq. 8's sum over the batch, so one unclipped SGD step is B times longer."""
    from munchables.data.batching import Collator, Item
    from munchables.data.corpus import load_corpus
    from munchables.schedules import Update

    corpus = load_corpus("main", tiny_corpora.data_dir)
    items = [Item("main", i) for i in range(4)]
    deltas = {}
    for reduction in ("mean", "sum"):
        opts = options(tiny_corpora, tmp_path, "single-task")
        opts.model.dropout = 0.0
        model, vocab = pipeline.build_model(opts, [corpus])  # seeded: the same start both times
        before = [p.detach().clone() for p in model.parameters()]
        out = tmp_path / reduction
        out.mkdir()
        trainer = Trainer(model, Collator(vocab, {"main": corpus.train}), TrainConfig(clip=1e9, loss_reduction=reduction),
                          out, device=torch.device("cpu"), progress=False)
        trainer._step(Update(1, 1, 1, "main", items))
        deltas[reduction] = [p.detach() - b for p, b in zip(model.parameters(), before)]
    for mean, total in zip(deltas["mean"], deltas["sum"]):
        assert torch.allclose(total, 4 * mean, atol=1e-6)
