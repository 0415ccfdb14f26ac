"""The one trainer every method shares: one update, the epoch bookkeeping, checkpoints, resume.

The trainer consumes a method's generator of updates (methods.py) and acts as the schedule's
listener: at the end of every epoch it logs, checkpoints and asks the learning-rate rule whether
the stage has converged. Resuming replays the generator without training up to the last
checkpoint (the streams are seeded, so the replay draws the same batches), feeding the rule the
logged losses, then restores model, optimizer and random state and trains on.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable, Iterator

import torch

from . import __version__
from .data.batching import Batch, Collator
from .errors import UserError
from .model import MultiTaskTagger
from .schedules import PlateauRule, Stage, Update
from .settings import TrainConfig  # the training settings, with their flags (settings.py)
from .util.files import atomic_write, atomic_write_text
from .util.progress import Progress
from .util.serialization import check_format, load_torch, require_fields

log = logging.getLogger("munchables")

CHECKPOINT_FORMAT = 1  # of checkpoint.pt; raise it when a change makes older munchables misread the file


def train_step(model: MultiTaskTagger, optimizer: torch.optim.Optimizer, batch: Batch, clip: float = 5.0,
               reduction: str = "mean") -> torch.Tensor:
    """train(Model, Batch) of the Algorithms: one SGD update on one batch, gradient norm clipped.

    The one training step of munchables: the trainer, `munch bench` and bench_embeddings share
    it. Returns the batch's mean sentence loss, detached and on the device, whatever `reduction`
    the update used, so that the log and the convergence rule read the same numbers either way.
    """
    model.train()
    loss = model.loss(batch, reduction)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
    optimizer.step()
    loss = loss.detach()
    return loss / len(batch) if reduction == "sum" else loss


class Trainer:
    """Performs the updates of one run and keeps `out/checkpoint.pt`, `out/log.jsonl`, `out/trace.jsonl`."""

    def __init__(
        self,
        model: MultiTaskTagger,
        collate: Collator,  # turns training items into batches
        config: TrainConfig,
        out: Path,
        device: torch.device,
        dev_f1: Callable[[], float] | None = None,  # target dev F1, logged after every epoch
        stage_metrics: Callable[[], dict] | None = None,  # target metrics logged after every stage
        resume: bool = False,
        trace: bool = False,
        progress: bool | None = None,  # None: a bar on a terminal, else a line every 30 s; False: nothing
        keep_best: bool = False,  # also keep out/best.pt, the model of the best target dev F1 (--keep best-dev)
        epoch_size: int | None = None,  # updates per epoch, the progress bar's total
        finished: dict | None = None,  # with resume and no checkpoint: a finished run's state (pipeline.finished_state)
    ):
        self.model, self.collate, self.config = model, collate, config
        self.out, self.device, self.dev_f1, self.stage_metrics = out, device, dev_f1, stage_metrics
        self.optimizer = torch.optim.SGD(model.parameters(), lr=config.lr)
        self.rule = PlateauRule(config.lr, config.patience, min_lr=config.min_lr)
        self.history: list[dict] = []
        self.progress = Progress(epoch_size, progress)
        self.keep_best = keep_best
        self._trace = open(out / "trace.jsonl", "w") if trace else None
        self._restore: dict | None = None
        self._done: dict[tuple[int, int], dict] = {}
        self._clock = time.perf_counter()
        self.resumed_seconds = 0.0  # wall time the checkpoint's work took in earlier processes
        self.last_rng = torch.get_rng_state()  # torch's random state at the last checkpoint (pipeline saves it in model.pt)
        if resume:
            self._load_checkpoint(finished)
        self._new_epoch()

    # --- the listener side: stages and epochs -----------------------------------------------

    def begin_stage(self, stage: Stage) -> None:
        """Every stage starts from the initial learning rate (Algorithm 4's stages included)."""
        self.rule = PlateauRule(self.config.lr, self.config.patience, min_lr=self.config.min_lr)
        self._set_lr(self.rule.lr)

    def end_epoch(self, stage: Stage) -> bool:
        key = (stage.number, stage.epoch)
        if key in self._done:  # replaying a finished epoch while resuming
            converged = self.rule.step(self._done[key]["loss"])
            self._set_lr(self.rule.lr)
            if self._restore is not None and key == tuple(self._restore["position"]):
                self._apply_restore()
            return converged
        record = self._finish_epoch(stage)
        converged = self.rule.step(record["loss"])
        self._set_lr(self.rule.lr)
        self.history.append(record)
        self._save_checkpoint(key)
        return converged

    def end_stage(self, stage: Stage) -> None:
        """Metrics after every stage (MUNCH-Stack's stages especially) go to the log."""
        old = [r for r in self.history if r.get("event") == "stage" and r["stage"] == stage.number]
        if old and old[-1]["epochs"] == stage.epoch:
            return  # replayed while resuming
        self.history = [r for r in self.history if r not in old]  # resumed with a raised --max-epochs: it went on
        record = {"event": "stage", "stage": stage.number, "aux": stage.aux, "epochs": stage.epoch}
        if self.stage_metrics is not None:
            record.update(self.stage_metrics())
        self.history.append(record)
        self._save_checkpoint((stage.number, stage.epoch))

    # --- the update loop --------------------------------------------------------------------

    def fit(self, updates: Iterator[Update]) -> list[dict]:
        """Perform every update the method yields; returns the per-epoch log."""
        for update in updates:
            if self._trace is not None:
                self._trace.write(json.dumps(update.record()) + "\n")
            if (update.stage, update.epoch) in self._done:
                continue
            self._step(update)
            self.progress.step(update.stage, update.epoch)
        if self._trace is not None:
            self._trace.close()
        self.progress.close()
        return self.history

    def _step(self, update: Update) -> None:
        """One update of the method's, timed and its loss kept for the epoch's log."""
        if self._t0 is None:
            self._t0 = time.perf_counter()
        batch = self.collate(update.items).to(self.device)
        loss = train_step(self.model, self.optimizer, batch, self.config.clip, self.config.loss_reduction)
        self._loss[update.kind] = self._loss[update.kind] + loss  # summed on the device: no host synchronisation
        self._batches[update.kind] += 1
        self._sentences += len(update.items)

    def _new_epoch(self) -> None:
        self._loss = {"aux": torch.zeros((), device=self.device), "main": torch.zeros((), device=self.device)}
        self._batches = {"aux": 0, "main": 0}
        self._sentences, self._t0 = 0, None

    def _finish_epoch(self, stage: Stage) -> dict:
        seconds = time.perf_counter() - (self._t0 or time.perf_counter())
        self.progress.close()
        mean = {k: self._loss[k].item() / max(1, self._batches[k]) for k in self._loss}
        watched = (
            mean["main"] if stage.watch == "main"
            else sum(self._loss.values()).item() / max(1, sum(self._batches.values()))
        )
        if not all(math.isfinite(x) for x in (watched, *mean.values())):
            self._new_epoch()
            kept = (f"the last good checkpoint {self.checkpoint_path} is kept" if self.checkpoint_path.exists()
                    else "no checkpoint was written")
            raise UserError(f"stage {stage.number} epoch {stage.epoch}: the training loss is not finite "
                            f"(main {mean['main']}, aux {mean['aux']}); training stopped and {kept}; "
                            "try a lower --lr")
        record = {
            "event": "epoch", "stage": stage.number, "epoch": stage.epoch, "aux": stage.aux, "loss": watched,
            "main_loss": mean["main"], "aux_loss": mean["aux"] if self._batches["aux"] else None,
            "lr": self.rule.lr, "sentences_per_s": self._sentences / max(seconds, 1e-9),
            "seconds": seconds,
        }
        if self.dev_f1 is not None:
            record["dev_f1"] = self.dev_f1()
            if self.keep_best and record["dev_f1"] > max((r.get("dev_f1", -1.0) for r in self.history), default=-1.0):
                record["best"] = True  # the first epoch of the highest dev F1 is kept (ties: the earlier)
                atomic_write(self.out / "best.pt", lambda tmp: torch.save(self.model.state_dict(), tmp))
        dev = f" dev F1 {record['dev_f1']:.4f}" if "dev_f1" in record else ""
        log.info(
            "stage %d epoch %d: loss %.4f lr %.4g%s %.0f sent/s",
            stage.number, stage.epoch, watched, record["lr"], dev, record["sentences_per_s"],
        )
        self._new_epoch()
        return record

    def restore_best(self) -> dict:
        """Load the model of the best target dev F1 (`--keep best-dev`); its epoch's log record."""
        best = [r for r in self.history if r.get("best")][-1]
        self.model.load_state_dict(load_torch(self.out / "best.pt", "best model (--keep best-dev)"))
        return best

    def _set_lr(self, lr: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    # --- checkpoints ------------------------------------------------------------------------

    @property
    def checkpoint_path(self) -> Path:
        return self.out / "checkpoint.pt"

    def _save_checkpoint(self, position: tuple[int, int]) -> None:
        state = {
            "format": CHECKPOINT_FORMAT,
            "munchables_version": __version__,
            "position": position,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "rule": asdict(self.rule),
            "history": self.history,
            "elapsed": self.resumed_seconds + time.perf_counter() - self._clock,
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        }
        atomic_write(self.checkpoint_path, lambda tmp: torch.save(state, tmp))
        self.last_rng = state["torch_rng"]  # model.pt keeps it too: a finished run extends without its checkpoint
        atomic_write_text(self.out / "log.jsonl", "".join(json.dumps(r) + "\n" for r in self.history))

    def _load_checkpoint(self, finished: dict | None = None) -> None:
        if not self.checkpoint_path.exists() and finished is not None:
            state = finished  # a finished run extended from model.pt and log.jsonl
        elif not self.checkpoint_path.exists():
            log.info("no checkpoint in %s: starting from scratch", self.out)
            return
        else:
            what, fix = "training checkpoint", "remove it to start again, or resume from another --out"
            state = load_torch(self.checkpoint_path, what, fix)  # weights_only: a checkpoint runs no code
            if isinstance(state, dict) and "format" not in state:
                state["format"] = 1  # checkpoints of munchables 0.1.0 had no format field
            check_format(state, self.checkpoint_path, what, "format", CHECKPOINT_FORMAT)
            require_fields(state, self.checkpoint_path, what, ("position", "model", "optimizer", "rule", "history", "torch_rng"))
        self._restore = state
        self.history = list(self._restore["history"])
        self._done = {(r["stage"], r["epoch"]): r for r in self.history if r["event"] == "epoch"}
        # checkpoints before "elapsed" was kept: their epochs' training time, a lower bound
        self.resumed_seconds = float(state.get("elapsed", sum(r.get("seconds", 0.0) for r in self._done.values())))
        log.info("resuming after stage %d epoch %d", *self._restore["position"])

    def _apply_restore(self) -> None:
        state, self._restore = self._restore, None
        try:
            self.model.load_state_dict(state["model"])
            if state["optimizer"] is not None:  # None: extended from model.pt; plain SGD keeps no state but its rate
                self.optimizer.load_state_dict(state["optimizer"])
        except (RuntimeError, ValueError, KeyError) as e:
            raise UserError(
                f"{self.checkpoint_path}: the checkpoint is of another model ({str(e).splitlines()[0][:200]}); "
                "resume with the flags it was trained with, or use a new --out"
            ) from None
        if state["rule"] is not None:  # None: the rule as the replay of the logged losses left it, the same state
            self.rule = PlateauRule(**state["rule"])
        self._set_lr(self.rule.lr)
        torch.set_rng_state(state["torch_rng"])
        self.last_rng = state["torch_rng"]
        if state.get("cuda_rng") is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
