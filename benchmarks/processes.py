"""What the service benchmarks (load_test.py, serve_memory.py) ask of the server process they start."""

from __future__ import annotations

import socket
from pathlib import Path


def status_mb(pid: int, field: str) -> float:
    """A memory line of /proc/PID/status in MB: VmRSS (now) or VmHWM (the peak); NaN when absent."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
