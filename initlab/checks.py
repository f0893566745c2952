"""Checks of the CLI's own options that would otherwise fail deep inside torch or uvicorn."""

from __future__ import annotations

import errno
import socket

import typer


def check_device(device: str, option: str = "--device") -> None:
    """Refuse a CUDA device on a machine where torch sees none (torch imported only then)."""
    if not device.startswith("cuda"):
        return
    import torch

    if not torch.cuda.is_available():
        raise typer.BadParameter(
            f"{device!r}: CUDA is not available here; use cpu", param_hint=option
        )


def port_in_use(host: str, port: int) -> bool:
    """True when something already listens on host:port (binding it fails with EADDRINUSE)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        # As uvicorn binds: a port left in TIME_WAIT by a stopped server counts as free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            return error.errno == errno.EADDRINUSE
    return False
