"""Throughput of the real training step: `train_one_epoch` against pure compute, and concurrency.

What is timed is `core.training.train.train_one_epoch` itself (never a copy) over synthetic uint8
data
resident on the device, after a warm-up. Beside it, on the same model and optimiser, a
compute-only pass runs forward + backward + step over the same batches already normalised, so
`overhead_ratio = compute_only_images_per_second / images_per_second` is what the data path
(indexing, normalisation, metrics) costs on top of the arithmetic. The two are timed alternately
in one process and the ratio is the median over adjacent pairs, because a shared machine drifts.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import queue
import statistics
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from core.models import build_model
from core.training.numerics import autocast, configure
from core.training.stacked import try_stack
from core.training.train import (
    Preprocess,
    epoch_batches,
    make_optimizer,
    train_members_epoch,
    train_one_epoch,
)

# Standard ImageNet statistics on the 0..1 scale; the values do not affect speed.
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
WORKER_TIMEOUT_S = 900  # a concurrent worker that has said nothing by then is stuck
PROBE_STEPS = 6  # timed steps per stacked-model measurement; a first, untimed pass warms up


def cpu_cores() -> int:
    """Cores this process may run on (the affinity mask, not the machine's total)."""
    with contextlib.suppress(AttributeError):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


@dataclass(frozen=True)
class BenchConfig:
    """One throughput measurement; defaults are the paper's ImageNet32 MobileNet v1 setting."""

    model: str = "mobilenet_v1"
    image_size: int = 32  # pixels per side
    batch_size: int = 64
    examples: int = 1024  # training images per timed epoch
    num_classes: int = 1000
    device: str = "cpu"
    threads: int | None = None  # CPU threads for torch; None: every core this process may use
    # None: the default, channels_last on every device (1.5-2.8× faster on CPU, measured).
    channels_last: bool | None = None
    compile: bool = False  # torch.compile the model (compile time is reported separately)
    augment: bool = False  # crop+flip in the data path, as `augment: crop_flip`
    repeats: int = 5  # timed epochs of each kind; medians are reported
    seed: int = 0
    precision: str = "tf32"  # as `training.precision`; the user-spec default


def synthetic_data(
    n: int, image_size: int, num_classes: int, device: torch.device, seed: int = 0
) -> tuple[Tensor, Tensor]:
    """`n` random uint8 images (N×3×S×S) and int64 labels, resident on `device`."""
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, 3, image_size, image_size), generator=g, dtype=torch.uint8)
    labels = torch.randint(0, num_classes, (n,), generator=g)
    return images.to(device), labels.to(device)


def synchronize(device: torch.device) -> None:
    """Wait for queued device work, so that a wall-clock reading covers it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@dataclass
class TrainBench:
    """A model, optimiser and resident data; times InitLab epochs and compute-only passes."""

    config: BenchConfig
    model: nn.Module = field(init=False)
    optimizer: torch.optim.Optimizer = field(init=False)
    preprocess: Preprocess = field(init=False)
    images: Tensor = field(init=False)
    labels: Tensor = field(init=False)
    batches: list[tuple[Tensor, Tensor]] = field(init=False)
    device: torch.device = field(init=False)
    compile_seconds: float | None = None
    epoch: int = 0  # InitLab epochs run so far; seeds each epoch's order

    def __post_init__(self) -> None:
        c = self.config
        self.device = torch.device(c.device)
        configure(c.precision, deterministic=False, device=self.device)
        channels_last = True if c.channels_last is None else c.channels_last
        torch.manual_seed(c.seed)
        model = build_model(c.model, c.num_classes)
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        model.to(self.device).to(memory_format=fmt)
        self.optimizer = make_optimizer(
            "adamw", model.parameters(), lr=1e-3, weight_decay=0.01, device=self.device
        )
        self.model = torch.compile(model) if c.compile else model  # type: ignore[assignment]
        self.preprocess = Preprocess.build(
            MEAN,
            STD,
            normalize="standard",
            augment=c.augment,
            device=self.device,
            channels_last=channels_last,
        )
        self.images, self.labels = synthetic_data(
            c.examples, c.image_size, c.num_classes, self.device, c.seed
        )
        self.batches = self._normalised_batches()

    def _normalised_batches(self) -> list[tuple[Tensor, Tensor]]:
        """The batches of one epoch, already normalised: what the compute-only pass consumes."""
        g = torch.Generator().manual_seed(self.config.seed)
        n, b = self.config.examples, self.config.batch_size
        return [
            (self.preprocess(self.images[i], s), self.labels[i])
            for i, s in epoch_batches(n, b, g, augment=self.config.augment, device=self.device)
        ]

    @property
    def steps(self) -> int:
        return len(self.batches)

    @property
    def examples_per_epoch(self) -> int:
        return sum(len(y) for _, y in self.batches)

    def train_epoch(self) -> float:
        """Seconds for one call of the real `train_one_epoch` (it syncs once, at its end)."""
        self.epoch += 1
        g = torch.Generator().manual_seed(self.config.seed + self.epoch)
        synchronize(self.device)
        began = time.perf_counter()
        train_one_epoch(
            self.model,
            self.optimizer,
            self.images,
            self.labels,
            batch_size=self.config.batch_size,
            preprocess=self.preprocess,
            generator=g,
            precision=self.config.precision,
        )
        synchronize(self.device)
        return time.perf_counter() - began

    def compute_epoch(self) -> float:
        """Seconds for forward + backward + step alone over the pre-normalised batches."""
        self.model.train()
        synchronize(self.device)
        began = time.perf_counter()
        for x, y in self.batches:
            with autocast(self.config.precision, self.device):
                loss = F.cross_entropy(self.model(x), y)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
        synchronize(self.device)
        return time.perf_counter() - began

    def warm_up(self) -> None:
        """One pass of each kind: allocator, cuDNN autotuning, torch.compile (timed)."""
        began = time.perf_counter()
        self.train_epoch()
        first = time.perf_counter() - began
        if self.config.compile:
            self.compile_seconds = max(0.0, first - self.train_epoch())
        self.compute_epoch()


def apply_threads(config: BenchConfig) -> int:
    """Set torch's CPU thread count for this process; returns the count in force."""
    threads = config.threads or cpu_cores()
    torch.set_num_threads(threads)
    return threads


