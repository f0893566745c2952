"""Turn a request body into validated specs: content type, schema, data paths, methods, sweeps."""

from __future__ import annotations

import copy
import itertools
import json
from typing import Any

from core.data.base import DataError
from core.data.paths import resolve_data_path
from core.methods import plan_for
from core.registry import UnknownNameError
from core.spec import ExperimentSpec, SpecError, parse_spec, parse_spec_text, spec_to_json

JSON_TYPES = ("application/json",)
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml", "text/plain")
PATH_FIELDS = ("root", "test_root", "map_clsloc")


class UnsupportedMediaType(ValueError):
    """A body whose content type is neither JSON nor YAML (HTTP 415)."""


def parse_body(body: bytes, content_type: str | None) -> ExperimentSpec:
    """The spec in a JSON or YAML body, chosen by the Content-Type header (JSON by default)."""
    media = (content_type or "application/json").split(";")[0].strip().lower()
    if media not in JSON_TYPES + YAML_TYPES and not media.endswith(("+json", "+yaml")):
        raise UnsupportedMediaType(
            f"content type {media!r} is not supported; valid choices: "
            f"{', '.join(JSON_TYPES + YAML_TYPES)}"
        )
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise SpecError([f"body: not UTF-8 text ({error.reason} at byte {error.start})"]) from None
    if media in YAML_TYPES or media.endswith("+yaml"):
        return parse_spec_text(text)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise SpecError([f"body: not valid JSON: {error}"]) from None
    return parse_spec(data)


def check_runnable(spec: ExperimentSpec, data_root: str | None) -> None:
    """Refuse what validates but cannot run here: paths outside the data root, bad arm plans."""
    errors = []
    for name in PATH_FIELDS:
        value = getattr(spec.dataset, name)
        if value is not None:
            try:
                resolve_data_path(data_root, value)
            except DataError as error:
                errors.append(f"dataset.{name}: {error}")
    for index, arm in enumerate(spec.arms):
        try:
            plan_for(arm)
        except (UnknownNameError, ValueError) as error:
            message = str(error)
            errors.append(message if message.startswith("arms.") else f"arms.{index}: {message}")
    if errors:
        raise SpecError(errors)


def _set_dotted(data: dict[str, Any], path: str, value: Any) -> None:
    """Set `data[a][b][c] = value` for path 'a.b.c' (list items by index)."""
    *parents, last = path.split(".")
    node: Any = data
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value


def expand_sweep(spec: ExperimentSpec) -> list[ExperimentSpec]:
    """One spec per combination of the sweep's values (the spec itself when it has none)."""
    if not spec.sweep:
        return [spec]
    base = spec_to_json(spec)
    base.pop("sweep", None)
    paths = list(spec.sweep)
    specs, errors = [], []
    for values in itertools.product(*(spec.sweep[p] for p in paths)):
        data = copy.deepcopy(base)
        label = ",".join(f"{p}={v}" for p, v in zip(paths, values, strict=True))
        try:
            for path, value in zip(paths, values, strict=True):
                _set_dotted(data, path, value)
            data["name"] = f"{spec.name}[{label}]"[:200]
            specs.append(parse_spec(data))
        except SpecError as error:
            errors += [f"sweep {label}: {line}" for line in error.errors]
        except (KeyError, IndexError, ValueError, TypeError) as error:
            errors.append(f"sweep.{label}: cannot set this field ({error!r})")
    if errors:
        raise SpecError(errors)
    return specs


def prepare(body: bytes, content_type: str | None, data_root: str | None) -> list[ExperimentSpec]:
    """Every experiment a submission stands for, each checked; raises SpecError with all lines."""
    specs = expand_sweep(parse_body(body, content_type))
    errors: list[str] = []
    for spec in specs:
        try:
            check_runnable(spec, data_root)
        except SpecError as error:
            errors += [line for line in error.errors if line not in errors]
    if errors:
        raise SpecError(errors)
    return specs
