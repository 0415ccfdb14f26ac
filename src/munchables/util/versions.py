"""The versions of the libraries a result depends on, read from the installed packages' metadata.

importlib.metadata, so nothing heavy is imported: `munch reproduce --status` can compare them
without loading torch. A library that is not installed is None.
"""

from __future__ import annotations

import platform
from importlib import metadata

LIBRARIES = ("torch", "numpy", "gensim")  # what a trial's numbers (and the vectors' bytes) depend on


def library_versions() -> dict[str, str | None]:
    """{"python": "3.11.7", "torch": "2.13.0+cpu", "numpy": ..., "gensim": ...}."""
    found: dict[str, str | None] = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found