def measure(config: BenchConfig) -> dict[str, Any]:
    """InitLab's images/s, ms/step, compute-only images/s and their ratio, as a flat dict."""
    previous = torch.get_num_threads()
    try:
        threads = apply_threads(config)
        bench = TrainBench(config)
        bench.warm_up()
        train_s, compute_s = [], []
        for _ in range(config.repeats):  # alternate, so drift hits both alike
            train_s.append(bench.train_epoch())
            compute_s.append(bench.compute_epoch())
    finally:
        torch.set_num_threads(previous)
    n = bench.examples_per_epoch
    train, compute = statistics.median(train_s), statistics.median(compute_s)
    return {
        **{k: v for k, v in asdict(config).items() if k not in ("threads", "channels_last")},
        "images_per_second": n / train,
        "ms_per_step": 1000 * train / bench.steps,
        "compute_only_images_per_second": n / compute,
        "compute_only_ms_per_step": 1000 * compute / bench.steps,
        # Median of adjacent pairs: each pair ran under the same load on a shared machine.
        "overhead_ratio": statistics.median(t / c for t, c in zip(train_s, compute_s, strict=True)),
        # Best epochs: on a shared machine the fastest pass is the one least disturbed.
        "best_images_per_second": n / min(train_s),
        "best_compute_only_images_per_second": n / min(compute_s),
        "best_overhead_ratio": min(train_s) / min(compute_s),
        "device": describe_device(bench.device),
        "threads": threads,
        "channels_last": bench.preprocess.channels_last,
        "compile_seconds": bench.compile_seconds,
        "steps_per_epoch": bench.steps,
        "examples_per_epoch": n,
        "epoch_seconds": train_s,
        "compute_only_epoch_seconds": compute_s,
        "torch": torch.__version__,
    }


