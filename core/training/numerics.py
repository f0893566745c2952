"""Numeric precision and determinism of a run (`training.precision`, `training.deterministic`).

Both are process-wide switches in PyTorch, so every run sets all of them, on and off, before it
trains: a worker that runs a bf16 run after a deterministic fp32 one must not inherit either.
"""

from __future__ import annotations

import contextlib
import os

import torch

PRECISIONS = ("fp32", "tf32", "bf16")
# cuBLAS needs a fixed workspace to be reproducible, and reads this once per process at its
# first call: set on import, before any run, so that a deterministic run reproduces whatever
# its process ran before (worker slots and the image set it before the process starts).
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")


def configure(precision: str, deterministic: bool, device: torch.device) -> None:
    """Set TF32 matmul/convolution use, cuDNN autotuning and deterministic algorithms."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; valid choices: {', '.join(PRECISIONS)}")
    tf32 = precision == "tf32"
    # TF32 keeps fp32 storage and range but rounds matmul/conv inputs to a 10-bit mantissa on
    # Ampere and later GPUs; on the CPU it changes nothing.
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    torch.set_float32_matmul_precision("high" if tf32 else "highest")
    torch.use_deterministic_algorithms(deterministic)
    # Autotuning picks kernels by timing, which can differ between runs: off when deterministic.
    torch.backends.cudnn.benchmark = device.type == "cuda" and not deterministic
    torch.backends.cudnn.deterministic = deterministic


def autocast(precision: str, device: torch.device) -> contextlib.AbstractContextManager[None]:
    """bf16 autocast where the run asks for it; full fp32 (or TF32) arithmetic otherwise."""
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()
