"""The paper's training methods, each a generator of updates that reads like its Algorithm.

Each method receives a `Schedule` (the corpora, the batch size, seeded streams) and the ordered
auxiliary corpora, and yields `Update`s; `stage.epochs()` ends a stage when the trainer's
convergence rule (is_converge_main) says so. The trainer performs the updates; `munch schedule`
prints them without training. Comments give the Algorithm's line numbers.
"""

from __future__ import annotations

from typing import Callable, Iterator, Sequence

from . import choices
from .data.batching import RestartingStream, ShuffledPass
from .schedules import Schedule, Stage, Update

Method = Callable[[Schedule, Sequence[str]], Iterator[Update]]


def single_task(s: Schedule, aux: Sequence[str]) -> Iterator[Update]:
    """SingleTask: the target corpus alone."""
    main, stage = s.main_pass(), s.stage()
    for _ in stage.epochs():
        for j, batch_main in enumerate(main.epoch(), 1):
            yield stage.update("main", batch_main, j)


def multi_task(s: Schedule, aux: Sequence[str]) -> Iterator[Update]:
    """MultiTask (section 2.1, Eq. 9): all corpora treated equally.

    One epoch is one pass over the union of the training sets in batches drawn from one corpus
    each, the batches shuffled across corpora, so larger corpora give more batches; the
    convergence rule watches the loss over the whole union.
    """
    corpora = [s.main, *aux]
    passes = [ShuffledPass(s.items(c), s.batch_size, s.rng) for c in corpora]
    stage = s.stage(aux, watch="all")
    for _ in stage.epochs():
        batches = [batch for p in passes for batch in p.epoch()]
        for j, i in enumerate(s.rng.permutation(len(batches)), 1):
            batch = batches[i]
            yield stage.update("main" if batch[0].corpus == s.main else "aux", batch, j)


def auxiliary_learning(stage: Stage, main: ShuffledPass, aux: RestartingStream) -> Iterator[Update]:
    """Lines 1-9 of Algorithm 1 (and 2-10 of Algorithm 4): one auxiliary-learning stage."""
    for _ in stage.epochs():  # 1: for i = 1 to EPOCH
        for j, batch_main in enumerate(main.epoch(), 1):  # 2: for j = 1 to ITERATION; 3: extract(D_main)
            batch_aux = aux.next()  # 4: Batch_aux = extract(D_aux, BatchSize)
            yield stage.update("aux", batch_aux, j)  # 5: train(Model, Batch_aux)
            yield stage.update("main", batch_main, j)  # 6: train(Model, Batch_main)
        # 8: is_converge_main(Model), asked by stage.epochs()


def single_aux(s: Schedule, aux: Sequence[str]) -> Iterator[Update]:
    """SingleAux (Algorithm 1, Wang et al. 2019a): one auxiliary corpus."""
    if len(aux) != 1:
        raise ValueError(f"single-aux trains with one auxiliary corpus at a time; got {list(aux)}")
    yield from auxiliary_learning(s.stage(aux), s.main_pass(), s.aux_stream(aux))


def conc(s: Schedule, aux: Sequence[str]) -> Iterator[Update]:
    """MUNCH-Conc (Algorithm 2): line 1, D_aux = [D(1); ...; D(M)], then Algorithm 1.

    One auxiliary batch may mix corpora; the model scores each sentence with its own head.
    """
    yield from auxiliary_learning(s.stage(aux), s.main_pass(), s.aux_stream(aux))


def iterate(s: Schedule, aux: Sequence[str]) -> Iterator[Update]:
    """MUNCH-Iter (Algorithm 3): inside every epoch, ITERATION steps with each D(k) in turn."""
    main, stage = s.main_pass(), s.stage(aux)
    streams = [s.aux_stream([corpus]) for corpus in aux]
    for _ in stage.epochs():  # 1: for i = 1 to EPOCH
        step = 0  # running position in the epoch, so that (epoch, step) names one pair
        for stream in streams:  # 2: for k = 1 to M
            for batch_main in main.epoch():  # 3: for j = 1 to ITERATION; 4: extract(D_main)
                step += 1
                yield stage.update("aux", stream.next(), step)  # 5-6: extract(D(k)), train
                yield stage.update("main", batch_main, step)  # 7: train(Model, Batch_main)
        # 10: is_converge_main(Model)


def iterate_by_epoch(s: Schedule, aux: Sequence[str]) -> Iterator[Update]:
    """MUNCH-Iter as the text of section 3.2 reads: the auxiliary corpus is switched every epoch.

    Epoch i learns from D(k) with k = (i - 1) mod M + 1; otherwise as Algorithm 1.
    """
    main, stage = s.main_pass(), s.stage(aux)
    streams = [s.aux_stream([corpus]) for corpus in aux]
    for epoch in stage.epochs():
        stream = streams[(epoch - 1) % len(streams)]
        for j, batch_main in enumerate(main.epoch(), 1):
            yield stage.update("aux", stream.next(), j)
            yield stage.update("main", batch_main, j)


def stack(s: Schedule, aux: Sequence[str]) -> Iterator[Update]:
    """MUNCH-Stack (Algorithm 4): a full auxiliary-learning stage per D(k), each to convergence.

    Each stage starts from the model the previous one left; the trainer resets the learning rate
    to its initial value at the start of every stage.
    """
    main = s.main_pass()
    for corpus in aux:  # 1: for k = 1 to M
        yield from auxiliary_learning(s.stage([corpus]), main, s.aux_stream([corpus]))  # 2-10


METHODS: dict[str, Method] = {
    "single-task": single_task,
    "multi-task": multi_task,
    "single-aux": single_aux,
    "conc": conc,
    "iter": iterate,
    "stack": stack,
}
ITER_SWITCH: dict[str, Method] = {"step-block": iterate, "epoch": iterate_by_epoch}
assert tuple(METHODS) == choices.METHODS and tuple(ITER_SWITCH) == choices.ITER_SWITCHES  # one list of names
