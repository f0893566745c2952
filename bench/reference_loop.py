"""The paper's training loop, rebuilt for speed comparisons only (github DavidDenisov/Smart-Init).

Its `main.py` keeps the images as a TensorDataset in host memory and reads them through a
DataLoader (batch 64, shuffle, num_workers=2) that indexes one sample at a time and collates;
each batch is copied to the device and cast to float there, raw 0..255 values reach the
network, the model is in the default NCHW layout and full precision, the optimiser is PyTorch's
default AdamW with StepLR(step_size=1, gamma=0.925), and after every step the loss and the
number of correct predictions are read back to the host. It trains two models in lock-step, two
reads each: four host syncs per step, which this one-model rebuild keeps (loss, correct count,
batch accuracy, loss sum). What is left out: its per-step progress bar on stdout, and its
per-epoch DataLoader worker start-up (workers persist here) — both only flatter the reference.

Run alone: `python bench/reference_loop.py --examples 2048` prints images/s as JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.models import build_model  # noqa: E402
from core.training.bench import cpu_cores, synchronize, synthetic_data  # noqa: E402


class ReferenceLoop:
    """One model, one optimiser and one DataLoader in the paper's style; `epoch()` times a pass."""

    def __init__(
        self,
        model: str = "mobilenet_v1",
        image_size: int = 32,
        batch_size: int = 64,
        examples: int = 1024,
        num_classes: int = 1000,
        device: str = "cpu",
        workers: int = 2,
        seed: int = 0,
    ) -> None:
        self.device = torch.device(device)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # as the paper's main.py
        cpu = torch.device("cpu")
        images, labels = synthetic_data(examples, image_size, num_classes, cpu, seed)
        dataset = TensorDataset(images.float(), labels)  # raw 0..255 floats in host memory
        self.loader = DataLoader(
            dataset,
            batch_size=batch_size,
            shuffle=True,
            num_workers=workers,
            persistent_workers=workers > 0,
        )
        torch.manual_seed(seed)
        self.model = build_model(model, num_classes).to(self.device)
        self.criterion = nn.CrossEntropyLoss().to(self.device)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=1e-3)
        self.scheduler = torch.optim.lr_scheduler.StepLR(self.optimizer, step_size=1, gamma=0.925)
        self.examples = examples
        # The same batches collated once, for `compute_epoch` (the loop without its data path).
        self.batches = [
            (x.to(self.device), y.to(self.device))
            for x, y in DataLoader(dataset, batch_size=batch_size, shuffle=True)
        ]

    def epoch(self) -> float:
        """Seconds for one shuffled pass, syncing with the host four times a step."""
        self.model.train()
        synchronize(self.device)
        began = time.perf_counter()
        running_loss, loss_sum, correct, accuracy = 0.0, 0.0, 0, 0.0
        for images, labels in self.loader:
            total = labels.size(0)
            images = images.to(device=self.device).to(dtype=torch.float)
            labels = labels.to(device=self.device)
            outputs = self.model(images)
            loss = self.criterion(outputs, labels)
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
            _, predicted = torch.max(outputs.data, 1)
            running_loss += loss.cpu().data.numpy().item()  # sync 1
            correct += (predicted == labels).sum().item()  # sync 2
            accuracy += (predicted == labels).float().mean().item()  # sync 3
            loss_sum += (loss.detach() * total).item()  # sync 4
        self.scheduler.step()
        synchronize(self.device)
        return time.perf_counter() - began

    def compute_epoch(self) -> float:
        """Seconds for forward + backward + step alone, same model and optimiser, no syncs."""
        self.model.train()
        synchronize(self.device)
        began = time.perf_counter()
        for images, labels in self.batches:
            loss = self.criterion(self.model(images), labels)
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
        synchronize(self.device)
        return time.perf_counter() - began

    def close(self) -> None:
        """Stop the DataLoader's persistent worker processes."""
        iterator = getattr(self.loader, "_iterator", None)
        if iterator is not None:
            iterator._shutdown_workers()
            self.loader._iterator = None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="mobilenet_v1")
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--examples", type=int, default=1024)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(cpu_cores())
    loop = ReferenceLoop(
        args.model, args.image_size, args.batch_size, args.examples, device=args.device
    )
    loop.epoch()  # warm-up
    seconds = [loop.epoch() for _ in range(args.repeats)]
    loop.close()
    print(
        json.dumps(
            {
                "images_per_second": args.examples / statistics.median(seconds),
                "epoch_seconds": seconds,
                **vars(args),
            }
        )
    )


if __name__ == "__main__":
    main()
