"""Where a vector file came from: the sidecar `<vectors>.json` that `munch vectors` writes beside it.

A vector file's bytes depend on the text it was trained from, the fastText settings and the
libraries that trained it (gensim, numpy, Python); its sha256 alone cannot say which of them
differs when two machines disagree. The sidecar records them:

    {"vectors_sha256": "...", "text_sha256": "...", "text": "runs/text.txt",
     "settings": {"dim": 100, "epochs": 5, ..., "threads": 1, "seed": 1},
     "versions": {"python": "3.11.7", "gensim": "4.4.0", "numpy": "2.4.6", "scipy": "1.17.1"}}

`munch vector-subset` copies the sidecar of the file it cuts (a subset counts as that file).
A sidecar whose vectors_sha256 is not the file's (the file was replaced) is ignored. The results
store keeps text_sha256 and the rest (as `vectors_made_with`) with every trial.
"""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path

from ..util.files import atomic_write_text
from ..util.versions import library_versions
from .word_vectors import file_sha256


def sidecar_path(vectors: str | Path) -> Path:
    vectors = Path(vectors)
    return vectors.with_name(vectors.name + ".json")


def training_versions() -> dict[str, str | None]:
    """What the vectors' bytes depend on: Python, gensim, numpy, scipy and the BLAS kernel gensim
    calls through scipy. OpenBLAS picks its kernel by CPU: on one machine (AMD EPYC, AVX-512) a
    one-epoch run gave three different sha256 under OPENBLAS_CORETYPE=SkylakeX (its default there),
    Haswell and Prescott (README, "Resuming the committed store")."""
    versions = {k: v for k, v in library_versions().items() if k != "torch"}
    try:
        versions["scipy"] = metadata.version("scipy")
    except metadata.PackageNotFoundError:
        versions["scipy"] = None
    versions["blas"] = blas_kernel()
    return versions


def blas_kernel() -> str | None:
    """scipy's BLAS as loaded in this process, e.g. "openblas 0.3.30 SkylakeX" (threadpoolctl, which
    scikit-learn brings with seqeval), or None when it cannot tell."""
    try:
        import scipy.linalg  # noqa: F401  (loads the BLAS gensim calls, if gensim has not yet)
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    blas = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    found = [i for i in blas if "scipy.libs" in str(i.get("filepath", ""))] or blas  # scipy's wheel, else any
    return " ".join(str(found[0].get(k)) for k in ("internal_api", "version", "architecture")) if found else None


def write_sidecar(vectors: str | Path, vectors_sha256: str, text: str | Path, settings: dict) -> Path:
    """Record beside `vectors` what trained them (called by `munch vectors` after writing them)."""
    record = {"vectors_sha256": vectors_sha256, "text_sha256": file_sha256(Path(text)), "text": str(text),
              "settings": settings, "versions": training_versions()}
    path = sidecar_path(vectors)
    atomic_write_text(path, json.dumps(record, indent=1, sort_keys=True) + "\n")
    return path


def copy_sidecar(source: str | Path, out: str | Path, source_sha256: str) -> Path | None:
    """Give a subset `out` the sidecar of the file it was cut from, if that has a valid one."""
    record = read_sidecar(source, source_sha256)
    if record is None:
        return None
    path = sidecar_path(out)
    atomic_write_text(path, json.dumps(record, indent=1, sort_keys=True) + "\n")
    return path


def read_sidecar(vectors: str | Path, vectors_sha256: str) -> dict | None:
    """The sidecar of `vectors` when it describes these vectors (sha256 `vectors_sha256`), else None."""
    path = sidecar_path(vectors)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("vectors_sha256") != vectors_sha256:
        return None
    return record
