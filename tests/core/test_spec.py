"""Every invalid field is refused with a message naming the field, the value and the choices."""

import json
from pathlib import Path
from typing import get_args

import pytest
import yaml

from core.data import DATASETS
from core.methods import METHODS
from core.models import MODELS
from core.models.names import ModelName
from core.spec import (
    DatasetName,
    MethodName,
    SpecError,
    load_spec,
    parse_spec,
    spec_to_json,
)

VALID = {
    "name": "demo",
    "model": "small_cnn",
    "dataset": {"name": "digits"},
    "training": {"epochs": 2},
    "arms": [{"name": "a", "method": "original"}, {"name": "b", "method": "smart_init"}],
    "repeats": 2,
}


def with_change(path: str, value: object) -> dict:
    data = json.loads(json.dumps(VALID))
    *parents, last = path.split(".")
    node = data
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    node[int(last) if last.isdigit() else last] = value
    return data


@pytest.mark.parametrize(
    "path, value, expected",
    [
        ("model", "resnet", ["model", "'resnet'", "mobilenet_v1"]),
        ("dataset.name", "emnist", ["dataset.name", "'emnist'", "cifar10"]),
        ("arms.1.method", "magic", ["arms.1.method", "'magic'", "smart_init"]),
        ("training.epochs", 0, ["training.epochs", "greater than or equal to 1", "0"]),
        ("repeats", 0, ["repeats", "0"]),
        ("repeats", 1001, ["repeats", "1000", "1001"]),
        ("arms.1.stages", [{"fraction": 0, "epochs": 1}], ["arms.1.stages.0.fraction", "0"]),
        ("arms.1.stages", [{"fraction": 1.5, "epochs": 1}], ["arms.1.stages.0.fraction", "1.5"]),
        ("arms.1.name", "a", ["duplicate arm names: a"]),
        ("baseline", "nobody", ["baseline", "'nobody'", "valid choices: a, b"]),
        (
            "dataset",
            {"name": "downsampled_imagenet", "image_size": 48},
            ["dataset.image_size", "48", "16, 32, 64"],
        ),
        ("training.lr_typo", 1, ["training.lr_typo", "xtra"]),
    ],
)
def test_invalid_fields_are_named(path: str, value: object, expected: list[str]) -> None:
    with pytest.raises(SpecError) as caught:
        parse_spec(with_change(path, value))
    message = str(caught.value)
    for fragment in expected:
        assert fragment in message, message


def test_baseline_defaults_to_the_first_arm_and_runs_are_paired() -> None:
    spec = parse_spec(VALID)
    assert spec.baseline == "a"
    assert spec.run_keys() == [("a", 0), ("b", 0), ("a", 1), ("b", 1)]


def test_spec_round_trips_through_yaml_and_json(tmp_path: Path) -> None:
    spec = parse_spec(VALID)
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(spec_to_json(spec)))
    (tmp_path / "s.json").write_text(json.dumps(spec_to_json(spec)))
    assert load_spec(tmp_path / "s.yaml") == spec == load_spec(tmp_path / "s.json")


def test_unreadable_and_non_mapping_specs_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="cannot read"):
        load_spec(tmp_path / "missing.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(SpecError, match="expected a mapping"):
        load_spec(tmp_path / "list.yaml")


@pytest.mark.parametrize(
    "literal, registry", [(ModelName, MODELS), (DatasetName, DATASETS), (MethodName, METHODS)]
)
def test_spec_names_are_exactly_the_registries(literal: object, registry: object) -> None:
    assert sorted(get_args(literal)) == registry.names()  # type: ignore[attr-defined]
