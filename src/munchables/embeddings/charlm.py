"""Character-level LSTM language models (Akbik et al. 2018), trained from local text.

A model reads a text one character at a time and predicts the next one; the forward model reads
left to right, the backward model the same text reversed. Their hidden states are the
contextual string embeddings of contextual.py. Training follows Flair's language-model trainer
(Akbik et al. 2018, 2019): the text is one long stream cut into `batch_size` parallel streams,
read in windows of `bptt` characters with the LSTM state carried from window to window but
not back-propagated through (truncated backpropagation through time), plain SGD at a high rate
with the gradient norm clipped, the rate halved when the held-out bits per character stop
improving. A held-out tail of the text is scored after every epoch.

One file holds the model and its training state: it is written atomically after every epoch
and every `checkpoint_minutes`, so an interrupted run resumes where it was (`--resume`); a
window resumed within an epoch starts from a zero LSTM state.

`CharLM.load` also reads Flair's language-model files as Flair publishes them (the paper's
`pubmed-forward` and `pubmed-backward`), without running code: `LanguageModel.save()` pickles a
dict of the state dict, a `flair.data.Dictionary` and the hyper-parameters, which is read by the
restricted unpickler of serialization.py with the Dictionary mapped to `FlairDictionary`.
Flair's modules map one to one onto this one's (encoder -> embed, rnn -> lstm, its optional
`proj` -> out_proj, decoder -> proj).
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from .. import __version__
from ..choices import DIRECTIONS
from ..data.text import text_lines
from ..errors import UserError
from ..schedules import PlateauRule
from ..settings import CharLMConfig, CharLMTraining, check_settings
from ..util.checks import finite
from ..util.files import atomic_write, out_file
from ..util.serialization import check_format, load_torch, require_fields, tensor_globals

log = logging.getLogger("munchables")

FORMAT = "munchables-charlm-1"
UNKNOWN = "\ufffd"  # index 0: characters the model never saw (and rare ones, see MIN_CHAR_COUNT)
MIN_CHAR_COUNT = 2  # rarer characters are read as UNKNOWN, so that its embedding is trained
NEWLINE = "\n"  # ends every line of the training text; starts every sentence at tagging time
HELD_OUT_STREAMS = 10  # the held-out text is scored as this many streams (long contexts, few cold starts)


class CharLM(nn.Module):
    """Embedding -> LSTM -> linear over the character vocabulary; `chars[0]` is the unknown character."""

    def __init__(self, config: CharLMConfig, chars: list[str]):
        super().__init__()
        if config.direction not in DIRECTIONS:
            raise UserError(f"unknown direction {config.direction!r}; choose one of {', '.join(DIRECTIONS)}")
        self.config, self.chars = config, list(chars)
        self.index = {c: i for i, c in enumerate(self.chars)}
        self.embed = nn.Embedding(len(self.chars), config.char_dim)
        self.lstm = nn.LSTM(config.char_dim, config.hidden, config.layers, batch_first=True,
                            dropout=config.dropout if config.layers > 1 else 0.0)
        self.drop = nn.Dropout(config.dropout)
        self.out_proj = nn.Linear(config.hidden, config.nout) if config.nout else None
        self.proj = nn.Linear(config.nout or config.hidden, len(self.chars))
        self.imported = ""  # "flair" for a model read from a Flair file (features.py picks its states by it)
        self._lookup: torch.Tensor | None = None

    @property
    def hidden(self) -> int:
        """The size H of the states the embeddings take (Flair's `nout` when it has one)."""
        return self.config.nout or self.config.hidden

    def forward(self, ids: torch.Tensor, state=None) -> tuple[torch.Tensor, tuple]:
        """Hidden outputs (B, L, H) after each character of `ids` (B, L), and the final LSTM state."""
        out, state = self.lstm(self.drop(self.embed(ids)), state)  # (B, L, hidden)
        if self.out_proj is not None:
            out = self.out_proj(out)  # (B, L, nout), as Flair's LanguageModel.forward
        return out, state

    def logits(self, out: torch.Tensor) -> torch.Tensor:
        return self.proj(self.drop(out))  # (B, L, V)

    def encode_text(self, text: str) -> torch.Tensor:
        """Character indices (L,) of `text` read in this model's direction (reversed when backward)."""
        if self.config.direction == "backward":
            text = text[::-1]
        if self._lookup is None:  # code point -> index, so that long texts convert without a loop
            singles = {c: i for c, i in self.index.items() if len(c) == 1}  # Flair's "<unk>" is no character
            table = np.zeros(max(ord(c) for c in singles) + 1 if singles else 1, dtype=np.int64)
            for c, i in singles.items():
                table[ord(c)] = i
            self._lookup = torch.from_numpy(table)
        codes = torch.from_numpy(np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.int64))
        inside = codes < len(self._lookup)
        return torch.where(inside, self._lookup[codes.clamp(max=len(self._lookup) - 1)], 0)  # (L,)

    # --- files --------------------------------------------------------------------------------

    def spec(self) -> dict:
        """What rebuilds this model's shape: its configuration and characters (weights aside)."""
        return {"config": asdict(self.config), "chars": self.chars}

    @classmethod
    def from_spec(cls, spec: dict) -> "CharLM":
        return cls(CharLMConfig(**spec["config"]), spec["chars"])

    @classmethod
    def load(cls, path: str | Path, role: str = "character language model") -> "CharLM":
        """A trained model from a file `munch charlm` or Flair wrote; a training state is left aside."""
        state = read_state(path, role)
        if is_flair(state):
            return from_flair(state, path, role)
        try:
            model = cls.from_spec(state["spec"])
            model.load_state_dict(state["model"])
        except (TypeError, KeyError, RuntimeError) as e:
            raise UserError(f"{path}: a damaged {role}: its weights do not fit its settings "
                            f"({str(e).splitlines()[0][:200]})") from None
        model.eval()
        return model


