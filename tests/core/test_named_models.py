"""`torchvision:<name>` and `import:<module>:<factory>` models: build, train, record, refuse."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from core.models import build_model, param_count
from core.models.names import ModelError, check_allowed, torchvision_names
from core.spec import SpecError, parse_spec
from core.training.runner import TrainingError, run_single

OWN = "import:tests.core.own_models:tiny_net"


def spec(model: str) -> dict[str, object]:
    return {"name": "m", "model": model, "dataset": {"name": "digits", "train_size": 64},
            "training": {"epochs": 1, "batch_size": 16},
            "arms": [{"name": "a", "method": "original"},
                     {"name": "k", "method": "original", "init": "kaiming_normal"}]}


@pytest.mark.parametrize("model", ["torchvision:resnet18", "torchvision:mobilenet_v3_small", OWN])
def test_named_models_train_with_any_init_and_record_their_size(model: str) -> None:
    parsed = parse_spec(spec(model))
    expected = param_count(build_model(model, 10))
    for arm in ("a", "k"):
        result = run_single(parsed, arm, 0)
        assert result.param_count == expected and result.status == "done"
        assert any(row["phase"] == "main" and row["split"] == "val" for row in result.metrics)


def test_a_model_too_deep_for_the_images_fails_before_training_with_one_clear_line() -> None:
    # squeezenet halves 8×8 digits to nothing; the run must say so, not fail inside PyTorch.
    with pytest.raises(TrainingError) as caught:
        run_single(parse_spec(spec("torchvision:squeezenet1_0")), "a", 0)
    message = str(caught.value)
    assert "'torchvision:squeezenet1_0' cannot take this data set's 3×8×8 images" in message
    assert "dataset.image_size" in message and "\n" not in message


def test_torchvision_models_get_no_weights_and_the_class_count() -> None:
    model = build_model("torchvision:resnet18", 7)
    assert model.fc.out_features == 7  # type: ignore[union-attr]
    assert param_count(model) == 11_180_103  # resnet18's 11,689,512 less 993 × 513 fc weights
    assert "resnet18" in torchvision_names() and "vit_b_16" in torchvision_names()


def test_unknown_and_malformed_names_are_named_with_suggestions() -> None:
    with pytest.raises(SpecError, match=r"model: unknown torchvision model 'resnet81'; did you "
                                        r"mean torchvision:resnet18"):
        parse_spec(spec("torchvision:resnet81"))
    with pytest.raises(SpecError, match="model: unknown model 'resnet'; valid choices: "
                                        "mobilenet_v1.*torchvision:<name>"):
        parse_spec(spec("resnet"))
    with pytest.raises(SpecError, match="not of the form import:package.module:factory"):
        parse_spec(spec("import:os;rm:x"))
    for name, message in [
        ("import:no_such_pkg_xyz:f", "cannot import module 'no_such_pkg_xyz'"),
        ("import:tests.core.own_models:missing", "has no callable 'missing'"),
        ("import:tests.core.own_models:NOT_CALLABLE", "has no callable 'NOT_CALLABLE'"),
        ("import:tests.core.own_models:not_a_module", "returned str, not a torch.nn.Module"),
    ]:
        with pytest.raises(ModelError, match=message):
            build_model(name, 10)


def test_allow_list_admits_exactly_the_listed_modules() -> None:
    check_allowed(OWN, ["tests.core.own_models"])
    check_allowed("torchvision:resnet18", [])  # only import: names are restricted
    with pytest.raises(ModelError, match="INITLAB_ALLOWED_MODEL_MODULES"):
        check_allowed(OWN, ["tests.core"])


def test_cli_runs_an_import_model_and_names_a_bad_one(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(yaml.safe_dump({**spec(OWN), "repeats": 1}))
    bad.write_text(yaml.safe_dump({**spec("import:tests.core.own_models:missing"), "repeats": 1}))
    cli = [sys.executable, "-m", "initlab.cli", "run"]
    ok = subprocess.run([*cli, str(good), "--out", str(tmp_path / "o")], capture_output=True,
                        text=True)
    assert ok.returncode == 0, ok.stderr
    failed = subprocess.run([*cli, str(bad), "--out", str(tmp_path / "b")], capture_output=True,
                            text=True)
    assert failed.returncode == 2 and "Traceback" not in failed.stderr
    assert "has no callable 'missing'" in failed.stderr
    unknown = subprocess.run([sys.executable, "-m", "initlab.cli", "data", "check", "--dataset",
                              "mnist", "--root", str(tmp_path)], capture_output=True, text=True)
    assert unknown.returncode == 2 and "train-images-idx3-ubyte[.gz]: IDX file is missing" in \
        unknown.stderr


def test_grey_images_replicated_reach_every_model() -> None:
    x = torch.zeros(2, 1, 28, 28).expand(-1, 3, -1, -1)
    assert build_model("torchvision:mobilenet_v3_small", 10).eval()(x).shape == (2, 10)
