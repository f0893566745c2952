"""`initlab bench`: images/s of the real training step, its data-path overhead, concurrency."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from initlab.checks import check_device


def parse_counts(text: str) -> tuple[int, ...]:
    """'1,2,4' -> (1, 2, 4); refuses anything but positive integers."""
    try:
        counts = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        counts = (0,)
    if any(n < 1 for n in counts):
        raise typer.BadParameter(f"{text!r}: expected positive integers such as 1,2,4")
    return counts


def bench(
    model: Annotated[str, typer.Option(help="registered model")] = "mobilenet_v1",
    image_size: Annotated[int, typer.Option(help="pixels per side")] = 32,
    batch_size: Annotated[int, typer.Option(help="training batch size")] = 64,
    examples: Annotated[int, typer.Option(help="synthetic images per timed epoch")] = 1024,
    num_classes: Annotated[int, typer.Option(help="classifier outputs")] = 1000,
    device: Annotated[str, typer.Option(help="cpu or cuda")] = "cpu",
    threads: Annotated[int | None, typer.Option(help="CPU threads; default: all cores")] = None,
    channels_last: Annotated[
        bool | None,
        typer.Option(
            "--channels-last/--no-channels-last",
            help="memory format (default: channels_last, 1.6-2.2x faster on CPU)",
        ),
    ] = None,
    compile: Annotated[bool, typer.Option("--compile", help="torch.compile the model")] = False,
    augment: Annotated[bool, typer.Option("--augment", help="crop+flip in the data path")] = False,
    repeats: Annotated[int, typer.Option(help="timed epochs of each kind (medians)")] = 5,
    concurrent: Annotated[
        str, typer.Option(help="also aggregate img/s of N concurrent processes, e.g. 1,2,4")
    ] = "",
    batch_repeats: Annotated[
        str,
        typer.Option(
            help="also aggregate img/s of R repeats trained as one stacked model, e.g. 1,4,16,64"
        ),
    ] = "",
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Time core's train_one_epoch on resident synthetic uint8 data against pure compute."""
    from core.models import MODELS
    from core.training.bench import BenchConfig, measure_all

    MODELS.get(model)  # an unknown name fails here, listing the valid ones
    check_device(device)
    minimums = {
        "image-size": (image_size, 8),
        "batch-size": (batch_size, 2),
        "examples": (examples, 2),
        "repeats": (repeats, 1),
    }
    for name, (value, least) in minimums.items():
        if value < least:
            raise typer.BadParameter(f"--{name} {value}: must be at least {least}")
    config = BenchConfig(
        model=model,
        image_size=image_size,
        batch_size=batch_size,
        examples=examples,
        num_classes=num_classes,
        device=device,
        threads=threads,
        channels_last=channels_last,
        compile=compile,
        augment=augment,
        repeats=repeats,
    )
    result = measure_all(config, parse_counts(concurrent), parse_counts(batch_repeats))
    typer.echo(json.dumps(result) if as_json else summary(result))


def summary(r: dict[str, Any]) -> str:
    """A few human-readable lines."""
    lines = [
        f"{r['model']} {r['image_size']}px batch {r['batch_size']} on {r['device']}, "
        f"{r['threads']} threads, {'channels_last' if r['channels_last'] else 'NCHW'}",
        f"  InitLab train_one_epoch: {r['images_per_second']:.0f} img/s, "
        f"{r['ms_per_step']:.2f} ms/step",
        f"  compute only:            {r['compute_only_images_per_second']:.0f} img/s, "
        f"{r['compute_only_ms_per_step']:.2f} ms/step",
        f"  overhead ratio:          {r['overhead_ratio']:.3f}",
    ]
    if r.get("compile_seconds") is not None:
        lines.append(f"  torch.compile time:      {r['compile_seconds']:.1f} s")
    for c in r.get("concurrent", []):
        lines.append(
            f"  {c['processes']} concurrent: {c['aggregate_images_per_second']:.0f} img/s "
            f"aggregate (threads per process: {c['threads_per_process'] or 'default'})"
        )
    for b in r.get("batch_repeats", []):
        rate = b["images_per_second"]
        lines.append(
            f"  R={b['R']} stacked: "
            + (f"{rate:.0f} img/s aggregate, {b['ratio']:.2f}x R=1" if rate else "cannot stack")
        )
    return "\n".join(lines)


def register(app: typer.Typer) -> None:
    app.command("bench")(bench)
