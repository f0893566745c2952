"""The benchmark runs end to end at tiny sizes and reports what it promises (never timings)."""

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch
from typer.testing import CliRunner

from core.registry import UnknownNameError
from core.training.bench import BenchConfig, TrainBench, measure, measure_concurrent
from initlab.cli import app

TINY = BenchConfig(
    model="small_cnn", image_size=8, batch_size=8, examples=33, num_classes=10, threads=1, repeats=2
)
BENCH_DIR = Path(__file__).resolve().parents[2] / "bench"


def load_script(name: str) -> ModuleType:
    """A module from bench/, which is a folder of scripts rather than a package."""
    sys.path.insert(0, str(BENCH_DIR))
    spec = importlib.util.spec_from_file_location(name, BENCH_DIR / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_measure_reports_positive_rates_and_leaves_threads_alone() -> None:
    threads = torch.get_num_threads()
    result = measure(TINY)
    assert torch.get_num_threads() == threads
    for key in (
        "images_per_second",
        "ms_per_step",
        "compute_only_images_per_second",
        "overhead_ratio",
    ):
        assert result[key] > 0
    assert result["device"].startswith("cpu")
    # 33 examples in batches of 8: a lone last example is dropped, as in training.
    assert result["examples_per_epoch"] == 32 and result["steps_per_epoch"] == 4
    assert len(result["epoch_seconds"]) == TINY.repeats


def test_compute_only_batches_match_the_training_layout() -> None:
    bench = TrainBench(BenchConfig(**{**TINY.__dict__, "channels_last": False}))
    x, y = bench.batches[0]
    assert x.dtype == torch.float32 and x.is_contiguous() and y.dtype == torch.int64
    assert bench.train_epoch() > 0 and bench.compute_epoch() > 0


def test_concurrent_processes_report_an_aggregate() -> None:
    result = measure_concurrent(TINY, 2)
    assert result["processes"] == 2
    assert result["aggregate_images_per_second"] > 0
    assert len(result["per_process_images_per_second"]) == 2


def test_cli_prints_one_json_object() -> None:
    args = [
        "bench",
        "--model",
        "small_cnn",
        "--image-size",
        "8",
        "--batch-size",
        "8",
        "--examples",
        "32",
        "--num-classes",
        "10",
        "--threads",
        "1",
        "--repeats",
        "1",
        "--json",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert {
        "images_per_second",
        "ms_per_step",
        "compute_only_images_per_second",
        "overhead_ratio",
        "device",
    } <= data.keys()


def test_cli_refuses_unknown_model_and_bad_counts() -> None:
    unknown = CliRunner().invoke(app, ["bench", "--model", "resnet9000"])
    assert isinstance(unknown.exception, UnknownNameError)
    assert "mobilenet_v1" in str(unknown.exception)
    bad = CliRunner().invoke(app, ["bench", "--model", "small_cnn", "--concurrent", "1,x"])
    assert bad.exit_code == 2


def test_compare_runs_reference_and_initlab_side_by_side() -> None:
    compare = load_script("compare")
    result = compare.compare(BenchConfig(**{**TINY.__dict__, "examples": 32}), repeats=1)
    assert result["reference_images_per_second"] > 0 and result["images_per_second"] > 0
    assert result["speedup"] > 0 and result["overhead_ratio"] > 0


@pytest.mark.parametrize("stage_epochs", [1, 2])
def test_preprocess_share_keeps_the_paper_data_share(stage_epochs: int) -> None:
    share = load_script("preprocess_share")
    args = share.argparse.Namespace(
        model="small_cnn",
        image_size=8,
        examples=12_800,
        num_classes=10,
        batch_size=64,
        main_epochs=4,
        stage_epochs=stage_epochs,
    )
    spec = share.build_spec(args)
    assert share.data_share(spec, 12_800) == pytest.approx(share.PAPER_DATA_SHARE, rel=0.01)


def test_cli_measures_stacked_repeats() -> None:
    args = ["bench", "--model", "small_cnn", "--image-size", "8", "--batch-size", "8"]
    args += ["--examples", "32", "--num-classes", "10", "--threads", "1", "--repeats", "1"]
    result = CliRunner().invoke(app, [*args, "--batch-repeats", "1,3", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)["batch_repeats"]
    assert [row["R"] for row in rows] == [1, 3]
    assert rows[0]["ratio"] == 1.0 and rows[1]["images_per_second"] > 0
    bad = CliRunner().invoke(app, [*args, "--batch-repeats", "0"])
    assert bad.exit_code == 2 and "expected positive integers" in bad.output