class FlairDictionary:
    """Stands in for `flair.data.Dictionary` when a Flair file is unpickled: it only receives the
    attributes (`item2idx`: bytes -> index, `idx2item`: list of bytes, `<unk>` at 0)."""


# What a Flair language-model file may hold: tensors, OrderedDicts, bytes and the Dictionary.
FLAIR_GLOBALS = tensor_globals({("flair.data", "Dictionary"): FlairDictionary})
FLAIR_FIELDS = ("state_dict", "dictionary", "is_forward_lm", "hidden_size", "nlayers", "embedding_size", "nout", "dropout")
FLAIR_NAMES = {"encoder.": "embed.", "rnn.": "lstm.", "proj.": "out_proj.", "decoder.": "proj."}  # Flair -> here


def is_flair(state: dict) -> bool:
    return "format" not in state and "state_dict" in state and "dictionary" in state


def from_flair(state: dict, path: str | Path, role: str) -> CharLM:
    """A CharLM with the weights and characters of a Flair `LanguageModel.save()` dict."""
    require_fields(state, path, f"Flair {role}", FLAIR_FIELDS)
    damaged = f"{path}: a damaged Flair {role}"
    recurrent = str(state.get("recurrent_type", "LSTM"))
    if recurrent.lower() != "lstm":
        raise UserError(f"{path}: a Flair {role} with a {recurrent} layer; munchables reads LSTM language models only")
    items = getattr(state["dictionary"], "item2idx", None)
    weights = state["state_dict"]
    if not isinstance(items, dict) or not isinstance(weights, dict) or "encoder.weight" not in weights:
        raise UserError(f"{damaged}: no character dictionary or no encoder weights")
    n = weights["encoder.weight"].shape[0]
    # Flair looks characters up in item2idx (unknown: 0); undecodable items are kept as never-matching names
    chars = [f"<unused {i}>" for i in range(n)]
    for item, i in items.items():
        if not isinstance(i, int) or not 0 <= i < n:
            raise UserError(f"{damaged}: its dictionary names index {i!r} for {n} character embeddings")
        chars[i] = item.decode("utf-8", "replace") if isinstance(item, bytes) else str(item)
    try:
        config = CharLMConfig(direction="forward" if state["is_forward_lm"] else "backward",
                              hidden=int(state["hidden_size"]), layers=int(state["nlayers"]),
                              char_dim=int(state["embedding_size"]), dropout=float(state["dropout"]),
                              nout=int(state["nout"] or 0), delimiter=str(state.get("document_delimiter", NEWLINE)))
        model = CharLM(config, chars)
        unknown = [k for k in weights if k.split(".")[0] + "." not in FLAIR_NAMES]
        if unknown:
            raise KeyError(f"unknown weights {unknown[:3]}")
        renamed = {FLAIR_NAMES[k.split(".")[0] + "."] + k.split(".", 1)[1]: v for k, v in weights.items()}
        missing, unexpected = model.load_state_dict(renamed, strict=False)
        if unexpected or [k for k in missing if not k.startswith("proj.")]:  # a file without decoder (has_decoder=False)
            raise KeyError(f"missing {missing}, unexpected {unexpected}")
    except (TypeError, KeyError, ValueError, RuntimeError) as e:
        raise UserError(f"{damaged}: its weights do not fit its settings ({str(e).splitlines()[0][:200]})") from None
    model.imported = "flair"
    model.eval()
    return model


