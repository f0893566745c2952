"""What a run records about where it ran: host, device and software versions."""

from __future__ import annotations

import os
import platform
import socket
import subprocess
from functools import lru_cache
from pathlib import Path

import core

REPO = Path(__file__).resolve().parents[1]


def git_commit() -> str | None:
    """INITLAB_GIT_COMMIT (set in images), else the checkout's HEAD, else None."""
    if os.environ.get("INITLAB_GIT_COMMIT"):
        return os.environ["INITLAB_GIT_COMMIT"][:64]
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def device_name(device: str) -> str:
    """The GPU's name for a CUDA device; the CPU's for 'cpu'."""
    import torch

    if device.startswith("cuda") and torch.cuda.is_available():
        return str(torch.cuda.get_device_name(torch.device(device)))
    return f"cpu ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"


def host_name() -> str:
    """INITLAB_HOST_NAME, else the machine's hostname."""
    return os.environ.get("INITLAB_HOST_NAME") or socket.gethostname()


@lru_cache
def environment(device: str) -> dict[str, str | None]:
    """Columns of Run that describe this worker; computed once per process."""
    import torch
    import torchvision

    return {
        "host": host_name(),
        "device_name": device_name(device)[:255],
        "initlab_version": core.__version__,
        "git_commit": git_commit(),
        "python_version": platform.python_version(),
        "torch_version": torch.__version__,
        "torchvision_version": torchvision.__version__,
        "cuda_version": torch.version.cuda,
    }


def limit_device_memory(device: str, environ: dict[str, str] | None = None) -> float | None:
    """Give this slot 1/K of its GPU's memory, K the slots sharing it (INITLAB_SLOTS_PER_GPU):
    one slot's out-of-memory then stays its own, and the batch-repeats probe measures within
    its share. Returns the fraction set, None on a CPU or with one slot per GPU."""
    import torch

    environ = dict(os.environ) if environ is None else environ
    slots = int(environ.get("INITLAB_SLOTS_PER_GPU") or 1)
    if slots <= 1 or not device.startswith("cuda") or not torch.cuda.is_available():
        return None
    fraction = 1.0 / slots
    torch.cuda.set_per_process_memory_fraction(fraction)
    return fraction
