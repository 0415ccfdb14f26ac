"""Schedule traces against the Algorithms of the paper, written out by hand.

The corpora (conftest.tiny_corpora): main has 10 training sentences, the auxiliaries aux3, aux7
and aux25 have 3, 7 and 25; batch size 4, so ITERATION = ceil(10 / 4) = 3 with main batches of
4, 4 and 2 sentences.
"""

from __future__ import annotations

import math
from collections import Counter

import pytest

from munchables.errors import UserError
from munchables.methods import METHODS
from munchables.pipeline import RunOptions, schedule
from munchables.schedules import PlateauRule, Schedule
from munchables.trainer import TrainConfig

BS = 4


def trace(tiny, method, aux=None, epochs=2, **kw):
    options = RunOptions(
        target=tiny.main, method=method, aux=aux if aux is not None else tiny.aux, aux_order="given",
        data_dir=str(tiny.data_dir), train=TrainConfig(batch_size=BS, max_epochs=epochs), **kw,
    )
    return list(schedule(options))


def restarting_sizes(n: int, count: int) -> list[int]:
    """Batch sizes of extract(D_aux) for a corpus of n sentences: full batches, a short last one, restart."""
    per_pass = [min(BS, n - s) for s in range(0, n, BS)]
    return [per_pass[i % len(per_pass)] for i in range(count)]


def expected_aux_learning(main_n, aux_corpora, sizes, epochs, stage=1, blocks=None):
    """Algorithm 1's loop (lines 1-9): per epoch, ITERATION pairs (aux update, main update)."""
    it = math.ceil(main_n / BS)
    main_sizes = [min(BS, main_n - s) for s in range(0, main_n, BS)]
    out, drawn = [], Counter()
    for epoch in range(1, epochs + 1):
        step = 0
        for corpus in blocks or [aux_corpora]:
            for j in range(it):
                step += 1
                name = corpus
                size = restarting_sizes(sizes[name], drawn[name] + 1)[-1]
                drawn[name] += 1
                out.append((stage, epoch, step, "aux", name, size))
                out.append((stage, epoch, step, "main", "main", main_sizes[j]))
    return out


def shape(records):
    return [(r["stage"], r["epoch"], r["step"], r["update"],
             r["corpora"][0] if len(r["corpora"]) == 1 else tuple(r["corpora"]), r["size"]) for r in records]


def test_single_task_is_a_shuffled_pass_per_epoch(tiny_corpora):
    records = trace(tiny_corpora, "single-task", aux=[], epochs=3)
    assert [(r["epoch"], r["step"], r["update"], r["size"]) for r in records] == [
        (e, j, "main", s) for e in (1, 2, 3) for j, s in zip((1, 2, 3), (4, 4, 2))
    ]


@pytest.mark.parametrize("aux", ["aux3", "aux7", "aux25"])
def test_single_aux_follows_algorithm_1(tiny_corpora, aux):
    records = trace(tiny_corpora, "single-aux", aux=[aux], epochs=3)
    assert shape(records) == expected_aux_learning(10, aux, tiny_corpora.sizes, 3)


def test_single_aux_with_several_corpora_traces_every_candidate(tiny_corpora):
    records = trace(tiny_corpora, "single-aux", epochs=1)
    assert [r["candidate"] for r in records[:: 2 * 3]] == tiny_corpora.aux
    for aux in tiny_corpora.aux:
        mine = [{k: v for k, v in r.items() if k != "candidate"} for r in records if r["candidate"] == aux]
        assert shape(mine) == expected_aux_learning(10, aux, tiny_corpora.sizes, 1)


def test_conc_draws_from_the_concatenation(tiny_corpora):
    """Algorithm 2: one stream over D(1);...;D(M) (35 sentences): batches mix corpora."""
    records = trace(tiny_corpora, "conc", epochs=4)  # 4 epochs x 3 steps = 12 aux batches
    aux = [r for r in records if r["update"] == "aux"]
    assert [r["size"] for r in aux] == restarting_sizes(35, 12)
    assert any(len(r["corpora"]) > 1 for r in aux)  # a concatenated batch mixes corpora
    assert [(r["epoch"], r["step"], r["update"]) for r in records] == [
        (e, j, u) for e in (1, 2, 3, 4) for j in (1, 2, 3) for u in ("aux", "main")
    ]


