"""What `--resume` compares: a run's options as the user gave them, named by their flags.

`config.json` keeps, beside the resolved settings, the options as given (`"options"`), so that
`munch train --out DIR --resume` alone continues with them. A flag given again with another value
is named as the flag (`--max-epochs 3 was 20`); raising `--max-epochs` (or lifting the cap)
extends the run, and options that change how, not what, is trained (the device, the feature
cache, tracing) may differ freely.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, fields, is_dataclass
from pathlib import Path

from .errors import UserError

# How, not what: a resumed run may change these freely.
FREE = {"device", "embedding_cache", "trace", "progress", "resume", "overwrite", "keep_checkpoint", "out",
        "fetch", "score_heads"}
SPECIAL_FLAGS = {"lstm": "--no-lstm"}  # option -> the flag that sets it, where the names differ


def given_options(options) -> dict:
    """The RunOptions as a flat JSON-able dict, nested configs flattened (train.lr -> lr)."""
    flat = {}
    for f in fields(options):
        value = getattr(options, f.name)
        if f.name in FREE:
            continue
        if is_dataclass(value):
            flat |= {k: v for k, v in asdict(value).items()}
        else:
            flat[f.name] = str(value) if isinstance(value, Path) else value
    return flat


def flag(name: str) -> str:
    return SPECIAL_FLAGS.get(name, "--" + name.replace("_", "-"))


def _show(name: str, value) -> str:
    if name == "lstm":
        return "not given" if value else "given"
    if isinstance(value, list):
        return ",".join(value) if value else "(none)"
    return "unset" if value is None else str(value)


def extends(before, after) -> bool:
    """A raised (or lifted) --max-epochs cap."""
    return (math.inf if after is None else after) > (math.inf if before is None else before)


def differences(before: dict, after: dict) -> list[str]:
    """`--flag NEW was OLD` for each option that differs, a raised --max-epochs excepted."""
    out = []
    for name in sorted(set(before) | set(after)):
        if name in FREE or before.get(name) == after.get(name):
            continue
        if name == "max_epochs" and extends(before.get(name), after.get(name)):
            continue
        out.append(f"{flag(name)} {_show(name, after.get(name))} was {_show(name, before.get(name))}")
    return out


def saved_options(out: Path) -> dict | None:
    """The options `out/config.json` was written with; None when the run saved none (older runs)."""
    path = Path(out) / "config.json"
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("options")
    except (ValueError, OSError, AttributeError):
        raise UserError(f"{path}: not a munchables run configuration; remove it, or use another --out") from None


def check(out: Path, before: dict | None, after: dict) -> None:
    """Refuse to resume `out` with options that change what is trained, naming the flags."""
    changed = differences(before, after) if before is not None else []
    if changed:
        raise UserError(f"--out {out}: cannot resume with {', '.join(changed)}; leave the flags out to continue "
                        "with the run's own settings, or use another --out")
