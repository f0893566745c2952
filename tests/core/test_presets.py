"""Every preset reproduces the paper's protocol: each hyper-parameter is checked explicitly."""

from __future__ import annotations

import pytest
import typer
import yaml
from typer.testing import CliRunner

from core.methods import plan_for
from core.paper.presets import PRESETS, get_preset
from core.spec import ExperimentSpec, parse_spec
from core.training.runner import phases_for
from initlab.commands import presets as presets_command

PAPER_PRESETS = [
    "table1-16",
    "table1-32",
    "table1-64",
    "table2-repeat",
    "table3-warm",
    "table4-cifar10",
    "table5-mnv2",
    "table5-mnv3s",
    "fig3-dynamics-12.5",
    "fig3-dynamics-50",
]


def stages(spec: ExperimentSpec, arm: str) -> list[tuple[float, int]]:
    """(fraction, epochs) of every stage the arm really trains."""
    return [(s.fraction, s.epochs) for s in plan_for(spec.arm(arm)).stages]


def assert_paper_training(spec: ExperimentSpec, batch: int, epochs: int, decay: float) -> None:
    t = spec.training
    assert (t.optimizer, t.lr, t.weight_decay) == ("adamw", 0.001, 0.01)
    assert (t.batch_size, t.epochs, t.lr_decay) == (batch, epochs, decay)
    # Every stage and the main phase get a fresh optimiser with these same hyper-parameters.
    for arm in spec.arms:
        for phase in phases_for(spec, plan_for(arm)):
            assert (phase.lr, phase.batch_size, phase.lr_decay) == (0.001, batch, decay)


def assert_original(spec: ExperimentSpec) -> None:
    original = spec.arm("original")
    assert (original.method, original.preprocess_epochs, original.stages) == ("original", 1, None)
    assert spec.baseline == "original"


@pytest.mark.parametrize(
    "name, model, size, root, epochs, decay",
    [
        ("table1-16", "mobilenet_v1", 16, "Imagenet16", 75, 0.9375),
        ("table1-32", "mobilenet_v1", 32, "Imagenet32", 50, 0.925),
        ("table1-64", "mobilenet_v1", 64, "Imagenet64", 35, 0.925),
        ("table5-mnv2", "mobilenet_v2", 32, "Imagenet32", 75, 0.925),
        ("table5-mnv3s", "mobilenet_v3_small", 32, "Imagenet32", 75, 0.9),
    ],
)
def test_smart_init_on_downsampled_imagenet(
    name: str, model: str, size: int, root: str, epochs: int, decay: float
) -> None:
    spec = get_preset(name)
    assert (spec.name, spec.model, spec.repeats, spec.seed) == (name, model, 4, 0)
    d = spec.dataset
    assert (d.name, d.root, d.image_size) == ("downsampled_imagenet", root, size)
    assert (d.test, d.test_root) == ("imagenetv2", "imagenetv2-top-images")
    assert spec.training.augment == "none"
    assert_paper_training(spec, 64, epochs, decay)
    assert [a.name for a in spec.arms] == ["original", "smart-init"]
    assert_original(spec)
    assert spec.arm("smart-init").method == "smart_init"
    assert stages(spec, "smart-init") == [(0.0125, 10), (0.125, 10)]


def test_table2_repeats_the_12_5_percent_stage_ten_times() -> None:
    spec = get_preset("table2-repeat")
    assert (spec.model, spec.dataset.root, spec.dataset.image_size) == (
        "mobilenet_v1",
        "Imagenet32",
        32,
    )
    assert (spec.dataset.test, spec.dataset.test_root) == ("imagenetv2", "imagenetv2-top-images")
    assert (spec.repeats, spec.seed) == (4, 0)
    assert_paper_training(spec, 64, 50, 0.925)
    assert [a.name for a in spec.arms] == ["original", "repeat"]
    assert_original(spec)
    assert (spec.arm("repeat").method, spec.arm("repeat").times) == ("repeat", 10)
    assert stages(spec, "repeat") == [(0.125, 10)] * 10


def test_table3_compares_with_a_50_percent_50_epoch_warm_start() -> None:
    spec = get_preset("table3-warm")
    assert (spec.model, spec.dataset.root, spec.dataset.image_size) == (
        "mobilenet_v1",
        "Imagenet32",
        32,
    )
    assert (spec.dataset.test, spec.dataset.test_root) == ("imagenetv2", "imagenetv2-top-images")
    assert (spec.repeats, spec.seed) == (4, 0)
    assert_paper_training(spec, 64, 50, 0.925)
    assert [a.name for a in spec.arms] == ["original", "warm-start"]
    assert_original(spec)
    assert spec.arm("warm-start").method == "warm_start"
    assert stages(spec, "warm-start") == [(0.5, 50)]


def test_table4_is_cifar10_with_augmentation_and_40_repeats() -> None:
    spec = get_preset("table4-cifar10")
    assert (spec.model, spec.repeats, spec.seed) == ("mobilenet_v1", 40, 0)
    d = spec.dataset
    assert (d.name, d.root, d.val_fraction, d.test) == ("cifar10", "cifar-10-batches-py", 0.1, None)
    assert spec.training.augment == "crop_flip"  # random crop with padding 4, horizontal flip
    assert_paper_training(spec, 32, 100, 0.925)
    assert [a.name for a in spec.arms] == ["original", "smart-init", "warm-start"]
    assert_original(spec)
    assert stages(spec, "smart-init") == [(0.01, 10), (0.1, 10)]
    assert stages(spec, "warm-start") == [(0.5, 50)]