def test_iter_switches_corpus_inside_every_epoch(tiny_corpora):
    """Algorithm 3: for k = 1..M, ITERATION pairs with D(k), inside each epoch."""
    records = trace(tiny_corpora, "iter", epochs=2)
    blocks = tiny_corpora.aux
    assert shape(records) == expected_aux_learning(10, None, tiny_corpora.sizes, 2, blocks=blocks)


def test_iter_by_epoch_switches_corpus_every_epoch(tiny_corpora):
    """The text of section 3.2: epoch i learns from D((i - 1) mod M + 1)."""
    records = trace(tiny_corpora, "iter", epochs=4, iter_switch="epoch")
    per_epoch = {r["epoch"]: r["corpora"][0] for r in records if r["update"] == "aux"}
    assert per_epoch == {1: "aux3", 2: "aux7", 3: "aux25", 4: "aux3"}
    assert len(records) == 4 * 3 * 2


def test_stack_runs_one_stage_per_auxiliary_corpus(tiny_corpora):
    """Algorithm 4: stage k is Algorithm 1 with D(k); stages follow the given order."""
    records = trace(tiny_corpora, "stack", epochs=2)
    expected = []
    for k, aux in enumerate(tiny_corpora.aux, 1):
        expected += expected_aux_learning(10, aux, tiny_corpora.sizes, 2, stage=k)
    assert shape(records) == expected


def test_multi_task_passes_over_the_union(tiny_corpora):
    """Section 2.1: one epoch = every sentence of every corpus once, in single-corpus batches."""
    records = trace(tiny_corpora, "multi-task", epochs=2)
    sizes = tiny_corpora.sizes
    for epoch in (1, 2):
        mine = [r for r in records if r["epoch"] == epoch]
        assert len(mine) == sum(math.ceil(sizes[c] / BS) for c in sizes)
        assert all(len(r["corpora"]) == 1 for r in mine)
        per_corpus = Counter()
        for r in mine:
            per_corpus[r["corpora"][0]] += r["size"]
            assert r["update"] == ("main" if r["corpora"] == ["main"] else "aux")
        assert per_corpus == Counter(sizes)
    # shuffled across corpora: the main batches are not all at one end
    kinds = [r["update"] for r in records if r["epoch"] == 1]
    assert kinds != sorted(kinds) and kinds != sorted(kinds, reverse=True)


def test_every_pass_covers_each_sentence_once(tiny_corpora):
    """extract() semantics: main batches are a permutation per epoch; aux streams per pass."""
    s = Schedule("main", tiny_corpora.sizes, BS, seed=3, max_epochs=2)
    updates = list(METHODS["single-aux"](s, ["aux7"]))
    main = [i.index for u in updates if u.kind == "main" and u.epoch == 1 for i in u.items]
    assert sorted(main) == list(range(10))
    aux = [i.index for u in updates if u.kind == "aux" for i in u.items]
    assert sorted(aux[:7]) == list(range(7))  # the first pass over aux7
    assert len(set(aux[7:14])) == 7 and aux[7:14] != aux[:7]  # the second: reshuffled, no repeats


class StopAfter:
    """A listener that says "converged" after a fixed number of epochs per stage."""

    def __init__(self, epochs):
        self.epochs, self.ended = epochs, []

    def begin_stage(self, stage):
        pass

    def end_epoch(self, stage):
        return stage.epoch >= self.epochs[stage.number - 1]

    def end_stage(self, stage):
        self.ended.append((stage.number, stage.epoch))


def test_a_stage_ends_when_the_listener_says_converged():
    listener = StopAfter([3, 1, 2])
    s = Schedule("main", {"main": 10, "a": 3, "b": 7, "c": 25}, BS, seed=0, listener=listener)
    updates = list(METHODS["stack"](s, ["a", "b", "c"]))
    epochs = {(u.stage, u.epoch) for u in updates}
    assert epochs == {(1, 1), (1, 2), (1, 3), (2, 1), (3, 1), (3, 2)}
    assert listener.ended == [(1, 3), (2, 1), (3, 2)]


