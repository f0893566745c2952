"""Parameter sweeps: a spec's `sweep:` (dotted path -> values) expands into a group of specs.

Each child takes one combination of the values (the cartesian product, in the order the paths
are written), has `sweep` unset, and is named `<name> {"<path>":<value>,...}` — the suffix is a
JSON object, so `swept_values` can read the assignments back from any child.
"""

from __future__ import annotations

import copy
import itertools
import json
import math
from typing import Any

from core.spec import (
    MAX_SWEEP_EXPERIMENTS,
    ExperimentSpec,
    SpecError,
    parse_spec,
)

NAME_LIMIT = 200  # ExperimentSpec.name's max_length
_MISSING = object()


def _split(path: str) -> list[str]:
    parts = path.split(".")
    if not path or any(not part for part in parts):
        raise SpecError([f"sweep.{path}: not a dotted field path such as 'training.lr_decay'"])
    if parts[0] in ("sweep", "name"):
        raise SpecError([f"sweep.{path}: '{parts[0]}' cannot be swept"])
    return parts


def _step(node: Any, part: str, path: str) -> Any:
    """The child `part` of `node`, or a SpecError naming the path and the valid choices."""
    if isinstance(node, dict):
        if part not in node:
            choices = ", ".join(sorted(node))
            raise SpecError([f"sweep.{path}: no field {part!r}; valid choices: {choices}"])
        return node[part]
    if isinstance(node, list):
        if not part.isdigit() or int(part) >= len(node):
            valid = f"0..{len(node) - 1}" if node else "none (the list is empty)"
            raise SpecError([f"sweep.{path}: {part!r} is not an index; valid: {valid}"])
        return node[int(part)]
    raise SpecError([f"sweep.{path}: cannot go into {part!r}: the value above it is {node!r}"])


def _assign(data: dict[str, Any], path: str, value: Any) -> None:
    """Set `path` in the nested spec data to `value` (its parent must exist)."""
    *parents, last = _split(path)
    node: Any = data
    for part in parents:
        node = _step(node, part, path)
    _step(node, last, path)  # the field itself must exist: no typos silently ignored
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value


def _resolve(data: Any, path: str) -> Any:
    """The value at `path`, or a SpecError naming the path."""
    node = data
    for part in _split(path):
        node = _step(node, part, path)
    return node


def _read(data: Any, path: str) -> Any:
    """The value at `path`, or _MISSING where the path leads nowhere."""
    try:
        return _resolve(data, path)
    except SpecError:
        return _MISSING


def _label(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _child_name(name: str, assignment: dict[str, Any]) -> str:
    suffix = " " + json.dumps(assignment, separators=(",", ":"), sort_keys=False)
    if len(suffix) > NAME_LIMIT - 1:
        shown = ", ".join(f"{p}={_label(v)}" for p, v in assignment.items())
        raise SpecError([f"sweep: the assignment {shown} is too long to name an experiment"])
    return name[: NAME_LIMIT - len(suffix)] + suffix


def sweep_size(spec: ExperimentSpec) -> int:
    """How many experiments the spec's sweep expands into (1 without a sweep)."""
    return math.prod(len(values) for values in (spec.sweep or {}).values())


def _check_sweep(sweep: dict[str, list[Any]]) -> None:
    for path, values in sweep.items():
        _split(path)
        if not values:
            raise SpecError([f"sweep.{path}: give at least one value"])
        labels = [_label(v) for v in values]
        repeated = sorted({label for label in labels if labels.count(label) > 1})
        if repeated:
            raise SpecError([f"sweep.{path}: values repeat: {', '.join(repeated)}"])
    size = math.prod(len(values) for values in sweep.values())
    if size > MAX_SWEEP_EXPERIMENTS:
        counts = " × ".join(str(len(v)) for v in sweep.values())
        raise SpecError(
            [f"sweep: {size} experiments ({counts}) exceed the limit {MAX_SWEEP_EXPERIMENTS}"]
        )


def _child(base: dict[str, Any], assignment: dict[str, Any]) -> ExperimentSpec:
    data = copy.deepcopy(base)
    for path, value in assignment.items():
        _assign(data, path, value)
    data["name"] = _child_name(base["name"], assignment)
    try:
        return parse_spec(data)
    except SpecError as error:
        shown = ", ".join(f"{p}={_label(v)}" for p, v in assignment.items())
        raise SpecError([f"sweep ({shown}): {line}" for line in error.errors]) from None


def expand_sweep(spec: ExperimentSpec) -> list[ExperimentSpec]:
    """Every combination of the sweep's values as a validated spec (sweep unset); [spec] if none."""
    base = spec.model_dump(mode="json")
    base["sweep"] = None
    if not spec.sweep:
        return [parse_spec(base)]
    _check_sweep(spec.sweep)
    for path in spec.sweep:  # name a bad path once, before building any child
        _resolve(base, path)
    paths = list(spec.sweep)
    combos = itertools.product(*(spec.sweep[p] for p in paths))
    return [_child(base, dict(zip(paths, combo, strict=True))) for combo in combos]


def _assignment_in_name(name: str) -> dict[str, Any]:
    """The JSON object that ends a child's name ({} when there is none)."""
    start = name.find(" {")
    while start != -1:
        try:
            found = json.loads(name[start + 1 :])
        except ValueError:
            found = None
        if isinstance(found, dict):
            return found
        start = name.find(" {", start + 1)
    return {}


def swept_values(spec: ExperimentSpec) -> dict[str, Any]:
    """For a sweep's child: each swept path and the value the child has there (for display).

    Paths come from the name's suffix; values are read from the spec itself, so they are the
    validated ones (e.g. 1 given for a float field reads back as 1.0).
    """
    data = spec.model_dump(mode="json")
    values = {}
    for path in _assignment_in_name(spec.name):
        value = _read(data, path)
        if value is not _MISSING:
            values[path] = value
    return values
