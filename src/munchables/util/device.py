"""Which torch device a command runs on: `--device auto|cpu|cuda[:N]`, checked once with a one-line error."""

from __future__ import annotations

import torch

from ..errors import UserError


def pick_device(name: str = "auto") -> torch.device:
    """`auto` is CUDA when available, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        if torch.version.cuda is None:  # the pinned CPU wheel: no driver would help
            raise UserError(f"--device {name}: no CUDA device is available here: this torch {torch.__version__} is a "
                            "CPU-only build; install a CUDA build (README, Installing torch: pip install torch "
                            "--index-url https://download.pytorch.org/whl/cu124), or use --device cpu")
        raise UserError(f"--device {name}: no CUDA device is available here; use --device cpu")
    return torch.device(name)
