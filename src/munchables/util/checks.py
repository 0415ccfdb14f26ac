"""Checks of numbers a user gives, shared by every command: finite, and a real thread count.

Torch-free, so the command line can check before anything heavy loads. Each raises a UserError
naming the flag.
"""

from __future__ import annotations

import math

from ..errors import UserError


def finite(**flags: float | None) -> None:
    """Every value given is a finite number: `nan` and `inf` parse as floats but are never meant."""
    for name, value in flags.items():
        if value is not None and not math.isfinite(value):
            raise UserError(f"--{name.replace('_', '-')} must be a finite number; got {value}")


def threads(value: int | None, flag: str = "--threads") -> int | None:
    """A thread count: None (the default: the library's choice) or at least 1."""
    if value is not None and value < 1:
        raise UserError(f"{flag} must be at least 1; got {value} (leave it out for the default)")
    return value