def describe_device(device: torch.device) -> str:
    """`cpu (N cores)` or the CUDA device's name."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"cpu ({cpu_cores()} cores)"


def _concurrent_worker(config: BenchConfig, barrier: Any, results: Any) -> None:
    """One of N training processes: warm up, wait for all, time `repeats` epochs."""
    apply_threads(config)
    bench = TrainBench(config)
    bench.warm_up()
    barrier.wait(timeout=WORKER_TIMEOUT_S)
    began = time.time()  # wall clock: comparable across processes
    seconds = [bench.train_epoch() for _ in range(config.repeats)]
    results.put((bench.examples_per_epoch * config.repeats, began, time.time(), seconds))


def measure_concurrent(config: BenchConfig, processes: int) -> dict[str, Any]:
    """Aggregate images/s of `processes` spawned training processes sharing one device.

    The CPU cores are split between them (at least one thread each) unless `threads` is
    given. Aggregate = all images / (last end − first start), which never flatters partial
    overlap; each process's own rate is reported too.
    """
    if config.threads is None:
        config = _replace(config, threads=max(1, cpu_cores() // processes))
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(processes), ctx.Queue()
    workers = [
        ctx.Process(target=_concurrent_worker, args=(config, barrier, results))
        for _ in range(processes)
    ]
    for w in workers:
        w.start()
    try:
        reports = [_next_report(results, workers) for _ in workers]
    finally:
        for w in workers:
            w.join(timeout=5)
            if w.is_alive():
                w.terminate()
    images = sum(r[0] for r in reports)
    span = max(r[2] for r in reports) - min(r[1] for r in reports)
    return {
        "processes": processes,
        "threads_per_process": config.threads,
        "aggregate_images_per_second": images / span,
        # Less sensitive to one disturbed epoch: the sum of each process's median-epoch rate.
        "aggregate_median_images_per_second": sum(
            r[0] / config.repeats / statistics.median(r[3]) for r in reports
        ),
        "per_process_images_per_second": [r[0] / sum(r[3]) for r in reports],
    }


def _next_report(results: Any, workers: list[Any]) -> Any:
    """The next worker report; fails fast when a worker died instead of waiting forever."""
    deadline = time.monotonic() + WORKER_TIMEOUT_S
    while time.monotonic() < deadline:
        with contextlib.suppress(queue.Empty):
            return results.get(timeout=1)
        dead = [w.exitcode for w in workers if w.exitcode not in (None, 0)]
        if dead:
            raise RuntimeError(f"a benchmark process exited with code {dead[0]}")
    raise TimeoutError(f"benchmark processes gave no result within {WORKER_TIMEOUT_S} s")


def _replace(config: BenchConfig, **changes: Any) -> BenchConfig:
    return BenchConfig(**{**asdict(config), **changes})


def measure_all(
    config: BenchConfig, concurrent: tuple[int, ...] = (), batch_repeats: tuple[int, ...] = ()
) -> dict[str, Any]:
    """`measure`, plus one `measure_concurrent` entry per process count asked for, and the
    stacked-model rates for each R in `batch_repeats`."""
    result = measure(config)
    if concurrent:
        result["concurrent"] = [measure_concurrent(config, n) for n in concurrent]
    if batch_repeats:
        previous = torch.get_num_threads()
        try:
            apply_threads(config)
            result["batch_repeats"] = measure_batch_repeats(
                batch_repeats,
                model=config.model,
                image_size=config.image_size,
                batch_size=config.batch_size,
                num_classes=config.num_classes,
                device=torch.device(config.device),
                steps=max(1, config.examples // config.batch_size),
                repeats=config.repeats,
                precision=config.precision,
            )
        finally:
            torch.set_num_threads(previous)
    return result


def group_rate(
    model: str,
    members: int,
    *,
    image_size: int,
    batch_size: int,
    num_classes: int,
    device: torch.device,
    steps: int = PROBE_STEPS,
    repeats: int = 1,
    precision: str = "tf32",
) -> float | None:
    """Aggregate images/s of `members` stacked networks in core's real training loop.

    None when the model cannot be stacked (the log says why). Synthetic uint8 data, resident on
    the device; every member trains on all of it, each in its own order.
    """
    configure(precision, deterministic=False, device=device)
    torch.manual_seed(0)
    nets = [build_model(model, num_classes).to(device) for _ in range(members)]
    stacked = try_stack(nets, image_size)
    if stacked is None:
        return None
    del nets
    optimizer = make_optimizer(
        "adamw", stacked.parameters(), lr=1e-3, weight_decay=0.01, device=device
    )
    preprocess = Preprocess.build(MEAN, STD, normalize="standard", augment=False, device=device)
    images, labels = synthetic_data(steps * batch_size, image_size, num_classes, device)
    seconds = []
    for epoch in range(repeats + 1):  # the first pass warms up allocator and cuDNN
        generators = [torch.Generator().manual_seed(epoch * 1000 + m) for m in range(members)]
        synchronize(device)
        began = time.perf_counter()
        train_members_epoch(
            stacked,
            optimizer,
            images,
            labels,
            batch_size=batch_size,
            preprocess=preprocess,
            generators=generators,
            precision=precision,
        )
        synchronize(device)
        if epoch:
            seconds.append(time.perf_counter() - began)
    return members * len(labels) / statistics.median(seconds)


def measure_batch_repeats(values: tuple[int, ...], **shape: Any) -> list[dict[str, Any]]:
    """[{R, images_per_second, ratio}] for each R (R=1 always measured: the ratio's base)."""
    rates = {r: group_rate(members=r, **shape) for r in sorted({1, *values})}
    base = rates[1]
    rows = []
    for r in values:
        rate = rates[r]
        ratio = None if rate is None or base is None else rate / base
        rows.append({"R": r, "images_per_second": rate, "ratio": ratio})
    return rows

