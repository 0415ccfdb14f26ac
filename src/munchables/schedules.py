"""The learning-rate rule, and the stage / epoch bookkeeping that every training method shares.

The paper (section 4.1) trains with SGD and halves the learning rate when the epoch's loss on the
main task has not beaten its best for 4 epochs; a stage ends when the rate falls below 1e-4.
That rule is `is_converge_main` of Algorithms 1-4.

A method (methods.py) is a generator of `Update`s. It asks `Schedule.stage()` for a stage and
loops over `stage.epochs()`; after each epoch the schedule asks its listener (the trainer)
whether the stage has converged. Without a listener (`munch schedule`) nothing is trained and
the epochs run to `max_epochs`, so the same generator gives the trace and the training.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Iterator, Literal, Protocol, Sequence

import numpy as np

from .data.batching import Item, RestartingStream, ShuffledPass, items_of


@dataclass
class PlateauRule:
    """Halve the rate after `patience` epochs without a new best loss; stop below `min_lr`."""

    lr: float  # current learning rate; starts at the initial one
    patience: int = 4  # epochs without improvement before the rate is halved
    factor: float = 0.5  # the rate is multiplied by this
    min_lr: float = 1e-4  # the stage has converged once the rate falls below this
    best: float = math.inf  # best epoch loss so far
    bad_epochs: int = 0  # consecutive epochs whose loss did not beat `best`

    def step(self, loss: float) -> bool:
        """Record one epoch's loss; True when the stage has converged (is_converge_main)."""
        if loss < self.best:
            self.best, self.bad_epochs = loss, 0
        else:
            self.bad_epochs += 1
            if self.bad_epochs >= self.patience:
                self.lr *= self.factor
                self.bad_epochs = 0
        return self.lr < self.min_lr


Kind = Literal["aux", "main"]


@dataclass
class Update:
    """One parameter update: train(Model, Batch) of the Algorithms."""

    stage: int  # 1-based; only MUNCH-Stack has more than one
    epoch: int  # 1-based, restarting in every stage
    step: int  # 1-based position of the (aux, main) pair within the epoch
    kind: Kind  # "aux" or "main"
    items: list[Item]  # the sentences of the batch

    def record(self) -> dict:
        """The line of the schedule trace."""
        return {
            "stage": self.stage, "epoch": self.epoch, "step": self.step, "update": self.kind,
            "corpora": sorted({i.corpus for i in self.items}), "size": len(self.items),
        }


class Listener(Protocol):
    def begin_stage(self, stage: "Stage") -> None: ...
    def end_epoch(self, stage: "Stage") -> bool: ...  # True when the stage has converged
    def end_stage(self, stage: "Stage") -> None: ...


@dataclass
class Stage:
    schedule: "Schedule"
    number: int  # 1-based
    aux: list[str]  # the auxiliary corpora this stage learns from (for logs)
    watch: Kind | Literal["all"] = "main"  # which updates' loss the convergence rule watches
    epoch: int = 0

    def epochs(self) -> Iterator[int]:
        """for i = 1 to EPOCH ... is_converge_main(Model): epochs until the rule says converged."""
        s = self.schedule
        if s.listener is not None:
            s.listener.begin_stage(self)
        for self.epoch in range(1, s.max_epochs + 1) if s.max_epochs else itertools.count(1):
            yield self.epoch
            if s.listener is not None and s.listener.end_epoch(self):
                break
        if s.listener is not None:
            s.listener.end_stage(self)

    def update(self, kind: Kind, items: list[Item], step: int) -> Update:
        return Update(self.number, self.epoch, step, kind, items)


@dataclass
class Schedule:
    """What the methods draw from: the corpora's training items, batch size, seeded streams."""

    main: str  # the target corpus
    sizes: dict[str, int]  # corpus -> number of training sentences (main and auxiliaries)
    batch_size: int
    seed: int
    max_epochs: int | None = None
    listener: Listener | None = None
    stages: list[Stage] = field(default_factory=list)

    def __post_init__(self):
        self.rng = np.random.default_rng(self.seed)

    def stage(self, aux: Sequence[str] = (), watch: Kind | Literal["all"] = "main") -> Stage:
        stage = Stage(self, len(self.stages) + 1, list(aux), watch)
        self.stages.append(stage)
        return stage

    def items(self, corpus: str) -> list[Item]:
        return items_of(corpus, self.sizes[corpus])

    def main_pass(self) -> ShuffledPass:
        return ShuffledPass(self.items(self.main), self.batch_size, self.rng)

    def aux_stream(self, corpora: Sequence[str]) -> RestartingStream:
        """One restarting stream over the concatenation of `corpora` (one corpus: Algorithm 1)."""
        return RestartingStream(
            [item for c in corpora for item in self.items(c)], self.batch_size, self.rng
        )
