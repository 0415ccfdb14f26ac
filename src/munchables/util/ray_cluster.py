"""Connecting to Ray, once for every user of it (`munch reproduce --engine ray`, `munch tag --engine ray`):
an address where nothing listens, or a cluster that refuses, is one line, not two minutes of retries
and Ray's traceback."""

from __future__ import annotations

import socket

from ..errors import UserError


def _unreachable(address: str) -> str | None:
    """Why nothing listens at a Ray address `[ray://]host:port`, or None (also for `auto` and other forms)."""
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit() or not host:
        return None  # "auto", "local" ...: Ray resolves them itself
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()
    except OSError as e:
        return e.strerror or str(e) or e.__class__.__name__
    return None


def connect(address: str | None = None, init_kwargs: dict | None = None):
    """The `ray` module, initialised: the cluster at `address`, or a local instance when None."""
    try:
        import ray
    except ImportError:
        raise UserError("--engine ray needs Ray: pip install 'munchables[ray]'") from None
    if not ray.is_initialized():
        unreachable = address and _unreachable(address)
        if unreachable:  # ray.init would retry for about two minutes before saying so
            raise UserError(f"--ray-address {address}: nothing answers there ({unreachable}); start a cluster "
                            "with `ray start --head`, or leave --ray-address out to run a local Ray instance")
        try:
            ray.init(address=address, **(init_kwargs or {}))
        except (ConnectionError, RuntimeError, ValueError) as e:  # no cluster there: one line, not Ray's traceback
            first = (str(e).strip().splitlines() or [e.__class__.__name__])[0]
            raise UserError(f"--ray-address {address}: cannot connect to a Ray cluster ({first}); start one "
                            "with `ray start --head`, or leave --ray-address out to run a local Ray instance") from None
    return ray
