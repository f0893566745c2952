"""The submit form's logic: presets as YAML, errors placed on their YAML line, cost estimates."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from core.paper.presets import PRESETS
from core.spec import ExperimentSpec
from dashboard.client import problem_path

DEMO = "demo-digits"
# Training-set sizes the estimate can name without loading data (after the held-out share).
KNOWN_TRAIN_SIZES = {"downsampled_imagenet": 1_281_167, "digits": 1_078}
# Published training sets from which a seeded val_fraction is held out.
HELD_OUT_TRAIN_SIZES = {"cifar10": 50_000, "cifar100": 50_000, "mnist": 60_000,
                        "fashion_mnist": 60_000, "kmnist": 60_000}
_LOC = re.compile(r"^(?P<path>[A-Za-z0-9_.\-\[\]]+): (?P<message>.*)$")


def preset_names(from_api: Sequence[str] | None = None) -> list[str]:
    """Presets the API lists (those this dashboard can load), else core.paper.presets; demo
    first."""
    names = [n for n in from_api or () if n in PRESETS] or PRESETS.names()
    return sorted(names, key=lambda n: (n != DEMO, n))


def preset_yaml(name: str) -> str:
    """A preset's spec as YAML text, in the spec's own field order."""
    return yaml.safe_dump(PRESETS.get(name)(), sort_keys=False, allow_unicode=True)


@dataclass(frozen=True)
class FieldError:
    """One validation message and, where found, the 1-based line of its field in the YAML."""

    path: str
    message: str
    line: int | None


def _child(node: yaml.Node, part: str) -> tuple[yaml.Node, yaml.Node] | None:
    """(key-or-item node, value node) of `part` under `node`; list items by index or name."""
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == part:
                return key, value
    elif isinstance(node, yaml.SequenceNode):
        if part.isdigit() and int(part) < len(node.value):
            item = node.value[int(part)]
            return item, item
        for item in node.value:  # arms.<name>.…: the arm whose name is `part`
            named = _child(item, "name")
            if named and isinstance(named[1], yaml.ScalarNode) and named[1].value == part:
                return item, item
    return None


def locate(text: str, path: str) -> int | None:
    """The 1-based line of the deepest part of dotted `path` that the YAML text contains."""
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return None
    line = None
    for part in path.split("."):
        if node is None:
            break
        found = _child(node, part)
        if found is None:
            break
        marker, node = found
        line = marker.start_mark.line + 1
    return line


def field_errors(text: str, problems: Sequence[str | Mapping[str, Any]]) -> list[FieldError]:
    """The API's 422 items ({loc, msg}) or spec error lines ('path: message'), each with the
    line of its field."""
    errors = []
    for raw in problems:
        if isinstance(raw, Mapping):
            path, message = problem_path(dict(raw)) or "spec", str(raw.get("msg", ""))
        else:
            match = _LOC.match(raw)
            path, message = (match["path"], match["message"]) if match else ("spec", raw)
        line = locate(text, path) if path not in ("spec", "body") else None
        errors.append(FieldError(path, message, line))
    return errors


def syntax_error(text: str) -> FieldError | None:
    """A YAML syntax error with its line, found without asking the API."""
    try:
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as error:
        line = error.problem_mark.line + 1 if error.problem_mark else None
        return FieldError("spec", f"not valid YAML: {error.problem}", line)
    except yaml.YAMLError as error:
        return FieldError("spec", f"not valid YAML: {error}", None)
    if not isinstance(data, dict):
        return FieldError("spec", f"expected a mapping of fields, got {type(data).__name__}", 1)
    return None


def has_sweep(text: str) -> bool:
    """Whether the YAML has a non-empty `sweep:` block (it then goes to POST /sweeps)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return False
    return isinstance(data, dict) and bool(data.get("sweep"))


def annotate(text: str, errors: Sequence[FieldError]) -> str:
    """The YAML with each error written as a comment beside the line of its field."""
    lines = text.splitlines()
    notes: dict[int, list[str]] = {}
    for error in errors:
        if error.line is not None and 1 <= error.line <= len(lines):
            notes.setdefault(error.line, []).append(f"{error.path}: {error.message}")
    out = []
    for number, line in enumerate(lines, start=1):
        mark = ">>" if number in notes else "  "
        suffix = "".join(f"   # <- {note}" for note in notes.get(number, []))
        out.append(f"{mark}{number:4d} | {line}{suffix}")
    return "\n".join(out)


def train_size(spec: ExperimentSpec) -> int | None:
    """Training images the spec uses, where known without loading data."""
    data = spec.dataset
    if data.name == "synthetic":
        size: int | None = data.num_train
    elif data.name in HELD_OUT_TRAIN_SIZES:
        size = round(HELD_OUT_TRAIN_SIZES[data.name] * (1 - data.val_fraction))
    else:
        size = KNOWN_TRAIN_SIZES.get(data.name)
    if data.train_size is not None:
        size = min(size, data.train_size) if size is not None else data.train_size
    return size


def cost_rows(spec: ExperimentSpec) -> list[dict[str, Any]]:
    """Per arm: runs, training epochs per run, full-data epoch equivalents and example-epochs."""
    from core.methods import plan_for  # imports torch: only when an estimate is wanted

    n_train = train_size(spec)
    rows = []
    for arm in spec.arms:
        stages = plan_for(arm).stages
        stage_epochs = sum(s.epochs for s in stages)
        equivalent = sum(s.fraction * s.epochs for s in stages) + spec.training.epochs
        rows.append({
            "Arm": arm.name, "Method": arm.method, "Runs": spec.repeats,
            "Stages": len(stages), "Stage epochs": stage_epochs,
            "Main epochs": spec.training.epochs,
            "Epochs × runs": (stage_epochs + spec.training.epochs) * spec.repeats,
            "Full-data epochs × runs": round(equivalent * spec.repeats, 2),
            "Example-epochs": None if n_train is None else round(equivalent * spec.repeats
                                                                 * n_train),
        })
    return rows


def cost_total(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The estimate summed over arms."""
    examples = [r["Example-epochs"] for r in rows]
    return {
        "runs": sum(r["Runs"] for r in rows),
        "epochs": sum(r["Epochs × runs"] for r in rows),
        "full_data_epochs": round(sum(r["Full-data epochs × runs"] for r in rows), 2),
        "example_epochs": None if None in examples else sum(examples),
    }
