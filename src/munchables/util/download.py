"""One file fetched over HTTP into a `.part` file, resumed across interruptions and runs.

What munchables downloads goes through here: the corpora's pinned source files (data/fetch.py)
and Flair's published embeddings (embeddings/published.py). A broken connection keeps what came
and the next try (in this run or a later one) asks for the rest with an HTTP Range request; a
server that sends more than the caller's ceiling is cut off and what it sent deleted. Written with
urllib rather than a download library: the standard library has what is needed (Range requests,
timeouts), and the callers' checks (a hash, a restricted loader), not the transport, are what make
a download trustworthy.
"""

from __future__ import annotations

import http.client
import logging
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from ..errors import UserError

log = logging.getLogger("munchables")

TIMEOUT = 15  # seconds a connection or a read may stall before the try counts as failed
CHUNK = 1 << 16


@dataclass(frozen=True)
class Hints:
    """What the caller's errors tell the user to do instead: each ends a one-line message."""

    moved: str  # after "HTTP 404 Not Found; the file may have moved or the host may be down: "
    offline: str  # after "cannot reach URL (reason); without internet access "
    too_large: str  # after "the server sent N bytes, more than "; names what was expected and the fix


class Unreachable(UserError):
    """The host cannot be reached: no use trying the caller's other files."""


def _once(url: str, part: Path, label: str, max_bytes: int, hints: Hints) -> bool:
    """Append to `part` what the server sends after its current size; True when the file is whole."""
    start = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "munchables"})
    if start:
        request.add_header("Range", f"bytes={start}-")
    try:
        response = urllib.request.urlopen(request, timeout=TIMEOUT)
    except urllib.error.HTTPError as err:
        if err.code == 416 and start:  # nothing after `start`: the part is whole (the caller's check will tell)
            return True
        raise UserError(f"{url}: HTTP {err.code} {err.reason}; the file may have moved or the host may be down: "
                        f"{hints.moved}") from None
    except (urllib.error.URLError, OSError) as err:
        raise Unreachable(f"cannot reach {url} ({getattr(err, 'reason', err)}); without internet access "
                          f"{hints.offline}") from None
    with response:
        if response.status != 206:  # the server ignored the range: start again
            start = 0
        length = response.headers.get("Content-Length")
        total = start + int(length) if length is not None and length.isdigit() else None
        if total is not None and total > max_bytes:
            raise _too_large(url, part, f"announces {total:,} bytes", max_bytes, hints)
        received = start
        with open(part, "ab" if start else "wb") as out, tqdm(
                total=total, initial=start, desc=label, unit="B", unit_scale=True, unit_divisor=1024,
                disable=None, leave=False) as bar:
            try:
                while chunk := response.read(CHUNK):
                    out.write(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
                    if received > max_bytes:  # a server that streams without end (no length, or a wrong one)
                        break
            except (OSError, http.client.HTTPException) as err:  # reset, stalled, broken chunk: keep what came
                log.info("%s: interrupted after %d bytes (%s)", url, received, err)
                return False
    if received > max_bytes:
        raise _too_large(url, part, f"sent more than {max_bytes:,} bytes", max_bytes, hints)
    return total is None or received >= total  # a short body ends without an error in http.client


def _too_large(url: str, part: Path, what: str, max_bytes: int, hints: Hints) -> UserError:
    part.unlink(missing_ok=True)
    return UserError(f"{url}: the server {what}, more than {hints.too_large.format(max_bytes=max_bytes)}")


def download(url: str, part: Path, label: str, max_bytes: int, hints: Hints, attempts: int = 3) -> None:
    """Make `part` hold the whole file at `url`, resuming what it already holds (up to `attempts` tries)."""
    for _ in range(attempts):
        if _once(url, part, label, max_bytes, hints):
            return
    raise UserError(f"{url}: the connection broke {attempts} times ({part.stat().st_size} bytes kept in {part}); "
                    f"run the command again to resume, or {hints.offline}")