@pytest.mark.parametrize(
    "losses, stop_at, lrs",
    [
        # never improving after epoch 1: halve at epochs 5, 9, 13, ... (patience 4)
        ([5.0] * 40, None, {1: 0.1, 5: 0.05, 9: 0.025, 13: 0.0125}),
        # steadily improving: the rate never changes
        ([10.0 - i * 0.1 for i in range(40)], None, {1: 0.1, 40: 0.1}),
        # an improvement resets the count of bad epochs
        ([5, 6, 6, 6, 4, 6, 6, 6, 6], None, {4: 0.1, 8: 0.1, 9: 0.05}),
    ],
)
def test_plateau_rule_halves_after_four_bad_epochs(losses, stop_at, lrs):
    rule = PlateauRule(0.1)
    seen = {}
    for epoch, loss in enumerate(losses, 1):
        rule.step(loss)
        seen[epoch] = rule.lr
    # lrs give the rate in force after each listed epoch's step
    for epoch, lr in lrs.items():
        assert seen[epoch] == pytest.approx(lr), (epoch, seen[epoch])


def test_plateau_rule_stops_below_min_lr():
    rule = PlateauRule(0.1)
    # 0.1 needs 10 halvings to fall below 1e-4 (0.1 / 2**10 = 9.8e-5), each after 4 bad epochs
    stops = [rule.step(1.0) for _ in range(1 + 40)]
    assert stops.index(True) == 40 and not any(stops[:40])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"method": "nope"}, "unknown --method"),
        ({"method": "stack", "aux": ["main"]}, "is the target itself"),
        ({"method": "conc", "aux": []}, "needs at least one auxiliary corpus"),
        ({"method": "iter", "aux": ["aux3", "missing"]}, "missing"),
        ({"method": "stack", "aux_order": "sideways"}, "--aux-order"),
    ],
)
def test_bad_method_arguments_are_user_errors(tiny_corpora, kwargs, message):
    options = RunOptions(target="main", data_dir=str(tiny_corpora.data_dir),
                         train=TrainConfig(max_epochs=1), **{"aux": tiny_corpora.aux, **kwargs})
    with pytest.raises(UserError, match=message):
        list(schedule(options))


def test_schedule_needs_max_epochs(tiny_corpora):
    options = RunOptions(target="main", data_dir=str(tiny_corpora.data_dir))
    with pytest.raises(UserError, match="--max-epochs"):
        list(schedule(options))


def test_random_order_keeps_families_apart_and_is_seeded():
    from munchables.ordering import random_order

    families = {"a": "disease", "b": "disease", "c": "chemical", "d": "chemical", "e": "species", "f": None}
    orders = {tuple(random_order(list(families), families, seed)) for seed in range(30)}
    assert len(orders) > 5  # random
    for order in orders:
        assert all(families[x] is None or families[x] != families[y] for x, y in zip(order, order[1:]))
        assert sorted(order) == sorted(families)
    assert random_order(list(families), families, 7) == random_order(list(families), families, 7)
    with pytest.raises(UserError, match="same entity family"):
        random_order(["a", "b", "c"], {"a": "x", "b": "x", "c": "x"}, 0)


def test_sorted_order_is_ascending_by_single_aux_dev_f1():
    from munchables.ordering import sorted_order

    assert sorted_order({"a": 0.9, "b": 0.7, "c": 0.8}) == ["b", "c", "a"]


@pytest.mark.parametrize("method", ["iter", "stack"])
def test_two_corpora_of_one_family_are_refused_before_any_corpus_is_read(tmp_path, write_tiny_corpus, method, capsys):
    """Issue 27.5: the family check needs only the names; a corpus that cannot even be read must
    not be reached, and the message says how to order them by hand."""
    from munchables.cli import main

    data = tmp_path / "data"
    write_tiny_corpus(data / "main", 6)
    write_tiny_corpus(data / "ncbi-disease", 6)
    (data / "bc5cdr-disease").mkdir()  # no files at all: reading it would fail with "no train file"
    code = main(["-q", "train", "--target", "main", "--method", method, "--aux", "ncbi-disease,bc5cdr-disease",
                 "--data-dir", str(data), "--no-fetch", "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2
    assert "no order of ncbi-disease, bc5cdr-disease keeps corpora of the same entity family apart" in err, err
    assert "--aux-order given" in err and "no train file" not in err
    # the fix it names works (the corpus that cannot be read is then reported)
    code = main(["-q", "train", "--target", "main", "--method", method, "--aux", "ncbi-disease,bc5cdr-disease",
                 "--aux-order", "given", "--data-dir", str(data), "--no-fetch", "--out", str(tmp_path / "run")])
    assert code == 2 and "no train file" in capsys.readouterr().err
