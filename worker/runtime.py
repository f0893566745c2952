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