def read_state(path: str | Path, role: str = "character language model") -> dict:
    """The contents of a file `munch charlm` or Flair wrote, read without running code (serialization.py)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: {role} file not found; train one with `munch charlm --text FILE "
                        f"--direction forward|backward --out {path}`")
    state = load_torch(path, role, allowed=FLAIR_GLOBALS)
    if isinstance(state, dict) and is_flair(state):
        return state
    if not isinstance(state, dict) or not str(state.get("format", "")).startswith(FORMAT.rsplit("-", 1)[0] + "-"):
        raise UserError(f"{path}: not a character language model written by `munch charlm` or Flair")
    check_format(state, path, role, "format", int(FORMAT.rsplit("-", 1)[1]))
    require_fields(state, path, role, ("spec", "model"))
    return state


# --- training --------------------------------------------------------------------------------


def build_chars(counts: Counter) -> list[str]:
    """The model's characters: UNKNOWN, then those seen at least MIN_CHAR_COUNT times, most frequent first
    (ties in order of first appearance, as `Counter.most_common` keeps them)."""
    return [UNKNOWN] + [c for c, n in counts.most_common() if n >= MIN_CHAR_COUNT and c != UNKNOWN]


def split_text(lines: list[str], held_out: float) -> tuple[str, str]:
    """The training stream and the held-out stream: the last `held_out` of the lines, at least one
    (as TextStreams writes them, for a text small enough to hold)."""
    n_held = held_lines(len(lines), held_out)
    join = lambda ls: NEWLINE.join(ls) + NEWLINE  # noqa: E731
    return join(lines[:-n_held]), join(lines[-n_held:])


def held_lines(n_lines: int, held_out: float) -> int:
    if n_lines < 2:
        raise UserError("a character language model needs at least two lines of text (one is held out)")
    return min(n_lines - 1, max(1, round(n_lines * held_out)))


class TextStreams:
    """The training and held-out characters of a text file as the model's indices, in a memory-
    mapped file beside the model: the text is read three times, a line at a time (lines; the
    characters of the training part; the indices), and never held whole, so that a text of many
    gigabytes trains in bounded memory (the page cache holds what is read). The file is removed
    as soon as it is mapped (the mapping keeps it until the process ends, however it ends).

    Exactly `model.encode_text(train_text)` and `(held_text)` of split_text (tested): a backward
    model's stream is the whole text reversed, so each block is written at its mirrored place."""

    BLOCK = 1 << 20  # characters encoded at a time

    def __init__(self, path: Path, held_out: float):
        self.path = path
        n_lines = sum(1 for _ in text_lines(path))
        self.n_train = n_lines - held_lines(n_lines, held_out)
        self.counts: Counter = Counter()  # of the training part: the model's characters
        self.lengths = [0, 0]  # characters of the training and the held-out part, line breaks included
        for i, line in enumerate(text_lines(path)):
            part = i >= self.n_train
            if not part:
                self.counts.update(line)
                self.counts[NEWLINE] += 1
            self.lengths[part] += len(line) + 1

    def encode(self, model: "CharLM", beside: Path) -> tuple[torch.Tensor, torch.Tensor]:
        """The (N,) training and (M,) held-out indices of `model`'s characters, in its direction."""
        dtype = np.int16 if len(model.chars) <= np.iinfo(np.int16).max else np.int32
        fd, name = tempfile.mkstemp(dir=beside.parent, prefix=f".{beside.name}.", suffix=".chars")
        os.close(fd)
        try:
            ids = np.memmap(name, dtype=dtype, mode="w+", shape=(sum(self.lengths),))
        finally:
            os.unlink(name)
        backward = model.config.direction == "backward"
        starts = [0, self.lengths[0]]
        written = [0, 0]
        block: list[str] = []

        def flush(part: int) -> None:
            if not block:
                return
            text = NEWLINE.join(block) + NEWLINE
            codes = model.encode_text(text).numpy().astype(dtype)
            n = len(codes)
            at = starts[part] + (self.lengths[part] - written[part] - n if backward else written[part])
            ids[at:at + n] = codes
            written[part] += n
            block.clear()

        size, part = 0, 0
        for i, line in enumerate(text_lines(self.path)):
            if i == self.n_train:
                flush(part)
                size, part = 0, 1
            block.append(line)
            size += len(line) + 1
            if size >= self.BLOCK:
                flush(part)
                size = 0
        flush(part)
        if written != self.lengths:
            raise UserError(f"{self.path}: the file changed while it was read; train on a file nothing else writes")
        whole = torch.from_numpy(ids)
        return whole[: self.lengths[0]], whole[self.lengths[0]:]


