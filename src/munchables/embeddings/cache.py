"""Per-sentence features computed once: frozen language models give a sentence the same vectors
every epoch, so they are computed the first time the sentence is seen and read back after.

`MemoryCache` keeps the tensors in a dict. `DiskCache` appends them to one file and keeps only
offsets in memory, for corpora whose features do not fit: a token of 2 x 1024-unit language
models takes 8 KiB, so the 2.5 million training tokens of the paper's corpora take about 19 GiB.
The key is the sentence's tokens, so the training, development and tagging batches all share it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import weakref
from pathlib import Path
from typing import Callable, Sequence

import torch

from ..choices import CACHES, check


class FeatureCache:
    """Sentence (tuple of tokens) -> (n, D) float32 tensor on the CPU; counts hits and misses."""

    def __init__(self):
        self.hits = self.misses = 0

    def _get(self, key: tuple[str, ...]) -> torch.Tensor | None:
        raise NotImplementedError

    def _put(self, key: tuple[str, ...], value: torch.Tensor) -> None:
        raise NotImplementedError

    def __len__(self) -> int:
        raise NotImplementedError

    def get_many(
        self,
        sentences: Sequence[Sequence[str]],
        compute: Callable[[list[Sequence[str]]], list[torch.Tensor]],  # sentences -> their (n, D) features
    ) -> list[torch.Tensor]:
        """Features of every sentence; `compute` is called once, on the sentences not cached yet."""
        keys = [tuple(s) for s in sentences]
        found = [self._get(k) for k in keys]
        missing = list(dict.fromkeys(k for k, f in zip(keys, found) if f is None))
        self.hits += len(keys) - sum(f is None for f in found)
        self.misses += len(missing)
        if missing:
            for key, value in zip(missing, compute(missing)):
                self._put(key, value.detach().to("cpu", torch.float32).contiguous())
            found = [f if f is not None else self._get(k) for k, f in zip(keys, found)]
        return found


class MemoryCache(FeatureCache):
    def __init__(self):
        super().__init__()
        self._store: dict[tuple[str, ...], torch.Tensor] = {}

    def _get(self, key):
        return self._store.get(key)

    def _put(self, key, value):
        self._store[key] = value

    def __len__(self) -> int:
        return len(self._store)


class DiskCache(FeatureCache):
    """Features appended to one file in a temporary folder under `parent`, removed with the cache."""

    def __init__(self, parent: str | Path | None = None):
        super().__init__()
        if parent is not None:
            Path(parent).mkdir(parents=True, exist_ok=True)
        self.folder = Path(tempfile.mkdtemp(prefix="feature-cache-", dir=parent))
        self.path = self.folder / "features.f32"
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        self._index: dict[tuple[str, ...], tuple[int, int, int]] = {}  # key -> (byte offset, n, D)
        self._size = 0
        self._finalizer = weakref.finalize(self, _remove, self._fd, self.folder)

    def _get(self, key):
        where = self._index.get(key)
        if where is None:
            return None
        offset, n, d = where
        data = bytearray(os.pread(self._fd, n * d * 4, offset))
        return torch.frombuffer(data, dtype=torch.float32).view(n, d)

    def _put(self, key, value):
        data = value.numpy().tobytes()
        os.write(self._fd, data)
        self._index[key] = (self._size, *value.shape)
        self._size += len(data)

    def __len__(self) -> int:
        return len(self._index)

    def close(self) -> None:
        self._finalizer()


def _remove(fd: int, folder: Path) -> None:
    os.close(fd)
    shutil.rmtree(folder, ignore_errors=True)


def make_cache(kind: str, folder: str | Path | None = None) -> FeatureCache | None:
    """`memory`, `disk` (a temporary folder under `folder`) or `none` (recompute every time)."""
    check(kind, CACHES, "--embedding-cache")
    if kind == "memory":
        return MemoryCache()
    if kind == "disk":
        return DiskCache(folder)
    return None


def pad(features: list[torch.Tensor], device: torch.device) -> torch.Tensor:
    """(n_b, D) tensors -> (B, T, D), zero past each sentence's end, on `device`."""
    return torch.nn.utils.rnn.pad_sequence(features, batch_first=True).to(device, non_blocking=True)  # (B, T, D)
