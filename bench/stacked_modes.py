"""Issue 12, step 1: R repeats one by one vs torch.func vmap vs the grouped rewrite
(core.training.stacked).

Times forward + backward + fused AdamW step over pre-normalised random batches (no data path),
in train mode (BatchNorm batch statistics, running statistics updated), and prints aggregate
images/s over the R members for each way of training them:

  PYTHONPATH=. python bench/stacked_modes.py --models small_cnn,mobilenet_v1 --repeats 1,4,8

vmap follows the PyTorch "Model ensembling" tutorial: stack_module_state + functional_call,
with the BatchNorm buffers stacked too (in_dims=0), so the in-place running-stat updates land
on each member's own slice instead of failing on an unbatched buffer.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call, stack_module_state, vmap

from core.models import build_model
from core.training.stacked import stack_models


def batches(r: int, steps: int, batch: int, size: int, device: torch.device) -> list[tuple]:
    g = torch.Generator().manual_seed(0)
    return [
        (
            torch.randn(r, batch, 3, size, size, generator=g).to(device),
            torch.randint(0, 10, (r, batch), generator=g).to(device),
        )
        for _ in range(steps)
    ]


def adamw(params: list[Tensor], device: torch.device) -> torch.optim.Optimizer:
    return torch.optim.AdamW(params, lr=1e-3, fused=device.type in ("cpu", "cuda"))


def one_by_one(models: list[nn.Module], device: torch.device) -> Callable[[Tensor, Tensor], None]:
    opts = [adamw(list(m.parameters()), device) for m in models]

    def step(x: Tensor, y: Tensor) -> None:
        for r, (m, opt) in enumerate(zip(models, opts, strict=True)):
            loss = F.cross_entropy(m(x[r].contiguous(memory_format=torch.channels_last)), y[r])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

    return step


def vmapped(models: list[nn.Module], device: torch.device) -> Callable[[Tensor, Tensor], None]:
    params, buffers = stack_module_state(models)  # type: ignore[arg-type]
    base = copy.deepcopy(models[0]).to("meta")
    opt = adamw(list(params.values()), device)

    def call(p: dict, b: dict, x: Tensor) -> Tensor:
        return functional_call(base, (p, b), (x,))

    forward = vmap(call, in_dims=(0, 0, 0))

    def step(x: Tensor, y: Tensor) -> None:
        logits = forward(params, buffers, x)
        loss = F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none")
        opt.zero_grad(set_to_none=True)
        loss.view(y.shape).mean(1).sum().backward()
        opt.step()

    return step


def grouped(models: list[nn.Module], device: torch.device) -> Callable[[Tensor, Tensor], None]:
    stacked = stack_models(models)
    opt = adamw(list(stacked.parameters()), device)

    def step(x: Tensor, y: Tensor) -> None:
        logits = stacked(x)
        loss = F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none")
        opt.zero_grad(set_to_none=True)
        loss.view(y.shape).mean(1).sum().backward()
        opt.step()

    return step


def rate(step: Callable, data: list[tuple], device: torch.device, repeats: int) -> float:
    """Median aggregate images/s over `repeats` timed passes, after one warm-up pass."""
    seconds = []
    for i in range(repeats + 1):
        if device.type == "cuda":
            torch.cuda.synchronize()
        began = time.perf_counter()
        for x, y in data:
            step(x, y)
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i:
            seconds.append(time.perf_counter() - began)
    return sum(x.shape[0] * x.shape[1] for x, _ in data) / statistics.median(seconds)


MODES = {"one_by_one": one_by_one, "vmap": vmapped, "grouped": grouped}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="small_cnn,mobilenet_v1")
    p.add_argument("--repeats", default="1,4,8", help="members R")
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--steps", type=int, default=4, help="steps per timed pass")
    p.add_argument("--passes", type=int, default=3)
    p.add_argument("--device", default="cpu")
    a = p.parse_args()
    device = torch.device(a.device)
    for name in a.models.split(","):
        for r in (int(v) for v in a.repeats.split(",")):
            torch.manual_seed(0)
            models = [
                build_model(name, 10).to(device, memory_format=torch.channels_last)
                for _ in range(r)
            ]
            data = batches(r, a.steps, a.batch_size, a.image_size, device)
            row = {"model": name, "R": r, "image_size": a.image_size, "device": str(device)}
            for label, make in MODES.items():
                step = make(copy.deepcopy(models), device)
                row[label] = round(rate(step, data, device, a.passes))
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