def batchify(ids: torch.Tensor, streams: int) -> torch.Tensor:
    """(N,) -> (S, N // S): S parallel streams of consecutive characters (the tail is dropped)."""
    n = ids.numel() // streams
    return ids[: n * streams].view(streams, n)  # (S, n)


def windows(n: int, bptt: int) -> list[int]:
    """Start columns of the windows over streams of length n (each predicts up to bptt next characters)."""
    return list(range(0, n - 1, bptt))


@torch.no_grad()
def bits_per_char(model: CharLM, data: torch.Tensor, bptt: int, device: torch.device) -> float:
    """Mean cross-entropy, in bits, of predicting every next character of the streams `data` (S, n)."""
    model.eval()
    state, total, count = None, 0.0, 0
    for start in windows(data.shape[1], bptt):
        chunk = data[:, start : start + bptt + 1].to(device, torch.long)  # (S, l+1)
        out, state = model(chunk[:, :-1], state)  # (S, l, H)
        logits = model.logits(out)  # (S, l, V)
        total += nn.functional.cross_entropy(logits.flatten(0, 1), chunk[:, 1:].flatten(), reduction="sum").item()
        count += chunk[:, 1:].numel()
    return total / max(count, 1) / math.log(2)


def annealing(lr: float, best: float = math.inf) -> PlateauRule:
    """Halve the rate after every epoch whose held-out bits per character beat no earlier one (Flair
    anneals likewise): the trainer's PlateauRule with a patience of one epoch and no end."""
    return PlateauRule(lr, patience=1, min_lr=0.0, best=best)


