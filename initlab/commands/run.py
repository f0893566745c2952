"""`initlab run` (a whole experiment in-process) and `initlab data check`."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from initlab.checks import check_device
from initlab.exits import FAILED, INTERRUPTED, fail
from initlab.options import JsonOption, print_json
from initlab.specs import is_preset, unknown_spec

if TYPE_CHECKING:
    from core.spec import ExperimentSpec

data_app = typer.Typer(help="Inspect data sets.", no_args_is_help=True)


def spec_or_preset(path: Path) -> ExperimentSpec:
    """A spec file, or the preset of that name when no such file exists."""
    from core.paper.presets import get_preset
    from core.spec import load_spec

    if is_preset(str(path)):
        return get_preset(str(path))
    if not path.exists():
        raise unknown_spec(str(path))
    return load_spec(path)


def saved_runs(out: Path) -> int:
    """How many finished runs the folder's results.json holds."""
    try:
        runs = json.loads((out / "results.json").read_text())["runs"]
    except (OSError, ValueError, KeyError):
        return 0
    return sum(run.get("status") == "done" for run in runs)


def progress_bars() -> tuple[Callable[[str, int, int], Any], Callable[[], None]]:
    """run_experiment's on_run_start (a tqdm bar per run) and a function closing the bar."""
    from tqdm import tqdm

    bars: list[Any] = []

    def close() -> None:
        for bar in bars:
            bar.close()

    def on_run_start(arm: str, repeat: int, epochs: int) -> Callable[[str, int, int], None]:
        close()
        bar = tqdm(total=epochs, desc=f"{arm} #{repeat}", unit="epoch", leave=True)
        bars[:] = [bar]

        def progress(phase: str, epoch: int, total: int) -> None:
            bar.set_postfix_str(f"{phase} {epoch}/{total}")
            bar.update(1)

        return progress

    return on_run_start, close


def run(
    spec_path: Annotated[
        Path, typer.Argument(metavar="SPEC", help="spec file (YAML/JSON) or a preset name")
    ],
    out: Annotated[Path, typer.Option("--out", help="folder for results.json and summaries")],
    device: Annotated[str, typer.Option(help="cpu or cuda")] = "cpu",
    repeats: Annotated[int | None, typer.Option(help="override the spec's repeats")] = None,
    data_root: Annotated[str | None, typer.Option(help="folder data set paths resolve in")] = None,
    threads: Annotated[
        int | None, typer.Option(min=1, help="CPU threads (default: all); 1 suits small models")
    ] = None,
    batch_repeats: Annotated[
        int | None,
        typer.Option(
            min=1, help="override execution.batch_repeats: repeats trained as one stacked model"
        ),
    ] = None,
) -> None:
    """Run an experiment here, with a progress bar per run; rerun to continue after a stop."""
    spec = spec_or_preset(spec_path)  # first: a typo fails before torch loads
    if spec.search is not None:
        from core.spec import SpecError

        raise SpecError(["search: a calibration search runs on the service: `initlab search"
                         f" {spec_path}` (the coordinator queues its trials)"])
    check_device(device)
    import torch

    from core.spec import parse_spec
    from core.training.experiment import run_experiment
    from core.training.member import TrainingError

    if threads is not None:
        torch.set_num_threads(threads)
    if repeats is not None:
        spec = parse_spec({**spec.model_dump(exclude_none=True), "repeats": repeats})
    if batch_repeats is not None:
        execution = {"batch_repeats": batch_repeats}
        spec = parse_spec({**spec.model_dump(exclude_none=True), "execution": execution})
    began = time.perf_counter()
    on_run_start, close_bars = progress_bars()
    try:
        results = run_experiment(
            spec, out, device=device, data_root=data_root, on_run_start=on_run_start
        )
    except KeyboardInterrupt:
        close_bars()
        fail(f"interrupted: {saved_runs(out)} finished run(s) are saved in "
             f"{out / 'results.json'} and the interrupted run's last epoch in "
             f"{out / 'checkpoints'}; run the same command again to continue", INTERRUPTED)
    except TrainingError as error:
        close_bars()
        fail(f"{error}; the {saved_runs(out)} finished run(s) are saved in "
             f"{out / 'results.json'}", FAILED)
    close_bars()
    seconds = time.perf_counter() - began
    typer.echo(f"{len(results['runs'])} runs in {seconds:.1f} s -> {out / 'results.json'}")
    summary_md = out / "summary.md"
    if summary_md.exists():
        typer.echo(summary_md.read_text())


@data_app.command("check")
def data_check(
    dataset: Annotated[str, typer.Option("--dataset", help="registered data set name")],
    root: Annotated[
        str | None, typer.Option("--root", help="data set folder (.npz file for npz)")
    ] = None,
    image_size: Annotated[int | None, typer.Option("--image-size")] = None,
    train_size: Annotated[
        int | None, typer.Option("--train-size", min=1, help="seeded training subset")
    ] = None,
) -> None:
    """Load a data set and print its sizes, classes and label range as JSON."""
    from core.data.check import check_dataset

    report = check_dataset(dataset, root, image_size=image_size, train_size=train_size)
    typer.echo(json.dumps(report))


@data_app.command("list")
def data_list(as_json: JsonOption = False) -> None:
    """Every data set InitLab reads: its name, file format and default root."""
    from core.data.catalog import catalog

    rows = catalog()
    if as_json:
        print_json(rows)
        return
    width = max(len(row["name"]) for row in rows)
    for row in rows:
        typer.echo(f"{row['name']:<{width}}  {row['format']}\n{'':<{width}}  "
                   f"default root: {row['default_root']}")


def register(app: typer.Typer) -> None:
    app.command("run")(run)
    app.add_typer(data_app, name="data")
