"""Training step, evaluation and batching: resident uint8 data, batched ops, no host sync.

Data lives on the training device as uint8 (as airbench keeps CIFAR on the GPU); each epoch draws
its permutation and augmentation offsets in one go, and loss/accuracy are summed on the device and
read once at the end of the epoch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from core.training.numerics import autocast
from core.training.stacked import StackedModel

CROP_PADDING = 4  # the paper's CIFAR-10 augmentation (Section IV): crop with padding 4, flip


class Cancelled(Exception):
    """Raised inside an epoch when `should_stop` answers True at a batch boundary."""


@dataclass(frozen=True)
class Preprocess:
    """Turns uint8 batches into normalised float batches on the device."""

    mean: Tensor  # 1×3×1×1, on the 0..255 scale
    std: Tensor
    augment: bool
    channels_last: bool = True

    @classmethod
    def build(
        cls,
        mean: tuple[float, float, float],
        std: tuple[float, float, float],
        *,
        normalize: str,
        augment: bool,
        device: torch.device,
        channels_last: bool = True,
    ) -> Preprocess:
        """`normalize='none'` feeds raw 0..255 values, like the paper's own code.

        channels_last: measured 1.5-2.8× faster per step than NCHW for the MobileNets on CPU
        (depthwise convs; bench/RESULTS.md); the model must be in the same memory format.
        """
        if normalize == "none":
            mean, std = (0.0, 0.0, 0.0), (1 / 255, 1 / 255, 1 / 255)
        m = torch.tensor(mean, device=device).view(1, 3, 1, 1) * 255
        s = torch.tensor(std, device=device).view(1, 3, 1, 1) * 255
        return cls(m, s, augment, channels_last)

    def __call__(self, images: Tensor, shifts: Tensor | None = None) -> Tensor:
        """Normalise a uint8 batch; `shifts` (B×3: dy, dx, flip) applies crop and flip."""
        x = images
        if shifts is not None:
            x = crop_and_flip(x, shifts)
        x = (x.float() - self.mean) / self.std
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x


def crop_and_flip(images: Tensor, shifts: Tensor) -> Tensor:
    """Random crop with zero padding and horizontal flip for a whole batch, by gathering."""
    b, _, h, w = images.shape
    padded = F.pad(images, (CROP_PADDING,) * 4)
    rows = (shifts[:, 0:1] + torch.arange(h, device=images.device)).view(b, 1, h, 1)
    cols = torch.arange(w, device=images.device).expand(b, w)
    cols = torch.where(shifts[:, 2:3].bool(), cols.flip(1), cols) + shifts[:, 1:2]
    batch = torch.arange(b, device=images.device).view(b, 1, 1, 1)
    channel = torch.arange(3, device=images.device).view(1, 3, 1, 1)
    return padded[batch, channel, rows, cols.view(b, 1, 1, w)]


def epoch_batches(
    n: int, batch_size: int, generator: torch.Generator, *, augment: bool, device: torch.device
) -> Iterator[tuple[Tensor, Tensor | None]]:
    """Index and augmentation batches of one shuffled epoch; never leaves a batch of one."""
    order = torch.randperm(n, generator=generator)
    shifts = None
    if augment:
        offsets = torch.randint(0, 2 * CROP_PADDING + 1, (n, 2), generator=generator)
        flips = torch.randint(0, 2, (n, 1), generator=generator)
        shifts = torch.cat([offsets, flips], 1).to(device, non_blocking=True)
    order = order.to(device, non_blocking=True)
    # A train-mode BatchNorm batch of one crashes at 1×1 feature maps: drop a lone last example.
    usable = n - 1 if n % batch_size == 1 else n
    for start in range(0, usable, batch_size):
        end = min(start + batch_size, usable)
        yield order[start:end], None if shifts is None else shifts[start:end]


@dataclass
class EpochResult:
    """Mean loss, accuracy (fraction) and examples seen in one pass."""

    loss: float
    accuracy: float
    examples: int


def train_one_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    images: Tensor,
    labels: Tensor,
    *,
    batch_size: int,
    preprocess: Preprocess,
    generator: torch.Generator,
    should_stop: Callable[[], bool] | None = None,
    precision: str = "fp32",
) -> EpochResult:
    """One shuffled pass of one plain model: `train_members_epoch` with a single member."""
    member = StackedModel(model, 1, preprocess.channels_last)
    return train_members_epoch(
        member,
        optimizer,
        images,
        labels,
        batch_size=batch_size,
        preprocess=preprocess,
        generators=[generator],
        should_stop=should_stop,
        precision=precision,
    )[0]


def train_members_epoch(
    model: StackedModel,
    optimizer: torch.optim.Optimizer,
    images: Tensor,
    labels: Tensor,
    *,
    batch_size: int,
    preprocess: Preprocess,
    generators: Sequence[torch.Generator],
    subsets: Tensor | None = None,
    should_stop: Callable[[], bool] | None = None,
    precision: str = "fp32",
) -> list[EpochResult]:
    """One shuffled pass for each of R members in lockstep; returns each member's result.

    Member r draws its own order and augmentation from `generators[r]` over its own examples
    (`subsets[r]`, indices into `images`, or all of them), exactly as it would alone. The loss
    is the sum of the members' mean losses, so each member's gradient is its own.
    """
    model.train()
    device, members = images.device, model.members
    n = len(labels) if subsets is None else subsets.shape[1]
    loss_sum = torch.zeros(members, device=device)
    correct = torch.zeros(members, device=device, dtype=torch.int64)
    seen = 0
    streams = [
        epoch_batches(n, batch_size, g, augment=preprocess.augment, device=device)
        for g in generators
    ]
    for batches in zip(*streams, strict=True):
        if should_stop is not None and should_stop():
            raise Cancelled
        index = torch.stack([i for i, _ in batches])  # R×B
        if subsets is not None:
            index = subsets.gather(1, index)
        shifts = None if batches[0][1] is None else torch.cat([s for _, s in batches])
        b = index.shape[1]
        x = preprocess(images[index.flatten()], shifts)
        y = labels[index]
        with autocast(precision, device):
            logits = model(x.view(members, b, *x.shape[1:]))
            losses = member_losses(logits, y)
        optimizer.zero_grad(set_to_none=True)
        losses.sum().backward()
        optimizer.step()
        loss_sum += losses.detach().float() * b
        correct += (logits.detach().argmax(2) == y).sum(1)
        seen += b
    # The only host sync of the epoch.
    return [
        EpochResult(loss / max(seen, 1), hits / max(seen, 1), seen)
        for loss, hits in zip(loss_sum.tolist(), correct.tolist(), strict=True)
    ]


def member_losses(logits: Tensor, labels: Tensor) -> Tensor:
    """Mean cross-entropy of each member (R×B×classes logits, R×B labels) -> R."""
    if logits.shape[0] == 1:
        return F.cross_entropy(logits[0], labels[0]).unsqueeze(0)
    per_example = F.cross_entropy(logits.flatten(0, 1), labels.flatten(), reduction="none")
    return per_example.view(labels.shape).mean(1)


def evaluate(
    model: nn.Module,
    images: Tensor,
    labels: Tensor,
    *,
    batch_size: int,
    preprocess: Preprocess,
    precision: str = "fp32",
    should_stop: Callable[[], bool] | None = None,
) -> EpochResult:
    """Loss and accuracy of one plain model in eval mode: `evaluate_members` with one member."""
    member = StackedModel(model, 1, preprocess.channels_last)
    return evaluate_members(
        member,
        images,
        labels,
        batch_size=batch_size,
        preprocess=preprocess,
        precision=precision,
        should_stop=should_stop,
    )[0]


@torch.inference_mode()
def evaluate_members(
    model: StackedModel,
    images: Tensor,
    labels: Tensor,
    *,
    batch_size: int,
    preprocess: Preprocess,
    subsets: Tensor | None = None,
    precision: str = "fp32",
    should_stop: Callable[[], bool] | None = None,
) -> list[EpochResult]:
    """Each member's loss and accuracy in eval mode (running statistics untouched).

    Every member sees all of (images, labels), or its own `subsets[r]` of them. The batch is
    divided by R so that the stacked activations stay the size one member's would be.
    """
    model.eval()
    device, members = images.device, model.members
    n = len(labels) if subsets is None else subsets.shape[1]
    step = max(1, batch_size // members)
    loss_sum = torch.zeros(members, device=device)
    correct = torch.zeros(members, device=device, dtype=torch.int64)
    for start in range(0, n, step):
        if should_stop is not None and should_stop():
            raise Cancelled
        if subsets is None:
            x = preprocess(images[start : start + step])
            x = x.unsqueeze(0).expand(members, *x.shape)
            y = labels[start : start + step].expand(members, -1)
        else:
            index = subsets[:, start : start + step]
            x = preprocess(images[index.flatten()]).view(*index.shape, *images.shape[1:])
            y = labels[index]
        with autocast(precision, device):
            logits = model(x)
        loss_sum += F.cross_entropy(
            logits.float().flatten(0, 1), y.flatten(), reduction="none"
        ).view(y.shape).sum(1)
        correct += (logits.argmax(2) == y).sum(1)
    return [
        EpochResult(loss / max(n, 1), hits / max(n, 1), 0)
        for loss, hits in zip(loss_sum.tolist(), correct.tolist(), strict=True)
    ]


def make_optimizer(
    name: str,
    params: Iterator[nn.Parameter],
    *,
    lr: float,
    weight_decay: float,
    device: torch.device,
) -> torch.optim.Optimizer:
    """A fresh optimiser, fused (one kernel over all parameters) on CPU and CUDA alike.

    Fused AdamW's step on CPU is about 3× faster than foreach for MobileNet v1 (2.8 vs 9.4 ms,
    5-8% of a 32 px batch-64 step; bench/RESULTS.md), and as deterministic.
    """
    fused = device.type in ("cpu", "cuda")
    foreach = None if fused else True
    if name == "sgd":
        return torch.optim.SGD(
            params, lr=lr, momentum=0.9, weight_decay=weight_decay, fused=fused, foreach=foreach
        )
    return torch.optim.AdamW(
        params, lr=lr, weight_decay=weight_decay, fused=fused, foreach=foreach
    )