@pytest.mark.parametrize(
    "name, arm, fraction, repeats",
    [("fig3-dynamics-12.5", "sample-12.5", 0.125, 40), ("fig3-dynamics-50", "sample-50", 0.5, 4)],
)
def test_fig3_measures_one_long_stage_from_epoch_zero(
    name: str, arm: str, fraction: float, repeats: int
) -> None:
    spec = get_preset(name)
    assert (spec.model, spec.repeats, spec.seed, spec.baseline) == (
        "mobilenet_v1",
        repeats,
        0,
        arm,
    )
    d = spec.dataset
    assert (d.name, d.root, d.image_size) == ("downsampled_imagenet", "Imagenet32", 32)
    assert spec.stage_splits == ["sample", "train", "val"]
    assert spec.training.train_metrics == "eval"
    assert_paper_training(spec, 64, 1, 0.925)  # the main phase is the minimal single epoch
    assert [a.name for a in spec.arms] == [arm]
    assert stages(spec, arm) == [(fraction, 50)]


def test_demo_digits_is_unchanged() -> None:
    spec = get_preset("demo-digits")
    assert (spec.model, spec.dataset.name, spec.repeats) == ("small_cnn", "digits", 5)
    t = spec.training
    assert (t.lr, t.batch_size, t.epochs, t.lr_decay) == (0.003, 32, 15, 0.9)
    assert stages(spec, "smart-init") == [(0.05, 5), (0.25, 5)]
    assert stages(spec, "warm-start") == [(0.5, 15)]


@pytest.mark.parametrize("name", PRESETS.names())
def test_every_preset_is_valid_named_and_cites_the_paper(name: str) -> None:
    spec = get_preset(name)
    assert spec.name == name
    assert spec.sweep is None
    doc = PRESETS.get(name).__doc__ or ""
    if name in PAPER_PRESETS:
        assert "Section" in doc and ("Table" in doc or "Fig." in doc)
    # Every stage resets hyper-parameters: no stage carries its own overrides.
    for arm in spec.arms:
        for stage in arm.stages or []:
            assert (stage.lr, stage.batch_size, stage.lr_decay) == (None, None, None)


FASHION_PRESETS = ["fashion-mnist-small", "fashion-mnist-mnv1"]


def test_presets_cover_the_paper() -> None:
    assert set(PAPER_PRESETS) | {"demo-digits", *FASHION_PRESETS} == set(PRESETS.names())


@pytest.mark.parametrize("name", FASHION_PRESETS)
def test_fashion_presets_compare_methods_and_init_schemes(name: str) -> None:
    spec = get_preset(name)
    assert spec.dataset.name == "fashion_mnist" and spec.dataset.root is None
    assert spec.baseline == "original" and spec.repeats >= 10
    arms = {arm.name: arm for arm in spec.arms}
    assert list(arms) == ["original", "smart-init", "warm-start", "kaiming-normal", "orthogonal",
                          "lsuv", "lsuv-smart-init"]
    for scheme in ("kaiming-normal", "orthogonal", "lsuv"):
        # The original's arm exactly, the scheme apart: only the init differs.
        same = arms[scheme].model_dump(exclude={"name", "init"})
        assert same == arms["original"].model_dump(exclude={"name", "init"})
        assert arms[scheme].init == scheme.replace("-", "_")
    assert arms["original"].preprocess_epochs == 1 and arms["original"].init == "pytorch"
    assert arms["lsuv-smart-init"].stages == arms["smart-init"].stages
    assert arms["lsuv-smart-init"].init == "lsuv"


def test_fashion_presets_sizes() -> None:
    small, mnv1 = get_preset("fashion-mnist-small"), get_preset("fashion-mnist-mnv1")
    assert (small.model, small.dataset.train_size, small.training.epochs) == ("small_cnn", 2000, 5)
    assert mnv1.model == "mobilenet_v1" and mnv1.dataset.train_size is None
    t = mnv1.training  # Section IV's optimiser and schedule
    assert (t.optimizer, t.lr, t.weight_decay, t.batch_size, t.epochs, t.lr_decay) == (
        "adamw", 0.001, 0.01, 32, 100, 0.925)
    assert stages(mnv1, "smart-init") == [(0.01, 10), (0.1, 10)]
    assert stages(mnv1, "warm-start") == [(0.5, 50)]


def test_cli_lists_and_shows_presets_as_yaml() -> None:
    app = typer.Typer()
    presets_command.register(app)
    runner = CliRunner()
    listed = runner.invoke(app, ["presets", "list"])
    assert listed.exit_code == 0
    assert all(name in listed.output for name in PRESETS.names())
    shown = runner.invoke(app, ["presets", "show", "table1-32"])
    assert shown.exit_code == 0
    assert parse_spec(yaml.safe_load(shown.output)) == get_preset("table1-32")
    missing = runner.invoke(app, ["presets", "show", "table9"])
    assert missing.exit_code != 0