class CharLMTrainer:
    """One run of `munch charlm`: setup() from the text (or the checkpoint), then train()."""

    def __init__(self, text: str | Path, out: str | Path, config: CharLMConfig, training: CharLMTraining,
                 device: torch.device, resume: bool = False, progress: bool | None = None):
        self.text_path, self.out = Path(text), Path(out)
        self.config, self.training, self.device = config, training, device
        self.resume, self.progress = resume, progress

    # --- setup --------------------------------------------------------------------------------

    def setup(self) -> None:
        t = self.training
        finite(clip=t.clip, checkpoint_minutes=t.checkpoint_minutes)
        check_settings(t)  # every flag's check (settings.py), named by its flag
        check_settings(self.config)
        out_file(self.out)  # a directory, a broken link or an unwritable place: one line, before any work
        text = TextStreams(self.text_path, t.held_out)  # read as it streams: any size of text
        stat = self.text_path.stat()
        self.source = {"path": str(self.text_path), "bytes": stat.st_size}
        state = self._setup_checkpoint()
        torch.manual_seed(t.seed)
        chars = state["spec"]["chars"] if state else build_chars(text.counts)
        self.model = CharLM(self.config, chars).to(self.device)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=t.lr)
        train_length, held_length = text.lengths
        streams = min(t.batch_size, train_length // 2)
        if streams < 1:
            raise UserError(f"{self.text_path}: too little text to train on")
        train_ids, held_ids = text.encode(self.model, self.out)  # memory-mapped (N,) and (M,)
        self.train_data = batchify(train_ids, streams)  # (S, n)
        held_streams = max(1, min(HELD_OUT_STREAMS, held_length // t.bptt))
        self.held_data = batchify(held_ids, held_streams)  # (S', n')
        self.rule = annealing(t.lr)
        self.epoch, self.position, self.history = 0, 0, []
        self.elapsed = 0.0  # seconds of training so far, over every run that resumed this one
        if state:
            self._restore(state)
        log.info("character LM (%s, %d units): %s training and %s held-out characters, %d characters in its vocabulary",
                 self.config.direction, self.config.hidden, f"{self.train_data.numel():,}",
                 f"{self.held_data.numel():,}", len(chars))

    def _setup_checkpoint(self) -> dict | None:
        if not self.out.exists():
            return None
        if not self.resume:
            raise UserError(f"{self.out} exists; use --resume to continue its training, or another --out")
        state = read_state(self.out)
        require_fields(state, self.out, "character language model checkpoint", ("training", "source", "optimizer", "progress"))
        require_fields(state["progress"], self.out, "character language model checkpoint's progress",
                       ("lr", "best", "epoch", "position", "history", "rng"))
        layout = ("batch_size", "bptt", "held_out", "seed")  # what the streams and their order depend on
        before = {k: state["training"][k] for k in layout}
        if before != {k: getattr(self.training, k) for k in layout}:
            raise UserError(f"{self.out}: cannot resume with different training settings ({before} there); "
                            "use the same flags, or another --out")
        if state["spec"]["config"] != asdict(self.config):
            raise UserError(f"{self.out}: cannot resume with a different model ({state['spec']['config']} there); "
                            "use the same --direction and --hidden, or another --out")
        if state["source"] != {"path": str(self.text_path), "bytes": self.text_path.stat().st_size}:
            raise UserError(f"{self.out}: was trained on {state['source']['path']} ({state['source']['bytes']} bytes); "
                            "resume with that same text, or use another --out")
        return state

    def _restore(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        p = state["progress"]
        self.rule = annealing(p["lr"], p["best"])
        self.epoch, self.position = p["epoch"], p["position"]
        self.history = [r for r in p["history"] if not r.get("partial")]
        self.elapsed = p.get("elapsed", 0.0)
        self.optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(p["rng"])
        log.info("resuming after epoch %d, window %d", self.epoch, self.position)

    # --- training ------------------------------------------------------------------------------

    def train(self) -> list[dict]:
        """Epochs until `training.epochs` (or `max_minutes`); returns the per-epoch log."""
        t = self.training
        started = self._started = time.perf_counter()
        self._elapsed_before = self.elapsed
        deadline = started + t.max_minutes * 60 if t.max_minutes else math.inf
        while self.epoch < t.epochs:
            stopped = self._epoch(deadline)
            if stopped:
                bpc = bits_per_char(self.model, self.held_data, t.bptt, self.device)
                log.info("stopped after %.1f minutes in epoch %d: held-out %.4f bits per character",
                         (time.perf_counter() - started) / 60, self.epoch + 1, bpc)
                self.history.append({"epoch": self.epoch + 1, "partial": True, "windows": self.position,
                                     "bpc": bpc, "lr": self.rule.lr, "elapsed_minutes": self._tick() / 60})
                self._save()
                break
        return self.history

    def _epoch(self, deadline: float) -> bool:
        """One pass over the training streams from `self.position`; True when stopped by the deadline."""
        t = self.training
        starts = windows(self.train_data.shape[1], t.bptt)
        self.model.train()
        state, t0, chars, last_save = None, time.perf_counter(), 0, time.perf_counter()
        total = torch.zeros((), device=self.device)  # summed window losses, read once at the end
        bar = tqdm(total=len(starts), initial=self.position, desc=f"epoch {self.epoch + 1}", unit="window",
                   leave=False, disable=not self.progress if self.progress is not None else None)
        first = self.position
        for i in range(first, len(starts)):
            chunk = self.train_data[:, starts[i] : starts[i] + t.bptt + 1].to(self.device, torch.long)  # (S, l+1)
            out, state = self.model(chunk[:, :-1], state)  # (S, l, H)
            state = tuple(s.detach() for s in state)  # truncated BPTT: carry the state, not its graph
            logits = self.model.logits(out)  # (S, l, V)
            loss = nn.functional.cross_entropy(logits.flatten(0, 1), chunk[:, 1:].flatten())
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(self.model.parameters(), t.clip)
            self.optimizer.step()
            total += loss.detach()
            chars += chunk[:, 1:].numel()
            self.position = i + 1
            bar.update()
            now = time.perf_counter()
            if now >= deadline:
                bar.close()
                return True
            if now - last_save >= t.checkpoint_minutes * 60:
                self._check_finite(total, partial=True)  # never checkpoint weights a non-finite loss made
                self._save()
                last_save = now
        bar.close()
        self._check_finite(total)
        seconds = time.perf_counter() - t0
        windows_run = len(starts) - first
        bpc = bits_per_char(self.model, self.held_data, t.bptt, self.device)
        self.epoch, self.position = self.epoch + 1, 0
        record = {"epoch": self.epoch, "bpc": bpc, "lr": self.rule.lr,
                  "train_bpc": total.item() / max(windows_run, 1) / math.log(2),  # mean over this run's windows
                  "seconds": seconds, "chars_per_s": chars / max(seconds, 1e-9), "elapsed_minutes": self._tick() / 60}
        self.history.append(record)
        log.info("epoch %d: held-out %.4f bits per character, lr %g, %.0f characters/s",
                 self.epoch, bpc, self.rule.lr, record["chars_per_s"])
        self.rule.step(bpc)
        for group in self.optimizer.param_groups:
            group["lr"] = self.rule.lr
        self._save()
        return False

    def _check_finite(self, total: torch.Tensor, partial: bool = False) -> None:
        """Stop, keeping the last checkpoint, when the summed loss of this epoch is NaN or infinite."""
        if not math.isfinite(total.item()):
            raise UserError(f"{self.out}: the training loss became {total.item()} in epoch {self.epoch + 1}"
                            f"{' (window ' + str(self.position) + ')' if partial else ''}; training stopped and the "
                            "last checkpoint in that file (if any) is kept; try a lower --lr")

    def _tick(self) -> float:
        """Training seconds so far, this run's included."""
        self.elapsed = self._elapsed_before + time.perf_counter() - self._started
        return self.elapsed

    def _save(self) -> None:
        state = {
            "format": FORMAT,
            "munchables_version": __version__,
            "spec": self.model.spec(),
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "training": asdict(self.training),
            "source": self.source,
            "progress": {"epoch": self.epoch, "position": self.position, "lr": self.rule.lr, "best": self.rule.best,
                         "history": self.history, "rng": torch.get_rng_state(), "elapsed": self._tick(),
                         "done": self.epoch >= self.training.epochs},
        }
        self.out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(self.out, lambda tmp: torch.save(state, tmp))


def train_charlm(text, out, config: CharLMConfig, training: CharLMTraining, device: torch.device,
                 resume: bool = False, progress: bool | None = None) -> list[dict]:
    """What `munch charlm` runs: train (or resume) a character LM on a text file, saved to `out`."""
    trainer = CharLMTrainer(text, out, config, training, device, resume, progress)
    trainer.setup()
    return trainer.train()
